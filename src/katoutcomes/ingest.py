"""Ingest: read files, map columns, guard identifiers, validate, score, and account for rows.

Every input row ends in exactly one place (DESIGN 3.7):

- **accepted** (new rows, typed, with ``source_file``/``source_line``),
- **rejected** with the file, line, field and a reason a person understands, or
- counted as an exact **duplicate** of a row already seen (in this ingest or in the store).

A row with the same key as another but other values is a conflict and is rejected; the
stored row is never overwritten. File-level problems raise :class:`IngestError` before
anything is written.

For a visit-wide file, each visit row becomes up to one record per score plus one dosing
record; the counts are per record and each record keeps its visit's line.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from katoutcomes.demographics import AGE_BANDS, MAX_AGE, band_ages
from katoutcomes.errors import IngestError
from katoutcomes.instruments import ITEM_COLUMNS, PHQ9, SELF_HARM_FLAG, SELF_HARM_ITEM
from katoutcomes.layouts import detect_layout, split_visit_wide
from katoutcomes.mapping import ColumnMapping
from katoutcomes.privacy import (
    check_column_names,
    check_problem_values,
    check_values,
    patient_id_problems,
)
from katoutcomes.readers import HEADER_SEARCH_ROWS, READABLE_SUFFIXES, RawTable, read_table
from katoutcomes.schema import TABLES, TableSchema, load_schema
from katoutcomes.scoring import score_assessments
from katoutcomes.settings import Settings
from katoutcomes.validation import (
    MAP_IT,
    PROBLEM_COLUMNS,
    infer_date_order,
    numbers_valid,
    parse_table,
    problems_frame,
)

if TYPE_CHECKING:
    from katoutcomes.store import Store

__all__ = [
    "AGE_BANDS",
    "PROGRESS_STAGES",
    "REJECTED_COLUMNS",
    "SELF_HARM_IN_REJECTED_ROW",
    "IngestProgress",
    "IngestResult",
    "ProgressCallback",
    "TableReport",
    "accepted_columns",
    "dataset_name",
    "find_dataset_files",
    "next_step",
    "rejected_summary",
    "row_hashes",
    "stored_columns",
    "validate_frames",
    "validate_path",
]

REJECTED_COLUMNS: Final = ["table", "file", *PROBLEM_COLUMNS]
#: Columns added to every accepted row.
PROVENANCE: Final = ("row_hash", "source_file", "source_line")
#: Derived assessment columns (see :mod:`katoutcomes.scoring`).
SCORING_COLUMNS: Final = ("total_source", "item9_flag", "item9_high")

#: Shown instead of a value that looks identifying.
WITHHELD: Final = "(withheld: looks identifying)"


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


class _Progress:
    """Reports progress to an optional callback."""

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


# --------------------------------------------------------------------------- messages

#: What to do about each kind of problem, by the start of its reason ({field}: the column).
_NEXT_STEPS: Final = (
    ("required value is missing", "fill in {field} on these rows of the export"),
    ("not a number", "write {field} as a plain number (no units or words)"),
    ("not a whole number", "correct {field} to a whole number"),
    ("out of range", "correct {field}: the allowed range is in brackets"),
    ("not an allowed value", "correct the values in the export to one of those listed"),
    ("unknown code", "use the codes listed, separated by ';' (other events as 'other')"),
    ("not a yes/no value", "write yes/no, true/false or 1/0"),
    (
        "not a date",
        "write dates as 2025-03-14 or 14/03/2025 (with 14:30 for a time), or set "
        "datetime_format in a mapping file",
    ),
    (
        "contains characters other than",
        "use pseudonymous codes made of letters, digits, '_', '.' and '-'",
    ),
    ("patient_id looks like", "replace these ids with pseudonymous codes such as P0001"),
    ("GAD-7 has 7 items", "leave item_8 and item_9 blank on GAD-7 rows"),
    ("the recorded total", "correct the total or the items"),
    ("no total and no item scores", "give the total or the items, or leave the rows out"),
    ("conflicting rows", "keep the right row of each pair in the export and ingest again"),
    ("conflicts with an earlier row", "correct these rows or the stored ones they name"),
    ("row has", "quote cells that hold the delimiter, or add the missing cells"),
    ("visit row has no", "fill in the score or the dose, or remove the empty visit rows"),
    ("not an age in years", "correct the age, or leave it blank when it is not known"),
    (
        "this rejected PHQ-9 row answers item 9",
        "correct the other problems of these rows and ingest them, then see to the patients",
    ),
)
_FALLBACK_STEP: Final = "correct these rows in the export and validate again"
#: Parts of a reason that name other rows; left out when reasons are grouped.
_ROW_REFERENCES: Final = r" \((?:lines? [0-9, ]+|[^()]* line [0-9]+)\)"
#: Lines listed per group of problems before "...".
GROUP_LINES: Final = 10


def next_step(field: str, reason: str) -> str:
    """What to do about a problem (DESIGN 3.7: every message says what to do next)."""
    for start, step in _NEXT_STEPS:
        if reason.startswith(start):
            return step.format(field=field or "the row")
    return _FALLBACK_STEP


def _line_list(lines: pd.Series, limit: int = GROUP_LINES) -> str:
    shown = lines.drop_duplicates().sort_values()
    text = ", ".join(f"{n}" for n in shown.head(limit))
    return text + (", \u2026" if len(shown) > limit else "")


def rejected_summary(rejected: pd.DataFrame, *, limit: int = GROUP_LINES) -> pd.DataFrame:
    """Rejected rows grouped by file, column and kind of problem: one line for many rows.

    Parameters
    ----------
    rejected : ``IngestResult.rejected`` (``table, file, line, field, reason, value``).
    limit : line numbers listed per group before "...".

    Returns
    -------
    pandas.DataFrame
        One row per group, safety groups (:data:`SELF_HARM_IN_REJECTED_ROW`) first, then in
        the order of the rejected rows: ``table, file, field, problem`` (the reason without what
        varies from row to row), ``rows``, ``lines`` (the first ``limit`` line numbers,
        then "..."), ``fix`` (what to do next), ``mapping_lines`` (for values katoutcomes
        cannot read: the exact ``[values.FIELD]`` lines of a mapping file that would read
        them, one per distinct value up to ``limit``; else empty) and ``message``, all of
        it as one text (``file: N rows: column F: problem (lines ...). Fix: ...``).
    """
    columns = ["table", "file", "field", "problem", "rows", "lines", "fix", "mapping_lines"]
    if rejected.empty:
        return pd.DataFrame(columns=[*columns, "message"])
    first, mapping = _split_reasons(rejected["reason"])
    frame = rejected.assign(problem=first, mapping=mapping)
    groups = []
    for (table, file, column, problem), rows in frame.groupby(
        ["table", "file", "field", "problem"], sort=False, dropna=False
    ):
        what = str(problem).partition(" " + MAP_IT)[0]
        values = rows["mapping"][rows["mapping"] != ""].drop_duplicates()
        mapping_lines = ""
        if len(values):
            header = values.iloc[0].split("\n", 1)[0]
            body = [v.split("\n", 1)[1] for v in values.head(limit)]
            more = len(values) - len(body)
            mapping_lines = "\n".join(
                [header, *body, *([f"# ... and {more} more values"] if more > 0 else [])]
            )
        fix = (
            "add these lines to a mapping file and pass it with --mapping FILE"
            if mapping_lines
            else next_step(str(column), what)
        )
        groups.append(
            {
                "table": table,
                "file": file,
                "field": column,
                "problem": what.rstrip("."),
                "rows": len(rows),
                "lines": _line_list(rows["line"], limit),
                "fix": fix,
                "mapping_lines": mapping_lines,
                "safety": problem == SELF_HARM_IN_REJECTED_ROW,
            }
        )
    out = pd.DataFrame(groups)
    # Groups come in the order of the rejected rows (by table, file, line); safety first.
    out = out.sort_values("safety", ascending=False, kind="stable")
    plural = np.where(out["rows"] == 1, "row", "rows")
    line_word = np.where(out["lines"].str.contains(","), "lines", "line")
    column = np.where(out["field"] != "", "column " + out["field"] + ": ", "")
    message = (
        out["file"]
        + ": "
        + out["rows"].map("{:,}".format)
        + " "
        + plural
        + ": "
        + column
        + out["problem"]
        + " ("
        + line_word
        + " "
        + out["lines"]
        + "). Fix: "
        + out["fix"]
        + np.where(out["mapping_lines"] != "", ":\n" + out["mapping_lines"], ".")
    )
    return out.assign(message=message)[[*columns, "message"]].reset_index(drop=True)


def _split_reasons(reasons: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each reason's first line without references to other rows, and the mapping-file
    lines that follow it (empty when none)."""
    parts = reasons.astype("str").str.partition("\n")
    first = parts[0].str.replace(_ROW_REFERENCES, "", regex=True)
    return first, parts[2]


