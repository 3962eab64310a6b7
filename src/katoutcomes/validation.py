"""Schema-driven parsing of text tables: typed values plus one problem row per bad cell.

Field rules come from the Table Schema files (:mod:`katoutcomes.schema`); this module only
knows how to check each *kind* of rule (type, required, minimum, maximum, pattern, enum,
list items). Every check is vectorised over the column. Problems are collected, never
raised, in the shape of pandera's ``failure_cases``: ``line, field, reason, value``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from katoutcomes.demographics import MAX_AGE, normalise_age_band
from katoutcomes.errors import IngestError
from katoutcomes.instruments import normalise_instrument_name
from katoutcomes.schema import Field, TableSchema

__all__ = [
    "DAY_FIRST",
    "MAP_IT",
    "MONTH_FIRST",
    "PROBLEM_COLUMNS",
    "Parsed",
    "arrow_mask",
    "infer_date_order",
    "mapping_fix",
    "numbers_valid",
    "parse_table",
    "problems_frame",
]

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


# --------------------------------------------------------------------------- Arrow helpers
#
# A column is checked as one Arrow array: casts, set lookups and patterns run in pyarrow's
# C++ kernels (RE2 for patterns) over the whole column, and rules that need Python (a
# lookup table, a canonical spelling) run once per distinct value of a dictionary encoding.


def _arrow_text(text: pd.Series) -> pa.Array:
    """A text column as one Arrow string array (no copy for pandas' Arrow-backed ``str``)."""
    array = pa.array(text.astype("str").array)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def arrow_mask(mask: pa.Array | pa.ChunkedArray) -> NDArray[np.bool_]:
    """An Arrow boolean result as a numpy mask; null counts as False."""
    if not pc.any(mask).as_py():  # a bit scan, cheaper than unpacking the bits
        return np.zeros(len(mask), dtype=bool)
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _without(array: pa.Array, missing: NDArray[np.bool_]) -> pa.Array:
    """``array`` with the cells flagged ``missing`` set to null."""
    if not missing.any():
        return array
    return pc.if_else(pa.array(missing), pa.scalar(None, array.type), array)


def _str_series(array: pa.Array, index: pd.Index) -> pd.Series:
    """An Arrow string array as a pandas ``str`` column (no copy)."""
    dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    return pd.Series(pd.array(array.cast(pa.large_string()), dtype=dtype), index=index)


#: Rows per block when a column holds a value pyarrow cannot cast (see :func:`_cast`).
_CAST_BLOCK: Final = 8192


def _cast(
    present: pa.Array, to: pa.DataType, fallback: Callable[[pd.Series], np.ndarray]
) -> np.ndarray:
    """Non-missing text (nulls elsewhere) cast to a number or timestamp, as numpy.

    pyarrow casts a clean column in milliseconds but refuses a whole column for one bad
    cell. Such a column is cast block by block; only the blocks pyarrow refuses go to
    ``fallback`` (pandas, which parses what it can and leaves the rest missing).
    """

    def cast(block: pa.Array) -> np.ndarray:
        return np.asarray(pc.cast(block, to).to_numpy(zero_copy_only=False))

    try:
        return cast(present)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parts = []
    for start in range(0, len(present), _CAST_BLOCK):
        block = present.slice(start, _CAST_BLOCK)
        try:
            parts.append(cast(block))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parts.append(fallback(_str_series(block, pd.RangeIndex(len(block)))))
    return np.concatenate(parts)


def _numbers_by_pandas(text: pd.Series) -> np.ndarray:
    # Decimal commas from European spreadsheets ("35,5"); "1,000" stays invalid, because
    # a thousands separator cannot be told from a decimal comma there.
    text = text.str.replace(r"^(-?\d+),(\d{1,2})$", r"\1.\2", regex=True)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _timestamps_by_pandas(text: pd.Series) -> np.ndarray:
    values = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    return values.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _distinct(present: pa.Array) -> tuple[list[Any], pa.Array]:
    """Distinct non-null values (as Python objects) and each row's index into them."""
    encoded = pc.dictionary_encode(present)
    return encoded.dictionary.to_pylist(), encoded.indices


def _lookup_distinct(
    present: pa.Array, lookup: Callable[[str], Any], type: pa.DataType
) -> pa.Array:
    """``lookup`` applied once per distinct value and spread back over the rows."""
    uniques, indices = _distinct(present)
    return pa.array([lookup(u) for u in uniques], type=type).take(indices)


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


#: A column the reader already read as numbers (see :func:`katoutcomes.readers.read_table`).
READ_AS_NUMBERS: Final = pd.ArrowDtype(pa.float64())


@dataclass(frozen=True, slots=True)
class _Column:
    """One input column: its text, the same as Arrow with missing cells null, and lines.

    ``text`` is None for a column the reader parsed as numbers. Such a column passed
    :func:`numbers_valid`, so it yields no problem rows of its own; should a rule ever
    differ, its problem rows show the number read.
    """

    text: pd.Series | None
    present: pa.Array
    missing: NDArray[np.bool_]
    lines: pd.Series

    @property
    def index(self) -> pd.Index:
        return self.lines.index

    def problems(self, bad: NDArray[np.bool_], field: str, reason: str) -> pd.DataFrame:
        """Problem rows for the rows flagged ``bad``, showing the value as written."""
        if self.text is not None:
            shown = self.text[bad]
        else:
            numbers = self.present.filter(pa.array(bad)).to_numpy(zero_copy_only=False)
            shown = pd.Series([_fmt(x) for x in numbers], index=self.index[bad], dtype="str")
        return problems_frame(self.lines[bad], field, reason, shown)

    @classmethod
    def read(cls, column: pd.Series, markers: pa.Array, lines: pd.Series) -> _Column:
        """A raw column: text, or numbers the reader parsed (missing values null)."""
        if column.dtype == READ_AS_NUMBERS:
            array = pa.array(column.array)
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks()
            return cls(None, array, arrow_mask(array.is_null()), lines)
        text = column.astype("str")
        array = _arrow_text(text).cast(pa.large_string())
        # Only a cell as short as the longest marker can be one: ids and timestamps are
        # longer, so most columns skip the set lookup.
        longest = max((len(m.as_py().encode()) for m in markers), default=0)
        short = pc.less_equal(pc.binary_length(array), longest)
        missing = arrow_mask(array.is_null())
        if pc.any(short).as_py():
            missing |= arrow_mask(pc.and_(pc.is_in(array, value_set=markers), short))
        return cls(text, _without(array, missing), missing, lines)


def _rules_hold(values: np.ndarray, f: Field) -> tuple[bool, bool]:
    """Whether finite ``values`` are all whole (when ``f`` is an integer field) and all
    within ``f``'s bounds."""
    whole = f.type != "integer" or bool((values == np.round(values)).all())
    if not values.size:
        return whole, True
    low, high = values.min(), values.max()
    in_bounds = (
        (f.minimum is None or low >= f.minimum)
        and (f.exclusive_minimum is None or low > f.exclusive_minimum)
        and (f.maximum is None or high <= f.maximum)
    )
    return whole, bool(in_bounds)


def numbers_valid(values: pa.ChunkedArray | pa.Array, field: Field) -> bool:
    """Whether parsed numbers (missing values null) all pass ``field``'s rules: finite,
    whole for an integer field, within its bounds. A column that passes yields no problem
    rows, so it can skip the text round trip (:func:`katoutcomes.readers.read_table`)."""
    present = np.asarray(values.drop_null().to_numpy(), dtype="float64")
    if not np.isfinite(present).all():
        return False
    whole, in_bounds = _rules_hold(present, field)
    return whole and in_bounds


def _parse_number(col: _Column, f: Field, out: list[pd.DataFrame]) -> pd.Series:
    if pa.types.is_float64(col.present.type):  # read as numbers: nulls become NaN
        # A writable copy (without nulls, pyarrow hands out its read-only buffer).
        numbers = np.array(col.present.to_numpy(zero_copy_only=False), dtype="float64")
    else:
        numbers = _cast(col.present, pa.float64(), _numbers_by_pandas).astype("float64")
    infinite = np.isinf(numbers)
    if infinite.any():
        numbers[infinite] = np.nan
    kind = "a whole number" if f.type == "integer" else "a number"
    bounds = _bounds_text(f)
    expect = f"expected {kind}" + (f" {bounds}" if bounds else "")
    known = ~np.isnan(numbers)
    # Whole and within bounds, checked on the known values first: masks over every row
    # are built only when a value breaks a rule.
    whole, in_bounds = _rules_hold(numbers[known], f)
    bad = ~col.missing & ~known
    if bad.any():
        out.append(col.problems(bad, f.name, f"not a number ({expect})"))
    if not whole:
        fractional = known & (numbers != np.round(numbers))
        if fractional.any():
            out.append(col.problems(fractional, f.name, f"not a whole number ({expect})"))
            numbers[fractional] = np.nan
            known &= ~fractional
    if in_bounds:
        return pd.Series(numbers, index=col.index, copy=False)
    out_of_range = np.zeros(len(numbers), dtype=bool)
    if f.minimum is not None:
        out_of_range |= known & (numbers < f.minimum)
    if f.exclusive_minimum is not None:
        out_of_range |= known & (numbers <= f.exclusive_minimum)
    if f.maximum is not None:
        out_of_range |= known & (numbers > f.maximum)
    if out_of_range.any():
        out.append(col.problems(out_of_range, f.name, f"out of range ({expect})"))
        numbers[out_of_range] = np.nan
    return pd.Series(numbers, index=col.index, copy=False)


def mapping_fix(field: str, values: pd.Series, target: str, hint: str) -> pd.Series:
    """For each value, the lines of a mapping file that would read it as ``target``.

    ``[values.<field>]`` and one ``"value" = "target"  # hint`` line, in TOML (strings
    quoted and escaped as JSON does, which TOML accepts for basic strings).
    """

    def lines(value: str) -> str:
        key = json.dumps(value, ensure_ascii=False)
        return f"[values.{field}]\n{key} = {json.dumps(target)}  # {hint}"

    distinct = {v: lines(v) for v in pd.unique(values.astype("str"))}
    return values.astype("str").map(distinct)


#: Said before the mapping-file lines of a value katoutcomes cannot read.
#: Longest value offered as a line of a mapping file (codes are short).
MAX_CODE_LENGTH: Final = 80
MAP_IT: Final = "To read it, add these lines to a mapping file and pass it with --mapping FILE:"


def _unknown_value_reason(col: _Column, bad: NDArray[np.bool_], f: Field, what: str) -> pd.Series:
    """Reasons for the values flagged ``bad``: ``what`` (the same for every value), then
    the mapping-file lines that would read each value."""
    if f.normalise == "age_band":
        target, hint = "40-49", "replace with the band it means, e.g. 40-49, 65+ or <18"
    elif f.type == "boolean":
        target, hint = "yes", "replace with what it means: yes or no"
    else:
        choices = list(f.enum or ())
        target = choices[0]
        hint = "replace with what it means: " + ", ".join(choices[:-1]) + " or " + choices[-1]
    shown = col.problems(bad, f.name, "")["value"]
    reasons = f"{what}. {MAP_IT}\n" + mapping_fix(f.name, shown, target, hint)
    # A value too long to be a code is not offered as a mapping line (a megabyte cell would
    # otherwise be quoted back in full): the column probably holds something else.
    length = shown.astype("str").str.len()
    too_long = length > MAX_CODE_LENGTH
    if too_long.any():
        reasons = reasons.where(
            ~too_long,
            f"{what}. The value is "
            + length.map("{:,}".format)
            + " characters long, not a code: check that the column holds "
            + f.name
            + ".",
        )
    return reasons


def _parse_string(col: _Column, f: Field, out: list[pd.DataFrame]) -> pd.Series:
    values = col.present
    if f.normalise == "age_band":
        values = _lookup_distinct(values, normalise_age_band, pa.large_string())
        bad = ~col.missing & arrow_mask(values.is_null())
        if bad.any():
            what = (
                "not an age band (expected a band such as 20-24, 65+ or <18, or an age in "
                f"years 0-{MAX_AGE})"
            )
            out.append(
                col.problems(bad, f.name, "").assign(
                    reason=_unknown_value_reason(col, bad, f, what)
                )
            )
    if f.enum is not None:
        lookup = {v.lower(): v for v in f.enum} | dict(f.synonyms)

        def canonical(v: str) -> str | None:
            found = lookup.get(v.lower())
            if found is None and f.name == "instrument":
                return normalise_instrument_name(v)
            return found

        values = _lookup_distinct(values, canonical, pa.large_string())
        bad = ~col.missing & arrow_mask(values.is_null())
        if bad.any():
            also = [k.upper() if len(k) == 1 else k for k in f.synonyms]
            what = f"not an allowed value (expected one of {', '.join(f.enum)}" + (
                f"; {', '.join(also)} are read too, in any case)" if also else ")"
            )
            out.append(
                col.problems(bad, f.name, "").assign(
                    reason=_unknown_value_reason(col, bad, f, what)
                )
            )
    if f.pattern is not None:
        # RE2 (pyarrow) and Python agree on the schema's simple character-class patterns.
        whole = f.pattern if f.pattern.startswith("^") else f"^(?:{f.pattern})$"
        # Checked once per distinct value (ids repeat over a patient's rows).
        encoded = pc.dictionary_encode(values)
        fails = pc.invert(pc.match_substring_regex(encoded.dictionary, whole))
        bad = arrow_mask(fails.take(encoded.indices))
        if bad.any():
            out.append(
                col.problems(
                    bad,
                    f.name,
                    "contains characters other than letters, digits, '_', '.', '-' "
                    "or is longer than 64 characters",
                )
            )
            values = _without(values, bad)
    return _str_series(values, col.index)


def _parse_boolean(col: _Column, f: Field, out: list[pd.DataFrame]) -> pd.Series:
    lookup = {v.lower(): True for v in f.true_values} | {v.lower(): False for v in f.false_values}
    values = _lookup_distinct(col.present, lambda v: lookup.get(v.lower()), pa.bool_())
    unknown = arrow_mask(values.is_null())
    bad = ~col.missing & unknown
    if bad.any():
        what = "not a yes/no value (expected true/false, yes/no or 1/0)"
        out.append(
            col.problems(bad, f.name, "").assign(reason=_unknown_value_reason(col, bad, f, what))
        )
    flags = arrow_mask(values)
    return pd.Series(pd.arrays.BooleanArray(flags, unknown), index=col.index)


def _parse_list(col: _Column, f: Field, out: list[pd.DataFrame]) -> pd.Series:
    """Codes separated by ``f.delimiter``, each checked against the item enum.

    The canonical form lists each code once, in schema order, so equal lists hash equally.
    Lists repeat over rows: each distinct text is split and checked once.
    """
    delimiter = f.delimiter or ";"
    order = {code: i for i, code in enumerate(f.item_enum or ())}

    def canonical(text: str) -> str | None:
        codes = {c.strip() for c in text.lower().split(delimiter)} - {""}
        if f.item_enum is not None and not codes <= order.keys():
            return None
        return delimiter.join(sorted(codes, key=lambda c: (order.get(c, len(order)), c)))

    values = _lookup_distinct(col.present, canonical, pa.large_string())
    bad = ~col.missing & arrow_mask(values.is_null())
    if bad.any():
        out.append(
            col.problems(
                bad,
                f.name,
                f"unknown code (expected codes from {', '.join(f.item_enum or ())}, "
                f"separated by '{delimiter}')",
            )
        )
    # A list of delimiters only (";;") holds no code: it is missing, not an empty list.
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)
    return _str_series(values, col.index)


