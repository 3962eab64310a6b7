"""De-identification guard (docs/methods.md §2.7).

katoutcomes holds de-identified data only. This module refuses, before anything is stored:

- columns whose names look like direct identifiers (the HIPAA Safe Harbor list, 45 CFR
  164.514(b)(2): names, contact details, street address and postcode, SSN, medical record
  and health-plan numbers, dates of birth, IP addresses);
- text values that look like e-mail addresses, phone numbers or US Social Security numbers,
  in any column;
- ``patient_id`` values that look like those, like dates, or like a person's name.

A site that knows a column is safe lists it in ``Settings.allow_columns``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from katoutcomes.errors import IngestError
from katoutcomes.validation import arrow_mask

__all__ = [
    "check_column_names",
    "check_values",
    "identifier_column_reason",
    "identifier_value_kind",
    "neutralise_formulas",
    "patient_id_problems",
]

# Words that, as a whole token of a column name (split on non-letters), mark an identifier.
_IDENTIFIER_TOKENS: Final = {
    "name": "a name",
    "names": "a name",
    "firstname": "a name",
    "lastname": "a name",
    "surname": "a name",
    "forename": "a name",
    "fullname": "a name",
    "email": "an e-mail address",
    "mail": "an e-mail address",
    "phone": "a phone number",
    "telephone": "a phone number",
    "mobile": "a phone number",
    "cellphone": "a phone number",
    "fax": "a fax number",
    "address": "an address",
    "street": "an address",
    "zip": "a ZIP/postcode",
    "zipcode": "a ZIP/postcode",
    "postcode": "a ZIP/postcode",
    "postalcode": "a ZIP/postcode",
    "ssn": "a Social Security number",
    "mrn": "a medical record number",
    "dob": "a date of birth",
    "birthdate": "a date of birth",
    "birthday": "a date of birth",
    "insurance": "an insurance number",
    "ip": "an IP address",
}
# Words before "name" that make it the name of a thing rather than of a person.
_NOT_A_PERSON: Final = frozenset(
    {
        "instrument",
        "medication",
        "drug",
        "scale",
        "measure",
        "questionnaire",
        "site",
        "clinic",
        "department",
        "route",
        "file",
        "test",
        "form",
        "flowsheet",
        "item",
        "event",
        "study",
        "program",
        "programme",
        "protocol",
        "product",
        "brand",
        "facility",
        "location",
        "service",
        "treatment",
        "diagnosis",
        "sheet",
        "column",
        "field",
    }
)
# Runs of words that mark an identifier wherever they appear in the squashed name
# ("Patient Full Name" -> "patientfullname").
_IDENTIFIER_FRAGMENTS: Final = {
    "firstname": "a name",
    "lastname": "a name",
    "fullname": "a name",
    "patientname": "a name",
    "givenname": "a name",
    "familyname": "a name",
    "emailaddress": "an e-mail address",
    "phonenumber": "a phone number",
    "streetaddress": "an address",
    "homeaddress": "an address",
    "zipcode": "a ZIP/postcode",
    "postalcode": "a ZIP/postcode",
    "postcode": "a ZIP/postcode",
    "socialsecurity": "a Social Security number",
    "medicalrecord": "a medical record number",
    "dateofbirth": "a date of birth",
    "birthdate": "a date of birth",
    "insuranceid": "an insurance number",
    "insurancenumber": "an insurance number",
    "memberid": "a health-plan member id",
    "membershipid": "a health-plan member id",
    "membershipnumber": "a health-plan member id",
    "membernumber": "a health-plan member id",
    "ipaddress": "an IP address",
}

# Anchored: the whole (already stripped) cell is the identifier. Spaces are written as
# [ ] rather than \s so that pyarrow's RE2 engine runs them (pandas falls back to Python's
# re, one value at a time, for \s).
_EMAIL: Final = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_SSN: Final = r"\d{3}-\d{2}-\d{4}"
_PHONE: Final = (
    r"(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}"  # North American
    r"|\+\d{1,3}(?:[ .-]?\(?\d{2,}\)?){2,5}"  # international with a leading +
)
_VALUE_PATTERNS: Final = (
    ("an e-mail address", re.compile(rf"^(?:{_EMAIL})$")),
    ("a US Social Security number", re.compile(rf"^(?:{_SSN})$")),
    ("a phone number", re.compile(rf"^(?:{_PHONE})$")),
)
# The same shapes anywhere inside a text ("call pt at 555-123-4567"), bounded so that
# longer runs of digits (dates, codes) do not match.
_IN_TEXT_PATTERNS: Final = (
    ("an e-mail address", _EMAIL),
    ("a US Social Security number", rf"(?:^|[^\d-]){_SSN}(?:$|[^\d-])"),
    ("a phone number", rf"(?:^|[^\d.])(?:{_PHONE})(?:$|[^\d])"),
)
_ANY_IDENTIFIER: Final = "|".join(f"(?:{p})" for _, p in _IN_TEXT_PATTERNS)
# Shapes of a date written as a patient id: 2024-01-15 (also / or .), 15/01/2024 or
# 01/15/2024 (also - or ., two-digit years too), 19800115. Such an id is refused only when
# it is a real calendar date between 1900-01-01 and today (_looks_like_date): 20671021 is
# a pseudonymous number, not a birth date.
_YMD: Final = r"^(?P<a>[0-9]{4})[-/.](?P<b>[0-9]{1,2})[-/.](?P<c>[0-9]{1,2})$"
_DMY: Final = r"^(?P<a>[0-9]{1,2})[-/.](?P<b>[0-9]{1,2})[-/.](?P<c>[0-9]{2}|[0-9]{4})$"
_COMPACT: Final = r"^(?P<a>[0-9]{4})(?P<b>[0-9]{2})(?P<c>[0-9]{2})$"
#: The earliest date an id is taken for (methods §2.7).
EARLIEST_DATE: Final = dt.date(1900, 1, 1)
# A pseudonymous code carries at least one digit; three or more letters and no digit
# ("JaneDoe", "jane.doe", "SMITH_J") is read as a name.
_NAME_LIKE: Final = re.compile(r"^(?=(?:[^A-Za-z]*[A-Za-z]){3})[^0-9]+$")


def identifier_column_reason(column: str) -> str | None:
    """What a column name suggests it holds, when it looks like a direct identifier.

    Examples
    --------
    >>> identifier_column_reason("Patient Email")
    'an e-mail address'
    >>> identifier_column_reason("patient_id") is None
    True
    """
    tokens = [t for t in re.split(r"[^a-z]+", _split_camel(column).lower()) if t]
    for i, token in enumerate(tokens):
        if token in ("name", "names") and i and tokens[i - 1] in _NOT_A_PERSON:
            continue  # "Medication Name", "Site name": the name of a thing
        if token in _IDENTIFIER_TOKENS:
            return _IDENTIFIER_TOKENS[token]
    squashed = "".join(tokens)
    for fragment, reason in _IDENTIFIER_FRAGMENTS.items():
        if fragment in squashed:
            return reason
    return None


def _split_camel(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name)


def identifier_value_kind(value: str) -> str | None:
    """What a single cell holds, when it holds something that looks like an identifier.

    The same in-text patterns as :func:`check_values` uses for whole columns, so a cell of a
    malformed row is judged exactly as a cell of a well-formed one.
    """
    for what, pattern in _IN_TEXT_PATTERNS:
        if re.search(pattern, value):
            return what
    return None


def check_column_names(file: str, columns: Iterable[str], allowed: Iterable[str] = ()) -> None:
    """Fail when a column name looks like a direct identifier.

    Raises
    ------
    IngestError
        Naming the first such column and what to do about it.
    """
    allowed_set = {a.strip().lower() for a in allowed}
    for column in columns:
        if column.strip().lower() in allowed_set:
            continue
        reason = identifier_column_reason(column)
        if reason is not None:
            raise IngestError(
                f"{file}: column {column!r} looks like it holds {reason}, a direct identifier. "
                "katoutcomes stores de-identified data only: remove the column from the export, "
                f"or, if it is known to be safe, allow it with --allow-column {column!r} "
                "(setting allow_columns).",
                file=file,
                column=column,
            )


def check_values(
    file: str,
    frame: pd.DataFrame,
    *,
    skip: Iterable[str] = (),
    allowed: Iterable[str] = (),
    line_column: str = "line",
) -> None:
    """Fail when any text cell looks like an e-mail address, phone number or SSN.

    ``skip`` names columns checked elsewhere (``patient_id`` is checked row by row by
    :func:`patient_id_problems`; typed columns by :func:`check_problem_values`).
    """
    excluded = {c.lower() for c in skip} | {a.strip().lower() for a in allowed} | {line_column}
    columns = [c for c in frame.columns if str(c).lower() not in excluded]
    if not columns or not _any_identifier(frame, columns):
        return
    for column in columns:
        values = frame[column]
        # Searched among distinct values: clinic text columns repeat a lot.
        distinct = pd.Series(values.dropna().unique(), dtype="str")
        distinct = distinct[_search(pa.array(distinct.array), _ANY_IDENTIFIER)]
        if distinct.empty:
            continue
        for what, pattern in _IN_TEXT_PATTERNS:
            found = distinct[_search(pa.array(distinct.array), pattern)]
            if found.empty:
                continue
            hits = values.isin(found)
            n = int(hits.sum())
            line = frame.loc[hits.idxmax(), line_column] if line_column in frame else hits.idxmax()
            raise IngestError(
                f"{file}, line {line}, column {column!r}: the value looks like {what} "
                f"({n} such value{'s' if n != 1 else ''} in this column). katoutcomes "
                "stores de-identified data only: remove identifiers from the export, or, "
                f"if the column is known to be safe, allow it with --allow-column {column!r}.",
                file=file,
                column=column,
            )


def _any_identifier(frame: pd.DataFrame, columns: list[str]) -> bool:
    """Whether any cell of ``columns`` looks like an identifier, in one pass over the
    distinct values of all of them (an export with thousands of columns costs one search,
    not one per column; the column is found afterwards, only when there is a hit)."""
    text = pa.large_string()
    arrays = []
    for column in columns:
        array = pa.array(frame[column].array)
        arrays.append(array if array.type == text else array.cast(text))
    distinct = pc.unique(pa.chunked_array(arrays, type=text)).drop_null()
    return bool(len(distinct)) and bool(_search(distinct, _ANY_IDENTIFIER).any())


def check_problem_values(file: str, problems: pd.DataFrame) -> None:
    """Fail when a cell that failed its type check looks like an identifier.

    Number, date and yes/no columns are not scanned by :func:`check_values` (a valid
    number or date cannot be an e-mail address, phone number or SSN); their invalid cells
    are, here, so that an identifier in any column still fails the whole ingest.
    """
    if problems.empty:
        return
    for field, rows in problems.groupby("field", sort=False):
        check_values(file, rows[["line", "value"]].rename(columns={"value": str(field)}))


def _search(values: pa.Array | pa.ChunkedArray, pattern: str) -> np.ndarray:
    """Which values ``pattern`` is found in, as Python's ``re.search`` finds it.

    ASCII values go through RE2 (pyarrow) in one pass. RE2's ``\\d`` knows only 0-9, while
    an identifier typed with full-width or Arabic-Indic digits is still an identifier, so
    values with other characters (few) are searched by Python's ``re``.
    """
    ascii_only = arrow_mask(pc.string_is_ascii(values))
    hits = arrow_mask(pc.match_substring_regex(values, pattern)) & ascii_only
    others = np.flatnonzero(~ascii_only & ~arrow_mask(values.is_null()))
    if others.size:
        compiled = re.compile(pattern)
        texts = values.take(pa.array(others)).to_pylist()
        hits[others] = [compiled.search(t) is not None for t in texts]
    return hits


def _looks_like_name(ids: pa.Array) -> np.ndarray:
    """:data:`_NAME_LIKE` (three or more ASCII letters, no ASCII digit) without the
    look-ahead, which RE2 does not support."""
    letters = pc.count_substring_regex(ids, "[A-Za-z]")
    no_digit = pc.invert(pc.match_substring_regex(ids, "[0-9]"))
    return arrow_mask(pc.and_(pc.greater_equal(letters, 3), no_digit))


def _real_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray, today: dt.date) -> np.ndarray:
    """Whether each (year, month, day) is a real calendar date from 1900-01-01 to ``today``
    (Gregorian leap years)."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    valid_month = (month >= 1) & (month <= 12)
    last_day = month_days[np.where(valid_month, month, 0)] + (leap & (month == 2))
    real = valid_month & (day >= 1) & (day <= last_day)
    ordinal = year * 10_000 + month * 100 + day  # compares as the date does
    earliest = EARLIEST_DATE.year * 10_000 + EARLIEST_DATE.month * 100 + EARLIEST_DATE.day
    latest = today.year * 10_000 + today.month * 100 + today.day
    return real & (ordinal >= earliest) & (ordinal <= latest)