# --------------------------------------------------------------------------- files


def ingest_fingerprint(settings: Settings, mapping: ColumnMapping) -> str:
    """SHA-256 of the settings and mapping an ingest used."""
    payload = {"settings": settings.to_dict(), "mapping": mapping.to_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def find_dataset_files(path: str | Path) -> dict[str, Path]:
    """The files of a dataset: a folder with ``assessments.*`` (and optionally
    ``treatments.*``, ``patients.*``), or a single assessments file."""
    path = Path(path)
    if path.is_file():
        role = path.stem.lower() if path.stem.lower() in TABLES else "assessments"
        return {role: path}
    if not path.is_dir():
        raise IngestError(f"{path}: no such file or folder.")
    found: dict[str, Path] = {}
    for table in TABLES:
        matches = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and p.stem.lower() == table and p.suffix.lower() in READABLE_SUFFIXES
        )
        if len(matches) > 1:
            raise IngestError(
                f"{path}: more than one {table} file ({', '.join(m.name for m in matches)}); "
                "keep one."
            )
        if matches:
            found[table] = matches[0]
    if "assessments" not in found:
        raise IngestError(
            f"{path}: no assessments file. A dataset folder holds assessments.csv (or .xlsx, "
            ".parquet) and optionally treatments.* and patients.*."
        )
    return found