#: A date written day first or month first (31/12/2025, 12.31.2025, 31-12-2025), with an
#: optional 24-hour time (31/12/2025 14:30, 31/12/2025T14:30:15).
_DAY_MONTH: Final = (
    r"^(?P<first>[0-9]{1,2})(?P<sep>[/.-])(?P<second>[0-9]{1,2})[/.-](?P<year>[0-9]{4})"
    r"(?:(?P<t>[ T])(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<sec>[0-9]{2}))?)?$"
)
#: Largest month number: a first or second part above it settles the order.
_MONTHS: Final = 12
DAY_FIRST: Final = "day-first"
MONTH_FIRST: Final = "month-first"


@dataclass(frozen=True, slots=True)
class _DayMonthDates:
    """The values of a column written day first or month first, split into their parts."""

    rows: NDArray[np.bool_]  # which values have the shape
    parts: dict[str, NDArray[np.float64]]  # first, second, year, hour, minute, sec (NaN: none)
    text: list[str]  # those values as written, in row order
    sep: str  # separator and time layout of the first such value
    time: str

    @classmethod
    def find(cls, present: pa.Array) -> _DayMonthDates | None:
        rows = arrow_mask(pc.match_substring_regex(present, _DAY_MONTH))
        if not rows.any():
            return None
        chosen = present.filter(pa.array(rows))
        found = pc.extract_regex(chosen, _DAY_MONTH)
        parts = {}
        for name in ("first", "second", "year", "hour", "minute", "sec"):
            values = pc.if_else(pc.equal(found.field(name), ""), None, found.field(name))
            parts[name] = np.asarray(
                pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype="float64"
            )
        first = found.take(pa.array([0]))
        sep, t = first.field("sep")[0].as_py(), first.field("t")[0].as_py()
        time = ""
        if t:
            seconds = bool(first.field("sec")[0].as_py())
            time = t + ("%H:%M:%S" if seconds else "%H:%M")
        return cls(rows, parts, chosen.to_pylist(), sep, time)

    def formats(self) -> tuple[str, str]:
        """The day-first and month-first ``datetime_format`` values for these dates."""
        sep = self.sep
        return f"%d{sep}%m{sep}%Y{self.time}", f"%m{sep}%d{sep}%Y{self.time}"

    def order(self, lines: pd.Series, file: str, field: str) -> str:
        """:data:`DAY_FIRST` or :data:`MONTH_FIRST`, as the values settle it.

        Raises
        ------
        IngestError
            When some values can only be day first and others only month first, or when
            every value reads both ways.
        """
        day_first = self.parts["first"] > _MONTHS
        month_first = self.parts["second"] > _MONTHS
        at = lines[self.rows].to_numpy()
        day_format, month_format = self.formats()
        choose = f'datetime_format = "{day_format}" or datetime_format = "{month_format}"'
        if day_first.any() and month_first.any():
            d, m = int(np.argmax(day_first)), int(np.argmax(month_first))
            raise IngestError(
                f"{file}: column {field} has dates that can only be day first (line {at[d]}: "
                f"{self.text[d]}) and dates that can only be month first (line {at[m]}: "
                f"{self.text[m]}). Correct the export so that every date is written one way, "
                f"or say which in a mapping file ({choose}); dates that do not fit are then "
                "rejected row by row.",
                file=file,
                column=field,
            )
        if day_first.any():
            return DAY_FIRST
        if month_first.any():
            return MONTH_FIRST
        raise IngestError(
            f"{file}: every date in column {field} reads both day first and month first "
            f"(line {at[0]}: {self.text[0]}). Say which in a mapping file: "
            f'datetime_format = "{day_format}" (day first, {self.text[0]} is '
            f"{self._spelled(0, DAY_FIRST)}) or "
            f'datetime_format = "{month_format}" (month first, {self._spelled(0, MONTH_FIRST)}).',
            file=file,
            column=field,
        )

    def _spelled(self, i: int, order: str) -> str:
        first, second = int(self.parts["first"][i]), int(self.parts["second"][i])
        day, month = (first, second) if order == DAY_FIRST else (second, first)
        month_name = pd.Timestamp(2000, month, 1).strftime("%B")
        return f"{day} {month_name} {int(self.parts['year'][i])}"

    def stamps(self, order: str) -> NDArray[np.datetime64]:
        """The values as timestamps (NaT where no such date exists, such as 31/02/2025)."""
        p = self.parts
        day, month = (p["first"], p["second"]) if order == DAY_FIRST else (p["second"], p["first"])
        fields = pd.DataFrame(
            {
                "year": p["year"],
                "month": month,
                "day": day,
                "hour": np.nan_to_num(p["hour"]),
                "minute": np.nan_to_num(p["minute"]),
                "second": np.nan_to_num(p["sec"]),
            }
        )
        valid = (fields["hour"] < 24) & (fields["minute"] < 60) & (fields["second"] < 60)
        stamps = pd.to_datetime(fields.where(valid), errors="coerce")
        return stamps.to_numpy(dtype="datetime64[us]")

    @property
    def has_time(self) -> NDArray[np.bool_]:
        return ~np.isnan(self.parts["hour"])


