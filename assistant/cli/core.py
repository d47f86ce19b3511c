"""Core commands: complete, models, doctor, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from starassist.engine.errors import StarassistError
from starassist.engine.naming import local_file_name
from starassist.engine.textpos import UTF32, line_starts, line_text, offset_at

from .app import app, cli_settings, command, fail, guarded, load_engine, set_debug

ModelOpt = typer.Option(None, "--model", "-m", help="GGUF file, HF checkpoint dir, HF repo id in the local cache, or 'embedded'.")


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    set_debug(debug)
    if version:
        from starassist import __version__

        typer.echo(f"starassist {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def _offset_for(text: str, line: int, col: int) -> int:
    """Character offset of 1-based (line, column); the column counts characters (code points). After a final
    line break the cursor may sit on the empty line that follows."""
    starts = line_starts(text)
    if not 1 <= line <= len(starts):
        lines = len(starts) - 1 if text.endswith(("\n", "\r")) else len(starts)
        raise StarassistError(f"--line {line} is outside the file (it has {lines} lines)")
    width = len(line_text(text, starts, line - 1))
    if not 1 <= col <= width + 1:
        raise StarassistError(f"--col {col} is outside line {line} (it has {width} characters; use 1..{width + 1})")
    return offset_at(text, line - 1, col - 1, UTF32, starts)


@command()
def complete(
    file: Path = typer.Argument(..., help="The file to complete in."),
    line: int = typer.Option(..., "--line", "-l", help="1-based line of the cursor."),
    col: int = typer.Option(..., "--col", "-c", help="1-based column of the cursor, in characters."),
    model: str | None = ModelOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: text, model, format, timings."),
    fim_format: str | None = typer.Option(None, help="FIM format (default: detected from the vocabulary)."),
    fim_mode: str | None = typer.Option(None, help="auto, psm or spm."),
    max_tokens: int | None = typer.Option(None, help="Most tokens to generate."),
    multiline: bool | None = typer.Option(None, "--multiline/--single-line", help="Default: decided from the cursor context."),
    path: str | None = typer.Option(None, help="Path shown to the model (default: relative to the git root)."),
    repo: str | None = typer.Option(None, help="Repository name shown to the model (default: the git root's name)."),
    plain: bool = typer.Option(False, "--plain", help="No file path or repository in the prompt (plain FIM layout)."),
    raw: bool = typer.Option(False, "--raw", help="Print the model's output without post-processing."),
) -> None:
    """Print the completion at a position of FILE."""
    from starassist.engine.completion import CompletionRequest

    text = file.read_text(encoding="utf-8")
    offset = _offset_for(text, line, col)
    settings = cli_settings(
        model__path=model, model__fim_format=fim_format, model__fim_mode=fim_mode, completion__max_tokens=max_tokens
    )
    engine = load_engine(settings)
    doc_path, repo_name = local_file_name(file)
    request = CompletionRequest(
        text=text,
        offset=offset,
        path=None if plain else (path if path is not None else doc_path),
        repo=repo if repo is not None else repo_name,
        multiline=multiline,
    )
    result = engine.complete(request)
    out = result.raw if raw else result.text
    if as_json:
        payload = {
            "text": out,
            "raw": result.raw,
            "model": result.model,
            "format": result.format,
            "mode": result.mode,
            "multiline": result.multiline,
            "stop_reason": result.stop_reason,
            "timings": result.timings.as_dict(),
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
    else:
        sys.stdout.write(out)
        if out and not out.endswith("\n") and sys.stdout.isatty():
            sys.stdout.write("\n")


def _fim_for_tokens(specials: set[str]) -> str:
    from starassist.engine.fim import detect_format

    return detect_format(lambda t: t in specials).name


def _gguf_row(ref) -> dict:
    from starassist.engine.gguf_file import read_gguf

    info = read_gguf(ref.path, arrays=("tokenizer.ggml.tokens", "tokenizer.ggml.token_type"))
    tokens = info.metadata.get("tokenizer.ggml.tokens") or []
    types = info.metadata.get("tokenizer.ggml.token_type") or []
    specials = {t for t, ty in zip(tokens, types, strict=False) if ty in (3, 4)}  # CONTROL, USER_DEFINED
    return {
        "model": ref.display_name if ref.origin != "path" else ref.source,
        "kind": "gguf",
        "arch": info.arch,
        "size_mb": round(info.file_size / 2**20, 1),
        "quantization": info.quantization,
        "context": info.context_length,
        "fim": _fim_for_tokens(specials),
        "chat_template": "tokenizer.chat_template" in info.metadata,
        "path": str(ref.path),
    }


def _hf_row(ref) -> dict:
    config = json.loads((ref.path / "config.json").read_text(encoding="utf-8"))
    specials: set[str] = set()
    tok_file = ref.path / "tokenizer.json"
    if tok_file.is_file():
        try:
            specials = {t["content"] for t in json.loads(tok_file.read_text(encoding="utf-8")).get("added_tokens", [])}
        except (json.JSONDecodeError, KeyError, TypeError):
            specials = set()
    size = sum(f.stat().st_size for f in ref.path.iterdir() if f.suffix in (".safetensors", ".bin"))
    quant = (config.get("quantization_config") or {}).get("quant_method", str(config.get("torch_dtype") or config.get("dtype") or "?"))
    return {
        "model": ref.source,
        "kind": "hf",
        "arch": config.get("model_type", "?"),
        "size_mb": round(size / 2**20, 1),
        "quantization": quant,
        "context": config.get("n_positions") or config.get("max_position_embeddings") or 0,
        "fim": _fim_for_tokens(specials),
        "chat_template": (ref.path / "chat_template.jinja").is_file(),
        "path": str(ref.path),
    }


models_app = typer.Typer(help="List the models starassist can use; `models pull` fetches a GGUF from the Hub.",
                         rich_markup_mode="rich")
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
@guarded
def models(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    model: str | None = ModelOpt,
) -> None:
    """List the models starassist can use: embedded, local Hugging Face cache, configured paths."""
    from starassist.engine.models import EMBEDDED, list_hf_cache, resolve_model

    if ctx.invoked_subcommand is not None:
        return
    settings = cli_settings(model__path=model)
    refs = []
    seen: set[str] = set()
    candidates = [EMBEDDED] + ([settings.model.path] if settings.model.path != EMBEDDED else [])
    problems: list[str] = []
    for spec in candidates:
        try:
            refs.append(resolve_model(spec))
        except StarassistError as exc:
            problems.append(str(exc))
    refs.extend(list_hf_cache())
    rows = []
    for ref in refs:
        if str(ref.path) in seen:
            continue
        seen.add(str(ref.path))
        try:
            rows.append(_gguf_row(ref) if ref.kind == "gguf" else _hf_row(ref))
        except (StarassistError, OSError, json.JSONDecodeError) as exc:
            problems.append(f"{ref.source}: {exc}")
    if as_json:
        typer.echo(json.dumps({"models": rows, "problems": problems}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Models")
    for col in ("model", "kind", "arch", "size", "quant", "context", "FIM"):
        table.add_column(col)
    for row in rows:
        fim = row["fim"] if row["fim"] != "none" else "none (left-to-right)"
        table.add_row(row["model"], row["kind"], row["arch"], f"{row['size_mb']} MB", str(row["quantization"]),
                      str(row["context"]), fim)
    console = Console()
    console.print(table)
    for p in problems:
        console.print(f"[yellow]warning:[/] {p}")


def kv_reuse_mode(engine) -> str:
    """How the KV cache is kept between keystrokes, in words (for `doctor`)."""
    kind = engine.backend.info.kv_reuse
    if kind == "shift":
        return ("shift (APPROXIMATE: later runs of the previous prompt are moved to new positions; suggestions "
                "can differ from a cold evaluation; model.kv_reuse = \"exact\" turns it off)")
    if kind == "crop":
        how = "crop and re-evaluate: the cache is cut back to the common prefix, the rest is computed again (exact)"
    elif kind == "prefix":
        how = "exact prefix: the common prefix of the previous prompt is kept"
    else:
        return "none: every prompt is evaluated in full"
    if engine.format.fim and engine.mode == "spm":
        return how + "; SPM append: the typed text is last, so a keystroke only adds tokens at the end"
    if engine.format.fim:
        return how + "; PSM: a keystroke re-evaluates the suffix after the cursor"
    return how + "; left-to-right: a keystroke only adds tokens at the end"


_DOCTOR_SAMPLE = '''def fibonacci(n):
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    return <CURSOR>

def main():
    print(fibonacci(10))
'''


@command()
def doctor(
    model: str | None = ModelOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check the chosen model: it loads, where it runs, its FIM format, a dry infill, timings and threads."""
    from starassist.engine.backend import Diagnosable
    from starassist.engine.completion import CompletionRequest
    from starassist.engine.fim import all_special_token_texts

    checks: list[tuple[str, str, str]] = []  # (status ok|warn|fail, name, detail)
    settings = cli_settings(model__path=model)
    engine = load_engine(settings)
    info = engine.backend.info
    remote = info.arch == "remote"
    if remote:
        checks.append(("ok", "model", f"{info.name} served at {info.path}"))
    else:
        checks.append(("ok", "model", f"{info.name} ({info.arch}, {info.quantization}, {info.size_bytes / 2**20:.0f} MB) from {info.path}"))
    threads = info.threads or settings.model.threads or "auto"
    if remote:
        checks.append(("ok", "backend", f"{info.backend} at {info.device}; context budget {info.context_length} (model.context_length)"))
    else:
        checks.append(("ok", "backend", f"{info.backend} on {info.device}; threads {threads}; context {info.context_length} of {info.train_context_length}"))
    if isinstance(engine.backend, Diagnosable):  # device, dtype, quantization, memory, fast paths and why not
        checks.extend((d.status, d.name, d.detail) for d in engine.backend.diagnostics())
    fmt = engine.format
    if fmt.fim:
        checks.append(("ok", "fim", f"{fmt.name} ({fmt.family}), {engine.mode.upper()} layout"))
    else:
        why = "its vocabulary has no fill-in-the-middle tokens"
        checks.append(("warn", "fim", f"none: completion will be left-to-right ({why}); the text after the cursor is not seen by the model — use a FIM model such as StarCoder2 for infilling"))
    if info.chat_template and not fmt.fim and not remote:
        checks.append(("warn", "instruct", "this is a chat/instruct model; code completion works best with a base FIM model"))
    text = _DOCTOR_SAMPLE.replace("<CURSOR>", "")
    offset = _DOCTOR_SAMPLE.index("<CURSOR>")
    request = CompletionRequest(text=text, offset=offset, path="fib.py", repo="doctor", max_tokens=24, multiline=False)
    try:
        first = engine.complete(request)
    except StarassistError as exc:  # a remote server's error: say it in one line, with the checks so far
        checks.append(("fail", "infill", str(exc)))
        _print_checks(checks, as_json)
        raise typer.Exit(1) from None
    leaked = [t for t in all_special_token_texts() if t in first.raw]
    if leaked:
        checks.append(("fail", "infill", f"special tokens leaked into the output: {leaked}"))
    elif not first.text.strip():
        checks.append(("fail", "infill", f"empty completion (raw output {first.raw!r}, stop: {first.stop_reason})"))
    else:
        checks.append(("ok", "infill", f"{first.text.strip()!r}"))
    t1 = first.timings
    if remote:  # the server's cache is its own business; what the editor feels is the latency
        checks.append(("ok", "latency", f"first token after {t1.prompt_ms:.0f} ms, {t1.generated_tokens} tokens in "
                                        f"{t1.prompt_ms + t1.generation_ms:.0f} ms"))
    else:
        again = engine.complete(request)
        t2 = again.timings
        checks.append(("ok", "timings", f"prompt {t1.prompt_tokens} tok in {t1.prompt_ms:.0f} ms, {t1.generated_tokens} tok generated in {t1.generation_ms:.0f} ms"))
        checks.append(("ok", "kv reuse", kv_reuse_mode(engine)))
        reuse_ok = t2.reused_tokens >= 0.9 * t2.prompt_tokens
        checks.append(("ok" if reuse_ok else "warn", "kv cache", f"repeat request reused {t2.reused_tokens}/{t2.prompt_tokens} prompt tokens, prompt {t2.prompt_ms:.0f} ms"))
    healthy = _print_checks(checks, as_json)
    if not healthy:
        raise typer.Exit(1)