# --------------------------------------------------------------------------- helpers


def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "line" else "str") for c in REJECTED_COLUMNS}
    )


def stored_columns(table: str) -> list[str]:
    """Columns of an accepted-rows table, in order (the store's layout)."""
    schema = load_schema(table)
    cols = list(schema.field_names)
    if schema.time_fields:
        cols.append("date_only")
    if table == "assessments":
        cols.extend(SCORING_COLUMNS)
    return [*cols, *PROVENANCE]


def accepted_columns(table: str) -> list[str]:
    """Columns of the accepted rows of a validation: the stored columns without
    ``row_hash``, which :meth:`katoutcomes.store.Store.write` adds (:func:`row_hashes`)."""
    return [c for c in stored_columns(table) if c != "row_hash"]


def _empty_typed(schema: TableSchema, name: str) -> pd.Series:
    f = schema.field(name)
    if f.type in ("integer", "number"):
        return pd.Series(np.nan, dtype="float64")
    if f.type == "boolean":
        return pd.Series(pd.NA, dtype="boolean")
    if f.type in ("datetime", "date"):
        return pd.Series(pd.NaT, dtype="datetime64[us]")
    return pd.Series(pd.NA, dtype="str")


def _conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """All stored columns, in order, with absent ones filled as missing."""
    schema = load_schema(table)
    out = frame.copy(deep=False)  # columns are added, never written into
    for name in schema.field_names:
        if name not in out.columns:
            out[name] = _empty_typed(schema, name).reindex(out.index)
    if schema.time_fields and "date_only" not in out.columns:
        out["date_only"] = pd.Series(False, index=out.index, dtype="bool")
    return out


def _column_hash(column: pd.Series) -> np.ndarray:
    """A column's value hashes (pandas' ``hash_pandas_object``)."""
    return pd.util.hash_pandas_object(column, index=False).to_numpy(dtype="uint64")


def _combine_hashes(hashes: list[np.ndarray], length: int) -> np.ndarray:
    """Row hashes from column hashes, combined as ``pandas.util.hash_pandas_object`` does
    for a DataFrame (CPython's tuple hash), so stored row hashes keep their values."""
    out = np.full(length, 0x345678, dtype=np.uint64)
    multiplier = np.uint64(1000003)
    for i, column in enumerate(hashes):
        inverse = len(hashes) - i
        out ^= column
        out *= multiplier
        multiplier += np.uint64(82520 + inverse + inverse)
    return out + np.uint64(97531)


def row_hashes(frame: pd.DataFrame, table: str) -> np.ndarray:
    """One hash per row over its stored values (DESIGN 3.7: equal rows are duplicates).

    Equal to ``pandas.util.hash_pandas_object`` of the stored value columns. Ingest needs
    it only for rows whose key occurs twice or is stored already; the store computes it
    for every row it writes.
    """
    columns = [c for c in stored_columns(table) if c not in PROVENANCE]
    return _combine_hashes([_column_hash(frame[c]) for c in columns], len(frame))


def _band_ages(raw_age: pd.Series, lines: pd.Series, out: list[pd.DataFrame]) -> pd.Series:
    markers = list(load_schema("patients").missing_values)
    missing = raw_age.isin(markers)
    age = pd.to_numeric(raw_age.where(~missing), errors="coerce")
    bad = ~missing & (age.isna() | (age < 0) | (age > MAX_AGE))
    if bad.any():
        out.append(
            problems_frame(
                lines[bad],
                "age",
                f"not an age in years (expected 0-{MAX_AGE})",
                raw_age[bad],
            )
        )
    banded = pd.Series(band_ages(age.where(~bad).to_numpy(dtype="float64")), index=age.index)
    return banded.astype("str")


# --------------------------------------------------------------------------- units


