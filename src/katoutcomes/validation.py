"""Schema-driven parsing of text tables: typed values plus one problem row per bad cell.

Field rules come from the Table Schema files (:mod:`katoutcomes.schema`); this module only
knows how to check each *kind* of rule (type, required, minimum, maximum, pattern, enum,
list items). Every check is vectorised over the column. Problems are collected, never
raised, in the shape of pandera's ``failure_cases``: ``line, field, reason, value``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from katoutcomes.instruments import normalise_instrument_name
from katoutcomes.schema import Field, TableSchema

__all__ = ["PROBLEM_COLUMNS", "Parsed", "map_distinct", "parse_table", "problems_frame"]

PROBLEM_COLUMNS: Final = ["line", "field", "reason", "value"]
_ISO_DATE_LENGTH: Final = 10
_ISO_SECONDS_LENGTH: Final = 19
#: strptime directives that carry a time of day (a format without any is date-only).
_TIME_DIRECTIVES: Final = ("%H", "%I", "%M", "%S", "%T", "%X", "%R", "%c", "%p", "%f")
#: A trailing UTC offset or Z on an ISO 8601 datetime.
_UTC_OFFSET: Final = r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) ?(?:Z|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True, slots=True)
class Parsed:
    """Typed columns (aligned with the input rows) and the problems found."""

    frame: pd.DataFrame
    problems: pd.DataFrame


def problems_frame(
    lines: pd.Series, field: str, reason: str | pd.Series, value: pd.Series | str = ""
) -> pd.DataFrame:
    """Problem rows for the rows in ``lines`` (index kept, so rows can be traced)."""
    return pd.DataFrame(
        {
            "line": lines.astype("int64"),
            "field": field,
            "reason": reason,
            "value": value if isinstance(value, str) else value.astype("str"),
        },
        index=lines.index,
    )


def map_distinct(
    values: pd.Series, lookup: Mapping[Any, Any] | Callable[[Any], Any], dtype: str = "object"
) -> pd.Series:
    """``values.map(lookup)``, computed once per distinct value.

    Clinic columns repeat a handful of values over many rows; factorising first turns a
    per-row dictionary lookup into one lookup per distinct value and a numpy ``take``.
    Missing values and values the lookup does not know come back missing.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    get = lookup.get if isinstance(lookup, Mapping) else lookup
    mapped = np.array([get(u) for u in uniques] + [None], dtype=object)
    out = pd.Series(mapped[codes], index=values.index)  # code -1 picks the trailing None
    return out.astype(dtype) if dtype != "object" else out


