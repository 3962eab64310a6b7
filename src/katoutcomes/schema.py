"""The data contract: Frictionless Table Schema files for the three input tables.

The JSON files in ``data/schema/`` (shipped in the wheel as ``katoutcomes/schema``) are the
single source of truth for field names, types, constraints, missing-value markers and
primary keys. Validation reads them through this module; it does not restate field rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

__all__ = ["TABLES", "Field", "TableSchema", "load_schema", "schema_dir"]

#: The input tables, in the order they are ingested.
TABLES: Final = ("assessments", "treatments", "patients")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a Table Schema."""

    name: str
    type: str
    description: str = ""
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    item_enum: tuple[str, ...] | None = None
    delimiter: str | None = None
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    #: Other spellings of enum values, lower-case (``x-katoutcomes-synonyms``): ``{"f":
    #: "female"}`` reads ``F`` as ``female``.
    synonyms: Mapping[str, str] = field(default_factory=dict)
    #: How values are brought to one spelling before the constraints are checked
    #: (``x-katoutcomes-normalise``; ``"age_band"``: :mod:`katoutcomes.demographics`).
    normalise: str | None = None

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Field:
        c = spec.get("constraints", {})
        enum = c.get("enum")
        item_enum = c.get("x-itemEnum")
        return cls(
            name=spec["name"],
            type=spec.get("type", "string"),
            description=spec.get("description", ""),
            required=bool(c.get("required", False)),
            minimum=c.get("minimum"),
            maximum=c.get("maximum"),
            exclusive_minimum=c.get("exclusiveMinimum"),
            pattern=c.get("pattern"),
            enum=tuple(enum) if enum is not None else None,
            item_enum=tuple(item_enum) if item_enum is not None else None,
            delimiter=spec.get("delimiter"),
            true_values=tuple(spec.get("trueValues", ())),
            false_values=tuple(spec.get("falseValues", ())),
            synonyms=MappingProxyType(
                {str(k).lower(): str(v) for k, v in spec.get("x-katoutcomes-synonyms", {}).items()}
            ),
            normalise=spec.get("x-katoutcomes-normalise"),
        )


@dataclass(frozen=True, slots=True)
class TableSchema:
    """A parsed Table Schema with the katoutcomes extension keys.

    ``time_fields`` lists the alternative time columns (a datetime column and
    ``study_day``), of which a file uses exactly one.
    """

    name: str
    fields: tuple[Field, ...]
    missing_values: tuple[str, ...]
    primary_key: tuple[str, ...]
    time_fields: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def datetime_field(self) -> str | None:
        """The datetime alternative among the time fields (``assessed_at``...)."""
        return next((n for n in self.time_fields if n != "study_day"), None)

    def key_columns(self, time_column: str | None) -> tuple[str, ...]:
        """Primary key with the time field replaced by the one this file uses."""
        if not self.time_fields or time_column is None:
            return self.primary_key
        return tuple(time_column if k in self.time_fields else k for k in self.primary_key)


def schema_dir() -> Path:
    """Folder holding the schema JSON files (in the wheel, or the source checkout)."""
    packaged = resources.files("katoutcomes") / "table_schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "data" / "schema"


@cache
def load_schema(table: str) -> TableSchema:
    """Parse ``<table>.schema.json``.

    Examples
    --------
    >>> load_schema("assessments").primary_key
    ('patient_id', 'instrument', 'assessed_at')
    """
    if table not in TABLES:
        raise ValueError(f"Unknown table {table!r}; expected one of {', '.join(TABLES)}.")
    path = schema_dir() / f"{table}.schema.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    ext = raw.get("x-katoutcomes", {})
    return TableSchema(
        name=raw["name"],
        fields=tuple(Field.from_json(f) for f in raw["fields"]),
        missing_values=tuple(raw.get("missingValues", [""])),
        primary_key=tuple(raw.get("primaryKey", ())),
        time_fields=tuple(ext.get("time_fields", ())),
        raw=raw,
    )