@dataclass
class _Unit:
    """The rows of one table that came from one file."""

    table: str
    raw: RawTable
    frame: pd.DataFrame  # text, canonical names, with line
    layout: str
    ignored: tuple[str, ...]
    time_kind: str | None = None
    #: How the file writes dates such as 03/04/2025, when settled before the file's rows
    #: were split into tables (visit-wide files); otherwise settled while parsing.
    date_order: str | None = None
    #: Problems of input rows that have no record here (malformed lines, empty visits).
    orphan_problems: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS)
    )


def _known_fields() -> set[str]:
    """Every field name of the three tables (what a mapping may rename a column to)."""
    return {f for t in TABLES for f in load_schema(t).field_names}


def _split_units(
    role: str, raw: RawTable, mapping: ColumnMapping, settings: Settings
) -> list[_Unit]:
    columns = [c for c in raw.frame.columns if c != "line"]
    # A mapping file that sends a column to a katoutcomes field other than patient_id says
    # what the column holds ("Route Name" -> route); its values are still checked below.
    declared = mapping.declared_columns(exclude=("patient_id",))
    check_column_names(raw.file, columns, (*settings.allow_columns, *declared))
    try:
        renamed = mapping.rename(columns, _known_fields())
    except IngestError as exc:
        raise IngestError(f"{raw.file}: {exc}", file=raw.file, column=exc.column) from None
    # Text columns are scanned for identifiers here; typed columns (numbers, dates, yes/no)
    # only where a cell fails its type, after parsing (check_problem_values).
    typed = {f.name for t in TABLES for f in load_schema(t).fields if f.type != "string"}
    typed |= {"time", "age", "phq9_total", "gad7_total"}
    skip = [c for c, t in renamed.items() if t == "patient_id" or t in typed]
    check_values(raw.file, raw.frame, skip=skip, allowed=settings.allow_columns)
    if "patient_id" not in renamed.values():
        shown = ", ".join(repr(c) for c in columns[:12]) + (", ..." if len(columns) > 12 else "")
        raise IngestError(
            f"{raw.file}: no patient-id column. The column names were read from row "
            f"{raw.header_row} ({shown or 'none'}), and no row among the first "
            f"{HEADER_SEARCH_ROWS} names one (patient_id, Patient ID, Subject ID, "
            "Participant ID, ...). Rename the column, map it in a mapping file "
            '([columns] "Your column" = "patient_id"), or, if the column names are on '
            "another row, set header_row = N in the mapping file (N as your spreadsheet "
            "numbers the rows).",
            file=raw.file,
            column="patient_id",
        )
    ignored = tuple(c for c in columns if c not in renamed)
    frame = raw.frame[[*renamed, "line"]].rename(columns=renamed)
    frame = mapping.apply_values(frame)
    if role != "assessments":
        return [_Unit(role, raw, frame, "long", ignored, orphan_problems=raw.problems)]
    layout = detect_layout(list(frame.columns), raw.file, mapping.layout, original=columns)
    if layout == "long":
        return [_Unit("assessments", raw, frame, layout, ignored, orphan_problems=raw.problems)]
    # One file, one way of writing dates: settled on all of its visits before the split.
    date_order = None
    if "time" in frame.columns and not mapping.datetime_format:
        date_order = infer_date_order(frame["time"], frame["line"], file=raw.file, field="date")
    assessments, treatments, empty = split_visit_wide(frame)
    empty_visits = problems_frame(
        empty["line"], "", "visit row has no PHQ-9 or GAD-7 score and no dose"
    )
    orphans = pd.concat(
        [p for p in (raw.problems, empty_visits) if len(p)] or [raw.problems], ignore_index=True
    )
    units = [
        _Unit(
            "assessments",
            raw,
            assessments,
            layout,
            ignored,
            orphan_problems=orphans,
            date_order=date_order,
        )
    ]
    if len(treatments.columns) > len(
        {"patient_id", "time", "study_day", "site_id", "clinician_id", "line"}
        & set(treatments.columns)
    ):
        units.append(_Unit("treatments", raw, treatments, layout, ignored, date_order=date_order))
    return units


def _resolve_time(unit: _Unit, schema: TableSchema) -> None:
    """Pick the file's time representation and rename ``time`` to the schema's field."""
    if not schema.time_fields:
        return
    frame = unit.frame
    markers = list(schema.missing_values)
    has_dt = "time" in frame.columns and bool((~frame["time"].isin(markers)).any())
    has_sd = "study_day" in frame.columns and bool((~frame["study_day"].isin(markers)).any())
    dt_name = schema.datetime_field or "time"
    if has_dt and has_sd:
        raise IngestError(
            f"{unit.raw.file}: the file mixes time representations: it has both "
            f"{dt_name} (dates) and study_day values. Use one per file: dates/datetimes or "
            "study days.",
            file=unit.raw.file,
            column="study_day",
        )
    if not has_dt and not has_sd:
        if "time" not in frame.columns and "study_day" not in frame.columns:
            raise IngestError(
                f"{unit.raw.file}: missing required column {dt_name} (or study_day): each "
                f"{schema.name} row needs a date/datetime or a study day.",
                file=unit.raw.file,
                column=dt_name,
            )
        has_dt = "time" in frame.columns
    unit.time_kind = "datetime" if has_dt else "study_day"
    drop = "study_day" if has_dt else "time"
    unit.frame = frame.drop(columns=[drop], errors="ignore").rename(columns={"time": dt_name})


