"""Time to event: Kaplan–Meier curves of response, early improvement and relapse.

:func:`time_to_event` gives the curves per instrument for the intention-to-treat
population, :func:`time_to_event_medians` their medians read as R does, and
:func:`survival_at` a point of a curve with its interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from katoutcomes.cohort.rates import _instrument_order, in_population
from katoutcomes.stats import (
    kaplan_meier,
    km_median,
    no_event_lower_limit,
)

__all__ = ["EVENTS", "SurvivalPoint", "survival_at", "time_to_event", "time_to_event_medians"]


#: Time-to-event analyses: event name -> (duration column, event-observed column).
EVENTS: Final = {
    "response": ("first_response_day", "response_observed"),
    "early_improvement": ("first_early_improvement_day", "early_improvement_observed"),
    "relapse": ("days_to_relapse", "relapse"),
}


# --------------------------------------------------------------------------------------
# Time to event
# --------------------------------------------------------------------------------------


def _event_subjects(outcomes: pd.DataFrame, event: str) -> pd.DataFrame:
    """``instrument, duration, observed`` for the patients in an event's curve."""
    if event not in EVENTS:
        raise ValueError(f"Unknown event {event!r}; use one of {', '.join(EVENTS)}.")
    duration_col, observed_col = EVENTS[event]
    mask = in_population(outcomes, "itt").to_numpy()
    if event == "relapse":
        # Response duration: only patients with a first response are at risk of relapse.
        mask = mask & outcomes["response_observed"].astype("boolean").fillna(False).to_numpy(
            dtype=bool
        )
    duration = outcomes[duration_col].to_numpy(dtype=np.float64, na_value=np.nan)
    observed = outcomes[observed_col].astype("boolean")
    mask = mask & ~np.isnan(duration) & observed.notna().to_numpy()
    return pd.DataFrame(
        {
            "instrument": outcomes["instrument"].to_numpy()[mask],
            "duration": duration[mask],
            "observed": observed.to_numpy(dtype=bool, na_value=False)[mask],
        }
    )


def time_to_event(
    outcomes: pd.DataFrame, event: str = "response", *, alpha: float = 0.05
) -> pd.DataFrame:
    """Kaplan–Meier curves per instrument: time to response, early improvement or relapse.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes`. Not modified.
    event : {"response", "early_improvement", "relapse"}, default "response"
        ``"response"`` and ``"early_improvement"``: days from the first dose to the first
        assessment meeting the criterion (``first_response_day``,
        ``first_early_improvement_day``), censored at the last assessment. ``"relapse"``
        (response duration): days from the first response to a confirmed relapse
        (``days_to_relapse``), censored at the last assessment; only patients with a
        first response are in the curve.
    alpha : float, default 0.05
        1 - confidence level of the pointwise intervals.

    Returns
    -------
    pandas.DataFrame
        Columns ``instrument`` and those of :func:`katoutcomes.stats.kaplan_meier`
        (``time, at_risk, events, survival, std_err, ci_low, ci_high``): one block of
        rows per instrument with at least one patient in the curve, PHQ-9 first. The
        ``at_risk`` of an instrument's first row is the number of patients in its curve.

    Notes
    -----
    Patients are the intention-to-treat population (eligible patients who started
    treatment; all eligible patients without a treatments table), because time is
    counted from the first dose. A patient without any assessment after it has no
    censoring time and is left out. ``S(t) = prod_{t_j <= t} (1 - d_j / n_j)`` with
    Greenwood's variance and log-scale intervals ``exp(log S -/+ z sqrt(V))``; read a
    point of the curve with :func:`survival_at`.

    References
    ----------
    Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-481. Greenwood M. Reports on Public
    Health and Medical Subjects 1926;33:1-26.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.outcomes import patient_outcomes
    >>> curve = time_to_event(patient_outcomes(Dataset.demo(patients=60)), "response")
    >>> curve.columns.tolist()[:4]
    ['instrument', 'time', 'at_risk', 'events']
    """
    subjects = _event_subjects(outcomes, event)
    pieces = []
    for name in _instrument_order(subjects["instrument"]):
        rows = subjects[subjects["instrument"] == name]
        curve = kaplan_meier(rows["duration"], rows["observed"], alpha=alpha)
        curve.insert(0, "instrument", name)
        pieces.append(curve)
    if not pieces:
        empty = kaplan_meier([], [], alpha=alpha)
        empty.insert(0, "instrument", pd.Series(dtype="str"))
        return empty
    out = pd.concat(pieces, ignore_index=True)
    out["instrument"] = out["instrument"].astype("str")
    return out


def time_to_event_medians(
    outcomes: pd.DataFrame, event: str = "response", *, alpha: float = 0.05
) -> pd.DataFrame:
    """Median time to an event per instrument, with its interval read as R does.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes`.
    event : {"response", "early_improvement", "relapse"}, default "response"
        As for :func:`time_to_event`.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        Columns ``instrument, n, events, median, ci_low, ci_high``; NaN where the curve (or
        a band) never reaches 0.5.

    Notes
    -----
    :func:`katoutcomes.stats.km_median`: the first time ``S(t) <= 0.5``; the limits are
    where the log-scale bands cross 0.5 (Brookmeyer & Crowley 1982).

    References
    ----------
    Brookmeyer R, Crowley J. Biometrics 1982;38:29-41.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.outcomes import patient_outcomes
    >>> medians = time_to_event_medians(patient_outcomes(Dataset.demo(patients=60)))
    >>> medians.columns.tolist()
    ['instrument', 'n', 'events', 'median', 'ci_low', 'ci_high']
    """
    subjects = _event_subjects(outcomes, event)
    rows = []
    for name in _instrument_order(subjects["instrument"]):
        part = subjects[subjects["instrument"] == name]
        median = km_median(part["duration"], part["observed"], alpha=alpha)
        rows.append(
            {
                "instrument": name,
                "n": len(part),
                "events": int(part["observed"].sum()),
                "median": np.nan if median.median is None else median.median,
                "ci_low": np.nan if median.ci_low is None else median.ci_low,
                "ci_high": np.nan if median.ci_high is None else median.ci_high,
            }
        )
    columns = ["instrument", "n", "events", "median", "ci_low", "ci_high"]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype(
        {"instrument": "str", "n": np.int64, "events": np.int64, "median": np.float64}
    )