def _print_checks(checks: list[tuple[str, str, str]], as_json: bool) -> bool:
    healthy = not any(status == "fail" for status, _, _ in checks)
    if as_json:
        typer.echo(json.dumps({"healthy": healthy, "checks": [{"status": s, "name": n, "detail": d} for s, n, d in checks]}, indent=2))
    else:
        from rich.console import Console

        console = Console()
        marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}
        for status, name, detail in checks:
            console.print(f"{marks[status]} [bold]{name}[/]: {detail}", highlight=False)
        console.print("[green]healthy[/]" if healthy else "[red]problems found[/]")
    return healthy


_DEMO_FILE = '''import math


def circle_area(radius: float) -> float:
    """Area of a circle."""
    return math.pi * radius ** 2


def rectangle_area(width: float, height: float) -> float:
    """Area of a rectangle."""
    return '''


@command()
def demo(model: str | None = ModelOpt) -> None:
    """Complete a small Python file with the real engine and print the result with timings."""
    from rich.console import Console
    from rich.syntax import Syntax

    from starassist.engine.completion import CompletionRequest

    console = Console()
    settings = cli_settings(model__path=model)
    engine = load_engine(settings)
    info = engine.backend.info
    console.print(f"[bold]model[/]: {info.name} ({info.arch}, {info.quantization}), FIM format: {engine.format.name}")
    text = _DEMO_FILE
    request = CompletionRequest(text=text, offset=len(text), path="shapes.py", repo="demo", max_tokens=32)
    first = engine.complete(request)
    console.print(Syntax(text + first.text, "python", theme="ansi_dark"))
    t = first.timings
    console.print(f"[bold]completion[/]: {first.text!r}")
    console.print(f"cold: prompt {t.prompt_tokens} tokens in {t.prompt_ms:.0f} ms; {t.generated_tokens} tokens generated in {t.generation_ms:.0f} ms")
    # The user types one more character: the prompt extends the previous one, so the KV cache is reused.
    typed = text + "w"
    second = engine.complete(CompletionRequest(text=typed, offset=len(typed), path="shapes.py", repo="demo", max_tokens=32))
    t2 = second.timings
    console.print(f"after typing 'w': {second.text!r}")
    console.print(f"warm: prompt {t2.prompt_tokens} tokens ({t2.reused_tokens} reused from the KV cache) in {t2.prompt_ms:.0f} ms; "
                  f"{t2.generated_tokens} tokens in {t2.generation_ms:.0f} ms")
    if not first.text.strip():
        fail("the model returned an empty completion — run `starassist doctor`")