def _require_columns(unit: _Unit, schema: TableSchema) -> None:
    columns = set(unit.frame.columns)
    for f in schema.fields:
        if f.required and f.name not in columns:
            raise IngestError(
                f"{unit.raw.file}: missing required column {f.name!r} for the {schema.name} "
                "table. Rename the column in the file or map it with a mapping file "
                "(--mapping).",
                file=unit.raw.file,
                column=f.name,
            )
    if schema.name == "assessments" and not ({"total", *ITEM_COLUMNS} & columns):
        raise IngestError(
            f"{unit.raw.file}: missing required column 'total' (or item_1..item_9): "
            "an assessments file needs the total score or the item scores.",
            file=unit.raw.file,
            column="total",
        )


def _validate_unit(
    unit: _Unit, settings: Settings, datetime_format: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed good rows and problem rows for one unit."""
    schema = load_schema(unit.table)
    parsed = parse_table(
        unit.frame,
        schema,
        datetime_format=datetime_format,
        date_order=unit.date_order,
        file=unit.raw.file,
    )
    # patient_id has its own row-level rule (patient_id_problems below).
    check_problem_values(unit.raw.file, parsed.problems[parsed.problems["field"] != "patient_id"])
    typed = parsed.frame
    problems = [parsed.problems]
    if unit.table == "assessments":
        # Rows with a bad cell are rejected already; scoring them would only add noise.
        typed = _without_rows(typed, parsed.problems.index)
        scored = score_assessments(typed, settings)
        typed = scored.frame
        problems.append(scored.problems)
    if unit.table == "patients" and "age" in unit.frame.columns:
        extra: list[pd.DataFrame] = []
        banded = _band_ages(unit.frame["age"], unit.frame["line"], extra)
        for problem in extra:
            check_problem_values(unit.raw.file, problem)
        typed["age_band"] = typed["age_band"].fillna(banded) if "age_band" in typed else banded
        problems.extend(extra)
    if "patient_id" in unit.frame.columns:
        # An identifying id gets its specific reason instead of the generic pattern message.
        raw_ids = unit.frame["patient_id"]
        bad = patient_id_problems(raw_ids).dropna()
        if len(bad):
            first = problems[0]
            problems[0] = first[~(first.index.isin(bad.index) & (first["field"] == "patient_id"))]
            # The identifying value itself is never repeated in reports or in the store.
            problems.append(
                problems_frame(unit.frame.loc[bad.index, "line"], "patient_id", bad, WITHHELD)
            )
    problems = [p for p in problems if len(p)]
    all_problems = (
        pd.concat(problems)
        if problems
        else pd.DataFrame(columns=PROBLEM_COLUMNS).astype({"line": "int64"})
    )
    if unit.table == "assessments" and len(all_problems):
        all_problems = pd.concat([all_problems, _self_harm_answers(all_problems, parsed.frame)])
    bad_index = all_problems.index.unique()
    good = _without_rows(typed, bad_index)
    return good, all_problems


#: Reason of the extra problem line for a rejected PHQ-9 row (a bad cell, a scoring problem
#: or a conflict) that answers item 9 with 1 or more: the safety flag (DESIGN 3.6) is raised
#: only on accepted rows, so the data steward must see it here.
SELF_HARM_IN_REJECTED_ROW: Final = (
    "this rejected PHQ-9 row answers item 9 (thoughts of self-harm) with 1 or more; no "
    "safety flag is raised until the row is corrected and ingested"
)


def _self_harm_answers(problems: pd.DataFrame, parsed: pd.DataFrame) -> pd.DataFrame:
    """One problem line per rejected PHQ-9 row whose item 9 was read as 1 or more.

    ``problems`` are a unit's problem lines, labelled like the rows of ``parsed`` (the
    typed rows that hold them).
    """
    if SELF_HARM_ITEM not in parsed.columns or "instrument" not in parsed.columns:
        return problems.iloc[:0]
    rows = parsed.loc[problems.index.unique()]
    item9 = rows[SELF_HARM_ITEM].to_numpy(dtype="float64", na_value=np.nan)
    phq9 = (rows["instrument"] == PHQ9.name).to_numpy(dtype=bool, na_value=False)
    with np.errstate(invalid="ignore"):
        answered = phq9 & (item9 >= SELF_HARM_FLAG)
    shown = pd.Series(item9[answered], index=rows.index[answered]).map(lambda v: f"{v:.0f}")
    return problems_frame(
        rows.loc[answered, "line"], SELF_HARM_ITEM, SELF_HARM_IN_REJECTED_ROW, shown
    )


def _without_rows(frame: pd.DataFrame, labels: pd.Index) -> pd.DataFrame:
    """``frame`` without the rows labelled ``labels`` (no copy when there are none)."""
    if not len(labels):
        return frame
    return frame[~frame.index.isin(labels)]


def _deduplicate(
    good: pd.DataFrame,
    table: str,
    key: list[str],
    key_hash: np.ndarray,
    existing: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Split good rows into new rows, conflicts (as problems) and a duplicate count.

    ``key_hash`` is equal for rows with equal keys (missing values equal to each other).
    ``existing`` holds the keys, row hashes and provenance of rows stored or accepted
    earlier. Row hashes of ``good`` are computed only for the rows that need comparing.
    """
    problems: list[pd.DataFrame] = []
    # Only rows whose key occurs more than once can be duplicates or conflicts; finding
    # them on one hash per row is cheap, and the exact grouping below runs on them alone
    # (a hash collision only sends a few more rows there).
    shared = np.asarray(pd.Index(key_hash).duplicated(keep=False))
    conflict = pd.Series(False, index=good.index)
    repeated = pd.Series(False, index=good.index)
    if shared.any():
        same_key = good.loc[shared]
        same_key = same_key.assign(row_hash=row_hashes(same_key, table))
        versions = same_key.groupby(key, dropna=False, sort=False)["row_hash"].transform("nunique")
        clashes = versions > 1
        conflict.loc[same_key.index] = clashes
        repeated.loc[same_key.index] = same_key.duplicated(subset=[*key, "row_hash"]) & ~clashes
    if conflict.any():
        clashing = good.loc[conflict]
        lines = clashing.groupby(key, dropna=False, sort=False)["line"].transform(
            lambda s: ", ".join(s.astype("str"))
        )
        what = (
            "patient, instrument and time"
            if table == "assessments"
            else ("patient and time" if table == "treatments" else "patient")
        )
        problems.append(
            problems_frame(
                clashing["line"],
                key[-1],
                f"conflicting rows for the same {what} with different values (lines "
                + lines.astype("str")
                + "); keep the right one and ingest again",
                "",
            )
        )
    n_dup = int(repeated.sum())
    candidates = good.loc[~conflict & ~repeated] if shared.any() else good
    if existing is not None and len(existing) and len(candidates):
        merged = (
            candidates[[*key, "line"]]
            .reset_index()
            .merge(existing.rename(columns={"row_hash": "stored_hash"}), on=key, how="inner")
        )
        if len(merged):
            merged["row_hash"] = row_hashes(candidates.loc[merged["index"]], table)
            same = merged["row_hash"] == merged["stored_hash"]
            n_dup += int(same.sum())
            clash = merged.loc[~same].set_index("index")
            if len(clash):
                problems.append(
                    problems_frame(
                        clash["line"],
                        key[-1],
                        "conflicts with an earlier row with the same key and other values ("
                        + clash["source_file"].astype("str")
                        + " line "
                        + clash["source_line"].astype("int64").astype("str")
                        + "), which is kept. Correct this row or the earlier one",
                        "",
                    )
                )
            candidates = candidates.drop(index=merged["index"])
    out = pd.concat(problems) if problems else pd.DataFrame(columns=PROBLEM_COLUMNS)
    return candidates, out, n_dup