def infer_date_order(
    text: pd.Series, lines: pd.Series, *, file: str = "the file", field: str = "date"
) -> str | None:
    """How a file writes dates such as 03/04/2025: :data:`DAY_FIRST` or :data:`MONTH_FIRST`.

    ``None`` when no value is written that way (ISO 8601 dates need no order). Some value
    whose first part is above 12 (31/12/2025) settles day first; some value whose second
    part is (12/31/2025), month first (methods §2.3).

    Raises
    ------
    IngestError
        When the file holds both kinds, or when every such value reads both ways: the
        message names the two ``datetime_format`` values to choose from.
    """
    present = _arrow_text(text.fillna(""))
    dates = _DayMonthDates.find(present)
    return None if dates is None else dates.order(lines, file, field)


def _parse_datetime(
    col: _Column,
    f: Field,
    out: list[pd.DataFrame],
    datetime_format: str | None,
    date_order: str | None = None,
    file: str = "the file",
) -> tuple[pd.Series, pd.Series]:
    index = col.index
    if datetime_format:
        parsed = pd.to_datetime(
            _str_series(col.present, col.index), format=datetime_format, errors="coerce"
        )
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)  # keep the wall-clock time as written
        stamps = parsed.to_numpy(dtype="datetime64[us]")
        has_time = any(d in datetime_format for d in _TIME_DIRECTIVES)
        date_only = np.full(len(stamps), not has_time)
        expect = f"expected the format {datetime_format} set in the mapping file"
    else:
        # A UTC offset is dropped and the wall-clock time kept as written, the same reading
        # as a time without an offset: clinic times are local, and mixing converted and
        # unconverted times would move assessments across doses.
        # Only values longer than YYYY-MM-DDTHH:MM:SS, or ending in Z, can carry one.
        present = col.present
        length = pc.utf8_length(present)
        maybe = arrow_mask(
            pc.or_(pc.greater(length, _ISO_SECONDS_LENGTH), pc.ends_with(present, "Z"))
        )
        if maybe.any():
            local = pc.replace_substring_regex(present, _UTC_OFFSET, r"\1")
            present = pc.if_else(pa.array(maybe), local, present)
        stamps = _cast(present, pa.timestamp("us"), _timestamps_by_pandas)
        # ISO dates without a time are exactly 10 characters (YYYY-MM-DD).
        date_only = arrow_mask(pc.equal(length, _ISO_DATE_LENGTH))
        expect = (
            "expected a date such as 2025-03-14, 14/03/2025 or 2025-03-14T09:30; for other "
            "formats set datetime_format in a mapping file"
        )
        # Values that are not ISO 8601 may be written day first or month first; only
        # then (never on a clean ISO column) are they searched for and read.
        failed = ~col.missing & np.isnat(stamps.astype("datetime64[us]"))
        if failed.any():
            unread = _without(col.present, ~failed)
            dates = _DayMonthDates.find(unread)
            if dates is not None:
                order = date_order or dates.order(col.lines, file, f.name)
                stamps = stamps.astype("datetime64[us]")
                stamps[dates.rows] = dates.stamps(order)
                date_only[dates.rows] = ~dates.has_time
    stamps = stamps.astype("datetime64[us]")
    known = ~np.isnat(stamps)
    bad = ~col.missing & ~known
    if bad.any():
        out.append(col.problems(bad, f.name, f"not a date ({expect})"))
    return pd.Series(stamps, index=index, copy=False), pd.Series(date_only & known, index=index)


