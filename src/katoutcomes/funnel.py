"""Funnel plots for comparing clinicians and sites (docs/methods.md §9.5; Spiegelhalter 2005).

A league table ranks units by their rates and invites reading noise as performance. A
funnel plot draws each unit's rate against its number of patients, with control limits
around the clinic rate that narrow as the number grows: a unit outside the 99.8% limits
differs from the clinic by more than chance would plausibly give.

- :func:`funnel_limits` gives the exact binomial limits, interpolated between the discrete
  counts (Spiegelhalter 2005, appendix A.1.1), vectorised over the number of patients.
- :func:`funnel_table` counts each unit's intention-to-treat responders, crude and case-mix
  adjusted by indirect standardisation, and places each against the limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from katoutcomes.cohort import NotMeasurableError
from katoutcomes.comparisons import (
    CATEGORICAL_COVARIATES,
    COVARIATE_LABELS,
    COVARIATES,
    fit_logistic,
)
from katoutcomes.instruments import PHQ9
from katoutcomes.logistic import one_blas_thread

__all__ = [
    "FUNNEL_LEVELS",
    "FUNNEL_UNITS",
    "UNIT_COLUMNS",
    "FunnelTable",
    "funnel_limits",
    "funnel_table",
]

#: Control-limit levels: about 2 and 3 standard deviations (Spiegelhalter 2005, section 3).
FUNNEL_LEVELS: Final = (0.95, 0.998)

#: Units a funnel plot compares: the patient's site; the clinician of the first dose.
FUNNEL_UNITS: Final = ("site", "clinician")

#: Columns of :attr:`FunnelTable.units`.
UNIT_COLUMNS: Final = (
    "unit",
    "n",
    "responders",
    "rate",
    "expected",
    "adjusted_rate",
    "lower95",
    "upper95",
    "lower998",
    "upper998",
    "outside",
)


def _level_name(level: float) -> str:
    """``0.95 -> "95"``, ``0.998 -> "998"`` (the digits of the percentage)."""
    return f"{100 * level:g}".replace(".", "")


def funnel_limits(n: ArrayLike, p: float, levels: Sequence[float] = FUNNEL_LEVELS) -> pd.DataFrame:
    """Exact binomial funnel-plot control limits for a proportion, interpolated.

    Parameters
    ----------
    n : int or array-like of int
        Numbers of patients (>= 1).
    p : float
        The target proportion (the centre line), strictly between 0 and 1.
    levels : sequence of float, default (0.95, 0.998)
        Two-sided coverage of each pair of limits.

    Returns
    -------
    pandas.DataFrame
        ``n`` and, per level, ``lower<digits>`` and ``upper<digits>`` (``lower95``,
        ``upper95``, ``lower998``, ``upper998`` by default), as proportions.

    Notes
    -----
    For ``Y ~ Binomial(n, p)`` and a tail probability ``q`` (``(1 - level) / 2`` for the
    lower limit, ``(1 + level) / 2`` for the upper), ``r_q`` is the q-quantile, the smallest
    ``r`` with ``F(r) = P(Y <= r) >= q``. Because ``Y`` is discrete, the limit is
    interpolated between ``r_q - 1`` and ``r_q`` (Spiegelhalter 2005, appendix A.1.1)::

        alpha = (F(r_q) - q) / (F(r_q) - F(r_q - 1))
        limit = (r_q - alpha) / n

    so that the limits are smooth in ``n`` rather than steps. ``(r_q - alpha)`` is the
    q-quantile of ``Y - U`` with ``U ~ Uniform(0, 1)`` (each count's probability spread
    evenly over ``(r - 1, r]``), so the limits are centred near ``p - 1 / (2n)`` rather
    than ``p``. The lower limit is clipped
    at 0 (for ``r_q = 0`` the formula gives ``-alpha / n``). This is the "exact" method of
    the R package funnelR (``fundata(method = "exact")``); PHEindicatormethods uses a
    Wilson-score approximation for proportions instead.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
    2005;24:1185-1202, appendix A.1.1.
    Kumar M. funnelR: Funnel Plots for Proportion Data. R package 0.1.0; 2018.

    Examples
    --------
    >>> funnel_limits([20, 200], 0.5)[["lower95", "upper95"]].round(4).to_dict("records")
    [{'lower95': 0.2558, 'upper95': 0.6942}, {'lower95': 0.4281, 'upper95': 0.5669}]
    """
    from scipy import stats as sps

    sizes = np.atleast_1d(np.asarray(n, dtype=np.float64))
    if not (math.isfinite(p) and 0.0 < p < 1.0):
        raise ValueError(f"`p` must lie strictly between 0 and 1; got {p}.")
    if (~np.isfinite(sizes)).any() or (sizes < 1).any() or (sizes != np.round(sizes)).any():
        raise ValueError("`n` must hold whole numbers of patients, each at least 1.")
    out: dict[str, Any] = {"n": sizes.astype(np.int64)}
    for level in levels:
        if not 0.0 < level < 1.0:
            raise ValueError(f"Each level must lie strictly between 0 and 1; got {level}.")
        name = _level_name(level)
        for side, q in (("lower", (1.0 - level) / 2.0), ("upper", (1.0 + level) / 2.0)):
            r = sps.binom.ppf(q, sizes, p)
            at = sps.binom.cdf(r, sizes, p)
            below = sps.binom.cdf(r - 1.0, sizes, p)
            alpha = (at - q) / (at - below)
            out[f"{side}{name}"] = np.clip((r - alpha) / sizes, 0.0, 1.0)
    return pd.DataFrame(out)


@dataclass(frozen=True)
class FunnelTable:
    """Each unit's ITT response rate, crude and case-mix adjusted, against funnel limits.

    Attributes
    ----------
    by : {"site", "clinician"}
    instrument : str
    clinic_rate : float
        Responders / patients over every patient with a known unit: the centre line.
    units : pandas.DataFrame
        Columns of :data:`UNIT_COLUMNS`, one row per unit, sorted by unit.
    n_patients : int
        Intention-to-treat patients with a known unit.
    n_unknown_unit : int
        Intention-to-treat patients whose unit is not recorded (left out).
    n_adjusted : int
        Patients with every covariate, on whom the expected counts are based.
    covariates : tuple of str
        Covariates of the case-mix model.
    adjustment : str or None
        Why the case-mix adjustment could not be made (None when it was).
    notes : tuple of str
        Covariates left out and why.
    """

    by: str
    instrument: str
    clinic_rate: float
    units: pd.DataFrame
    n_patients: int
    n_unknown_unit: int
    n_adjusted: int
    covariates: tuple[str, ...]
    adjustment: str | None
    notes: tuple[str, ...]

    @property
    def outside(self) -> pd.DataFrame:
        """Units outside the 99.8% limits."""
        return self.units[self.units["outside"] != ""].reset_index(drop=True)


def _expected(
    frame: pd.DataFrame,
) -> tuple[pd.Series, tuple[str, ...], str | None, tuple[str, ...], int]:
    """Each patient's predicted response from the case-mix model (NaN without covariates)."""
    notes = []
    covariates = []
    for name in COVARIATES:
        if frame[name].notna().any():
            covariates.append(name)
        else:
            notes.append(f"{COVARIATE_LABELS[name]} is not recorded for any patient: left out")
    complete = frame.dropna(subset=covariates)
    kept = []
    for name in covariates:
        if complete[name].nunique() < 2:
            notes.append(f"{COVARIATE_LABELS[name]} takes a single value: left out")
        else:
            kept.append(name)
    predicted = pd.Series(np.nan, index=frame.index)
    if not kept:
        reason = (
            "no case-mix covariate varies among the patients."
            if covariates
            else "no case-mix covariate is recorded."
        )
        return predicted, (), reason, tuple(notes), len(complete)
    numeric = [c for c in kept if c not in CATEGORICAL_COVARIATES]
    categorical = [c for c in kept if c in CATEGORICAL_COVARIATES]
    try:
        fit = fit_logistic(complete, "response", numeric, categorical)
    except NotMeasurableError as exc:
        return predicted, tuple(kept), str(exc), tuple(notes), len(complete)
    with one_blas_thread():
        predicted.loc[complete.index] = fit.predict(complete)
    return predicted, tuple(kept), None, tuple(notes), len(complete)