def _date_parts(ids: pa.Array, pattern: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows of ``ids`` that have the shape ``pattern``, and its three numbers on them."""
    found = arrow_mask(pc.match_substring_regex(ids, pattern))
    if not found.any():
        return found, []
    parts = pc.extract_regex(ids.filter(pa.array(found)), pattern)
    return found, [
        np.asarray(pc.cast(parts.field(i), pa.int64()).to_numpy(zero_copy_only=False))
        for i in range(3)
    ]


def _looks_like_date(ids: pa.Array, today: dt.date | None = None) -> np.ndarray:
    """Whether each id is a real calendar date between 1900-01-01 and ``today`` written
    as a date (methods §2.7).

    Day-first and month-first are both tried for ``15/01/2024``; a two-digit year is read
    as 19xx and as 20xx. An id is date-like when any reading is such a date.
    """
    today = today or dt.date.today()
    # Digits of other scripts (Arabic-Indic, full-width...) are read as the digits they are.
    others = np.flatnonzero(~arrow_mask(pc.string_is_ascii(ids)) & ~arrow_mask(ids.is_null()))
    if others.size:
        texts = ids.to_pylist()
        for i in others:
            texts[i] = "".join(str(unicodedata.decimal(c, c)) for c in texts[i])
        ids = pa.array(texts, type=ids.type)
    out = np.zeros(len(ids), dtype=bool)
    for pattern in (_YMD, _COMPACT):
        found, parts = _date_parts(ids, pattern)
        if found.any():
            year, month, day = parts
            out[found] = _real_dates(year, month, day, today)
    found, parts = _date_parts(ids, _DMY)
    if found.any():
        first, second, year = parts
        hit = np.zeros(len(year), dtype=bool)
        for century in (1900, 2000):
            full = np.where(year < 100, year + century, year)
            hit |= _real_dates(full, second, first, today) | _real_dates(full, first, second, today)
        out[found] = hit
    return out


def patient_id_problems(ids: pd.Series) -> pd.Series:
    """Reason a ``patient_id`` is refused as identifying, or NA where it is fine.

    Returns a string Series aligned with ``ids``. Each distinct id is checked once.
    """
    array = pa.array(ids.astype("str").array)
    distinct = pc.unique(array.drop_null())
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    checks: list[tuple[np.ndarray, str]] = [
        *(
            (
                _search(distinct, pattern.pattern),
                f"patient_id looks like {what}; use a pseudonymous code",
            )
            for what, pattern in _VALUE_PATTERNS
        ),
        (
            _looks_like_date(distinct),
            "patient_id looks like a date; use a pseudonymous code, never a birth date",
        ),
        (
            _looks_like_name(distinct),
            "patient_id looks like a name (letters without digits); use a pseudonymous code "
            "such as P0001",
        ),
    ]
    reason = np.full(len(distinct), "", dtype=object)
    for hit, message in checks:  # the first matching check gives the reason
        reason[hit & (reason == "")] = message
    flagged = reason != ""
    if not flagged.any():
        return pd.Series(pd.NA, index=ids.index, dtype="str")
    by_id = dict(
        zip(np.asarray(distinct.to_pylist(), dtype=object)[flagged], reason[flagged], strict=True)
    )
    return ids.map(by_id).astype("str")


#: Leading characters a spreadsheet reads as a formula (OWASP "CSV injection").
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where text cells that a spreadsheet would run as a formula start with ``'``.

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are prefixed,
    except genuine numbers such as ``-3`` or ``+1.5`` (methods §12.9).
    """
    out = frame.copy(deep=False)  # columns are replaced, never written into
    for column in out.columns:
        values = out[column]
        if not (pd.api.types.is_string_dtype(values) or values.dtype == "object"):
            continue
        text = values.astype("str")
        risky = text.str.startswith(_FORMULA_START, na=False)
        if not risky.any():
            continue
        numeric = pd.to_numeric(text.where(risky), errors="coerce").notna()
        hit = risky & ~numeric
        if hit.any():
            out[column] = values.astype("object").mask(hit, "'" + text)
    return out
