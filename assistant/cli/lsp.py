"""`starassist lsp` and `starassist stats`. Cheap to import: pygls and llama.cpp load inside the commands."""

from __future__ import annotations

import json

import typer

from .app import command, fail


def _parse_tcp(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not (0 < int(port) < 65536):
        fail(f"--tcp {value!r} is not HOST:PORT (e.g. 127.0.0.1:2087)", 2)
    return host or "127.0.0.1", int(port)


@command()
def lsp(
    tcp: str | None = typer.Option(None, "--tcp", help="Listen on HOST:PORT instead of stdio."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model (overrides editor settings): GGUF, checkpoint dir, HF repo id in the local cache, or 'embedded'."),
) -> None:
    """Run the language server (stdio by default): inline completion, completion, explain and modify."""
    from starassist.lsp.server import serve

    serve(model=model, tcp=_parse_tcp(tcp) if tcp else None)


@command()
def stats(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Acceptance rate and latency percentiles of inline suggestions (local data only; nothing is sent)."""
    from starassist.lsp.stats import load, stats_path, summary

    path = stats_path()
    data = summary(load(path))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    if not data["shown"]:
        typer.echo(f"no suggestions recorded yet ({path})")
        return
    typer.echo(f"suggestions shown: {data['shown']}  accepted: {data['accepted']}  "
               f"acceptance rate: {data['acceptance_rate'] * 100:.1f}%  cache hits: {data['cache_hits']}")
    for name, label in (("model_latency_ms", "model"), ("cached_latency_ms", "cached")):
        lat = data[name]
        if lat["count"]:
            typer.echo(f"{label} latency (ms, {lat['count']} requests): p50 {lat['p50']:.0f}  p90 {lat['p90']:.0f}  "
                       f"p99 {lat['p99']:.0f}")
    typer.echo(f"data: {path}")
