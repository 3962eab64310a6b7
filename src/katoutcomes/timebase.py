"""Time since each patient's origin (methods §2.3).

- A patient's origin ``t0`` is their first treatment; without treatments, their first valid
  assessment (one with a usable total).
- ``t`` is days since ``t0`` as a float. With datetimes on both sides it is exact.
- With dates only (on either side), ``t`` is the difference in calendar days, so an
  assessment on the day of a dose has ``t`` equal to the dose's: on the first dose day,
  ``t = 0``, which counts as before the dose (clinics give the questionnaire before the
  session).
- With study days, ``t = study_day - study_day(t0)``.

Everything runs on integer patient codes and numpy arrays: a million rows take a fraction
of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "TimedTables",
    "add_relative_time",
    "patient_origins",
    "runs",
    "sorted_codes",
    "time_order",
]

_US_PER_DAY: Final = 86_400 * 1_000_000

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class TimedTables:
    """Assessments and treatments with ``t``, sorted by patient (then instrument) and
    time, and each patient's origin."""

    assessments: pd.DataFrame
    treatments: pd.DataFrame
    origins: pd.DataFrame


def runs(values: pd.Series) -> tuple[IndexArray, IndexArray]:
    """Start position and length of each run of equal consecutive values.

    A missing value is a run of its own.

    Examples
    --------
    >>> runs(pd.Series(["p1", "p1", "p2", "p1"]))
    (array([0, 2, 3]), array([2, 1, 1]))
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Nullable types leave a comparison with a missing value missing: a new run too.
    differs = pd.array(values.array[1:] != values.array[:-1])
    starts = np.flatnonzero(np.r_[True, differs.to_numpy(dtype=bool, na_value=True)])
    return starts, np.diff(np.r_[starts, len(values)])


def sorted_codes(values: pd.Series) -> tuple[IndexArray, pd.Index]:
    """``pd.factorize(values, sort=True)``: codes numbering the values in sorted order, -1
    where missing, and the sorted unique values.

    Notes
    -----
    Exports list each patient's rows together, so a column of patient ids holds far fewer
    runs of equal values than rows: only the first value of each run is factorized.

    Examples
    --------
    >>> codes, uniques = sorted_codes(pd.Series(["p2", "p2", "p1"]))
    >>> codes, list(uniques)
    (array([1, 1, 0]), ['p1', 'p2'])
    """
    starts, lengths = runs(values)
    if 2 * len(starts) > len(values):
        # Mostly runs of one row: factorizing the run starts would save nothing.
        return pd.factorize(values, sort=True)
    codes, uniques = pd.factorize(values.take(starts), sort=True)
    return np.repeat(codes, lengths), uniques


def time_order(
    groups: IndexArray, t: FloatArray, then: FloatArray | None = None
) -> IndexArray | None:
    """Row positions that sort rows by ``groups``, then by ``t`` (then by ``then``, when
    given); ``None`` if already sorted.

    The order of ``np.lexsort((then, t, groups))``: stable, so rows tied on every key keep
    their input order. ``t`` and ``then`` must not hold NaN.

    Notes
    -----
    Exports usually list each patient's rows together and in time order, so the rows are
    first checked (``None`` lets the caller skip copying a wide table), then sorted by
    group alone (cheap on grouped rows), and only the groups that still go back in time
    are sorted by ``t`` as well.

    Examples
    --------
    >>> time_order(np.array([0, 1, 0]), np.array([5.0, 1.0, 2.0]))
    array([2, 0, 1])
    >>> time_order(np.array([0, 0, 1]), np.array([1.0, 2.0, 0.0])) is None
    True
    """

    def goes_back(grouped: IndexArray, t: FloatArray, then: FloatArray | None) -> BoolArray:
        """Rows that come before the previous row of their group in time."""
        earlier = t[1:] < t[:-1]
        if then is not None:
            earlier |= (t[1:] == t[:-1]) & (then[1:] < then[:-1])
        return (grouped[1:] == grouped[:-1]) & earlier

    if (groups[1:] >= groups[:-1]).all() and not goes_back(groups, t, then).any():
        return None
    order = np.argsort(groups, kind="stable")
    grouped, t = groups[order], t[order]
    then = None if then is None else then[order]
    back_in_time = goes_back(grouped, t, then)
    if back_in_time.any():
        # Sort by time the rows of the groups that go back in time, and only those.
        run = np.cumsum(np.r_[True, grouped[1:] != grouped[:-1]]) - 1
        unsorted = np.zeros(run[-1] + 1, dtype=bool)
        unsorted[run[1:][back_in_time]] = True
        rows = np.flatnonzero(unsorted[run])
        keys = (t[rows], run[rows]) if then is None else (then[rows], t[rows], run[rows])
        order[rows] = order[rows[np.lexsort(keys)]]
    return order


def _time_column(table: str, representation: str) -> str:
    if representation == "study_day":
        return "study_day"
    return "assessed_at" if table == "assessments" else "administered_at"


def _times(frame: pd.DataFrame, column: str, representation: str) -> FloatArray:
    """Times as floats: microseconds since 1970 for datetimes, days for study days.

    Microseconds are whole numbers, exact in a float until the year 2255, so differences
    are exact and ``t`` comes from one correctly rounded division: 18 minutes before the
    dose is ``t = -0.0125``, not ``-0.012500000000727596`` as with days since 1970.
    """
    if frame.empty:
        return np.empty(0, dtype="float64")
    if representation == "study_day":
        return frame[column].to_numpy(dtype="float64", na_value=np.nan)
    stamps = frame[column]
    if stamps.dtype != "datetime64[us]":
        stamps = pd.to_datetime(stamps).astype("datetime64[us]")
    values = stamps.to_numpy()
    micros = values.view("int64").astype("float64")
    micros[np.isnat(values)] = np.nan
    return micros


def _date_only(frame: pd.DataFrame) -> BoolArray:
    if frame.empty or "date_only" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame["date_only"].fillna(False).to_numpy(dtype=bool)


def _earliest(
    codes: IndexArray, times: FloatArray, usable: BoolArray, n_patients: int
) -> IndexArray:
    """Per patient code, the position of its usable row with the smallest ``times``; -1
    where it has none. Among rows tied at the smallest time, the first in input order."""
    rows = np.flatnonzero(usable)
    code, time = codes[rows], times[rows]
    earliest = np.full(n_patients, np.inf)
    np.minimum.at(earliest, code, time)
    tied = rows[time == earliest[code]]
    first = np.full(n_patients, len(codes), dtype=np.int64)
    np.minimum.at(first, codes[tied], tied)
    return np.where(first < len(codes), first, -1)


def _origins(
    codes_a: IndexArray,
    times_a: FloatArray,
    valid_a: BoolArray,
    only_a: BoolArray,
    codes_t: IndexArray,
    times_t: FloatArray,
    only_t: BoolArray,
    n_patients: int,
) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Per patient code: origin time, date-only flag, and whether it is a treatment.

    The origin row is the patient's earliest treatment, else their earliest valid
    assessment; of rows tied at that time, the first one gives the date-only flag. Rows
    without a time, and rows without a patient id (code -1), cannot be an origin.
    """
    at_t = _earliest(codes_t, times_t, ~np.isnan(times_t) & (codes_t >= 0), n_patients)
    from_treatment = at_t >= 0
    # Assessments matter only for patients without a treatment: most have one.
    usable_a = valid_a & ~np.isnan(times_a) & (codes_a >= 0) & ~from_treatment[codes_a]
    at_a = _earliest(codes_a, times_a, usable_a, n_patients)
    origin = np.full(n_patients, np.nan)
    origin_only = np.zeros(n_patients, dtype=bool)
    for at, times, only in ((at_t, times_t, only_t), (at_a, times_a, only_a)):
        found = at >= 0
        origin[found] = times[at[found]]
        origin_only[found] = only[at[found]]
    return origin, origin_only, from_treatment