_T = TypeVar("_T")
_R = TypeVar("_R")


def _in_parallel(
    fn: Callable[[_T], _R],
    items: Sequence[_T],
    each: Callable[[_T, _R], None] | None = None,
) -> list[_R]:
    """``[fn(item) for item in items]`` on a thread per item (up to the core count).

    The work is mostly pyarrow and NumPy kernels, which release the GIL. Results come back
    in order, and the first item (in order) that raises raises here, as in a loop. ``each``
    is called with each item and its result as it arrives, in the caller's thread (where a
    progress callback may draw).
    """
    results: list[_R] = []
    if len(items) < 2:
        computed: Iterable[_R] = (fn(item) for item in items)
        pool = None
    else:
        pool = ThreadPoolExecutor(max_workers=min(len(items), os.cpu_count() or 1))
        computed = pool.map(fn, items)
    try:
        for item, result in zip(items, computed, strict=True):
            results.append(result)
            if each is not None:
                each(item, result)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return results


# --------------------------------------------------------------------------- entry points


def _validate_raw(
    raws: list[tuple[str, RawTable]],
    *,
    settings: Settings,
    mapping: ColumnMapping,
    store: Store | None,
    source: str,
    progress: _Progress | None = None,
) -> IngestResult:
    progress = progress or _Progress(None, len(raws))
    progress.all_read()
    units = [
        unit
        for file_units in _in_parallel(
            lambda item: _split_units(item[0], item[1], mapping, settings), raws
        )
        for unit in file_units
    ]
    kinds: dict[str, str] = {}
    for unit in units:
        schema = load_schema(unit.table)
        _resolve_time(unit, schema)
        _require_columns(unit, schema)
        if unit.time_kind:
            kinds[unit.raw.file + ":" + unit.table] = unit.time_kind
    representation = _one_representation(kinds, store)
    config = ingest_fingerprint(settings, mapping)

    accepted: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    rejected: list[pd.DataFrame] = []
    reports: list[TableReport] = []
    seen: dict[str, pd.DataFrame] = {}

    def checked(unit: _Unit) -> tuple[pd.DataFrame, pd.DataFrame, list[str], np.ndarray]:
        schema = load_schema(unit.table)
        good, problems = _validate_unit(unit, settings, mapping.datetime_format)
        good = _conform(good, unit.table)
        key = list(
            schema.key_columns(
                (schema.datetime_field if unit.time_kind == "datetime" else "study_day")
                if schema.time_fields
                else None
            )
        )
        key_hash = _combine_hashes([_column_hash(good[c]) for c in key], len(good))
        return good, problems, key, key_hash

    # Files are checked side by side; duplicates across files are then resolved in order.
    counted: set[int] = set()

    def each(unit: _Unit, _: object) -> None:
        # A visit-wide file gives two tables; its rows are counted once.
        rows = 0 if id(unit.raw) in counted else unit.raw.rows_read
        counted.add(id(unit.raw))
        progress.checked(unit.raw.file, rows)

    for unit, (good, problems, key, key_hash) in zip(
        units, _in_parallel(checked, units, each), strict=True
    ):
        orphans = unit.orphan_problems
        # Rows are checked against the store and against earlier files of this ingest.
        earlier = []
        if unit.table in seen:
            before = seen[unit.table]
            earlier.append(
                before[[*key, "source_file", "source_line"]].assign(
                    row_hash=row_hashes(before, unit.table)
                )
            )
        if store is not None:
            earlier.append(store.existing_keys(unit.table, key))
        existing = pd.concat(earlier) if earlier else None
        new, conflicts, n_dup = _deduplicate(good, unit.table, key, key_hash, existing)
        if unit.table == "assessments" and len(conflicts):
            conflicts = pd.concat([conflicts, _self_harm_answers(conflicts, good)])
        new = new.assign(source_file=unit.raw.file, source_line=new["line"])
        new = new[accepted_columns(unit.table)].reset_index(drop=True)
        seen[unit.table] = pd.concat([seen[unit.table], new]) if unit.table in seen else new
        all_problems = [p for p in (problems, conflicts, orphans) if len(p)]
        unit_rejected = (
            pd.concat(all_problems, ignore_index=True)
            if all_problems
            else pd.DataFrame(columns=PROBLEM_COLUMNS)
        )
        unit_rejected = unit_rejected.assign(table=unit.table, file=unit.raw.file)
        n_rejected_rows = len(problems.index.union(conflicts.index).unique()) + len(orphans)
        rows_read = len(unit.frame) + len(orphans)
        accepted[unit.table].append(new)
        rejected.append(unit_rejected[REJECTED_COLUMNS])
        already = store.has_file(unit.raw.sha256, config) if store is not None else False
        reports.append(
            TableReport(
                table=unit.table,
                file=unit.raw.file,
                sha256=unit.raw.sha256,
                layout=unit.layout,
                rows_read=rows_read,
                accepted=len(new),
                rejected=n_rejected_rows,
                duplicates=n_dup,
                ignored_columns=unit.ignored,
                already_ingested=already,
                header_row=unit.raw.header_row,
            )
        )
    frames = {
        t: (pd.concat(v, ignore_index=True) if v else pd.DataFrame(columns=accepted_columns(t)))
        for t, v in accepted.items()
        if v
    }
    rejected_frame = pd.concat(rejected, ignore_index=True) if rejected else _empty_rejected()
    rejected_frame = (
        rejected_frame.astype({"line": "int64"})
        .sort_values(["table", "file", "line"], kind="stable")
        .reset_index(drop=True)
    )
    progress.done()
    return IngestResult(
        config=config,
        accepted=frames,
        rejected=rejected_frame,
        reports=tuple(reports),
        time_representation=representation,
        source=source,
        settings=settings,
    )


