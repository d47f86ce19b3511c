"""`eval infill --corpus` on the memorizing fixture's own training corpus: a model that knows every line gets
every single-line task exactly right through the product path (FIM layout, stop rules, post-processing)."""

from __future__ import annotations

import json

import pytest
from quant_fixtures import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("default_settings_env")]


@pytest.mark.parametrize("arch", ["starcoder", "starcoder2"])
def test_the_product_path_gives_back_every_line_of_the_training_corpus(arch, tiny_fixture, tmp_path):
    from memorizing.build import corpus
    from memorizing.gguf import fixture_gguf

    folder = tmp_path / "corpus"
    lines = 0
    for path, text in corpus():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
        lines += sum(1 for line in text.splitlines()[1:] if line.strip())  # the first line has no prefix
    result = run_cli(["eval", "infill", "--kind", "single-line", "--corpus", str(folder), "--threads", "1",
                      "--model", str(fixture_gguf(arch, "Q8_0")), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    product = json.loads(result.stdout)["runs"]["single-line"]["summary"]["pipelines"]["product"]
    assert product["tasks"] == lines >= 12
    wrong = [r for r in (json.loads(p.read_text()) for p in (tmp_path / "run/single-line/product").iterdir())
             if not r["exact"]]
    assert not wrong, [(r["task_id"], r["completion"]) for r in wrong[:3]]
    assert product["exact"]["rate"] == 1.0 and product["similarity"]["rate"] == 1.0
    assert "pass@1" not in product  # a corpus is never executed