def _cast_present(text: pd.Series, missing: pd.Series, to: pa.DataType) -> pd.Series:
    """Non-missing text cast to a number or timestamp; unparseable cells become missing.

    pyarrow's cast parses a clean column about twenty times faster than pandas; a column
    with any bad cell (or an ISO timestamp with a UTC offset) goes through pandas, which
    parses what it can.
    """
    present = text[~missing]
    if pa.types.is_timestamp(to):
        out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    else:
        out = pd.Series(np.nan, index=text.index, dtype="float64")
    if present.empty:
        return out
    try:
        cast = pc.cast(pa.array(present.to_numpy(dtype=object), type=pa.string()), to)
        values = pd.Series(cast.to_numpy(zero_copy_only=False), index=present.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if pa.types.is_timestamp(to):
            values = pd.to_datetime(present, format="ISO8601", errors="coerce", utc=True)
            values = values.dt.tz_localize(None)
        else:
            # Decimal commas from European spreadsheets ("35,5"); "1,000" stays invalid,
            # because a thousands separator cannot be told from a decimal comma there.
            present = present.str.replace(r"^(-?\d+),(\d{1,2})$", r"\1.\2", regex=True)
            values = pd.to_numeric(present, errors="coerce")
    out.loc[present.index] = values.astype(out.dtype)
    return out


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _bounds_text(f: Field) -> str:
    if f.exclusive_minimum is not None:
        above = f"above {_fmt(f.exclusive_minimum)}"
        return above + (f" and at most {_fmt(f.maximum)}" if f.maximum is not None else "")
    low = f.minimum
    if low is not None and f.maximum is not None:
        return f"{_fmt(low)}-{_fmt(f.maximum)}"
    if low is not None:
        return f"at least {_fmt(low)}"
    if f.maximum is not None:
        return f"at most {_fmt(f.maximum)}"
    return ""


def _parse_number(
    text: pd.Series, missing: pd.Series, f: Field, lines: pd.Series, out: list[pd.DataFrame]
) -> pd.Series:
    numbers = _cast_present(text, missing, pa.float64()).astype("float64")
    numbers = numbers.where(np.isfinite(numbers))
    kind = "a whole number" if f.type == "integer" else "a number"
    bounds = _bounds_text(f)
    expect = f"expected {kind}" + (f" {bounds}" if bounds else "")
    bad = ~missing & numbers.isna()
    if bad.any():
        out.append(problems_frame(lines[bad], f.name, f"not a number ({expect})", text[bad]))
    if f.type == "integer":
        fractional = numbers.notna() & (numbers != np.round(numbers))
        if fractional.any():
            out.append(
                problems_frame(
                    lines[fractional], f.name, f"not a whole number ({expect})", text[fractional]
                )
            )
            numbers = numbers.mask(fractional)
    out_of_range = pd.Series(False, index=text.index)
    if f.minimum is not None:
        out_of_range |= numbers < f.minimum
    if f.exclusive_minimum is not None:
        out_of_range |= numbers <= f.exclusive_minimum
    if f.maximum is not None:
        out_of_range |= numbers > f.maximum
    out_of_range &= numbers.notna()
    if out_of_range.any():
        out.append(
            problems_frame(
                lines[out_of_range], f.name, f"out of range ({expect})", text[out_of_range]
            )
        )
        numbers = numbers.mask(out_of_range)
    return numbers


def _parse_string(
    text: pd.Series, missing: pd.Series, f: Field, lines: pd.Series, out: list[pd.DataFrame]
) -> pd.Series:
    values = text.where(~missing)
    if f.enum is not None:
        lookup = {v.lower(): v for v in f.enum}
        if f.name == "instrument":
            canonical = map_distinct(
                values, lambda v: lookup.get(v.lower()) or normalise_instrument_name(v), "str"
            )
        else:
            canonical = map_distinct(values, lambda v: lookup.get(v.lower()), "str")
        bad = ~missing & canonical.isna()
        if bad.any():
            out.append(
                problems_frame(
                    lines[bad],
                    f.name,
                    f"not an allowed value (expected one of {', '.join(f.enum)})",
                    text[bad],
                )
            )
        values = canonical.astype("str")
    if f.pattern is not None:
        distinct = pd.Series(values.dropna().unique(), dtype="str")
        unmatched = distinct[~distinct.str.fullmatch(f.pattern, na=False)]
        bad = ~missing & values.isin(unmatched)
        if bad.any():
            out.append(
                problems_frame(
                    lines[bad],
                    f.name,
                    "contains characters other than letters, digits, '_', '.', '-' "
                    "or is longer than 64 characters",
                    text[bad],
                )
            )
            values = values.mask(bad)
    return values.astype("str")


def _parse_boolean(
    text: pd.Series, missing: pd.Series, f: Field, lines: pd.Series, out: list[pd.DataFrame]
) -> pd.Series:
    lookup = {v.lower(): True for v in f.true_values} | {v.lower(): False for v in f.false_values}
    values = map_distinct(text.where(~missing), lambda v: lookup.get(v.lower()))
    bad = ~missing & values.isna()
    if bad.any():
        out.append(
            problems_frame(
                lines[bad],
                f.name,
                "not a yes/no value (expected true/false, yes/no or 1/0)",
                text[bad],
            )
        )
    return values.astype("boolean")


def _parse_list(
    text: pd.Series, missing: pd.Series, f: Field, lines: pd.Series, out: list[pd.DataFrame]
) -> pd.Series:
    delimiter = f.delimiter or ";"
    present = text[~missing]
    if present.empty:
        return pd.Series(pd.NA, index=text.index, dtype="str")
    items = present.str.lower().str.split(delimiter).explode().str.strip()
    items = items[items != ""]
    if f.item_enum is not None:
        unknown = ~items.isin(f.item_enum)
        if unknown.any():
            bad_rows = unknown.groupby(level=0).any()
            bad_rows = bad_rows[bad_rows].index
            out.append(
                problems_frame(
                    lines[bad_rows],
                    f.name,
                    f"unknown code (expected codes from {', '.join(f.item_enum)}, "
                    f"separated by '{delimiter}')",
                    text[bad_rows],
                )
            )
            items = items[~items.index.isin(bad_rows)]
    # Canonical form: codes in schema order, each once per row, so equal lists hash
    # equally. Each row's set of codes is a bit mask; the masks' texts are built once.
    codes = list(f.item_enum or pd.unique(items))
    rank = items.map({code: i for i, code in enumerate(codes)}).astype("int64")
    pairs = pd.DataFrame({"row": items.index, "rank": rank.to_numpy()}).drop_duplicates()
    masks = (np.int64(1) << pairs["rank"].to_numpy()).astype("int64")
    per_row = pd.Series(masks, index=pairs["row"].to_numpy()).groupby(level=0).sum()
    texts = {
        mask: delimiter.join(c for i, c in enumerate(codes) if mask >> i & 1)
        for mask in per_row.unique()
    }
    joined = per_row.map(texts)
    result = pd.Series(pd.NA, index=text.index, dtype="str")
    result.loc[joined.index] = joined.astype("str")
    return result


def _parse_datetime(
    text: pd.Series,
    missing: pd.Series,
    f: Field,
    lines: pd.Series,
    out: list[pd.DataFrame],
    datetime_format: str | None,
) -> tuple[pd.Series, pd.Series]:
    values = text.where(~missing)
    if datetime_format:
        parsed = pd.to_datetime(values, format=datetime_format, errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)  # keep the wall-clock time as written
        has_time = any(d in datetime_format for d in _TIME_DIRECTIVES)
        date_only = pd.Series(not has_time, index=text.index)
        expect = f"expected the format {datetime_format} set in the mapping file"
    else:
        # A UTC offset is dropped and the wall-clock time kept as written, the same reading
        # as a time without an offset: clinic times are local, and mixing converted and
        # unconverted times would move assessments across doses.
        # Only values longer than YYYY-MM-DDTHH:MM:SS, or ending in Z, can carry one.
        maybe = (text.str.len() > _ISO_SECONDS_LENGTH) | text.str.endswith("Z")
        local = text.copy()
        if maybe.any():
            local[maybe] = text[maybe].str.replace(_UTC_OFFSET, r"\1", regex=True)
        parsed = _cast_present(local, missing, pa.timestamp("us"))
        # ISO dates without a time are exactly 10 characters (YYYY-MM-DD).
        date_only = values.str.len() == _ISO_DATE_LENGTH
        expect = (
            "expected an ISO 8601 date or datetime such as 2025-03-14 or 2025-03-14T09:30; "
            "for other formats set datetime_format in a mapping file"
        )
    bad = ~missing & parsed.isna()
    if bad.any():
        out.append(problems_frame(lines[bad], f.name, f"not a date ({expect})", text[bad]))
    parsed = parsed.astype("datetime64[us]")
    return parsed, date_only.astype("bool") & parsed.notna()


def parse_table(
    raw: pd.DataFrame,
    schema: TableSchema,
    *,
    datetime_format: str | None = None,
) -> Parsed:
    """Parse the schema's fields present in ``raw`` (text columns plus ``line``).

    Returns typed columns: ``str`` for strings, ``float64`` for numbers and integers
    (integers checked to be whole), nullable ``boolean``, ``datetime64[us]`` with a
    ``date_only`` column for the datetime field. Invalid cells become missing and are
    listed in ``problems``. Required fields missing in a row are problems too.
    """
    lines = raw["line"]
    missing_markers = list(schema.missing_values)
    out: list[pd.DataFrame] = []
    typed: dict[str, pd.Series] = {}
    for f in schema.fields:
        if f.name not in raw.columns:
            continue
        text = raw[f.name].astype("str")
        missing = text.isin(missing_markers) | text.isna()
        # Of the alternative time fields, the one a file uses is required on every row.
        required = f.required or f.name in schema.time_fields
        if required and missing.any():
            out.append(problems_frame(lines[missing], f.name, "required value is missing"))
        if f.type in ("integer", "number"):
            typed[f.name] = _parse_number(text, missing, f, lines, out)
        elif f.type == "boolean":
            typed[f.name] = _parse_boolean(text, missing, f, lines, out)
        elif f.type == "list":
            typed[f.name] = _parse_list(text, missing, f, lines, out)
        elif f.type in ("datetime", "date"):
            typed[f.name], typed["date_only"] = _parse_datetime(
                text, missing, f, lines, out, datetime_format
            )
        else:
            typed[f.name] = _parse_string(text, missing, f, lines, out)
    frame = pd.DataFrame(typed, index=raw.index)
    frame["line"] = lines
    problems = pd.concat(out) if out else pd.DataFrame(columns=PROBLEM_COLUMNS, index=raw.index[:0])
    return Parsed(frame=frame, problems=problems[PROBLEM_COLUMNS])