@dataclass(frozen=True, slots=True)
class SurvivalPoint:
    """A Kaplan–Meier curve read at one time.

    Attributes
    ----------
    time : the time asked for.
    survival, std_err, ci_low, ci_high : ``S(time)``, its Greenwood SE and log-scale
        interval; NaN when ``time`` is beyond the last follow-up time (not estimated),
        and the SE and interval NaN where ``S = 0``.
    n : patients in the curve.
    events : events observed up to and including ``time``.
    last_time : the last event or censoring time of the curve (NaN for an empty curve).
    """

    time: float
    survival: float
    std_err: float
    ci_low: float
    ci_high: float
    n: int
    events: int
    last_time: float

    @property
    def estimated(self) -> bool:
        """False when ``time`` lies beyond the last follow-up (or the curve is empty)."""
        return not np.isnan(self.survival)


def survival_at(
    curve: pd.DataFrame, time: float, *, instrument: str | None = None, alpha: float = 0.05
) -> SurvivalPoint:
    """Read ``S(time)`` and its interval from a Kaplan–Meier curve.

    Parameters
    ----------
    curve : pandas.DataFrame
        Output of :func:`katoutcomes.stats.kaplan_meier`, or of :func:`time_to_event`
        (then ``instrument`` picks the curve; it may be omitted when only one instrument
        is present).
    time : float
        Time at which to read the curve, ``>= 0``.
    instrument : str, optional
        Instrument whose curve to read.
    alpha : float, default 0.05
        1 - confidence level the curve was computed with; used only before the curve's
        first time, where no row holds the interval.

    Returns
    -------
    SurvivalPoint
        The value of the step function at the last curve time ``<= time``; before the
        first time ``S = 1``, SE 0 and the exact interval for 0 events among all ``n``
        patients of the curve, ``[(alpha/2)^(1/n), 1]`` (everyone is still followed
        then); NaN survival and interval when
        ``time`` is beyond the last follow-up time, where the curve is not estimated. A
        curve that ends at ``S = 0`` (everyone left at risk had the event) stays at 0
        after its last time; its log-scale interval is not defined there (NaN, as R's
        ``survfit`` gives NA).

    Notes
    -----
    For the probability of the event by ``time``, ``1 - S``, the interval is
    ``(1 - ci_high, 1 - ci_low)``. Where no event has happened by ``time`` the interval is
    the exact one for 0 events among ``n_t`` patients, ``[(alpha/2)^(1/n_t), 1]``
    (:func:`katoutcomes.stats.kaplan_meier`, methods §6.4), with ``n_t`` the ``at_risk`` of
    the last curve time ``<= time``: 35 patients still followed at 84 days give
    ``0.025^(1/35) = 0.89997``, not the point ``[1, 1]`` of the log-scale interval.

    Examples
    --------
    >>> from katoutcomes.stats import kaplan_meier
    >>> point = survival_at(kaplan_meier([9, 13, 13, 18, 23], [1, 1, 0, 1, 0]), 15)
    >>> round(point.survival, 4), point.events
    (0.6, 2)
    >>> survival_at(kaplan_meier([9, 13], [1, 0]), 20).estimated
    False
    """
    if not np.isfinite(time) or time < 0:
        raise ValueError(f"`time` must be a finite number >= 0; got {time}.")
    if "instrument" in curve.columns:
        present = _instrument_order(curve["instrument"])
        if instrument is None:
            if len(present) > 1:
                raise ValueError(
                    f"The curve holds several instruments ({', '.join(present)}); "
                    "pass instrument=... to pick one."
                )
            instrument = present[0] if present else None
        curve = curve[curve["instrument"] == instrument]
    times = curve["time"].to_numpy(dtype=np.float64)
    if times.size == 0:
        return SurvivalPoint(time, np.nan, np.nan, np.nan, np.nan, 0, 0, np.nan)
    n = int(curve["at_risk"].iloc[0])
    last_time = float(times[-1])
    position = int(np.searchsorted(times, time, side="right")) - 1
    events = int(curve["events"].to_numpy()[: position + 1].sum())
    # A curve whose last time is an event for everyone still at risk ends at S = 0 and
    # stays there: that is an estimate at any later time, not a lack of follow-up.
    ended_at_zero = float(curve["survival"].iloc[-1]) == 0.0
    if time > last_time and not ended_at_zero:
        return SurvivalPoint(time, np.nan, np.nan, np.nan, np.nan, n, events, last_time)
    if position < 0:
        low = float(no_event_lower_limit(n, alpha=alpha)[0])
        return SurvivalPoint(time, 1.0, 0.0, low, 1.0, n, 0, last_time)
    row = curve.iloc[position]
    return SurvivalPoint(
        time=time,
        survival=float(row["survival"]),
        std_err=float(row["std_err"]),
        ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]),
        n=n,
        events=events,
        last_time=last_time,
    )
