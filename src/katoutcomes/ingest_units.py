"""One table from one file: map its columns, settle its time representation, type and
check its rows.

A file gives one unit (a long-layout file, a treatments or patients file) or two (a
visit-wide file: its scores and its doses). :func:`validate_unit` returns a unit's typed
good rows and its problem lines; :mod:`katoutcomes.ingest` then removes duplicates across
units and the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from katoutcomes.accepted_rows import without_rows
from katoutcomes.demographics import MAX_AGE, band_ages
from katoutcomes.errors import IngestError
from katoutcomes.ingest_results import SELF_HARM_IN_REJECTED_ROW
from katoutcomes.instruments import ITEM_COLUMNS, PHQ9, SELF_HARM_FLAG, SELF_HARM_ITEM
from katoutcomes.layouts import detect_layout, split_visit_wide
from katoutcomes.mapping import ColumnMapping
from katoutcomes.privacy import (
    check_column_names,
    check_problem_values,
    check_values,
    patient_id_problems,
)
from katoutcomes.readers import HEADER_SEARCH_ROWS, RawTable
from katoutcomes.schema import TABLES, TableSchema, load_schema
from katoutcomes.scoring import score_assessments
from katoutcomes.settings import Settings
from katoutcomes.validation import (
    PROBLEM_COLUMNS,
    infer_date_order,
    parse_table,
    problems_frame,
)

__all__ = [
    "WITHHELD",
    "Unit",
    "known_fields",
    "require_columns",
    "resolve_time",
    "self_harm_answers",
    "split_units",
    "validate_unit",
]

#: Shown instead of a value that looks identifying.
WITHHELD: Final = "(withheld: looks identifying)"


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


@dataclass
class Unit:
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


def known_fields() -> set[str]:
    """Every field name of the three tables (what a mapping may rename a column to)."""
    return {f for t in TABLES for f in load_schema(t).field_names}


def split_units(role: str, raw: RawTable, mapping: ColumnMapping, settings: Settings) -> list[Unit]:
    columns = [c for c in raw.frame.columns if c != "line"]
    # A mapping file that sends a column to a katoutcomes field other than patient_id says
    # what the column holds ("Route Name" -> route); its values are still checked below.
    declared = mapping.declared_columns(exclude=("patient_id",))
    check_column_names(raw.file, columns, (*settings.allow_columns, *declared))
    try:
        renamed = mapping.rename(columns, known_fields())
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
        return [Unit(role, raw, frame, "long", ignored, orphan_problems=raw.problems)]
    layout = detect_layout(list(frame.columns), raw.file, mapping.layout, original=columns)
    if layout == "long":
        return [Unit("assessments", raw, frame, layout, ignored, orphan_problems=raw.problems)]
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
        Unit(
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
        units.append(Unit("treatments", raw, treatments, layout, ignored, date_order=date_order))
    return units


def resolve_time(unit: Unit, schema: TableSchema) -> None:
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


def require_columns(unit: Unit, schema: TableSchema) -> None:
    """Raise :class:`IngestError` when the unit lacks a column its table requires."""
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


def validate_unit(
    unit: Unit, settings: Settings, datetime_format: str | None
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
        typed = without_rows(typed, parsed.problems.index)
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
        all_problems = pd.concat([all_problems, self_harm_answers(all_problems, parsed.frame)])
    bad_index = all_problems.index.unique()
    good = without_rows(typed, bad_index)
    return good, all_problems


def self_harm_answers(problems: pd.DataFrame, parsed: pd.DataFrame) -> pd.DataFrame:
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
