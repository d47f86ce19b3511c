"""One-key edits of the user's config.toml that keep the rest of the text (comments, order) as it was.

Used by `starassist models pull` to make the fetched model the default. The edit is checked by parsing the
result before it replaces the file (written atomically); a layout this line editor cannot handle (the key set
as a dotted key or in an inline table) is an error that says what to write by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .errors import SettingsError
from .files import write_atomic
from .settings import config_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def with_value(text: str, section: str, key: str, value: str) -> str:
    """`text` (a TOML document) with `[section] key = "value"` set: the key's line replaced in place, or added
    at the top of the section, or a new section at the end."""
    line = f"{key} = {json.dumps(value, ensure_ascii=False)}"  # a JSON string is a valid TOML basic string
    lines = text.splitlines()
    start = next((i for i, s in enumerate(lines) if (m := _HEADER.match(s)) and m.group(1) == section), None)
    if start is None:
        tail = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return f"{text}{tail}[{section}]\n{line}\n"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    key_line = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start + 1, end):
        if key_line.match(lines[i]):
            lines[i] = line
            break
    else:
        lines.insert(start + 1, line)
    return "\n".join(lines) + "\n"


def set_value(section: str, key: str, value: str, *, path: Path | None = None) -> Path:
    """Set `[section] key = value` in the config file (created when missing); returns its path."""
    path = path or config_file()
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"config file {path} is not valid TOML ({exc}); fix or remove it") from None
    new = with_value(text, section, key, value)

    def check() -> None:
        try:
            got = tomllib.loads(new).get(section, {}).get(key)
        except tomllib.TOMLDecodeError:
            got = None
        if got != value:
            raise SettingsError(f"could not set {section}.{key} in {path} — add `{key} = {json.dumps(value)}` "
                                f"under [{section}] yourself")

    write_atomic(path, new, check=check)
    return path