def parse_table(
    raw: pd.DataFrame,
    schema: TableSchema,
    *,
    datetime_format: str | None = None,
    date_order: str | None = None,
    file: str = "the file",
) -> Parsed:
    """Parse the schema's fields present in ``raw`` (text columns plus ``line``).

    Returns typed columns: ``str`` for strings, ``float64`` for numbers and integers
    (integers checked to be whole), nullable ``boolean``, ``datetime64[us]`` with a
    ``date_only`` column for the datetime field. Invalid cells become missing and are
    listed in ``problems``. Required fields missing in a row are problems too.

    Dates that are not ISO 8601 are read with ``datetime_format`` when given; otherwise
    dates written day first or month first (31/12/2025) are read in ``date_order``, or in
    the order the column itself settles (:func:`infer_date_order`, which raises
    :class:`~katoutcomes.errors.IngestError`, naming ``file``, when it cannot).
    """
    lines = raw["line"]
    markers = pa.array(list(schema.missing_values), type=pa.large_string())
    out: list[pd.DataFrame] = []
    typed: dict[str, pd.Series] = {}
    for f in schema.fields:
        if f.name not in raw.columns:
            continue
        col = _Column.read(raw[f.name], markers, lines)
        missing = col.missing
        # Of the alternative time fields, the one a file uses is required on every row.
        required = f.required or f.name in schema.time_fields
        if required and missing.any():
            out.append(problems_frame(lines[missing], f.name, "required value is missing"))
        if f.type in ("integer", "number"):
            typed[f.name] = _parse_number(col, f, out)
        elif f.type == "boolean":
            typed[f.name] = _parse_boolean(col, f, out)
        elif f.type == "list":
            typed[f.name] = _parse_list(col, f, out)
        elif f.type in ("datetime", "date"):
            typed[f.name], typed["date_only"] = _parse_datetime(
                col, f, out, datetime_format, date_order, file
            )
        else:
            typed[f.name] = _parse_string(col, f, out)
    typed["line"] = lines
    # copy=False keeps one block per column: consolidating a million rows costs more than
    # parsing them.
    frame = pd.DataFrame(typed, index=raw.index, copy=False)
    problems = pd.concat(out) if out else pd.DataFrame(columns=PROBLEM_COLUMNS, index=raw.index[:0])
    return Parsed(frame=frame, problems=problems[PROBLEM_COLUMNS])
