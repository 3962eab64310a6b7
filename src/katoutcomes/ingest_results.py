"""What an ingest reports: per-file counts, the result of a validation, and its progress.

:class:`IngestResult` is what :func:`katoutcomes.ingest.validate_path` returns and what
:meth:`katoutcomes.store.Store.write` persists; :class:`StoredRows` is what validation asks
of a store (rows and files it holds already), so that ingest does not depend on the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import pandas as pd

from katoutcomes.readers import RawTable
from katoutcomes.settings import Settings
from katoutcomes.validation import PROBLEM_COLUMNS

__all__ = [
    "PROGRESS_STAGES",
    "REJECTED_COLUMNS",
    "SELF_HARM_IN_REJECTED_ROW",
    "IngestProgress",
    "IngestResult",
    "ProgressCallback",
    "ProgressTracker",
    "StoredRows",
    "TableReport",
    "empty_rejected",
]

REJECTED_COLUMNS: Final = ["table", "file", *PROBLEM_COLUMNS]

#: Reason of the extra problem line for a rejected PHQ-9 row (a bad cell, a scoring problem
#: or a conflict) that answers item 9 with 1 or more: the safety flag (methods §2.5) is raised
#: only on accepted rows, so the data steward must see it here.
SELF_HARM_IN_REJECTED_ROW: Final = (
    "this rejected PHQ-9 row answers item 9 (thoughts of self-harm) with 1 or more; no "
    "safety flag is raised until the row is corrected and ingested"
)


class StoredRows(Protocol):
    """What validation asks of a store (:class:`katoutcomes.store.Store` is one): the keys
    of its rows, whether it holds a file, and its time representation."""

    def existing_keys(self, table: str, key: list[str]) -> pd.DataFrame:
        """``key`` columns, ``row_hash``, ``source_file`` and ``source_line`` of the stored
        rows of ``table``."""
        ...

    def has_file(self, sha256: str, config: str = "") -> bool:
        """Whether a file with this SHA-256 was ingested with this configuration."""
        ...

    def time_representation(self) -> str | None:
        """``"datetime"`` or ``"study_day"`` for a store with rows, else ``None``."""
        ...


def empty_rejected() -> pd.DataFrame:
    """A rejected-rows table without rows (:data:`REJECTED_COLUMNS`)."""
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "line" else "str") for c in REJECTED_COLUMNS}
    )


@dataclass(frozen=True, slots=True)
class TableReport:
    """What happened to the rows of one table from one file."""

    table: str
    file: str
    sha256: str
    layout: str
    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    ignored_columns: tuple[str, ...] = ()
    already_ingested: bool = False
    #: Row number of the header; the rows above it were skipped (titles, notes) and are
    #: not counted in ``rows_read``.
    header_row: int = 1

    @property
    def skipped_rows(self) -> tuple[int, ...]:
        """Row numbers above the header, skipped as titles or notes."""
        return tuple(range(1, self.header_row))

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "file": self.file,
            "sha256": self.sha256,
            "layout": self.layout,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "ignored_columns": list(self.ignored_columns),
            "already_ingested": self.already_ingested,
            "header_row": self.header_row,
            "skipped_rows": list(self.skipped_rows),
        }


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome of validating (and possibly storing) a dataset.

    Attributes
    ----------
    accepted : new rows per table, typed, with provenance columns.
    rejected : one row per problem: ``table, file, line, field, reason, value``. A row with
        several problems appears several times; ``rejected`` counts rows.
    reports : per table and file counts.
    time_representation : ``"datetime"`` (dates/datetimes) or ``"study_day"``.
    """

    accepted: Mapping[str, pd.DataFrame]
    rejected: pd.DataFrame
    reports: tuple[TableReport, ...]
    time_representation: str | None
    source: str
    settings: Settings = field(default_factory=Settings)
    #: Fingerprint of the settings and mapping that produced this result: the same file
    #: read another way (a corrected mapping, say) is a new ingest, not a repeat.
    config: str = ""

    @property
    def rows_read(self) -> int:
        return sum(r.rows_read for r in self.reports)

    @property
    def n_accepted(self) -> int:
        return sum(r.accepted for r in self.reports)

    @property
    def n_rejected(self) -> int:
        return sum(r.rejected for r in self.reports)

    @property
    def self_harm_rejected(self) -> pd.DataFrame:
        """Rejected PHQ-9 rows that answer item 9 with 1 or more: their problem lines
        with reason :data:`SELF_HARM_IN_REJECTED_ROW` (no flag is raised for them)."""
        return self.rejected[self.rejected["reason"] == SELF_HARM_IN_REJECTED_ROW]

    @property
    def n_duplicates(self) -> int:
        return sum(r.duplicates for r in self.reports)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (stable keys; see the README's CLI section)."""
        tables: dict[str, dict[str, int]] = {}
        for r in self.reports:
            t = tables.setdefault(
                r.table, {"rows_read": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
            )
            for k in t:
                t[k] += getattr(r, k)
        rejected = self.rejected.astype({"line": "int64"}).to_dict(orient="records")
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "accepted": self.n_accepted,
            "rejected": self.n_rejected,
            "duplicates": self.n_duplicates,
            "tables": tables,
            "files": [r.to_dict() for r in self.reports],
            "time_representation": self.time_representation,
            "rejected_rows": [
                {k: (int(v) if k == "line" else v) for k, v in row.items()} for row in rejected
            ],
            "settings": self.settings.to_dict(),
        }


# --------------------------------------------------------------------------- progress

#: Stages of an ingest, in order. :func:`validate_path` reports ``reading`` (after each
#: file), ``checking`` (after each file's rows are checked) and ``checked``;
#: :meth:`katoutcomes.store.Store.ingest` then ``writing`` and ``written``.
PROGRESS_STAGES: Final = ("reading", "checking", "checked", "writing", "written")


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """How far an ingest has got: what a progress callback receives.

    Attributes
    ----------
    stage : one of :data:`PROGRESS_STAGES`.
    file : the file just read or checked ("" for ``checked``, ``writing``, ``written``).
    rows_done : rows read so far (``reading``), rows checked so far (``checking``), or
        every row (later stages).
    rows_total : every row of the dataset, known once all files are read (``None`` while
        reading).
    elapsed_seconds : time since the call started.
    fraction : overall share of the work done, 0 to 1, never decreasing, for a progress bar
        (reading is counted as the first half of a validation, checking as the second; a
        store's ingest gives validation 90% and writing the rest).
    """

    stage: str
    file: str
    rows_done: int
    rows_total: int | None
    elapsed_seconds: float
    fraction: float

    @property
    def rows_per_second(self) -> float | None:
        """Rows done per second so far (``None`` in the first instant)."""
        if self.elapsed_seconds <= 0:
            return None
        return self.rows_done / self.elapsed_seconds


#: A function that receives an ingest's progress (called in the caller's thread).
ProgressCallback = Callable[[IngestProgress], None]


class ProgressTracker:
    """Reports the progress of a validation to an optional callback."""

    def __init__(self, callback: ProgressCallback | None, n_files: int):
        self.callback = callback
        self.n_files = max(n_files, 1)
        self.start = time.perf_counter()
        self.files_read = 0
        self.rows_read = 0
        self.rows_checked = 0
        self.rows_total: int | None = None

    def emit(self, stage: str, file: str, rows_done: int, fraction: float) -> None:
        if self.callback is None:
            return
        self.callback(
            IngestProgress(
                stage=stage,
                file=file,
                rows_done=rows_done,
                rows_total=self.rows_total,
                elapsed_seconds=time.perf_counter() - self.start,
                fraction=min(max(fraction, 0.0), 1.0),
            )
        )

    def read(self, raw: RawTable) -> None:
        self.files_read += 1
        self.rows_read += raw.rows_read
        self.emit("reading", raw.file, self.rows_read, 0.5 * self.files_read / self.n_files)

    def all_read(self) -> None:
        self.rows_total = self.rows_read

    def checked(self, file: str, rows: int) -> None:
        self.rows_checked += rows
        share = self.rows_checked / self.rows_total if self.rows_total else 1.0
        self.emit("checking", file, self.rows_checked, 0.5 + 0.5 * share)

    def done(self) -> None:
        self.emit("checked", "", self.rows_total or 0, 1.0)
