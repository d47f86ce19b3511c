"""One-key edits of config.toml (`starassist models pull` sets model.path): the rest of the text is kept, the
result always parses, and a layout the editor cannot handle is a one-line error, not a broken file."""

from __future__ import annotations

import pytest

from starassist.engine.config_edit import set_value, with_value
from starassist.engine.errors import SettingsError
from starassist.engine.settings import load_settings


@pytest.mark.parametrize(("before", "after"), [
    ("", '[model]\npath = "org/m:f.gguf"\n'),
    ("# mine\n[completion]\nmax_tokens = 3\n",
     '# mine\n[completion]\nmax_tokens = 3\n\n[model]\npath = "org/m:f.gguf"\n'),
    ('[model]\nthreads = 2  # two\npath = "old.gguf"  # was\n\n[chat]\nx = 1\n',
     '[model]\nthreads = 2  # two\npath = "org/m:f.gguf"\n\n[chat]\nx = 1\n'),
    ("[model]\nthreads = 2\n[chat]\n", '[model]\npath = "org/m:f.gguf"\nthreads = 2\n[chat]\n'),
    ("[ model ] # the model\n", '[ model ] # the model\npath = "org/m:f.gguf"\n'),
])
def test_with_value_golden(before, after):
    assert with_value(before, "model", "path", "org/m:f.gguf") == after


def test_set_value_writes_a_file_settings_read(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[completion]\nmax_tokens = 40\n')
    set_value("model", "path", 'C:\\models\\"odd".gguf', path=path)
    settings = load_settings(file=path, environ={})
    assert settings.model.path == 'C:\\models\\"odd".gguf' and settings.completion.max_tokens == 40


def test_layouts_it_cannot_edit_are_refused_and_the_file_kept(tmp_path):
    path = tmp_path / "config.toml"
    for text in ('model.path = "a.gguf"\n', 'model = { path = "a.gguf" }\n'):
        path.write_text(text)
        with pytest.raises(SettingsError, match="under \\[model\\] yourself"):
            set_value("model", "path", "b.gguf", path=path)
        assert path.read_text() == text
    path.write_text("[model\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        set_value("model", "path", "b.gguf", path=path)
