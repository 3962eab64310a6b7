"""Time since each patient's origin (DESIGN 3.5).

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

__all__ = ["TimedTables", "add_relative_time", "patient_origins"]

_US_PER_DAY: Final = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class TimedTables:
    """Assessments and treatments with ``t``, sorted by patient (then instrument) and
    time, and each patient's origin."""

    assessments: pd.DataFrame
    treatments: pd.DataFrame
    origins: pd.DataFrame


def _time_column(table: str, representation: str) -> str:
    if representation == "study_day":
        return "study_day"
    return "assessed_at" if table == "assessments" else "administered_at"


def _days(frame: pd.DataFrame, column: str, representation: str) -> np.ndarray:
    """Times as float days (since 1970 for datetimes, as given for study days)."""
    if frame.empty:
        return np.empty(0, dtype="float64")
    if representation == "study_day":
        return frame[column].to_numpy(dtype="float64", na_value=np.nan)
    stamps = pd.to_datetime(frame[column]).astype("datetime64[us]")
    micros = stamps.to_numpy().astype("int64").astype("float64")
    micros[stamps.isna().to_numpy()] = np.nan
    return micros / _US_PER_DAY


def _date_only(frame: pd.DataFrame) -> np.ndarray:
    if frame.empty or "date_only" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame["date_only"].fillna(False).to_numpy(dtype=bool)


def _origins(
    codes_a: np.ndarray,
    days_a: np.ndarray,
    valid_a: np.ndarray,
    only_a: np.ndarray,
    codes_t: np.ndarray,
    days_t: np.ndarray,
    only_t: np.ndarray,
    n_patients: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient code: origin time, date-only flag, and whether it is a treatment."""
    keep_a = valid_a & ~np.isnan(days_a)
    keep_t = ~np.isnan(days_t)
    code = np.concatenate([codes_t[keep_t], codes_a[keep_a]])
    day = np.concatenate([days_t[keep_t], days_a[keep_a]])
    only = np.concatenate([only_t[keep_t], only_a[keep_a]])
    # Treatments (priority 0) before assessments (1); then the earliest time.
    priority = np.concatenate([np.zeros(keep_t.sum(), "int8"), np.ones(keep_a.sum(), "int8")])
    order = np.lexsort((day, priority, code))
    first = order[np.r_[True, code[order][1:] != code[order][:-1]]] if len(order) else order
    origin = np.full(n_patients, np.nan)
    origin_only = np.zeros(n_patients, dtype=bool)
    from_treatment = np.zeros(n_patients, dtype=bool)
    origin[code[first]] = day[first]
    origin_only[code[first]] = only[first]
    from_treatment[code[first]] = priority[first] == 0
    return origin, origin_only, from_treatment


def _relative(
    day: np.ndarray,
    only: np.ndarray,
    origin: np.ndarray,
    origin_only: np.ndarray,
    representation: str,
) -> np.ndarray:
    if representation == "study_day":
        return day - origin
    by_date = np.floor(day) - np.floor(origin)
    return np.where(only | origin_only, by_date, day - origin)


def add_relative_time(
    assessments: pd.DataFrame, treatments: pd.DataFrame, representation: str
) -> TimedTables:
    """Copies of both tables with ``t`` (days since the patient's origin), sorted.

    Assessments are sorted by patient, instrument and ``t``; treatments by patient and
    ``t``. Rows of patients without an origin get ``t = NaN``.
    """
    ids = pd.concat([assessments["patient_id"], treatments["patient_id"]], ignore_index=True)
    codes, uniques = pd.factorize(ids.astype("str"), sort=True)
    codes_a, codes_t = codes[: len(assessments)], codes[len(assessments) :]
    days_a = _days(assessments, _time_column("assessments", representation), representation)
    days_t = _days(treatments, _time_column("treatments", representation), representation)
    only_a, only_t = _date_only(assessments), _date_only(treatments)
    valid_a = assessments["total"].notna().to_numpy() if len(assessments) else np.zeros(0, bool)
    origin, origin_only, from_treatment = _origins(
        codes_a, days_a, valid_a, only_a, codes_t, days_t, only_t, len(uniques)
    )
    t_a = _relative(days_a, only_a, origin[codes_a], origin_only[codes_a], representation)
    t_t = _relative(days_t, only_t, origin[codes_t], origin_only[codes_t], representation)

    out_a = assessments.assign(t=t_a)
    if len(out_a):
        instrument_codes, _ = pd.factorize(out_a["instrument"].astype("str"), sort=True)
        order = np.lexsort((np.nan_to_num(t_a, nan=np.inf), instrument_codes, codes_a))
        out_a = out_a.take(order)
    out_t = treatments.assign(t=t_t.astype("float64"))
    if len(out_t):
        out_t = out_t.take(np.lexsort((np.nan_to_num(t_t, nan=np.inf), codes_t)))

    if representation == "study_day":
        origin_values = origin
    else:
        # Back from float days to timestamps (plain arrays: a Series would be realigned).
        micros = np.round(origin * _US_PER_DAY)
        origin_values = (
            np.where(np.isnan(micros), 0, micros).astype("int64").astype("datetime64[us]")
        )
    origins = pd.DataFrame(
        {
            "origin": origin_values,
            "origin_date_only": origin_only,
            "origin_source": np.where(from_treatment, "treatment", "assessment"),
        },
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
