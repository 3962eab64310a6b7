"""Column and value mappings for exports that do not use katoutcomes' names.

A mapping file is TOML::

    layout = "long"                 # or "visit-wide"; detected when absent
    datetime_format = "%m/%d/%Y"    # strptime format for non-ISO dates (optional)
    sheet = "Export"                # XLSX sheet name or 0-based index (optional)
    header_row = 3                  # row of the column names, as a spreadsheet numbers
                                    # rows (optional; found when absent)

    [columns]                       # column in the export = katoutcomes field
    "Pseudo ID" = "patient_id"
    "Questionnaire" = "instrument"

    [values.route]                  # per field: value in the export = katoutcomes value
    "KETAMINE INFUSION" = "IV"

Worked examples ship in ``examples/mappings/``. Without a mapping, column names are matched
case-insensitively and common spellings (``Date``, ``PHQ9``, ``Dose (mg)``...) are
recognised; see :data:`COLUMN_ALIASES`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

import pandas as pd

from katoutcomes.errors import IngestError
from katoutcomes.instruments import ITEM_COLUMNS

__all__ = [
    "COLUMN_ALIASES",
    "LAYOUTS",
    "ColumnMapping",
    "load_mapping",
    "mapping_from_text",
    "mapping_to_toml",
    "normalise_column_name",
]

LAYOUTS: Final = ("long", "visit-wide")

#: Spellings recognised without a mapping file, by normalised name. Time columns map to
#: ``time`` and are renamed per table (``assessed_at``/``administered_at``).
COLUMN_ALIASES: Final = MappingProxyType(
    {
        "subject_id": "patient_id",
        "participant_id": "patient_id",
        "pseudo_id": "patient_id",
        "pseudonym": "patient_id",
        "pid": "patient_id",
        "patient": "patient_id",
        "questionnaire": "instrument",
        "measure": "instrument",
        "scale": "instrument",
        "date": "time",
        "visit_date": "time",
        "session_date": "time",
        "assessment_date": "time",
        "datetime": "time",
        "timestamp": "time",
        "assessed_at": "time",
        "administered_at": "time",
        "day": "study_day",
        "score": "total",
        "total_score": "total",
        "dose": "dose_mg",
        "dose_mg": "dose_mg",
        "ketamine_dose_mg": "dose_mg",
        "weight": "weight_kg",
        "weight_kg": "weight_kg",
        "therapy": "psychotherapy",
        "kap": "psychotherapy",
        "monitoring": "monitoring_minutes",
        "monitoring_min": "monitoring_minutes",
        "monitoring_mins": "monitoring_minutes",
        "ae": "adverse_events",
        "aes": "adverse_events",
        "adverse_event": "adverse_events",
        "side_effects": "adverse_events",
        "cost": "cost_usd",
        "price": "cost_usd",
        "price_usd": "cost_usd",
        "site": "site_id",
        "clinic": "site_id",
        "clinician": "clinician_id",
        "provider_id": "clinician_id",
        "age_group": "age_band",
        "age_range": "age_band",
        "gender": "sex",
        "diagnosis": "primary_diagnosis",
        "prior_failures": "prior_treatment_failures",
        "failed_treatments": "prior_treatment_failures",
        "ssri": "concurrent_ssri",
        "phq9": "phq9_total",
        "phq_9": "phq9_total",
        "phq9_total": "phq9_total",
        "phq_9_total": "phq9_total",
        "phq9_score": "phq9_total",
        "phq_9_score": "phq9_total",
        "gad7": "gad7_total",
        "gad_7": "gad7_total",
        "gad7_total": "gad7_total",
        "gad_7_total": "gad7_total",
        "gad7_score": "gad7_total",
        "gad_7_score": "gad7_total",
    }
)

_ITEM_ALIAS: Final = re.compile(r"^(?:item|q|question)_?([1-9])$")


def _time_alias(target: str) -> str:
    """The datetime fields of both tables are read as one ``time`` column per file."""
    return "time" if target in ("assessed_at", "administered_at") else target


def normalise_column_name(name: str) -> str:
    """Lower-case, non-alphanumerics to ``_``, units in brackets dropped.

    Examples
    --------
    >>> normalise_column_name("Dose (mg)")
    'dose_mg'
    >>> normalise_column_name(" PHQ-9 Total ")
    'phq_9_total'
    """
    text = re.sub(r"[^0-9a-z]+", "_", name.strip().lower())
    return text.strip("_")


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """A parsed mapping file (or the empty default)."""

    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    layout: str | None = None
    datetime_format: str | None = None
    sheet: str | int = 0
    source: str | None = None
    #: Row number of the header (1-based, as a spreadsheet shows it), for every file or
    #: per table (``{"assessments": 3}``); ``None``: found (:meth:`names_patient_id`).
    header_row: int | Mapping[str, int] | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain dict of what the mapping does (for fingerprints and provenance)."""
        out: dict[str, object] = {
            "columns": dict(self.columns),
            "values": {k: dict(v) for k, v in self.values.items()},
            "layout": self.layout,
            "datetime_format": self.datetime_format,
            "sheet": self.sheet,
        }
        # Only when set, so that mappings written before it keep their fingerprints.
        if self.header_row is not None:
            out["header_row"] = (
                self.header_row if isinstance(self.header_row, int) else dict(self.header_row)
            )
        return out

    def header_row_for(self, table: str) -> int | None:
        """The header row set for ``table``'s file, or ``None`` (to be found)."""
        if self.header_row is None or isinstance(self.header_row, int):
            return self.header_row
        return self.header_row.get(table)

    def names_patient_id(self, cells: list[str]) -> bool:
        """Whether a row names a patient-id column: a cell this mapping or the recognised
        spellings (:data:`COLUMN_ALIASES`) would read as ``patient_id``. Such a row is taken
        as the header (methods §2.2)."""
        explicit = {k.strip().lower() for k, v in self.columns.items() if v == "patient_id"}
        return any(
            c.strip().lower() in explicit or self._recognise(c, {"patient_id"}) == "patient_id"
            for c in cells
            if c
        )

    def declared_columns(self, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Input columns the ``[columns]`` table maps explicitly (except to ``exclude``)."""
        return tuple(k for k, v in self.columns.items() if v not in exclude)

    def rename(self, columns: list[str], known: set[str]) -> dict[str, str]:
        """Map each input column to a katoutcomes name, or leave it out when unknown.

        ``known`` holds the canonical field names of every table. Returns
        ``{input column: canonical name}``. Columns named in the mapping file come first;
        a recognised spelling of a field the mapping already fills is left out. Two
        unmapped columns that both look like one field are an error.
        """
        explicit = {k.strip().lower(): v for k, v in self.columns.items()}
        out: dict[str, str] = {}
        for column in columns:
            target = explicit.get(column.strip().lower())
            if target is None:
                continue
            target = _time_alias(target)
            clash = [c for c, t in out.items() if t == target]
            if clash:
                raise IngestError(
                    f"the mapping file sends both {clash[0]!r} and {column!r} to {target!r}; "
                    "map only one of them.",
                    column=column,
                )
            out[column] = target
        taken = set(out.values())
        for column in columns:
            if column in out:
                continue
            target = self._recognise(column, known)
            if target is None or target in taken:
                continue
            clash = [c for c, t in out.items() if t == target]
            if clash:
                raise IngestError(
                    f"columns {clash[0]!r} and {column!r} both look like {target!r}; keep one, "
                    f'or say which to use in a mapping file ([columns] "{column}" = '
                    f'"{target}").',
                    column=column,
                )
            out[column] = target
        return out

    @staticmethod
    def _recognise(column: str, known: set[str]) -> str | None:
        norm = normalise_column_name(column)
        item = _ITEM_ALIAS.match(norm)
        if norm in known or norm in ("time", "age", "phq9_total", "gad7_total"):
            return _time_alias(norm)
        if item:
            return f"item_{item.group(1)}"
        target = COLUMN_ALIASES.get(norm)
        return _time_alias(target) if target else None

    def apply_values(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Replace values per the ``[values.<field>]`` tables (exact, then case-insensitive)."""
        out = frame
        for column, table in self.values.items():
            if column not in out.columns:
                continue
            lookup = {str(k).strip().lower(): str(v) for k, v in table.items()}
            mapped = out[column].str.lower().map(lookup)
            if out is frame:
                out = frame.copy()
            out[column] = mapped.fillna(out[column]).astype("str")
        return out


def load_mapping(path: str | Path | None) -> ColumnMapping:
    """Read a mapping TOML file; ``None`` gives the empty mapping.

    Raises
    ------
    IngestError
        The file cannot be read, is not TOML, or uses unknown keys or targets.
    """
    if path is None:
        return ColumnMapping()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise IngestError(f"Cannot read mapping file {path}: {exc.strerror}.") from None
    return _parse_mapping(text, str(path))


def _parse_mapping(text: str, path: str) -> ColumnMapping:
    """The rules of a mapping file (``path`` names it in messages)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise IngestError(f"Mapping file {path} is not valid TOML: {exc}.") from None
    allowed = {
        "layout",
        "datetime_format",
        "sheet",
        "header_row",
        "columns",
        "values",
        "description",
    }
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise IngestError(
            f"Mapping file {path}: unknown key(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(allowed))}."
        )
    layout = data.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise IngestError(
            f"Mapping file {path}: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}."
        )
    columns = data.get("columns", {})
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise IngestError(
            f"Mapping file {path}: [columns] must map column names to field names, both in "
            'quotes, for example "Pseudo ID" = "patient_id".'
        )
    for key in ("datetime_format", "layout"):
        if key in data and not isinstance(data[key], str):
            raise IngestError(f"Mapping file {path}: {key} must be text in quotes.")
    if "sheet" in data and not isinstance(data["sheet"], str | int):
        raise IngestError(f"Mapping file {path}: sheet must be a name or a 0-based number.")
    from katoutcomes.schema import TABLES, load_schema

    header_row = data.get("header_row")
    rows = header_row.values() if isinstance(header_row, dict) else [header_row]
    if header_row is not None and (
        not all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in rows)
        or (isinstance(header_row, dict) and not set(header_row) <= set(TABLES))
    ):
        raise IngestError(
            f"Mapping file {path}: header_row must be the row number of the column names as "
            "your spreadsheet program shows it (1 for the first row), for example "
            "header_row = 3, or one per table: header_row = { assessments = 3 }."
        )

    targets = {f for t in TABLES for f in load_schema(t).field_names} | {
        "age",
        "phq9_total",
        "gad7_total",
        *ITEM_COLUMNS,
    }
    bad = sorted({v for v in columns.values() if v not in targets})
    if bad:
        raise IngestError(
            f"Mapping file {path}: [columns] maps to unknown field(s) {', '.join(bad)}; "
            f"katoutcomes fields are {', '.join(sorted(targets))}."
        )
    values = data.get("values", {})
    if not isinstance(values, dict) or not all(
        isinstance(v, dict) and all(isinstance(x, str | int | float) for x in v.values())
        for v in values.values()
    ):
        raise IngestError(
            f"Mapping file {path}: [values] must hold one table per field, "
            'for example [values.route] "KETAMINE INFUSION" = "IV".'
        )
    return ColumnMapping(
        columns={str(k): str(v) for k, v in columns.items()},
        values={str(k): {str(a): str(b) for a, b in v.items()} for k, v in values.items()},
        layout=layout,
        datetime_format=data.get("datetime_format"),
        sheet=data.get("sheet", 0),
        source=str(path),
        header_row=(
            {str(k): int(v) for k, v in header_row.items()}
            if isinstance(header_row, dict)
            else header_row
        ),
    )


def mapping_from_text(text: str, source: str = "mapping") -> ColumnMapping:
    """Parse a mapping from TOML text (an upload, or one built on the dashboard).

    The rules and messages are those of :func:`load_mapping`; ``source`` names the mapping
    in messages and in :attr:`ColumnMapping.source`.

    Raises
    ------
    IngestError
        The text is not TOML, or uses unknown keys or targets.

    Examples
    --------
    >>> mapping_from_text('layout = "visit-wide"', "upload.toml").layout
    'visit-wide'
    """
    return _parse_mapping(text, source)


_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for char in text:
        if char in ('"', "\\"):
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_scalar(key: str, value: object) -> str:
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"mapping setting {key} = {value!r} cannot be written as TOML")


def mapping_to_toml(mapping: ColumnMapping) -> str:
    """The mapping as a mapping file's text: :func:`mapping_from_text` reads it back equal.

    Settings left at their defaults (no layout, no ``datetime_format``, the first sheet)
    are not written.

    Examples
    --------
    >>> print(mapping_to_toml(ColumnMapping(columns={"Pseudo ID": "patient_id"},
    ...                                     values={"sex": {"M": "male"}})), end="")
    [columns]
    "Pseudo ID" = "patient_id"
    <BLANKLINE>
    [values.sex]
    M = "male"
    """
    lines: list[str] = []
    for key, value in mapping.to_dict().items():
        if key in ("columns", "values") or value is None or (key == "sheet" and value == 0):
            continue
        if isinstance(value, Mapping):  # one value per table, e.g. header_row
            inline = ", ".join(
                f"{_toml_key(str(k))} = {_toml_scalar(key, v)}" for k, v in value.items()
            )
            lines.append(f"{key} = {{ {inline} }}")
        else:
            lines.append(f"{key} = {_toml_scalar(key, value)}")
    blocks = ["\n".join(lines)] if lines else []
    if mapping.columns:
        blocks.append(
            "\n".join(
                ["[columns]"]
                + [f"{_toml_string(k)} = {_toml_string(v)}" for k, v in mapping.columns.items()]
            )
        )
    for field_name, table in mapping.values.items():
        blocks.append(
            "\n".join(
                [f"[values.{_toml_key(field_name)}]"]
                + [f"{_toml_key(k)} = {_toml_string(v)}" for k, v in table.items()]
            )
        )
    return "\n\n".join(blocks) + "\n" if blocks else ""