def _relative(
    time: FloatArray,
    only: BoolArray,
    origin: FloatArray,
    origin_only: BoolArray,
    representation: str,
) -> FloatArray:
    """Days since the origin (times as :func:`_times` gives them)."""
    if representation == "study_day":
        return time - origin
    t = (time - origin) / _US_PER_DAY
    by_date = only | origin_only
    t[by_date] = (time[by_date] // _US_PER_DAY) - (origin[by_date] // _US_PER_DAY)
    return t


def _last_if_nan(values: FloatArray) -> FloatArray:
    return np.nan_to_num(values, nan=np.inf)


def _tie_break(t: FloatArray, times: FloatArray) -> FloatArray:
    """The written time, to order rows tied on ``t``; rows without a ``t`` (patients
    without an origin) keep their input order."""
    return np.where(np.isnan(t), 0.0, _last_if_nan(times))


def add_relative_time(
    assessments: pd.DataFrame, treatments: pd.DataFrame, representation: str
) -> TimedTables:
    """Copies of both tables with ``t`` (days since the patient's origin), sorted.

    Assessments are sorted by patient, instrument and ``t``; treatments by patient and
    ``t``. Patients sort by ``patient_id`` as text. Rows tied on ``t`` are ordered by the
    time as written: with a date-only origin, ``t`` counts whole days, and of two
    assessments on one day the one at 20:00 comes after the one at 08:00 whatever their
    order in the file. Rows tied on every key keep their input order, and rows without a
    ``t`` come last within their patient (and instrument). Rows of patients without an
    origin get ``t = NaN``.
    """
    ids = pd.concat([assessments["patient_id"], treatments["patient_id"]], ignore_index=True)
    codes, uniques = sorted_codes(ids.astype("str"))
    codes_a, codes_t = codes[: len(assessments)], codes[len(assessments) :]
    times_a = _times(assessments, _time_column("assessments", representation), representation)
    times_t = _times(treatments, _time_column("treatments", representation), representation)
    only_a, only_t = _date_only(assessments), _date_only(treatments)
    valid_a = assessments["total"].notna().to_numpy() if len(assessments) else np.zeros(0, bool)
    origin, origin_only, from_treatment = _origins(
        codes_a, times_a, valid_a, only_a, codes_t, times_t, only_t, len(uniques)
    )
    t_a = _relative(times_a, only_a, origin[codes_a], origin_only[codes_a], representation)
    t_t = _relative(times_t, only_t, origin[codes_t], origin_only[codes_t], representation)

    # Sort keys: one number per (patient, instrument), where the +1 puts a missing
    # instrument (code -1) first within its patient; a missing t sorts last.
    instrument_codes, instruments = pd.factorize(assessments["instrument"].astype("str"), sort=True)
    pair = codes_a * (len(instruments) + 1) + (instrument_codes + 1)
    # Rows on the same day (t in whole days when dates only are known) are ordered by
    # the time written: the later assessment is the later one, and a date-only row counts
    # as the start of its day (methods §2.3 takes it as before a dose that day).
    out_a = assessments.assign(t=t_a)
    order = time_order(pair, _last_if_nan(t_a), _tie_break(t_a, times_a))
    if order is not None:
        out_a = out_a.take(order)
    out_t = treatments.assign(t=t_t.astype("float64"))
    order = time_order(codes_t, _last_if_nan(t_t), _tie_break(t_t, times_t))
    if order is not None:
        out_t = out_t.take(order)

    if representation == "study_day":
        origin_values = origin
    else:
        # Back from float microseconds to timestamps (plain arrays: a Series would be
        # realigned).
        origin_values = (
            np.where(np.isnan(origin), 0, origin).astype("int64").astype("datetime64[us]")
        )
    # Text column built from its two values (converting numpy strings is much slower).
    source = pd.array(["assessment", "treatment"], dtype="str").take(from_treatment.astype(int))
    origins = pd.DataFrame(
        {"origin": origin_values, "origin_date_only": origin_only, "origin_source": source},
        index=pd.Index(uniques, name="patient_id"),
    )
    origins = origins[~np.isnan(origin)]
    return TimedTables(
        assessments=out_a.reset_index(drop=True),
        treatments=out_t.reset_index(drop=True),
        origins=origins,
    )


def patient_origins(
    assessments: pd.DataFrame, treatments: pd.DataFrame, representation: str
) -> pd.DataFrame:
    """One row per patient: ``origin`` (timestamp or study day), ``origin_date_only`` and
    ``origin_source`` (``"treatment"`` or ``"assessment"``)."""
    return add_relative_time(assessments, treatments, representation).origins
