"""Exception types. Each message says what is wrong, where, and how to fix it."""

from __future__ import annotations

__all__ = ["IngestError", "KatoutcomesError", "SettingsError"]


class KatoutcomesError(Exception):
    """Base class for errors katoutcomes raises on purpose."""


class IngestError(KatoutcomesError):
    """A file-level problem: the whole ingest fails and nothing is changed.

    Raised for an unreadable file, a missing required column, an unknown layout, a file
    that mixes time representations, or an identifier-like column or value.
    """

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None):
        super().__init__(message)
        self.file = file
        self.column = column


class SettingsError(KatoutcomesError):
    """A settings file or ``--set`` override that cannot be used."""
