"""Protocol adherence: how treatment was given (methods §10.6, "induction_protocol", "dose").

Small per-patient and per-session measures that the dashboard and report tabulate beside the
claims: doses in the induction window and the dose per kilogram of body weight.
"""

from __future__ import annotations

from typing import Final

import pandas as pd

__all__ = ["INDUCTION_DAYS", "dose_mg_per_kg", "doses_within"]

#: The induction window: "six additional sessions within two to three weeks" (methods §10.6)
#: is read at its upper end, 21 days after the first dose.
INDUCTION_DAYS: Final = 21.0


def doses_within(treatments: pd.DataFrame, days: float = INDUCTION_DAYS) -> pd.Series:
    """Per treated patient, the number of doses with ``0 <= t <= days``.

    ``t`` is days since the patient's first dose (see :mod:`katoutcomes.timebase`), so the
    first dose itself counts. Patients whose doses all fall later count 0.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": ["A", "A", "A", "B"], "t": [0.0, 7.0, 22.0, 0.0]})
    >>> doses_within(t, 21).to_dict()
    {'A': 2, 'B': 1}
    """
    ids = treatments["patient_id"].astype("str")
    treated = pd.Index(ids.unique(), name="patient_id")
    early = (treatments["t"] >= 0) & (treatments["t"] <= days)
    counts = early.groupby(ids).sum().astype("int64")
    return counts.reindex(treated, fill_value=0).rename("doses")


def dose_mg_per_kg(treatments: pd.DataFrame) -> pd.Series:
    """Dose per kilogram for each session (missing where dose or weight is missing)."""
    return (treatments["dose_mg"] / treatments["weight_kg"]).rename("dose_mg_per_kg")
