"""Time since each patient's origin (DESIGN 3.5).

- A patient's origin ``t0`` is their first treatment; without treatments, their first valid
  assessment (one with a usable total).
- ``t`` is days since ``t0`` as a float. With datetimes on both sides it is exact.
- With dates only (on either side), ``t`` is the difference in calendar days, so an
  assessment on the day of a dose has ``t`` equal to the dose's: on the first dose day,
  ``t = 0``, which counts as before the dose (clinics give the questionnaire before the
  session).
- With study days, ``t = study_day - study_day(t0)``.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

__all__ = ["DAY", "add_relative_time", "patient_origins"]

DAY: Final = pd.Timedelta(days=1)


def patient_origins(
    assessments: pd.DataFrame, treatments: pd.DataFrame | None, representation: str
) -> pd.DataFrame:
    """One row per patient: ``origin`` (timestamp or study day), ``origin_date_only`` and
    ``origin_source`` (``"treatment"`` or ``"assessment"``).

    Only assessments with a usable ``total`` can be an origin.
    """
    time_a = "assessed_at" if representation == "datetime" else "study_day"
    time_t = "administered_at" if representation == "datetime" else "study_day"
    parts = []
    if treatments is not None and len(treatments):
        parts.append(
            treatments[["patient_id", time_t, "date_only"]]
            .rename(columns={time_t: "origin", "date_only": "origin_date_only"})
            .assign(origin_source="treatment", priority=0)
        )
    valid = assessments[assessments["total"].notna()]
    parts.append(
        valid[["patient_id", time_a, "date_only"]]
        .rename(columns={time_a: "origin", "date_only": "origin_date_only"})
        .assign(origin_source="assessment", priority=1)
    )
    both = pd.concat(parts, ignore_index=True).dropna(subset=["origin"])
    # Treatments first; within them the earliest; a date-only row sorts before a timed row
    # of the same day only through its midnight timestamp, which is the intended reading.
    first = (
        both.sort_values(["patient_id", "priority", "origin"], kind="stable")
        .drop_duplicates("patient_id", keep="first")
        .drop(columns="priority")
        .set_index("patient_id")
    )
    return first


def add_relative_time(
    frame: pd.DataFrame, origins: pd.DataFrame, time_column: str, representation: str
) -> pd.DataFrame:
    """A copy of ``frame`` with ``t`` (days since the patient's origin).

    Rows of patients without an origin get ``t = NaN``.
    """
    out = frame.copy()
    if out.empty:
        out["t"] = pd.Series(dtype="float64")
        return out
    origin = out["patient_id"].map(origins["origin"])
    if representation == "study_day":
        out["t"] = (out[time_column] - origin.astype("float64")).astype("float64")
        return out
    when = pd.to_datetime(out[time_column]).astype("datetime64[us]")
    origin = pd.to_datetime(origin).astype("datetime64[us]")
    date_level = (
        out["date_only"].astype(bool).to_numpy()
        | out["patient_id"].map(origins["origin_date_only"]).fillna(False).astype(bool).to_numpy()
    )
    exact = (when - origin) / DAY
    by_date = (when.dt.normalize() - origin.dt.normalize()) / DAY
    out["t"] = np.where(date_level, by_date, exact).astype("float64")
    return out