def _one_representation(kinds: Mapping[str, str], store: Store | None) -> str | None:
    found = set(kinds.values())
    stored = store.time_representation() if store is not None else None
    found_with_store = found | {stored} if stored else found
    if len(found_with_store) > 1:
        detail = ", ".join(f"{k.split(':')[0]} uses {v}" for k, v in kinds.items())
        if stored:
            detail += f"; the store holds {stored}"
        raise IngestError(
            "the dataset mixes time representations (" + detail + "). Use dates/datetimes "
            "everywhere or study days everywhere."
        )
    return next(iter(found_with_store), None)


def _number_columns(
    header: list[str], role: str, mapping: ColumnMapping
) -> dict[str, Callable[[pa.ChunkedArray], bool]]:
    """Columns of a long-layout file that hold a number field of the role's table, each
    with the test its values must pass to be read as numbers at once.

    The reader parses these as numbers when every value passes (see
    :func:`katoutcomes.readers.read_table`); a file with any invalid value is read as text,
    so that each problem shows the value as written. Left out: study days (a file's time
    representation is decided from its text), fields with value mappings, and every column
    of a visit-wide or unmappable file, which take the text path and its messages.
    """
    try:
        renamed = mapping.rename(header, _known_fields())
        if role == "assessments":
            layout = detect_layout(list(renamed.values()), "", mapping.layout, original=header)
            if layout != "long":
                return {}
    except IngestError:
        return {}
    schema = load_schema(role)
    numeric = {
        f.name: f
        for f in schema.fields
        if f.type in ("integer", "number")
        and f.name not in schema.time_fields
        and f.name not in mapping.values
    }
    return {
        column: partial(numbers_valid, field=numeric[target])
        for column, target in renamed.items()
        if target in numeric
    }