def funnel_table(
    frame: pd.DataFrame,
    by: str,
    *,
    instrument: str = PHQ9.name,
    levels: Sequence[float] = FUNNEL_LEVELS,
) -> FunnelTable:
    """Units' ITT response rates, crude and case-mix adjusted, with funnel-plot limits.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`katoutcomes.comparisons.comparison_frame` (one row per
        intention-to-treat patient of the instrument). Not modified.
    by : {"site", "clinician"}
        ``site``: the patient's most frequent site; ``clinician``: the clinician of the
        patient's first dose.
    instrument : str, default "PHQ-9"
        Recorded in the result.
    levels : sequence of float, default (0.95, 0.998)
        Limits drawn; the last one decides ``outside``.

    Returns
    -------
    FunnelTable

    Raises
    ------
    NotMeasurableError
        When no patient has a recorded unit, or every patient or none responded (no
        centre line with limits).

    Notes
    -----
    Centre line: the clinic rate ``p = sum(O) / sum(n)`` over patients with a known unit.
    Crude rate ``O_u / n_u``. Limits: :func:`funnel_limits` at ``n_u`` around ``p``.

    Case-mix adjustment by indirect standardisation: a logistic model of response on the
    covariates alone (baseline score, prior failures, diagnosis, age band, sex — those
    recorded), fitted to every patient with complete covariates, predicts each patient's
    probability ``e_i``; ``expected_u = sum_i e_i`` over the unit's patients with complete
    covariates, and ``adjusted_rate_u = O*_u / expected_u * p`` with ``O*_u`` the
    responders among those same patients (observed and expected over the same patients).
    The adjusted rate is read against the same limits at ``n_u``.

    ``outside`` is ``"above"`` or ``"below"`` when the rate lies beyond the limits of the
    last level (99.8%): the adjusted rate where it exists, else the crude rate; ``""``
    otherwise.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
    2005;24:1185-1202.

    Examples
    --------
    >>> from katoutcomes.comparisons import comparison_frame
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.outcomes import patient_outcomes
    >>> data = Dataset.demo(patients=200)
    >>> table = funnel_table(comparison_frame(patient_outcomes(data), data), "site")
    >>> table.units.columns.tolist()[:4]
    ['unit', 'n', 'responders', 'rate']
    """
    if by not in FUNNEL_UNITS:
        raise ValueError(f"Unknown unit {by!r}; use one of {', '.join(FUNNEL_UNITS)}.")
    known = frame[frame[by].notna()]
    if known.empty:
        what = "site" if by == "site" else "clinician of the first dose"
        raise NotMeasurableError(f"no patient has a recorded {what}.")
    predicted, covariates, adjustment, notes, n_adjusted = _expected(frame)
    rows = pd.DataFrame(
        {
            "unit": known[by].astype(str).to_numpy(),
            "response": known["response"].to_numpy(dtype=np.float64),
            "expected": predicted.loc[known.index].to_numpy(),
        }
    )
    rows["with_expected"] = rows["expected"].notna().astype(np.float64)
    rows["observed_adjusted"] = rows["response"] * rows["with_expected"]
    grouped = rows.groupby("unit", sort=True).agg(
        n=("response", "size"),
        responders=("response", "sum"),
        expected=("expected", "sum"),
        with_expected=("with_expected", "sum"),
        observed_adjusted=("observed_adjusted", "sum"),
    )
    total_n = int(grouped["n"].sum())
    total_k = int(grouped["responders"].sum())
    if total_k in (0, total_n):
        raise NotMeasurableError(
            f"{'all' if total_k else 'none'} of the {total_n:,} patients responded: the "
            "funnel limits around a rate of "
            f"{'1' if total_k else '0'} are degenerate."
        )
    clinic_rate = total_k / total_n
    n = grouped["n"].to_numpy(dtype=np.int64)
    rate = grouped["responders"].to_numpy() / n
    has_expected = grouped["with_expected"].to_numpy() > 0
    expected = np.where(has_expected, grouped["expected"].to_numpy(), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        adjusted = grouped["observed_adjusted"].to_numpy() / expected * clinic_rate
    limits = funnel_limits(n, clinic_rate, levels)
    last = _level_name(levels[-1])
    judged = np.where(np.isfinite(adjusted), adjusted, rate)
    outside = np.where(
        judged > limits[f"upper{last}"].to_numpy(),
        "above",
        np.where(judged < limits[f"lower{last}"].to_numpy(), "below", ""),
    )
    units = pd.DataFrame(
        {
            "unit": pd.array(grouped.index.astype(str), dtype="str"),
            "n": n,
            "responders": grouped["responders"].to_numpy(dtype=np.int64),
            "rate": rate,
            "expected": expected,
            "adjusted_rate": adjusted,
            **{c: limits[c].to_numpy() for c in limits.columns if c != "n"},
            "outside": pd.array(outside, dtype="str"),
        }
    )
    return FunnelTable(
        by=by,
        instrument=instrument,
        clinic_rate=clinic_rate,
        units=units,
        n_patients=total_n,
        n_unknown_unit=int(len(frame) - len(known)),
        n_adjusted=n_adjusted,
        covariates=covariates,
        adjustment=adjustment,
        notes=notes,
    )
