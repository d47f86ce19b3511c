"""Perfect-model harness (issue 11): a scripted backend plays a model that knows the right middle, through the
real CompletionEngine (window, prompt, healing, post-processing), over cursor positions in real third-party
source files that nobody here wrote. Post-processing must not damage a right answer.

Run the full set (every position, not a sample) and print the table: `python tests/perfect_model.py`.
"""

from __future__ import annotations

import random
import shutil
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from starassist.engine.backend import GenerationParams, GenerationResult, ModelInfo, Timings
from starassist.engine.completion import CompletionEngine, CompletionRequest
from starassist.engine.fim import FORMATS

# StarCoder's special tokens, as ids after the 256 byte tokens.
_FIM_SPECIALS = ("<|endoftext|>", *sorted(FORMATS["starcoder"].special_tokens() - {"<|endoftext|>"}))
VOCABS = ("FIM", "left-to-right")
KINDS = ("rest of line", "span before a closer", "block body")
ANSWERS = ("exact middle", "runs on past the middle")
# Block bodies longer than this are not one completion.
_MAX_BODY_LINES = 12
# How far a model that does not stop runs on past the middle (until max_tokens: ~100 tokens of 3-4 characters).
_RUN_ON = 1000


class PerfectBackend:
    """Byte tokens (plus FIM special tokens after them for the FIM vocabulary); `generate` returns the scripted
    `answer`, cut at a stop string as a real backend does."""

    def __init__(self, vocab: str) -> None:
        specials = {tok: 256 + i for i, tok in enumerate(_FIM_SPECIALS)} if vocab == "FIM" else {}
        self._texts = {i: tok for tok, i in specials.items()}
        self.info = ModelInfo(
            name=f"perfect-{vocab}", path="", arch="starcoder" if specials else "llama", context_length=8192,
            train_context_length=8192, vocab_size=256 + len(specials), bos_id=None,
            eos_id=specials.get("<|endoftext|>"), add_bos=False, special_tokens=specials,
            eog_ids=frozenset({specials["<|endoftext|>"]}) if specials else frozenset(),
            control_ids=frozenset(specials.values()),
        )
        self.answer = ""

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        return list(text.encode())

    def detokenize(self, tokens: Sequence[int]) -> str:
        out, run = [], bytearray()
        for t in tokens:
            if t < 256:
                run.append(t)
            else:
                out.append(run.decode(errors="replace") + self._texts[t])
                run = bytearray()
        return "".join(out) + run.decode(errors="replace")

    def generate(self, prompt, params: GenerationParams, *, cancel=None, on_text=None) -> GenerationResult:
        text = self.answer
        for stop in params.stop_strings:
            i = text.find(stop, 1)
            if i != -1:
                text = text[:i]
        return GenerationResult(text=text, tokens=list(text.encode()), stop_reason="stop_token", timings=Timings())

    def close(self) -> None:
        pass


def engines() -> dict[str, tuple[CompletionEngine, PerfectBackend]]:
    out = {}
    for vocab in VOCABS:
        backend = PerfectBackend(vocab)
        out[vocab] = (CompletionEngine(backend), backend)
    return out


def complete(engine_backend: tuple[CompletionEngine, PerfectBackend], document: str, answer: str) -> str:
    """`document` holds one ▌ where the cursor is."""
    engine, backend = engine_backend
    backend.answer = answer
    prefix, suffix = document.split("▌")
    return engine.complete(CompletionRequest(text=prefix + suffix, offset=len(prefix))).text


# --- real third-party sources, readable offline -------------------------------------------------------------

