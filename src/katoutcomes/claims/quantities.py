"""The quantities a claim can name, each a function of the evaluation context.

Every quantity returns a :class:`~katoutcomes.claims.definitions.QuantityResult`: the
estimate, its 95% interval, the number of patients it counts and the result in plain
words. :data:`QUANTITIES` lists them with their parameters and defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from katoutcomes.claims.context import _Context, _positions_in, _share_result
from katoutcomes.claims.definitions import _ALPHA, _KG_PER_LB, QuantityResult, QuantitySpec
from katoutcomes.claims.formatting import _count, _days, _interval, _pct, _plain, _points, _value
from katoutcomes.cohort import (
    EVENTS,
    PSYCHOTHERAPY_MIN_SHARE,
    RATE_OUTCOMES,
    TRD_MIN_FAILURES,
    UNKNOWN_LEVEL,
    ClusteredShare,
    NotMeasurableError,
    cluster_bootstrap_median,
    clustered_share,
    median_ci,
    subgroup_rates,
    survival_at,
    time_to_event,
)
from katoutcomes.instruments import INSTRUMENTS, PHQ9
from katoutcomes.outcomes import meets_fraction

__all__ = ["QUANTITIES", "describe_quantities"]


# --------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------

_OUTCOME_VERBS: Final = {
    "response": "responded",
    "remission": "remitted",
    "reliable_improvement": "reliably improved",
    "reliable_deterioration": "reliably deteriorated",
    "recovery": "recovered",
    "reliable_recovery": "reliably recovered",
}


def _outcome_rate(
    ctx: _Context, min_n: int, *, instrument: str, outcome: str, population: str
) -> QuantityResult:
    """Share of the population achieving ``outcome`` at endpoint; n = the population.

    Intention to treat by default (eligible patients who started treatment; a missing
    endpoint counts as not achieved), or completers. Wilson interval.
    """
    rows = ctx.members(instrument, population)
    k = int(rows[outcome].astype("boolean").fillna(False).sum())
    n = len(rows)
    window = _days(ctx.settings.endpoint_days)
    what = f"{_OUTCOME_VERBS[outcome]} on the {instrument} at endpoint (within {window})"
    if population == "itt":
        what += "; a missing endpoint counts as not achieved"
    return _share_result(
        k,
        n,
        ctx.who(instrument, population),
        what,
        higher_is_better=outcome != "reliable_deterioration",
    )


def _response_rate(
    ctx: _Context, min_n: int, *, instrument: str, population: str
) -> QuantityResult:
    """:func:`_outcome_rate` with ``outcome="response"`` (methods §10.6, "a 50% response rate")."""
    return _outcome_rate(
        ctx, min_n, instrument=instrument, outcome="response", population=population
    )


def _early_change_share(
    ctx: _Context,
    min_n: int,
    *,
    instrument: str,
    window: float,
    fallback_window: float,
) -> QuantityResult:
    """Share with an early improvement at an assessment in ``(0, window]`` days.

    Early improvement is a fall of at least the ``early_improvement`` setting (20%, methods
    §4.11), the same test as ``first_early_improvement_day``. Among intention-to-treat
    patients with a valid assessment of the instrument with ``0 < t <= window`` (time
    since the first dose): the share with at least one such assessment at or below
    ``(1 - early_improvement) * baseline``. When fewer than ``min_n`` were
    assessed then, ``(0, fallback_window]`` is used and the note says so. n = patients
    assessed in the window used. Needs a treatments table (time since the first dose).
    """
    if not ctx.dataset.has_treatments:
        # Time is counted from the first dose; without doses "within hours" has no anchor.
        raise NotMeasurableError(
            "There is no treatments table, so the time since the first dose is unknown."
        )
    members = ctx.members(instrument)
    a = ctx.dataset.assessments
    total = a["total"].to_numpy(dtype=np.float64, na_value=np.nan)
    t = a["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    of_instrument = (a["instrument"] == instrument).to_numpy(dtype=bool, na_value=False)
    valid = ~np.isnan(total) & ~np.isnan(t) & of_instrument & (t > 0)
    # The member (one outcome row per patient) each valid assessment belongs to, if any.
    member = _positions_in(a["patient_id"][valid], members["patient_id"])
    belongs = member >= 0
    member, t, total = member[belongs], t[valid][belongs], total[valid][belongs]
    baseline = members["baseline"].to_numpy(dtype=np.float64, na_value=np.nan)
    threshold = ctx.settings.early_improvement
    improved = meets_fraction(total, baseline[member], threshold)

    def count(days: float) -> tuple[int, int]:
        inside = t <= days
        assessed = np.bincount(member[inside], minlength=len(members))
        hits = np.bincount(member[inside & improved], minlength=len(members))
        return int((hits > 0).sum()), int((assessed > 0).sum())

    k, n = count(window)
    prefix = ""
    used = window
    if n < min_n and fallback_window > window:
        prefix = (
            f"only {_count(n, 'patients')} (fewer than {min_n}) had a {instrument} within "
            f"{_days(window)} of their first dose, so the window is widened to "
            f"{_days(fallback_window)}: "
        )
        used = fallback_window
        k, n = count(fallback_window)
    who = ctx.who(instrument)
    what = (
        f"with a {instrument} within {_days(used)} of their first dose had improved by at "
        f"least {_value(threshold, 'share')} from baseline at such an assessment"
    )
    result = _share_result(k, n, who, what, higher_is_better=True)
    return QuantityResult(
        result.estimate,
        result.ci_low,
        result.ci_high,
        n,
        prefix + result.statement,
        True,
    )


_EVENT_WORDS: Final = {
    "response": ("response", "the first dose", "patients who started treatment"),
    "early_improvement": (
        "early improvement",
        "the first dose",
        "patients who started treatment",
    ),
    "relapse": ("relapse", "a first response", "patients who responded"),
}


def _km_point(
    ctx: _Context, *, event: str, instrument: str, time: float, complement: bool
) -> QuantityResult:
    """``1 - S(time)`` (``complement``) or ``S(time)`` of a :func:`time_to_event` curve.

    n = patients in the curve. The interval of ``1 - S`` is ``1 -`` the interval of ``S``.
    A time beyond the last follow-up is not estimated (``not_estimated`` says why).
    """
    ctx.require_instrument(instrument)
    curve = time_to_event(ctx.outcomes, event)
    curve = curve[curve["instrument"] == instrument]
    point = survival_at(curve, time)
    name, origin, group = _EVENT_WORDS[event]
    if complement:
        estimate, low, high = 1.0 - point.survival, 1.0 - point.ci_high, 1.0 - point.ci_low
        label = f"Kaplan–Meier probability of {name} within {_days(time)} of {origin}"
    else:
        estimate, low, high = point.survival, point.ci_low, point.ci_high
        label = f"Kaplan–Meier probability of no {name} {_days(time)} after {origin}"
    # A relapse is bad news; a response (or early improvement) good news.
    good_event = event != "relapse"
    higher_is_better = good_event if complement else not good_event
    events_word = "relapses" if event == "relapse" else f"{name}s"
    if point.n == 0:
        return QuantityResult(
            np.nan,
            np.nan,
            np.nan,
            0,
            f"{label}: no {group} in the curve",
            higher_is_better,
        )
    if not point.estimated:
        return QuantityResult(
            np.nan,
            np.nan,
            np.nan,
            point.n,
            f"{label}: not estimated from {_count(point.n, group)}",
            higher_is_better,
            not_estimated=(
                f"the longest follow-up after {origin} is {_days(point.last_time)}, short of "
                f"{_days(time)}, so the curve does not reach that time"
            ),
        )
    if point.survival == 0.0:
        statement = (
            f"{label}: {_pct(estimate)}, from {_count(point.n, group)} ({instrument}): every "
            f"one had a {name} within {_days(point.last_time)} of {origin}, where the curve "
            "reaches 0 and its log-scale interval is not defined"
        )
    else:
        statement = (
            f"{label}: {_pct(estimate)} ({_interval(low, high, 'share')}), from "
            f"{_count(point.n, group)} ({instrument}; {point.events} {events_word} by then)"
        )
    return QuantityResult(estimate, low, high, point.n, statement, higher_is_better)


def _event_probability(
    ctx: _Context, min_n: int, *, event: str, instrument: str, time: float
) -> QuantityResult:
    """Kaplan–Meier probability of ``event`` by ``time`` days, ``1 - S(time)``."""
    return _km_point(ctx, event=event, instrument=instrument, time=time, complement=True)


def _event_free_probability(
    ctx: _Context, min_n: int, *, event: str, instrument: str, time: float
) -> QuantityResult:
    """Kaplan–Meier probability of no ``event`` by ``time`` days, ``S(time)``."""
    return _km_point(ctx, event=event, instrument=instrument, time=time, complement=False)


def _nth_dose_within(
    ctx: _Context, min_n: int, *, doses: int, days: float, instrument: str, population: str
) -> QuantityResult:
    """Share of treated patients whose dose number ``doses`` is within ``days`` of the first.

    Patients with fewer doses count as not. n = treated patients of the population (the
    safety population by default, every patient with a recorded dose; or intention to
    treat). Wilson interval.
    """
    ctx.require_treatments("the dose dates")
    given = ctx.doses(instrument, population)
    who = given.who
    t = given.rows["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    dated = ~np.isnan(t)
    t = t[dated]
    # Per patient, doses with a date in time order: the first is the earliest.
    starts = given.starts(dated)
    counts = np.diff(np.r_[starts, t.size])
    patient = np.repeat(np.arange(starts.size), counts)
    rank = np.arange(t.size) - starts[patient]
    on_time = (rank == doses - 1) & (t - t[starts][patient] <= days)
    k = int(on_time.sum())
    n = int(starts.size)
    too_few = int((counts < doses).sum())
    what = (
        f"had their dose number {doses} within {_days(days)} of the first"
        f" ({too_few:,} had fewer than {doses} doses)"
    )
    return _share_result(k, n, who, what, higher_is_better=None)


def _adverse_event_share(
    ctx: _Context, min_n: int, *, instrument: str, population: str
) -> QuantityResult:
    """Share of treated patients with at least one non-blank ``adverse_events`` value.

    A blank is "none recorded" (methods §2.1). n = treated patients. Wilson interval.
    Not measurable when no treatment row records an adverse event: an absent or wholly
    blank column cannot tell "none occurred" from "not recorded", and would otherwise
    support "less than 1%" by silence.
    """
    treatments = ctx.require_treatments("adverse_events")
    recorded = treatments["adverse_events"].astype("str").str.strip().fillna("") != ""
    if not recorded.any():
        raise NotMeasurableError(
            "no treatment row records an adverse event (the adverse_events column is absent "
            "or blank throughout), so 'none occurred' cannot be told from 'not recorded'."
        )
    given = ctx.doses(instrument, population)
    events = given.rows["adverse_events"].astype("str")
    any_event = (events.notna() & (events.str.strip() != "")).to_numpy(dtype=bool)
    starts = given.starts()
    # Rows are grouped by patient: a patient with any event has a positive sum.
    per_patient = np.add.reduceat(any_event.astype(np.int64), starts) if starts.size else starts
    what = "had at least one recorded adverse event (a blank counts as none recorded)"
    return _share_result(
        int((per_patient > 0).sum()), int(starts.size), given.who, what, higher_is_better=False
    )


def _first_dose_mg_per_kg(
    ctx: _Context, min_n: int, *, instrument: str, population: str, low_mg: float, high_mg: float
) -> QuantityResult:
    """Median first dose in mg/kg, with a binomial order-statistic interval.

    Per patient, the ``dose_mg`` of their first treatment divided by their first recorded
    ``weight_kg``. Patients whose first treatment has no ``dose_mg`` (a later dose is not
    their first) and patients without any weight are left out, and counted in the note.
    n = patients with a first dose in mg/kg. The note adds the share of all their doses
    within ``low_mg``-``high_mg``.
    """
    treatments = ctx.require_treatments("dose_mg and weight_kg")
    if treatments["dose_mg"].notna().sum() == 0:
        raise NotMeasurableError("no treatment row has a dose_mg value.")
    if treatments["weight_kg"].notna().sum() == 0:
        raise NotMeasurableError(
            "no treatment row has a weight_kg value, so doses cannot be expressed in mg/kg."
        )
    given = ctx.doses(instrument, population)
    who = given.who
    dose_mg = given.rows["dose_mg"].to_numpy(dtype=np.float64, na_value=np.nan)
    weight_kg = given.rows["weight_kg"].to_numpy(dtype=np.float64, na_value=np.nan)
    # Rows are in time order within each patient: the first row is the first dose.
    starts = given.starts()
    first_dose = dose_mg[starts]
    no_first_mg = int(np.isnan(first_dose).sum())
    with_first_mg = int(starts.size) - no_first_mg
    if no_first_mg and with_first_mg == 0:
        raise NotMeasurableError(
            f"the first treatment of none of the {_count(no_first_mg, who)} has a dose_mg "
            "value, so no first dose is known."
        )
    # Each patient's first recorded weight: the first weighed row of the patient.
    patient = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, dose_mg.size]))
    weighed = np.flatnonzero(~np.isnan(weight_kg))
    owner = patient[weighed]
    first_weighed = weighed[np.r_[True, owner[1:] != owner[:-1]]] if weighed.size else weighed
    first_weight = np.full(starts.size, np.nan)
    first_weight[patient[first_weighed]] = weight_kg[first_weighed]
    per_kg = first_dose / first_weight
    result = median_ci(per_kg[~np.isnan(per_kg)], alpha=_ALPHA)
    left_out = (
        f" (left out: {_count(no_first_mg, 'patients')} whose first dose has no dose_mg)"
        if no_first_mg
        else ""
    )
    if result.n == 0:
        reason = f"none of the {who} has a recorded weight" if with_first_mg else f"no {who}"
        statement = f"no first dose in mg/kg: {reason}{left_out}"
    else:
        statement = (
            f"median first dose {result.median:.3f} mg/kg "
            f"({_interval(result.ci_low, result.ci_high, 'mg/kg')}) "
            f"over {_count(result.n, who)} with a recorded weight{left_out}"
        )
    doses = dose_mg[~np.isnan(dose_mg)]
    if doses.size:
        in_range = int(((doses >= low_mg) & (doses <= high_mg)).sum())
        statement += (
            f"; {_pct(in_range / doses.size)} of {_count(int(doses.size), 'doses')} given to "
            f"them were within {_plain(low_mg)}–{_plain(high_mg)} mg"
        )
    statement += f" (0.23 mg/lb = {0.23 / _KG_PER_LB:.3f} mg/kg)"
    return QuantityResult(result.median, result.ci_low, result.ci_high, result.n, statement, None)


def _monitoring_share(
    ctx: _Context, min_n: int, *, minutes: float, instrument: str, population: str
) -> QuantityResult:
    """Share of sessions with ``monitoring_minutes >= minutes``; n = patients.

    Sessions without a recorded time are left out (and counted in the note). ``n`` is the
    number of patients contributing sessions with a recorded time, and ``min_n`` applies
    to them; the note gives the number of sessions. Sessions of one patient are not
    independent, so the interval is :func:`katoutcomes.cohort.clustered_share`'s: the
    ratio estimator ``K / M`` with a patient-level (cluster-robust) variance
    ``G / (G - 1) * sum_i (k_i - p m_i)^2 / M^2`` and a Wilson interval on the effective
    sample size ``M / deff``.
    """
    treatments = ctx.require_treatments("monitoring_minutes")
    if treatments["monitoring_minutes"].notna().sum() == 0:
        raise NotMeasurableError("no treatment row has a monitoring_minutes value.")
    given = ctx.doses(instrument, population)
    who = given.who
    times = given.rows["monitoring_minutes"].to_numpy(dtype=np.float64, na_value=np.nan)
    recorded = ~np.isnan(times)
    # Patient codes number the ids in sorted order, as the patient ids themselves would.
    share = clustered_share(times[recorded] >= minutes, given.codes[recorded], alpha=_ALPHA)
    blank = len(given.rows) - share.n_units
    left_out = f"{_count(blank, 'sessions')} without a recorded time are left out"
    if share.n_units == 0:
        statement = f"no session of {who} has a recorded monitoring time ({left_out})"
    else:
        statement = (
            f"{_pct(share.estimate)} ({_interval(share.ci_low, share.ci_high, 'share')}) of "
            f"{_count(share.n_units, 'sessions')} with a recorded monitoring time, from "
            f"{_count(share.n_clusters, who)}, were monitored for at least "
            f"{_plain(minutes)} minutes ({left_out}); {_clustered_share_words(share)}"
        )
    return QuantityResult(
        share.estimate, share.ci_low, share.ci_high, share.n_clusters, statement, True
    )


def _clustered_share_words(share: ClusteredShare) -> str:
    """How the interval of a share of sessions was computed, for the note."""
    if share.n_clusters < 2:
        return "no interval can allow for clustering with fewer than 2 patients"
    return (
        "the interval counts patients, not sessions, as independent: a patient-level "
        f"(cluster-robust) standard error of {_pct(share.std_err)} and a design effect of "
        f"{share.design_effect:.2f}, giving a Wilson interval on an effective "
        f"{share.effective_n:,.0f} sessions"
    )


def _treatment_resistance_share(
    ctx: _Context,
    min_n: int,
    *,
    diagnosis: str,
    min_failures: int,
    instrument: str,
    population: str,
) -> QuantityResult:
    """Share of ``diagnosis`` patients with ``prior_treatment_failures >= min_failures``.

    Populations: ``"treated"`` (default, methods §10.5): every patient with the diagnosis who
    started treatment (has a recorded dose), whatever their baseline or instrument; every
    patient with the diagnosis when there is no treatments table. ``"itt"``: those in the
    intention-to-treat population of ``instrument``. ``"all"``: every patient with the
    diagnosis in the patients table. n = those patients with a recorded count. Wilson
    interval.
    """
    if not ctx.dataset.has_patients:
        raise NotMeasurableError(
            "there is no patients table (needed for primary_diagnosis and "
            "prior_treatment_failures)."
        )
    patients = ctx.dataset.patients.drop_duplicates("patient_id")
    diagnosed = patients["primary_diagnosis"].astype("str") == diagnosis
    if not diagnosed.any():
        raise NotMeasurableError(
            f"no patient in the patients table has primary_diagnosis {diagnosis}."
        )
    rows = patients.loc[diagnosed.to_numpy()]
    who = f"{diagnosis}-diagnosed patients"
    if population == "itt":
        ids = ctx.members(instrument)["patient_id"]
        rows = rows[_positions_in(rows["patient_id"], ids) >= 0]
        who = f"{diagnosis}-diagnosed {ctx.who(instrument)}"
    elif population == "treated" and ctx.dataset.has_treatments:
        _, _, treated = ctx._dose_order
        rows = rows[_positions_in(rows["patient_id"], treated) >= 0]
        who = f"{diagnosis}-diagnosed patients who started treatment"
    failures = rows["prior_treatment_failures"].to_numpy(dtype=np.float64, na_value=np.nan)
    recorded = failures[~np.isnan(failures)]
    if recorded.size == 0 and len(rows):
        raise NotMeasurableError(
            f"no {diagnosis}-diagnosed patient has a prior_treatment_failures value."
        )
    k = int((recorded >= min_failures).sum())
    unrecorded = len(rows) - len(recorded)
    what = f"had at least {min_failures} prior treatment failures" + (
        f" ({_count(unrecorded, 'patients')} without a recorded count left out)"
        if unrecorded
        else ""
    )
    return _share_result(k, len(recorded), who, what, higher_is_better=None)


_LEVEL_WORDS: Final = {
    "ssri": ("on an SSRI", "not on an SSRI"),
    "psychotherapy": (
        f"with psychotherapy in at least {_value(PSYCHOTHERAPY_MIN_SHARE, 'share')} of their doses",
        "with less psychotherapy",
    ),
    "treatment_resistance": (
        "with at least {m} prior treatment failures",
        "with fewer prior treatment failures",
    ),
}


def _level_words(by: str, level: str, min_failures: int) -> str:
    if by in _LEVEL_WORDS:
        yes, no = _LEVEL_WORDS[by]
        return (yes if level == "yes" else no).format(m=min_failures)
    return f"with {by} {level}"


def _subgroup_table(
    ctx: _Context, *, by: str, instrument: str, outcome: str, population: str
) -> pd.DataFrame:
    ctx.require_instrument(instrument)
    return subgroup_rates(
        ctx.outcomes,
        ctx.dataset,
        by,
        outcome,
        instrument,
        population=population,
        min_failures=TRD_MIN_FAILURES,
        alpha=_ALPHA,
    )


def _response_difference(
    ctx: _Context, min_n: int, *, by: str, instrument: str, outcome: str, population: str
) -> QuantityResult:
    """Outcome rate "yes" minus "no" of a two-level attribute, with the Newcombe interval.

    From :func:`katoutcomes.cohort.subgroup_rates`; n = both groups together (patients
    with an unknown level are left out and counted in the note).
    """
    table = _subgroup_table(
        ctx, by=by, instrument=instrument, outcome=outcome, population=population
    ).set_index("level")
    yes = table.loc["yes"] if "yes" in table.index else None
    no = table.loc["no"] if "no" in table.index else None
    n = int((0 if yes is None else yes["n"]) + (0 if no is None else no["n"]))
    unknown = int(table.loc[UNKNOWN_LEVEL, "n"]) if UNKNOWN_LEVEL in table.index else 0
    verb = _OUTCOME_VERBS[outcome]
    who = ctx.who(instrument, population)

    def part(row: pd.Series | None, level: str) -> str:
        words = _level_words(by, level, TRD_MIN_FAILURES)
        if row is None:
            return f"no patients {words}"
        return f"{_pct(float(row['estimate']))} of {int(row['n']):,} {words} ({int(row['k']):,})"

    left_out = f"; {_count(unknown, 'patients')} with unknown {by} left out" if unknown else ""
    if yes is None or no is None or math.isnan(float(yes["diff"])):
        statement = (
            f"{instrument} {outcome} among {who}: {part(yes, 'yes')} vs {part(no, 'no')}; "
            f"no difference can be estimated{left_out}"
        )
        return QuantityResult(np.nan, np.nan, np.nan, n, statement, True)
    estimate, low, high = float(yes["diff"]), float(yes["diff_ci_low"]), float(yes["diff_ci_high"])
    statement = (
        f"{_pct(float(yes['estimate']))} of {int(yes['n']):,} {who} "
        f"{_level_words(by, 'yes', TRD_MIN_FAILURES)} {verb} on the {instrument} vs "
        f"{_pct(float(no['estimate']))} of {int(no['n']):,} "
        f"{_level_words(by, 'no', TRD_MIN_FAILURES)}: a difference of "
        f"{_points(estimate)} percentage points ({_interval(low, high, 'difference')})"
        f"{left_out}"
    )
    return QuantityResult(estimate, low, high, n, statement, True)


def _subgroup_rate(
    ctx: _Context,
    min_n: int,
    *,
    by: str,
    level: str,
    instrument: str,
    outcome: str,
    population: str,
) -> QuantityResult:
    """Outcome rate within one level of a patient attribute; n = patients at that level."""
    table = _subgroup_table(
        ctx, by=by, instrument=instrument, outcome=outcome, population=population
    ).set_index("level")
    k, n = (
        (int(table.loc[level, "k"]), int(table.loc[level, "n"])) if level in table.index else (0, 0)
    )
    who = f"{ctx.who(instrument, population)} {_level_words(by, level, TRD_MIN_FAILURES)}"
    what = f"{_OUTCOME_VERBS[outcome]} on the {instrument} at endpoint"
    if population == "itt":
        what += " (a missing endpoint counts as not achieved)"
    return _share_result(k, n, who, what, higher_is_better=outcome != "reliable_deterioration")


def _median_session_cost(
    ctx: _Context, min_n: int, *, instrument: str, population: str, low: float, high: float
) -> QuantityResult:
    """Median ``cost_usd`` per session with a patient-level bootstrap interval; n = patients.

    ``n`` is the number of patients contributing sessions with a recorded cost, and
    ``min_n`` applies to them; the note gives the number of sessions. Sessions of one
    patient are not independent, so the interval is the percentile interval of
    :func:`katoutcomes.cohort.cluster_bootstrap_median`: patients resampled with
    replacement (2000 resamples, fixed seed), each with all their sessions. The note adds
    the share of sessions costing ``low``-``high`` and the cost per responder: the
    recorded cost of the population's sessions divided by the number of
    intention-to-treat responders on ``instrument``.
    """
    treatments = ctx.require_treatments("cost_usd")
    if treatments["cost_usd"].notna().sum() == 0:
        raise NotMeasurableError("no treatment row has a cost_usd value.")
    given = ctx.doses(instrument, population)
    who = given.who
    all_costs = given.rows["cost_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
    recorded = ~np.isnan(all_costs)
    costs = all_costs[recorded]
    # Patient codes number the ids in sorted order, as the patient ids themselves would,
    # so the resamples are the same.
    result = cluster_bootstrap_median(costs, given.codes[recorded], alpha=_ALPHA)
    blank = len(given.rows) - costs.size
    in_range = int(((costs >= low) & (costs <= high)).sum())
    responders = int(ctx.members(instrument)["response"].astype("boolean").fillna(False).sum())
    total = float(costs.sum())
    if responders:
        per_responder = (
            f"cost per {instrument} responder ${total / responders:,.0f} (${total:,.0f} recorded "
            f"for these patients / {responders:,} responders, intention to treat)"
        )
    else:
        per_responder = "no responders, so no cost per responder"
    if result.n_clusters < 2:
        method = "no interval can allow for clustering with fewer than 2 patients"
    else:
        method = (
            "the interval counts patients, not sessions, as independent: a bootstrap "
            f"resampling patients with all their sessions ({result.replicates:,} resamples, "
            f"seed {result.seed})"
        )
    statement = (
        f"median cost per session ${result.median:,.0f} "
        f"({_interval(result.ci_low, result.ci_high, 'usd')}) over "
        f"{_count(int(costs.size), 'sessions')} with a recorded cost, from "
        f"{_count(result.n_clusters, who)} ({_count(blank, 'sessions')} without one); "
        f"{method}; "
        f"{_pct(in_range / costs.size) if costs.size else '0%'} cost ${low:,.0f}–${high:,.0f}; "
        f"{per_responder}"
    )
    return QuantityResult(
        result.median, result.ci_low, result.ci_high, result.n_clusters, statement, None
    )


_INSTRUMENT_CHOICES: Final = tuple(INSTRUMENTS)
_RATE_POPULATIONS: Final = ("itt", "completers")
#: Populations of the treatment-delivery and safety quantities: the safety population
#: (every patient with a recorded dose, eligible or not; methods §10.5) or intention to treat.
_DATASET_POPULATIONS: Final = ("safety", "itt")
_TWO_LEVEL_SUBGROUPS: Final = ("ssri", "psychotherapy", "treatment_resistance")

#: Quantities a claim can name, with their parameters and defaults.
QUANTITIES: Final[Mapping[str, QuantitySpec]] = MappingProxyType(
    {
        "response_rate": QuantitySpec(
            _response_rate,
            "share",
            {"instrument": PHQ9.name, "population": "itt"},
            {"instrument": _INSTRUMENT_CHOICES, "population": _RATE_POPULATIONS},
            "Share of eligible patients who responded at endpoint (ITT by default).",
            unit="share",
        ),
        "outcome_rate": QuantitySpec(
            _outcome_rate,
            "share",
            {"instrument": PHQ9.name, "outcome": "response", "population": "itt"},
            {
                "instrument": _INSTRUMENT_CHOICES,
                "outcome": RATE_OUTCOMES,
                "population": _RATE_POPULATIONS,
            },
            "Share of eligible patients achieving an outcome (response, remission, ...).",
            unit="share",
        ),
        "early_change_share": QuantitySpec(
            _early_change_share,
            "share",
            {"instrument": PHQ9.name, "window": 1.0, "fallback_window": 7.0},
            {"instrument": _INSTRUMENT_CHOICES},
            "Share of ITT patients assessed in (0, window] days with a fall of at least the "
            "early_improvement setting then; widened to fallback_window when fewer than "
            "min_n were assessed.",
            unit="share",
            positive=("window", "fallback_window"),
            ordered=(("window", "fallback_window"),),
        ),
        "event_probability": QuantitySpec(
            _event_probability,
            "probability",
            {"event": "relapse", "instrument": PHQ9.name, "time": 84.0},
            {"event": tuple(EVENTS), "instrument": _INSTRUMENT_CHOICES},
            "Kaplan–Meier probability of the event by `time` days (1 - S(time)).",
            unit="share",
        ),
        "event_free_probability": QuantitySpec(
            _event_free_probability,
            "probability",
            {"event": "relapse", "instrument": PHQ9.name, "time": 182.0},
            {"event": tuple(EVENTS), "instrument": _INSTRUMENT_CHOICES},
            "Kaplan–Meier probability of no event by `time` days (S(time)).",
            unit="share",
        ),
        "nth_dose_within": QuantitySpec(
            _nth_dose_within,
            "share",
            {"doses": 6, "days": 21.0, "instrument": PHQ9.name, "population": "safety"},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Share of treated patients whose dose number `doses` came within `days` of the first.",
            unit="share",
            positive=("doses",),
        ),
        "adverse_event_share": QuantitySpec(
            _adverse_event_share,
            "share",
            {"instrument": PHQ9.name, "population": "safety"},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Share of treated patients with any recorded adverse event.",
            unit="share",
        ),
        "first_dose_mg_per_kg": QuantitySpec(
            _first_dose_mg_per_kg,
            "value",
            {"instrument": PHQ9.name, "population": "safety", "low_mg": 50.0, "high_mg": 100.0},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Median first dose in mg/kg; the note gives the share of doses in low_mg-high_mg.",
            unit="mg/kg",
            ordered=(("low_mg", "high_mg"),),
        ),
        "monitoring_share": QuantitySpec(
            _monitoring_share,
            "share",
            {"minutes": 120.0, "instrument": PHQ9.name, "population": "safety"},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Share of sessions (with a recorded time) monitored for at least `minutes`; "
            "n = patients, interval clustered by patient.",
            unit="share",
        ),
        "treatment_resistance_share": QuantitySpec(
            _treatment_resistance_share,
            "share",
            {
                "diagnosis": "GAD",
                "min_failures": TRD_MIN_FAILURES,
                "instrument": PHQ9.name,
                "population": "treated",
            },
            {"instrument": _INSTRUMENT_CHOICES, "population": ("treated", "itt", "all")},
            "Share of patients with a diagnosis who have >= min_failures prior failures.",
            unit="share",
        ),
        "response_difference": QuantitySpec(
            _response_difference,
            "difference",
            {
                "by": "psychotherapy",
                "instrument": PHQ9.name,
                "outcome": "response",
                "population": "itt",
            },
            {
                "by": _TWO_LEVEL_SUBGROUPS,
                "instrument": _INSTRUMENT_CHOICES,
                "outcome": RATE_OUTCOMES,
                "population": _RATE_POPULATIONS,
            },
            "Difference in an outcome rate, 'yes' minus 'no' level of a two-level attribute.",
            unit="difference",
        ),
        "subgroup_rate": QuantitySpec(
            _subgroup_rate,
            "share",
            {
                "by": "treatment_resistance",
                "level": "yes",
                "instrument": PHQ9.name,
                "outcome": "response",
                "population": "itt",
            },
            {
                "instrument": _INSTRUMENT_CHOICES,
                "outcome": RATE_OUTCOMES,
                "population": _RATE_POPULATIONS,
                "by": (
                    "site",
                    "clinician",
                    "route",
                    "diagnosis",
                    *_TWO_LEVEL_SUBGROUPS,
                ),
            },
            "Outcome rate within one level of a patient attribute (see cohort.subgroup_rates).",
            unit="share",
        ),
        "median_session_cost": QuantitySpec(
            _median_session_cost,
            "value",
            {"instrument": PHQ9.name, "population": "safety", "low": 400.0, "high": 800.0},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Median cost per session (USD), patient-level bootstrap interval, n = patients; "
            "the note gives the share in low-high and the cost per responder.",
            unit="usd",
            ordered=(("low", "high"),),
        ),
    }
)


def describe_quantities() -> pd.DataFrame:
    """The quantities a claims file can name, with their parameters and defaults.

    Returns
    -------
    pandas.DataFrame
        Columns ``quantity, kind, unit, params, summary``; ``unit`` is the unit of the
        estimate and of a claimed value (:attr:`QuantitySpec.unit`); ``params`` reads
        ``name=default`` (choices in brackets).

    Examples
    --------
    >>> "response_rate" in describe_quantities()["quantity"].tolist()
    True
    """
    rows = []
    for name, spec in QUANTITIES.items():
        params = []
        for key, default in spec.defaults.items():
            text = f"{key}={_plain(default)}"
            if key in spec.choices:
                text += f" [{' | '.join(str(c) for c in spec.choices[key])}]"
            params.append(text)
        rows.append(
            {
                "quantity": name,
                "kind": spec.kind,
                "unit": spec.unit,
                "params": ", ".join(params),
                "summary": spec.summary,
            }
        )
    return pd.DataFrame(rows, columns=["quantity", "kind", "unit", "params", "summary"])
