"""Ingest: read files, map columns, guard identifiers, validate, score, and account for rows.

Every input row ends in exactly one place (methods §2.6):

- **accepted** (new rows, typed, with ``source_file``/``source_line``),
- **rejected** with the file, line, field and a reason a person understands, or
- counted as an exact **duplicate** of a row already seen (in this ingest or in the store).

A row with the same key as another but other values is a conflict and is rejected; the
stored row is never overwritten. File-level problems raise :class:`IngestError` before
anything is written.

For a visit-wide file, each visit row becomes up to one record per score plus one dosing
record; the counts are per record and each record keeps its visit's line.

This module finds and reads a dataset's files and runs the checks; the parts live by topic:
:mod:`katoutcomes.ingest_units` (one table from one file: mapping, times, typing, checks),
:mod:`katoutcomes.accepted_rows` (stored columns, row hashes, duplicates),
:mod:`katoutcomes.ingest_results` (the result, per-file reports, progress) and
:mod:`katoutcomes.ingest_messages` (rejected rows grouped, with what to do next). Their
public names are importable from here too. Ingest does not import the store: the store
calls ingest, and ingest sees a store only as :class:`~katoutcomes.ingest_results.StoredRows`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from katoutcomes.accepted_rows import (
    PROVENANCE as PROVENANCE,
)
from katoutcomes.accepted_rows import (
    accepted_columns,
    column_hash,
    combine_hashes,
    conform,
    deduplicate,
    row_hashes,
    stored_columns,
)
from katoutcomes.demographics import AGE_BANDS
from katoutcomes.errors import IngestError
from katoutcomes.ingest_messages import next_step, rejected_summary
from katoutcomes.ingest_results import (
    PROGRESS_STAGES,
    REJECTED_COLUMNS,
    SELF_HARM_IN_REJECTED_ROW,
    IngestProgress,
    IngestResult,
    ProgressCallback,
    ProgressTracker,
    StoredRows,
    TableReport,
    empty_rejected,
)
from katoutcomes.ingest_units import (
    WITHHELD as WITHHELD,
)
from katoutcomes.ingest_units import (
    Unit,
    known_fields,
    require_columns,
    resolve_time,
    self_harm_answers,
    split_units,
    validate_unit,
)
from katoutcomes.layouts import detect_layout
from katoutcomes.mapping import ColumnMapping
from katoutcomes.readers import (
    READABLE_SUFFIXES,
    RawTable,
    _clean_header,
    _stringify,
    read_table,
)
from katoutcomes.schema import TABLES, load_schema
from katoutcomes.settings import Settings
from katoutcomes.validation import PROBLEM_COLUMNS, numbers_valid

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


# --------------------------------------------------------------------------- threads


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
    store: StoredRows | None,
    source: str,
    progress: ProgressTracker | None = None,
) -> IngestResult:
    progress = progress or ProgressTracker(None, len(raws))
    progress.all_read()
    units = [
        unit
        for file_units in _in_parallel(
            lambda item: split_units(item[0], item[1], mapping, settings), raws
        )
        for unit in file_units
    ]
    kinds: dict[str, str] = {}
    for unit in units:
        schema = load_schema(unit.table)
        resolve_time(unit, schema)
        require_columns(unit, schema)
        if unit.time_kind:
            kinds[unit.raw.file + ":" + unit.table] = unit.time_kind
    representation = _one_representation(kinds, store)
    config = ingest_fingerprint(settings, mapping)

    accepted: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    rejected: list[pd.DataFrame] = []
    reports: list[TableReport] = []
    seen: dict[str, pd.DataFrame] = {}

    def checked(unit: Unit) -> tuple[pd.DataFrame, pd.DataFrame, list[str], np.ndarray]:
        schema = load_schema(unit.table)
        good, problems = validate_unit(unit, settings, mapping.datetime_format)
        good = conform(good, unit.table)
        key = list(
            schema.key_columns(
                (schema.datetime_field if unit.time_kind == "datetime" else "study_day")
                if schema.time_fields
                else None
            )
        )
        key_hash = combine_hashes([column_hash(good[c]) for c in key], len(good))
        return good, problems, key, key_hash

    # Files are checked side by side; duplicates across files are then resolved in order.
    counted: set[int] = set()

    def each(unit: Unit, _: object) -> None:
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
        new, conflicts, n_dup = deduplicate(good, unit.table, key, key_hash, existing)
        if unit.table == "assessments" and len(conflicts):
            conflicts = pd.concat([conflicts, self_harm_answers(conflicts, good)])
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
    rejected_frame = pd.concat(rejected, ignore_index=True) if rejected else empty_rejected()
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


def _one_representation(kinds: Mapping[str, str], store: StoredRows | None) -> str | None:
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
        renamed = mapping.rename(header, known_fields())
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
    (which may carry a person's name, methods §12.9)."""
    return Path(path).expanduser().resolve().name or str(path)


def validate_path(
    path: str | Path,
    *,
    settings: Settings | None = None,
    mapping: ColumnMapping | None = None,
    store: StoredRows | None = None,
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

    tracker = ProgressTracker(progress, len(files))
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
    store: StoredRows | None = None,
    source: str = "DataFrames",
    file_names: Mapping[str, str] | None = None,
) -> IngestResult:
    """Validate in-memory tables (``{"assessments": df, ...}``) as if read from files.

    The frames are not modified. Values are turned into text as a file would hold them.
    ``file_names`` names each table in reports (default ``"<table> (DataFrame)"``).
    """
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
