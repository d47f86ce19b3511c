"""User-facing errors. Each message is one line that names what is wrong and what to do about it."""

from __future__ import annotations


class StarassistError(Exception):
    """An error the user can fix. The CLI prints it as one line; the LSP shows it with window/showMessage."""

    exit_code = 1


class ModelNotFoundError(StarassistError):
    pass


class BadModelFileError(StarassistError):
    pass


class SettingsError(StarassistError):
    exit_code = 2


class MissingExtraError(StarassistError):
    pass


class DownloadError(StarassistError):
    """Fetching from the Hugging Face Hub failed or is not possible (offline, gated, not found)."""


class CancelledError(StarassistError):
    """Generation was cancelled by the caller (not shown to users as an error)."""