def sources() -> dict[str, list[Path]]:
    """Language -> files. Python from the standard library; C from CPython's headers (static inline functions);
    JavaScript from the npm that ships with node (npm's own code indents with 2 spaces, chalk/debug/p-map with
    tabs); C++ from libstdc++ (GNU style: 2-space steps, a tab for each 8 columns)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    include = Path(sysconfig.get_paths()["include"])
    out: dict[str, list[Path]] = {
        "Python": [stdlib / p for p in ("json/decoder.py", "textwrap.py", "shlex.py", "heapq.py", "bisect.py",
                                        "argparse.py", "dataclasses.py", "fractions.py")],
        "C": [include / "cpython" / p for p in ("unicodeobject.h", "abstract.h", "listobject.h", "tupleobject.h")]
        + [include / p for p in ("object.h", "pymacro.h")],
    }
    npm = shutil.which("npm")
    if npm:
        root = Path(npm).resolve().parent.parent
        out["JavaScript"] = [root / p for p in (
            "lib/npm.js", "lib/commands/install.js", "lib/commands/ls.js", "lib/utils/display.js",
            "node_modules/p-map/index.js", "node_modules/debug/src/common.js", "node_modules/chalk/source/index.js",
            "node_modules/supports-color/index.js")]
    cxx = sorted(Path("/usr/include/c++").glob("*/bits/stl_algobase.h"))
    if cxx:
        bits = cxx[-1].parent
        out["C++"] = [bits / p for p in ("stl_algobase.h", "stl_vector.h", "basic_string.tcc")]
    return {lang: [p for p in paths if p.is_file()] for lang, paths in out.items() if any(p.is_file() for p in paths)}


# --- cursor positions ---------------------------------------------------------------------------------------

def _indent(line: str) -> int:
    return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())


def _is_comment(code: str) -> bool:
    return code.startswith(("#", "//", "/*", "*", "*/"))


def positions(source: str) -> Iterator[tuple[str, int, int]]:
    """(kind, cut, end): the cursor is at `cut`, the middle is source[cut:end]."""
    lines = source.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for n, line in enumerate(lines):
        code = line.strip()
        if _is_comment(code):
            continue
        indent = len(line) - len(line.lstrip())
        if len(code) > 8:
            yield "rest of line", starts[n] + indent + len(code) // 2, starts[n] + len(line.rstrip())
        body = line.rstrip().rstrip(")]}:,;")
        if body != line.rstrip() and len(body) - indent > 8:
            yield "span before a closer", starts[n] + indent + (len(body) - indent) // 2, starts[n] + len(body)
        if code.endswith((":", "{")):
            # The body: the following lines indented deeper than the opener (blank lines inside it).
            last = n
            for m in range(n + 1, len(lines)):
                if lines[m].strip() and _indent(lines[m]) <= _indent(line):
                    break
                if lines[m].strip():
                    last = m
            if 0 < last - n <= _MAX_BODY_LINES:
                yield "block body", starts[n] + len(line.rstrip()), starts[last] + len(lines[last].rstrip())


def _normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


@dataclass
class Result:
    cases: Counter  # (language, vocab, kind, answer) -> cases
    damaged: Counter
    examples: list[tuple[str, str, str, str, str, str]]  # (language, vocab, kind, answer, document, got)

    def rate(self, **where: str) -> tuple[int, int]:
        keys = ("language", "vocab", "kind", "answer")
        pick = [k for k in self.cases if all(k[keys.index(f)] == v for f, v in where.items())]
        return sum(self.damaged[k] for k in pick), sum(self.cases[k] for k in pick)

    def table(self) -> str:
        def cell(d: int, n: int) -> str:
            return f"{100 * d / n:.1f}% ({d}/{n})" if n else "–"

        rows = ["| case | " + " | ".join(f"{v} vocabulary" for v in VOCABS) + " |", "|---|---|---|"]
        for answer in ANSWERS:
            for kind in KINDS:
                rows.append(f"| {answer}, {kind} | "
                            + " | ".join(cell(*self.rate(vocab=v, kind=kind, answer=answer)) for v in VOCABS) + " |")
        rows.append("| all cases | " + " | ".join(cell(*self.rate(vocab=v)) for v in VOCABS) + " |")
        langs = sorted({k[0] for k in self.cases})
        rows.append("")
        rows.append("by language: " + ", ".join(f"{lang} {cell(*self.rate(language=lang))}" for lang in langs))
        return "\n".join(rows)


def run(per_kind: int | None, seed: int = 11, keep_examples: int = 0) -> Result:
    """Every language, vocabulary, kind and answer. `per_kind`: positions sampled per file and kind (fixed
    seed), None for all of them."""
    result = Result(Counter(), Counter(), [])
    eng = engines()
    rng = random.Random(seed)
    for language, paths in sources().items():
        for path in paths:
            source = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
            chosen: list[tuple[str, int, int]] = []
            by_kind: dict[str, list[tuple[str, int, int]]] = {k: [] for k in KINDS}
            for pos in positions(source):
                by_kind[pos[0]].append(pos)
            for found in by_kind.values():
                chosen += found if per_kind is None or len(found) <= per_kind else rng.sample(found, per_kind)
            for kind, cut, end in chosen:
                middle = source[cut:end]
                document = source[:cut] + "▌" + source[end:]
                for answer, text in zip(ANSWERS, (middle, source[cut : end + _RUN_ON]), strict=True):
                    for vocab in VOCABS:
                        key = (language, vocab, kind, answer)
                        got = complete(eng[vocab], document, text)
                        result.cases[key] += 1
                        if _normal(got) != _normal(middle):
                            result.damaged[key] += 1
                            if len(result.examples) < keep_examples:
                                result.examples.append((*key, document[max(0, cut - 300): cut + 301], got))
    return result


if __name__ == "__main__":
    full = run(None, keep_examples=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    for language, vocab, kind, answer, doc, got in full.examples:
        print(f"--- {language} / {vocab} / {kind} / {answer}\n{doc}\n>>> got:\n{got!r}\n")
    print(full.table())
