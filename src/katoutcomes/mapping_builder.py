"""A mapping built from choices (the dashboard's Data page), written as a mapping file.

Everything a mapping file can say can be chosen on the Data page: which katoutcomes field
each column of the export holds, replacements for the values of a field, the layout, the
date format, the sheet and the header row. :func:`build_mapping_text` turns those choices
into the text of a mapping file, which :func:`katoutcomes.mapping.mapping_from_text` reads
with the same rules as ``--mapping FILE``; the page offers the same text for download, for
next month's export.

Only what differs from katoutcomes' own reading goes into the file: a column already
recognised under its own name (``Date``, ``PHQ9``...) needs no line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd

from katoutcomes.errors import IngestError
from katoutcomes.ingest import find_dataset_files
from katoutcomes.instruments import ITEM_COLUMNS
from katoutcomes.mapping import (
    LAYOUTS,
    ColumnMapping,
    mapping_from_text,
    mapping_to_toml,
)
from katoutcomes.readers import read_table
from katoutcomes.schema import TABLES, load_schema

__all__ = [
    "BUILT_SOURCE",
    "BuiltMapping",
    "build_mapping_text",
    "column_values",
    "field_values",
    "mapping_choices",
    "mapping_targets",
    "read_export",
    "read_mapping_upload",
    "recognised_columns",
    "split_values",
]

#: How messages name a mapping built on the Data page.
BUILT_SOURCE: Final = "(built on the Data page)"

#: The two datetime fields are one ``time`` column per file (see katoutcomes.mapping).
_TIME_FIELDS: Final = ("assessed_at", "administered_at")

_HEADER_COMMENT: Final = (
    "# katoutcomes column mapping, built on the dashboard's Data page.\n"
    "# Use it for the next export: katoutcomes validate EXPORT --mapping THIS_FILE\n"
)


def mapping_targets() -> tuple[str, ...]:
    """The fields a column can be mapped to, table by table (what ``[columns]`` accepts).

    Examples
    --------
    >>> mapping_targets()[:3]
    ('patient_id', 'instrument', 'assessed_at')
    >>> "phq9_total" in mapping_targets() and "age" in mapping_targets()
    True
    """
    fields = [f for t in TABLES for f in load_schema(t).field_names]
    extra = ["phq9_total", "gad7_total", *ITEM_COLUMNS, "age"]
    return tuple(dict.fromkeys([*fields, *extra]))


def field_values(field: str) -> tuple[str, ...] | None:
    """The values a field accepts when they form a fixed list (None: free values).

    Yes/no fields take ``true`` or ``false``.

    Examples
    --------
    >>> field_values("instrument")
    ('PHQ-9', 'GAD-7')
    >>> field_values("concurrent_ssri")
    ('true', 'false')
    >>> field_values("dose_mg") is None
    True
    """
    for table in TABLES:
        schema = load_schema(table)
        if field in schema.field_names:
            spec = schema.field(field)
            if spec.enum:
                return tuple(spec.enum)
            if spec.type == "boolean":
                return ("true", "false")
    return None


def _canonical(field: str | None) -> str | None:
    return "time" if field in _TIME_FIELDS else field


def _same_field(a: str | None, b: str | None) -> bool:
    """Whether two targets are read the same (the two datetime fields are one)."""
    return a is not None and _canonical(a) == _canonical(b)


def recognised_columns(columns_by_table: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """What each column of an export is read as without a mapping: ``{column: field}``.

    ``columns_by_table`` gives the columns of each table's file. A date column is given
    as the datetime field of the first table holding it. Columns katoutcomes does not
    recognise, or that clash with another column of their file, are left out.
    """
    known = {f for t in TABLES for f in load_schema(t).field_names}
    empty = ColumnMapping()
    out: dict[str, str] = {}
    for table, columns in columns_by_table.items():
        try:
            renamed = empty.rename(list(columns), known)
        except IngestError:  # two columns look like one field: neither is taken
            single = {c: empty.rename([c], known).get(c) for c in columns}
            seen = Counter(_canonical(t) for t in single.values() if t)
            renamed = {c: t for c, t in single.items() if t and seen[_canonical(t)] == 1}
        time_field = load_schema(table).datetime_field or "assessed_at"
        for column, target in renamed.items():
            out.setdefault(column, time_field if target == "time" else target)
    return out


def mapping_choices(
    mapping: ColumnMapping, columns: Sequence[str], recognised: Mapping[str, str]
) -> dict[str, str]:
    """The field each column holds under ``mapping`` (``""``: not used), to start the
    builder from a mapping file.

    Names are matched as the ingest matches them (trimmed, any case); a column the mapping
    does not name keeps its automatic reading, unless the mapping sends another column to
    that field.

    Examples
    --------
    >>> mapping_choices(
    ...     ColumnMapping(columns={"visit time": "assessed_at"}),
    ...     ["Visit Time", "Date", "Score"],
    ...     {"Date": "assessed_at", "Score": "total"},
    ... )
    {'Visit Time': 'assessed_at', 'Date': '', 'Score': 'total'}
    """
    explicit = {k.strip().lower(): v for k, v in mapping.columns.items()}
    named = {c: explicit[c.strip().lower()] for c in columns if c.strip().lower() in explicit}
    taken = {_canonical(f) for f in named.values()}
    out = {}
    for column in columns:
        if column in named:
            out[column] = named[column]
        else:
            field = recognised.get(column, "")
            out[column] = "" if _canonical(field) in taken else field
    return out


def split_values(
    table: Mapping[str, str], seen: Sequence[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """A ``[values.FIELD]`` table split into replacements of values seen in the export
    (keyed as the export writes them; matched trimmed and in any case, as the ingest
    matches them) and the others, kept as written for exports that have them.

    Examples
    --------
    >>> split_values({"INTRAVENOUS": "IV", "NASAL": "intranasal"}, ["Intravenous", "IM"])
    ({'Intravenous': 'IV'}, {'NASAL': 'intranasal'})
    """
    lookup = {k.strip().lower(): v for k, v in table.items()}
    shown = {v: lookup[v.strip().lower()] for v in seen if v.strip().lower() in lookup}
    matched = {v.strip().lower() for v in seen}
    kept = {k: v for k, v in table.items() if k.strip().lower() not in matched}
    return shown, kept


@dataclass(frozen=True)
class BuiltMapping:
    """The text of a mapping file, and what the choices could not say."""

    text: str
    notes: tuple[str, ...] = ()


def build_mapping_text(
    columns: Mapping[str, str],
    recognised: Mapping[str, str],
    values: Mapping[str, Mapping[str, str]] | None = None,
    *,
    layout: str | None = None,
    datetime_format: str | None = None,
    sheet: str | int | None = None,
    header_row: int | None = None,
) -> BuiltMapping:
    """A mapping file from the choices made on the Data page.

    Parameters
    ----------
    columns : the field chosen for each column of the export (``""``: not used).
    recognised : what each column is read as without a mapping (:func:`recognised_columns`);
        a choice that agrees with it is not written.
    values : per field, replacements for values as written in the export (``""``: keep).
    layout : ``"long"``, ``"visit-wide"`` or None/``""`` (detected).
    datetime_format : a ``strptime`` format, or None/``""`` (ISO 8601 and the usual
        day-first/month-first dates).
    sheet : the XLSX sheet, by name or 0-based number (None/``""``/0: the first).
    header_row : the row holding the column names (None: found automatically).

    Returns
    -------
    BuiltMapping
        ``text``: the mapping file (``""`` when every choice is the default); ``notes``:
        choices a mapping cannot express, in words.

    Examples
    --------
    >>> built = build_mapping_text(
    ...     {"Pseudo ID": "patient_id", "Date": "assessed_at", "Gender": "sex"},
    ...     {"Date": "assessed_at"},
    ...     {"sex": {"M": "male", "F": "female", "X": ""}},
    ... )
    >>> print(built.text.split("\\n", 3)[3], end="")
    [columns]
    "Pseudo ID" = "patient_id"
    "Gender" = "sex"
    <BLANKLINE>
    [values.sex]
    M = "male"
    F = "female"
    """
    chosen = {c: f for c, f in columns.items() if f}
    explicit = {c: f for c, f in chosen.items() if not _same_field(f, recognised.get(c))}
    notes = []
    for column, field in recognised.items():
        if column in columns and not columns[column]:
            taken = any(_same_field(f, field) for f in explicit.values())
            if not taken:
                notes.append(
                    f"“{column}” is read as {field} under its own name, and a mapping cannot "
                    f"leave a column out: send another column to {field}, or remove "
                    f"“{column}” from the export."
                )
    replacements = {
        field: {raw: new for raw, new in table.items() if new}
        for field, table in (values or {}).items()
    }
    replacements = {f: t for f, t in replacements.items() if t}
    if layout and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    sheet_value: str | int = 0
    if isinstance(sheet, str) and sheet.strip():
        sheet_value = int(sheet) if sheet.strip().isdigit() else sheet.strip()
    elif isinstance(sheet, int):
        sheet_value = sheet
    mapping = ColumnMapping(
        columns=explicit,
        values=replacements,
        layout=layout or None,
        datetime_format=(datetime_format or "").strip() or None,
        sheet=sheet_value,
    )
    body = mapping_to_toml(mapping)
    if header_row is not None:
        # Plain settings come before the first [table] of a TOML file.
        head = f"header_row = {int(header_row)}\n"
        body = head + ("\n" if body.startswith("[") else "") + body
    text = _HEADER_COMMENT + "\n" + body if body else ""
    return BuiltMapping(text, tuple(notes))


def read_mapping_upload(data: bytes, name: str) -> tuple[str, ColumnMapping]:
    """An uploaded mapping file: its text and the mapping it says (rules of ``--mapping``).

    Raises
    ------
    IngestError
        The file is not UTF-8 text, not TOML, or uses unknown keys or fields.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError(
            f"Mapping file {name} is not UTF-8 text: save it as UTF-8 (a .toml file written "
            "in a plain-text editor)."
        ) from None
    return text, mapping_from_text(text, name)