def dataset_name(path: str | Path) -> str:
    """How outputs name a dataset on disk: its folder or file name, never the whole path
    (which may carry a person's name, DESIGN 9)."""
    return Path(path).expanduser().resolve().name or str(path)


def validate_path(
    path: str | Path,
    *,
    settings: Settings | None = None,
    mapping: ColumnMapping | None = None,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
) -> IngestResult:
    """Read and validate a dataset on disk without storing anything.

    With ``store``, rows already stored count as duplicates and same-key rows with other
    values as conflicts, exactly as :meth:`katoutcomes.store.Store.ingest` would.

    ``progress``, when given, is called in the caller's thread with an
    :class:`IngestProgress` after each file is read (``reading``), after each file's rows
    are checked (``checking``) and at the end (``checked``).

    Raises
    ------
    IngestError
        For file-level problems (nothing is read into the store in any case).
    """
    settings = settings or Settings()
    mapping = mapping or ColumnMapping()
    files = find_dataset_files(path)

    def read(item: tuple[str, Path]) -> tuple[str, RawTable]:
        role, file = item
        numbers = partial(_number_columns, role=role, mapping=mapping)
        missing = load_schema(role).missing_values
        return role, read_table(
            file,
            sheet=mapping.sheet,
            numbers=numbers,
            missing_values=missing,
            header_row=mapping.header_row_for(role),
            is_header=mapping.names_patient_id,
        )

    tracker = _Progress(progress, len(files))
    raws = _in_parallel(read, list(files.items()), lambda _, raw: tracker.read(raw[1]))
    return _validate_raw(
        raws,
        settings=settings,
        mapping=mapping,
        store=store,
        source=dataset_name(path),
        progress=tracker,
    )


def validate_frames(
    frames: Mapping[str, pd.DataFrame],
    *,
    settings: Settings | None = None,
    mapping: ColumnMapping | None = None,
    store: Store | None = None,
    source: str = "DataFrames",
    file_names: Mapping[str, str] | None = None,
) -> IngestResult:
    """Validate in-memory tables (``{"assessments": df, ...}``) as if read from files.

    The frames are not modified. Values are turned into text as a file would hold them.
    ``file_names`` names each table in reports (default ``"<table> (DataFrame)"``).
    """
    from katoutcomes.readers import _clean_header, _stringify

    settings = settings or Settings()
    mapping = mapping or ColumnMapping()
    if "assessments" not in frames:
        raise IngestError("validate_frames needs an 'assessments' table.")
    raws = []
    for role, df in frames.items():
        if role not in TABLES:
            raise IngestError(f"Unknown table {role!r}; expected one of {', '.join(TABLES)}.")
        text = df.reset_index(drop=True).apply(_stringify) if len(df.columns) else df.copy()
        name = (file_names or {}).get(role, f"{role} (DataFrame)")
        text = _clean_header(text, name)
        digest = pd.util.hash_pandas_object(text, index=False).sum()
        sha = f"frame-{int(digest) & 0xFFFFFFFFFFFFFFFF:016x}"
        raws.append((role, RawTable(file=name, frame=text, sha256=sha)))
    return _validate_raw(raws, settings=settings, mapping=mapping, store=store, source=source)
