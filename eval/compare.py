"""Two runs side by side (`starassist eval --compare RUN_A RUN_B`): per category (task kind × pipeline) the
headline rate of each run with its 95% interval, and a PNG bar chart of the same."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from starassist.engine.errors import StarassistError
from starassist.engine.files import write_atomic

from .tasks import KINDS


@dataclass(frozen=True)
class Row:
    category: str  # "<kind> <pipeline>"
    metric: str  # pass@1 where tests ran, else exact match
    a: dict[str, float] | None  # {"rate", "low", "high", "n"}; None: not in that run
    b: dict[str, float] | None


def load_run(folder: Path) -> dict[str, dict]:
    """kind -> report of a run folder (`--out`), as the run wrote it in `<kind>/summary.json`."""
    reports = {}
    for kind in KINDS:
        path = folder / kind / "summary.json"
        if path.is_file():
            reports[kind] = json.loads(path.read_text(encoding="utf-8"))
    if not reports:
        raise StarassistError(f"{folder} holds no evaluation results — pass a folder given to `starassist eval --out`")
    return reports


def rows(a: dict[str, dict], b: dict[str, dict]) -> list[Row]:
    out = []
    for kind in KINDS:
        if kind not in a and kind not in b:
            continue
        pipelines = (a.get(kind) or b.get(kind) or {})["summary"]["pipelines"]
        for pipeline in pipelines:
            both = [r.get(kind, {}).get("summary", {}).get("pipelines", {}).get(pipeline, {}) for r in (a, b)]
            metric = "pass@1" if any("pass@1" in x for x in both) else "exact"
            out.append(Row(f"{kind} {pipeline}", metric, both[0].get(metric), both[1].get(metric)))
    return out


def plot(table: list[Row], labels: tuple[str, str], dest: Path) -> None:
    """Horizontal bars, one pair per category, with the 95% intervals as error bars."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise StarassistError("the comparison plot needs matplotlib — pip install 'starassist[eval]'") from None
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(table) + 1.5))
    height = 0.38
    for i, (label, color) in enumerate(zip(labels, ("#4c72b0", "#dd8452"), strict=True)):
        ys, rates, errs = [], [], [[], []]
        for j, row in enumerate(table):
            value = row.a if i == 0 else row.b
            if value is None:
                continue
            ys.append(j + (i - 0.5) * height)
            rates.append(100 * value["rate"])
            errs[0].append(100 * (value["rate"] - value["low"]))
            errs[1].append(100 * (value["high"] - value["rate"]))
        ax.barh(ys, rates, height=height, xerr=errs, color=color, label=label, capsize=3)
    ax.set_yticks(range(len(table)), [f"{r.category} ({r.metric})" for r in table])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% (95% interval)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomic(dest, buffer.getvalue())