def read_export(
    path: str | Path, *, mapping: ColumnMapping | None = None
) -> dict[str, pd.DataFrame]:
    """Each table's file of a dataset as text, by table name (for choosing a mapping),
    read as the ingest reads it under ``mapping`` (its sheet; the header row it sets, or
    else the first of the top rows that names a patient-id column).

    Raises
    ------
    IngestError
        As :func:`katoutcomes.readers.read_table`, or when no assessments file is found.
    """
    mapping = mapping or ColumnMapping()
    files = find_dataset_files(path)
    return {
        table: read_table(
            file,
            sheet=mapping.sheet,
            header_row=mapping.header_row_for(table),
            is_header=mapping.names_patient_id,
        ).frame.drop(columns=["line"], errors="ignore")
        for table, file in files.items()
    }


def column_values(frame: pd.DataFrame, column: str, *, limit: int = 40) -> list[str]:
    """The distinct non-blank values of a column, most frequent first (at most ``limit``).

    Examples
    --------
    >>> column_values(pd.DataFrame({"sex": ["M", "F", "M", "", None]}), "sex")
    ['M', 'F']
    """
    if column not in frame.columns:
        return []
    text = frame[column].dropna().astype(str).str.strip()
    counts = text[text != ""].value_counts(sort=False)
    order = sorted(counts.index, key=lambda v: (-counts[v], v))
    return list(order[:limit])
