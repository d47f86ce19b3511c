"""The quantizer's user-facing error: one line naming what is wrong and the fix (printed by the CLI)."""

from __future__ import annotations

from starassist.engine.errors import StarassistError


class QuantError(StarassistError):
    pass
