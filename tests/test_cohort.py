"""Tests for katoutcomes.cohort: rates, time to event and subgroups on hand-built cohorts.

Cohorts go through the real ingest (``validate_frames`` then ``Dataset.from_result``) and
:func:`patient_outcomes`. Times are study days; every dose is at study day 100 + t, so a
patient's first dose is ``t = 0`` and an assessment at study day 100 + d has ``t = d``.
PHQ-9 caseness is 10 and response a fall of at least 50% (methods §4). Every expected value
is counted or worked out by hand in a comment, or comes from a published table.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from conftest import AML_MAINTAINED_R, DOSE_DAY, Score, build
from katoutcomes.cohort import (
    BOOTSTRAP_REPLICATES,
    BOOTSTRAP_SEED,
    RATE_OUTCOMES,
    NotMeasurableError,
    cluster_bootstrap_median,
    clustered_share,
    in_population,
    median_ci,
    outcome_rates,
    patient_attributes,
    subgroup_rates,
    survival_at,
    time_to_event,
    time_to_event_medians,
)
from katoutcomes.dataset import Dataset
from katoutcomes.ingest import validate_frames
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.stats import kaplan_meier, risk_difference_ci


def visits(patient: str, *points: tuple[float, float], instrument: str = "PHQ-9") -> list[Score]:
    return [(patient, instrument, t, total) for t, total in points]


# --------------------------------------------------------------------------------------
# Outcome rates
# --------------------------------------------------------------------------------------


def rates_cohort(*, with_doses: bool = True) -> Dataset:
    """Twelve PHQ-9 patients and one GAD-7 pair, counted by hand below.

    P001        baseline 20, endpoint 4 at t = 28: response, remission, reliable
                improvement (16 >= 6), recovery (4 < 10).
    P002-P003   baseline 20, endpoint 8: response, reliable improvement, recovery.
    P004-P008   baseline 20, endpoint 16: none (fall 4 < 6 points, 16 >= 10).
    P009-P010   baseline 20, next assessment at t = 60 (after the 42-day acute window):
                no endpoint.
    P011        baseline 6: not eligible (caseness 10).
    P012        baseline 20, endpoint 5 (response, reliable improvement, recovery; not
                remission: 5 is not < 5), but no dose (when doses are given).
    P001 GAD-7  baseline 15, endpoint 3: response.
    """
    scores: list[Score] = []
    scores += visits("P001", (0, 20), (28, 4))
    for p in ("P002", "P003"):
        scores += visits(p, (0, 20), (28, 8))
    for i in range(4, 9):
        scores += visits(f"P00{i}", (0, 20), (28, 16))
    for p in ("P009", "P010"):
        scores += visits(p, (0, 20), (60, 18))
    scores += visits("P011", (0, 6), (28, 2))
    scores += visits("P012", (0, 20), (28, 5))
    scores += visits("P001", (0, 15), (28, 3), instrument="GAD-7")
    if not with_doses:
        return build(scores, doses=[])
    doses = [{"patient_id": f"P{i:03d}", "t": 0.0} for i in range(1, 12)]
    return build(scores, doses=doses)


@pytest.mark.parametrize(
    ("instrument", "outcome", "population", "k", "n"),
    # ITT = P001-P010 (eligible, at least one dose; P011 is not eligible, P012 had no
    # dose). Completers = eligible with an endpoint (methods §6.1), doses or not: P001-P008
    # and P012 (P009/P010 have no endpoint) = 9. Responders among them: P001-P003 and
    # P012 = 4; remission: P001 only (P012's 5 is not < 5); recovery: P001-P003, P012.
    [
        ("PHQ-9", "response", "itt", 3, 10),
        ("PHQ-9", "response", "completers", 4, 9),
        ("PHQ-9", "remission", "itt", 1, 10),
        ("PHQ-9", "remission", "completers", 1, 9),
        ("PHQ-9", "reliable_improvement", "itt", 3, 10),
        ("PHQ-9", "reliable_deterioration", "itt", 0, 10),
        ("PHQ-9", "recovery", "completers", 4, 9),
        ("PHQ-9", "reliable_recovery", "itt", 3, 10),
        ("GAD-7", "response", "itt", 1, 1),
        ("GAD-7", "response", "completers", 1, 1),
    ],
)
def test_outcome_rates_count_itt_and_completers_as_counted_by_hand(
    instrument, outcome, population, k, n
):
    rates = outcome_rates(patient_outcomes(rates_cohort()))
    row = rates[
        (rates["instrument"] == instrument)
        & (rates["outcome"] == outcome)
        & (rates["population"] == population)
    ]
    assert len(row) == 1
    assert (int(row["k"].iloc[0]), int(row["n"].iloc[0])) == (k, n)
    assert row["estimate"].iloc[0] == pytest.approx(k / n)


def test_outcome_rates_wilson_interval_matches_hand_calculation():
    rates = outcome_rates(patient_outcomes(rates_cohort())).set_index(
        ["instrument", "outcome", "population"]
    )
    row = rates.loc[("PHQ-9", "response", "itt")]
    # Wilson, k = 3, n = 10, z = 1.959964, z^2 = 3.841459:
    # centre = (3 + 1.920730) / 13.841459 = 0.3555066
    # half = 1.959964 * sqrt(10) / 13.841459 * sqrt(0.21 + 3.841459 / 40) = 0.2477153
    # -> 0.1077913 to 0.6032219 (R: prop.test(3, 10, correct = FALSE)$conf.int).
    assert row["ci_low"] == pytest.approx(0.1077913, abs=1e-6)
    assert row["ci_high"] == pytest.approx(0.6032219, abs=1e-6)


def test_outcome_rates_exact_method_matches_r_binom_test():
    rates = outcome_rates(patient_outcomes(rates_cohort()), method="exact")
    row = rates[(rates["outcome"] == "response") & (rates["population"] == "itt")].iloc[0]
    # R: binom.test(3, 10)$conf.int = 0.06673951 0.65245285.
    assert row["ci_low"] == pytest.approx(0.06673951, abs=1e-7)
    assert row["ci_high"] == pytest.approx(0.65245285, abs=1e-7)


def test_outcome_rates_have_one_row_per_instrument_outcome_and_population_phq9_first():
    rates = outcome_rates(patient_outcomes(rates_cohort()))
    assert list(rates.columns) == [
        "instrument",
        "outcome",
        "population",
        "k",
        "n",
        "estimate",
        "ci_low",
        "ci_high",
    ]
    assert len(rates) == 2 * len(RATE_OUTCOMES) * 2
    assert rates["instrument"].iloc[0] == "PHQ-9"
    assert rates["population"].iloc[:2].tolist() == ["itt", "completers"]
    assert rates["outcome"].iloc[::2].iloc[: len(RATE_OUTCOMES)].tolist() == list(RATE_OUTCOMES)


def test_without_a_treatments_table_itt_is_every_eligible_patient():
    # No dosing known: P012 joins (baseline 20 at its first assessment, endpoint 5 at
    # t = 28: a response), so ITT = P001-P010 + P012 = 11 with 4 responders, and
    # completers = P001-P008 + P012 = 9 with 4 responders.
    rates = outcome_rates(patient_outcomes(rates_cohort(with_doses=False))).set_index(
        ["instrument", "outcome", "population"]
    )
    assert rates.loc[("PHQ-9", "response", "itt"), ["k", "n"]].tolist() == [4, 11]
    assert rates.loc[("PHQ-9", "response", "completers"), ["k", "n"]].tolist() == [4, 9]


def test_completers_are_eligible_patients_with_an_endpoint_whatever_their_doses():
    # methods §6.1: completers are "eligible with an endpoint". P012 (eligible, endpoint at
    # t = 28, no dose) is a completer but not in ITT; P009/P010 (dosed, no endpoint) are
    # in ITT but not completers; P011 (baseline 6) is in neither.
    outcomes = patient_outcomes(rates_cohort())
    phq9 = outcomes[outcomes["instrument"] == "PHQ-9"].set_index("patient_id")
    itt = in_population(phq9, "itt")
    completers = in_population(phq9, "completers")
    assert sorted(completers.index[completers]) == [f"P{i:03d}" for i in (*range(1, 9), 12)]
    assert sorted(itt.index[itt]) == [f"P{i:03d}" for i in range(1, 11)]
    eligible = phq9["eligible"].astype("boolean").fillna(False)
    endpoint = phq9["completer"].astype("boolean").fillna(False)
    assert completers.tolist() == (eligible & endpoint).tolist()


def test_unknown_population_raises_a_clear_error():
    with pytest.raises(ValueError, match="Unknown population 'all'"):
        in_population(patient_outcomes(rates_cohort()), "all")


def test_outcome_rates_input_data_not_modified():
    outcomes = patient_outcomes(rates_cohort())
    before = outcomes.copy()
    outcome_rates(outcomes)
    time_to_event(outcomes, "relapse")
    pd.testing.assert_frame_equal(outcomes, before)


# --------------------------------------------------------------------------------------
# Statistics over sessions, clustered by patient
# --------------------------------------------------------------------------------------

#: Three patients: A 4 sessions, all with the event; B 2 of 4; C 0 of 2.
THREE_PATIENTS = ([1, 1, 1, 1, 1, 1, 0, 0, 0, 0], ["A"] * 4 + ["B"] * 4 + ["C"] * 2)


def test_clustered_share_matches_the_ratio_estimator_worked_by_hand():
    # M = 10 sessions, K = 6, p = 0.6; G = 3 patients with (k_i, m_i) = (4, 4), (2, 4),
    # (0, 2). Residuals k_i - p m_i = 4 - 2.4 = 1.6, 2 - 2.4 = -0.4, 0 - 1.2 = -1.2;
    # squares 2.56 + 0.16 + 1.44 = 4.16.
    # V = G/(G-1) * 4.16 / M^2 = 1.5 * 4.16 / 100 = 0.0624; SE = sqrt(0.0624) = 0.2497999.
    # Binomial variance p(1-p)/M = 0.024, so deff = 0.0624 / 0.024 = 2.6 and
    # n_eff = 10 / 2.6 = 3.8461538.
    # Wilson on n_eff, z^2 = 3.8414588: shrink = 1 + z^2/n_eff = 1.9987793;
    # centre = (0.6 + z^2/(2 n_eff)) / shrink = (0.6 + 0.4993896) / 1.9987793 = 0.5500305;
    # half = z / shrink * sqrt(0.24 / n_eff + z^2 / (4 n_eff^2))
    #      = 0.9805801 * sqrt(0.0624 + 0.0649203) = 0.3498909;
    # interval 0.2001396 to 0.8999215.
    result = clustered_share(*THREE_PATIENTS)
    assert (result.k, result.n_units, result.n_clusters) == (6, 10, 3)
    assert result.estimate == pytest.approx(0.6)
    assert result.std_err == pytest.approx(math.sqrt(0.0624))
    assert result.design_effect == pytest.approx(2.6)
    assert result.effective_n == pytest.approx(10 / 2.6)
    assert result.ci_low == pytest.approx(0.2001396, abs=1e-7)
    assert result.ci_high == pytest.approx(0.8999215, abs=1e-7)


def test_clustered_share_standard_error_equals_statsmodels_cluster_robust_ols():
    # The ratio-estimator variance is the sandwich variance of the mean of the 0/1 values
    # with the G/(G-1) factor: statsmodels' OLS on a constant with cov_type="cluster"
    # (its correction G/(G-1) * (N-1)/(N-K) has K = 1).
    import statsmodels.api as sm

    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 12, size=25)
    labels = np.repeat([f"P{i:02d}" for i in range(25)], sizes)
    patient_rate = np.repeat(rng.uniform(0.1, 0.9, size=25), sizes)
    events = rng.random(labels.size) < patient_rate
    fit = sm.OLS(events.astype(float), np.ones(labels.size)).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(labels)[0]}
    )
    result = clustered_share(events, labels)
    assert result.estimate == pytest.approx(fit.params[0])
    assert result.std_err == pytest.approx(fit.bse[0], rel=1e-12)


def test_clustered_share_with_one_session_per_patient_has_g_minus_1_effective_sessions():
    # m_i = 1: V = G/(G-1) * sum (k_i - p)^2 / G^2 = G/(G-1) * G p(1-p) / G^2
    # = p(1-p)/(G-1), so deff = G/(G-1) and n_eff = G - 1 (3 of 12: 12/11 and 11).
    result = clustered_share([1, 1, 1] + [0] * 9, [f"P{i:02d}" for i in range(12)])
    assert result.design_effect == pytest.approx(12 / 11)
    assert result.effective_n == pytest.approx(11)


def test_clustered_share_of_zero_keeps_the_binomial_wilson_interval_of_the_sessions():
    # p = 0: the design effect cannot be estimated and is 1 (Korn & Graubard 1998), so
    # the limits are Wilson's for 0 of M = 10: 0 to z^2/(M + z^2) = 3.8414588/13.8414588
    # = 0.2775328.
    result = clustered_share([0] * 10, list("AAAABBBBCC"))
    assert (result.estimate, result.ci_low, result.design_effect) == (0.0, 0.0, 1.0)
    assert result.ci_high == pytest.approx(0.2775328, abs=1e-7)


def test_clustered_share_needs_two_patients_for_an_interval():
    result = clustered_share([1, 0, 1, 1], ["A"] * 4)
    assert result.estimate == pytest.approx(0.75)
    assert math.isnan(result.ci_low) and math.isnan(result.ci_high)
    assert result.n_clusters == 1


@pytest.mark.parametrize(
    "events", [[1.0, math.nan, 0.0, 0.0], [1, 2, 0, 0], [True, None, False, False]]
)
def test_clustered_share_refuses_a_missing_or_non_binary_event(events):
    # A missing value must not count as an event (bool(nan) is True), nor a 2 as a 1.
    with pytest.raises(ValueError, match=r"True/False or 1/0.*position\(s\) \[1\]"):
        clustered_share(events, list("AABB"))


def test_clustered_share_rejects_clusters_of_another_length():
    with pytest.raises(ValueError, match="one cluster label"):
        clustered_share([1, 0, 1], ["A", "B"])


def test_cluster_bootstrap_median_resamples_patients_not_sessions():
    # Three patients with 20 sessions each at $100, $200 and $300. A resample of three
    # patients has 60 sessions in blocks of 20, so its median (the 30th and 31st values)
    # is the cost of the middle patient drawn. P(median = 100) = P(at least two of three
    # draws are the $100 patient) = 3 (1/3)^2 (2/3) + (1/3)^3 = 7/27 = 0.26, likewise
    # $300, and $200 with 13/27: the 2.5% and 97.5% quantiles are $100 and $300.
    # Counting sessions as independent gives the order-statistic interval of 60 values:
    # ranks 23 and 38 (Binomial(60, 1/2)), both $200.
    costs = np.repeat([100.0, 200.0, 300.0], 20)
    patients = np.repeat(["A", "B", "C"], 20)
    result = cluster_bootstrap_median(costs, patients)
    assert (result.median, result.ci_low, result.ci_high) == (200.0, 100.0, 300.0)
    assert (result.n_units, result.n_clusters) == (60, 3)
    naive = median_ci(costs)
    assert (naive.ci_low, naive.ci_high) == (200.0, 200.0)


def test_cluster_bootstrap_median_of_two_patients_enumerated_by_hand():
    # A = {$300, $300}, B = {$500, $500}: resamples AA (1/4, median 300), BB (1/4, 500)
    # and AB or BA (1/2, (300 + 500)/2 = 400): quantiles 2.5% = 300 and 97.5% = 500.
    result = cluster_bootstrap_median([300, 300, 500, 500], ["A", "A", "B", "B"])
    assert (result.median, result.ci_low, result.ci_high) == (400.0, 300.0, 500.0)


def test_cluster_bootstrap_median_is_reproducible_and_ignores_row_order():
    rng = np.random.default_rng(3)
    patients = np.repeat([f"P{i:02d}" for i in range(30)], rng.integers(1, 8, size=30))
    costs = rng.normal(500, 80, size=patients.size).round()
    first = cluster_bootstrap_median(costs, patients)
    order = rng.permutation(patients.size)
    again = cluster_bootstrap_median(costs[order], patients[order])
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert first.ci_low < first.median < first.ci_high
    assert (first.replicates, first.seed) == (BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED)


def _resampled_medians_summing_every_session(
    values: np.ndarray, patients: np.ndarray, replicates: int, seed: int
) -> np.ndarray:
    """The resample medians as first written: each resample sums the weights of all sessions.

    Independent of the windowed computation of the module: every session of every drawn
    patient is weighted by how often the patient was drawn, and the median is read from
    the cumulative weights of all the sorted sessions.
    """
    _, codes = np.unique(patients, return_inverse=True)
    n_clusters = int(codes.max()) + 1
    order = np.argsort(values, kind="stable")
    sorted_x, sorted_codes = values[order], codes[order]
    rng = np.random.default_rng(seed)
    medians = np.empty(replicates)
    for b in range(replicates):
        drawn = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
        cumulative = np.cumsum(drawn[sorted_codes])
        size = int(cumulative[-1])
        lower = np.searchsorted(cumulative, (size - 1) // 2, side="right")
        upper = np.searchsorted(cumulative, size // 2, side="right")
        medians[b] = (sorted_x[lower] + sorted_x[upper]) / 2.0
    return medians


@pytest.mark.parametrize("narrow", [False, True])
def test_cluster_bootstrap_median_equals_summing_every_session_of_every_resample(
    monkeypatch, narrow
):
    # The windowed computation must give exactly the medians of the plain one, for the
    # same seed: with the default window and with a window of a few positions, where most
    # resamples fall outside it (summed over all sessions) and the window widens.
    from katoutcomes.cohort import intervals

    if narrow:
        monkeypatch.setattr(intervals, "_WINDOW_SPREADS", 0.0)
        monkeypatch.setattr(intervals, "_WINDOW_EXTRA", 1)
    rng = np.random.default_rng(11)
    for trial in range(6):
        n_patients = int(rng.integers(2, 400))
        sessions = int(rng.integers(n_patients, 6 * n_patients))
        codes = np.sort(rng.integers(0, n_patients, sessions))
        if trial % 2:  # few distinct values, many ties
            values = rng.integers(0, 5, sessions).astype(np.float64) * 100.0
        else:  # patients differ: strong clustering
            values = rng.normal(500, 80, n_patients)[codes] + rng.normal(0, 10, sessions)
        patients = np.array([f"P{code:04d}" for code in codes])
        expected = _resampled_medians_summing_every_session(values, patients, 300, trial)
        result = cluster_bootstrap_median(values, patients, replicates=300, seed=trial)
        low, high = np.quantile(expected, [0.025, 0.975])
        assert (result.ci_low, result.ci_high) == (low, high)
        order = np.argsort(values, kind="stable")
        _, dense = np.unique(patients, return_inverse=True)
        medians = intervals._resampled_medians(
            values[order], dense[order], int(dense.max()) + 1, 300, trial
        )
        np.testing.assert_array_equal(medians, expected)


def test_cluster_bootstrap_median_drops_missing_values_and_needs_two_patients():
    result = cluster_bootstrap_median([200.0, np.nan, 400.0, np.nan], ["A", "A", "A", "B"])
    # B has no value: one patient, so no interval.
    assert (result.median, result.n_units, result.n_clusters) == (300.0, 2, 1)
    assert math.isnan(result.ci_low) and math.isnan(result.ci_high)


# --------------------------------------------------------------------------------------
# Time to event
# --------------------------------------------------------------------------------------

#: aml, Maintained group (R package survival; tests/data/reference/aml.csv): time, status.
AML_MAINTAINED = [
    (9, 1),
    (13, 1),
    (13, 0),
    (18, 1),
    (23, 1),
    (28, 0),
    (31, 1),
    (34, 1),
    (45, 0),
    (48, 1),
    (161, 0),
]


def aml_cohort() -> Dataset:
    """Eleven patients whose time to PHQ-9 response is the aml Maintained data.

    Baseline 20 at t = 0; a responder scores 8 (<= 10) at its event time, a censored
    patient scores 18 at its censoring time, which is its last assessment.
    """
    scores: list[Score] = []
    for i, (time, status) in enumerate(AML_MAINTAINED, start=1):
        scores += visits(f"P{i:03d}", (0, 20), (time, 8 if status else 18))
    return build(scores)


@pytest.mark.parametrize(("time", "survival", "std_err"), AML_MAINTAINED_R)
def test_time_to_response_reproduces_r_survfit_on_aml(time, survival, std_err):
    curve = time_to_event(patient_outcomes(aml_cohort()), "response")
    point = survival_at(curve, time, instrument="PHQ-9")
    assert point.survival == pytest.approx(survival, abs=5e-4)
    assert point.std_err == pytest.approx(std_err, abs=5e-5)
    assert point.n == 11


def test_time_to_event_frame_has_instrument_and_kaplan_meier_columns():
    curve = time_to_event(patient_outcomes(aml_cohort()), "response")
    assert list(curve.columns) == [
        "instrument",
        "time",
        "at_risk",
        "events",
        "survival",
        "std_err",
        "ci_low",
        "ci_high",
    ]
    assert set(curve["instrument"]) == {"PHQ-9"}
    assert curve["time"].tolist() == [9, 13, 18, 23, 28, 31, 34, 45, 48, 161]


def relapse_cohort() -> Dataset:
    """Four PHQ-9 patients with baseline 20 (response: score <= 10; relapse: two
    consecutive assessments that fail response and are >= 10).

    P001  responds at t = 7 (8), then 15 at t = 21 and 16 at t = 28: relapse at 21,
          14 days after the first response.
    P002  responds at t = 7 (8), still 8 at t = 35 and 7 at t = 42: no relapse; censored
          at the second-to-last assessment after the response, 35 - 7 = 28 days.
    P003  responds at t = 14 (6), then 12 at 28 and 14 at 35: relapse 14 days after.
    P004  never responds (18 at 14 and 28): not in the relapse curve.
    """
    scores: list[Score] = []
    scores += visits("P001", (0, 20), (7, 8), (21, 15), (28, 16))
    scores += visits("P002", (0, 20), (7, 8), (35, 8), (42, 7))
    scores += visits("P003", (0, 20), (14, 6), (28, 12), (35, 14))
    scores += visits("P004", (0, 20), (14, 18), (28, 18))
    return build(scores)


@pytest.mark.parametrize(
    ("time", "survival", "events", "estimated"),
    # Relapse curve, by hand: 3 responders; at 14 days 2 relapses of 3 at risk,
    # S = 1 - 2/3 = 1/3; P002 censored at 28, the last follow-up time.
    [
        (0.0, 1.0, 0, True),
        (13.9, 1.0, 0, True),
        (14.0, 1 / 3, 2, True),
        (20.0, 1 / 3, 2, True),
        (28.0, 1 / 3, 2, True),
        (28.1, math.nan, 2, False),
    ],
)
def test_relapse_curve_steps_match_hand_counts(time, survival, events, estimated):
    curve = time_to_event(patient_outcomes(relapse_cohort()), "relapse")
    point = survival_at(curve, time)
    assert point.n == 3
    assert point.events == events
    assert point.estimated is estimated
    if estimated:
        assert point.survival == pytest.approx(survival)
    else:
        assert math.isnan(point.survival) and math.isnan(point.ci_low)
        assert point.last_time == 28.0


def test_a_curve_that_ends_at_zero_stays_at_zero_after_its_last_time():
    # Every patient has the event (3, 5, 7, 9): S = 3/4, 1/2, 1/4, 0. Nobody is left at
    # risk after 9, so S(30) = 0 is an estimate, not a lack of follow-up; the log-scale
    # interval is not defined at 0 (R's survfit gives NA).
    point = survival_at(kaplan_meier([3, 5, 7, 9], [1, 1, 1, 1]), 30)
    assert point.estimated and point.survival == 0.0 and point.events == 4
    assert math.isnan(point.ci_low) and math.isnan(point.ci_high)
    # The same times with the last one censored: S = 1/4 after 7, not known after 9.
    assert not survival_at(kaplan_meier([3, 5, 7, 9], [1, 1, 1, 0]), 30).estimated


def test_survival_at_gives_the_log_scale_interval_of_the_step():
    point = survival_at(
        kaplan_meier([t for t, _ in AML_MAINTAINED], [s for _, s in AML_MAINTAINED]), 10
    )
    # The step at t = 9 (hand calculation as in test_stats): S = 10/11,
    # se(log S) = sqrt(1/110) = 0.0953463; lower = 0.9090909 * exp(-1.959964 * 0.0953463)
    # = 0.7541338; upper = 1.0959 capped at 1.
    assert point.survival == pytest.approx(10 / 11)
    assert point.ci_low == pytest.approx(0.7541338, abs=1e-6)
    assert point.ci_high == 1.0


def test_a_zero_event_curve_read_at_84_days_has_the_exact_interval_for_35_followed():
    # No relapse at all: 5 patients censored before 84 days (10, 20, 30, 40, 60) and 35
    # followed to 84 days or beyond (84, 85, ..., 118). The last curve time <= 84 is 84,
    # with n_t = 35 at risk (the patient censored at 84 was seen relapse-free at 84).
    # Clopper-Pearson for 0 events among 35: the event probability's upper limit p_U has
    # (1 - p_U)^35 = 0.025, so S(84) lies in [0.025^(1/35), 1] = [0.89997, 1]; the
    # probability of relapse by 84 days, 1 - S, in [0, 0.10003].
    durations = [10, 20, 30, 40, 60, *range(84, 119)]
    point = survival_at(kaplan_meier(durations, [0] * len(durations)), 84)
    assert point.survival == 1.0 and point.events == 0 and point.n == 40
    assert point.ci_low == pytest.approx(0.89997, abs=5e-6)
    assert point.ci_low == pytest.approx(math.exp(math.log(0.025) / 35), rel=1e-12)
    assert point.ci_high == 1.0


def test_before_the_first_curve_time_every_patient_is_still_followed():
    # 12 patients, all followed beyond 84 days (first curve time 90): at 84 no event and
    # n_t = 12, interval [0.025^(1/12), 1] = [exp(-0.3074066), 1] = [0.7353515, 1];
    # at 90% confidence (alpha 0.10), [0.05^(1/12), 1] = [exp(-2.9957323/12), 1]
    # = [exp(-0.2496444), 1] = [0.7790778, 1].
    durations = list(range(90, 102))
    curve = kaplan_meier(durations, [0] * 12)
    point = survival_at(curve, 84)
    assert (point.survival, point.std_err, point.ci_high) == (1.0, 0.0, 1.0)
    assert point.ci_low == pytest.approx(0.7353515, abs=1e-7)
    assert survival_at(curve, 84, alpha=0.10).ci_low == pytest.approx(0.7790778, abs=1e-7)


def test_survival_at_needs_an_instrument_when_the_curve_holds_two():
    scores = visits("P001", (0, 20), (7, 8)) + visits("P001", (0, 15), (7, 3), instrument="GAD-7")
    curve = time_to_event(patient_outcomes(build(scores)), "response")
    with pytest.raises(ValueError, match="pass instrument"):
        survival_at(curve, 7)
    assert survival_at(curve, 7, instrument="GAD-7").survival == 0.0


def test_time_to_event_medians_read_the_median_as_r_does():
    medians = time_to_event_medians(patient_outcomes(aml_cohort()), "response")
    # R: Maintained median 31 (95% CI 18 to NA), tests/data/reference/README.md.
    row = medians.iloc[0]
    assert (row["instrument"], row["n"], row["events"]) == ("PHQ-9", 11, 7)
    assert row["median"] == 31 and row["ci_low"] == 18 and math.isnan(row["ci_high"])


def test_unknown_event_raises_a_clear_error():
    with pytest.raises(ValueError, match="Unknown event 'death'"):
        time_to_event(patient_outcomes(relapse_cohort()), "death")


# --------------------------------------------------------------------------------------
# Medians
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "median", "low", "high"),
    # Campbell & Gardner, BMJ 1988;296:1454, table: n = 10 -> ranks 2 and 9 (97.9%);
    # n = 6 -> ranks 1 and 6 (96.9%); n = 5 has no 95% interval (P(B <= 0) = 0.031 > 0.025).
    [
        ([3, 1, 4, 1, 5, 9, 2, 6, 5, 3], 3.5, 1.0, 6.0),
        ([10, 20, 30, 40, 50, 60], 35.0, 10.0, 60.0),
        ([1, 2, 3, 4, 5], 3.0, math.nan, math.nan),
    ],
)
def test_median_interval_uses_the_published_order_statistics(values, median, low, high):
    result = median_ci(values)
    assert result.median == median
    for actual, expected in ((result.ci_low, low), (result.ci_high, high)):
        assert (math.isnan(actual) and math.isnan(expected)) or actual == expected


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.1, 0.5, 1e-6])
def test_median_interval_rank_is_the_binomial_quantile_scipy_gives(alpha):
    # The rank is qbinom(alpha / 2, n, 1/2); SciPy's binom.ppf is the independent value
    # (the module computes it without SciPy), over small n and the sizes of large cohorts.
    from scipy import stats as sps

    from katoutcomes.cohort.intervals import _binomial_half_quantile

    for n in [*range(1, 300), 1000, 1001, 51813, 51814, 1_000_000]:
        expected = int(sps.binom.ppf(alpha / 2.0, n, 0.5))
        assert _binomial_half_quantile(alpha / 2.0, n) == expected, n


def test_median_interval_rank_at_an_exact_tie_is_decided_in_whole_numbers():
    # For n = 10, P(B <= 2) = (1 + 10 + 45) / 1024 = 56/1024 = 0.0546875 exactly (a binary
    # fraction): the smallest k with P(B <= k) >= 0.0546875 is 2, not 3.
    from katoutcomes.cohort.intervals import _binomial_half_quantile

    assert _binomial_half_quantile(56 / 1024, 10) == 2
    assert _binomial_half_quantile(math.nextafter(56 / 1024, 1.0), 10) == 3
    assert _binomial_half_quantile(math.nextafter(56 / 1024, 0.0), 10) == 2


def test_median_interval_and_cohort_statistics_do_not_load_scipy():
    code = (
        "import sys; from katoutcomes.cohort import median_ci, cluster_bootstrap_median; "
        "median_ci(list(range(50))); cluster_bootstrap_median([1, 2, 3, 4], list('AABB')); "
        "print('scipy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --------------------------------------------------------------------------------------
# Subgroups
# --------------------------------------------------------------------------------------


def responders(prefix: str, k: int, n: int) -> list[Score]:
    """``n`` PHQ-9 patients with baseline 20, the first ``k`` responding (8 at t = 28)."""
    scores: list[Score] = []
    for i in range(n):
        scores += visits(f"{prefix}{i:03d}", (0, 20), (28, 8 if i < k else 16))
    return scores


def ssri_cohort() -> Dataset:
    """Newcombe's example as an SSRI split: 56/70 responders on an SSRI, 48/80 not, and
    three patients whose SSRI use is not recorded (2 responders)."""
    scores = responders("S", 56, 70) + responders("N", 48, 80) + responders("U", 2, 3)
    ids = list(dict.fromkeys(p for p, *_ in scores))
    patients = [
        {"patient_id": p, "concurrent_ssri": {"S": True, "N": False, "U": None}[p[0]]} for p in ids
    ]
    return build(scores, patients=patients)


def test_two_level_difference_matches_newcombe_1998():
    data = ssri_cohort()
    table = subgroup_rates(patient_outcomes(data), data, "ssri").set_index("level")
    assert table.index.tolist() == ["yes", "no", "unknown"]
    assert table.loc["yes", ["k", "n"]].tolist() == [56, 70]
    assert table.loc["no", ["k", "n"]].tolist() == [48, 80]
    assert table.loc["unknown", ["k", "n"]].tolist() == [2, 3]
    # Newcombe RG, Stat Med 1998;17:873-890, Table II, method 10: 56/70 - 48/80 = 0.2,
    # 95% CI 0.0524 to 0.3339.
    assert table.loc["yes", "diff"] == pytest.approx(0.2)
    assert table.loc["yes", "diff_ci_low"] == pytest.approx(0.0524, abs=5e-5)
    assert table.loc["yes", "diff_ci_high"] == pytest.approx(0.3339, abs=5e-5)
    assert table.loc["yes", "compared_with"] == "no"
    # The reference level and the unknown level carry no difference.
    assert table.loc[["no", "unknown"], "diff"].isna().all()


def test_multi_level_difference_compares_each_level_with_all_other_known_patients():
    # Sites by hand: A 4/10, B 6/10, C 1/3 and two patients with no site (1 responder).
    scores = responders("A", 4, 10) + responders("B", 6, 10) + responders("C", 1, 3)
    scores += responders("X", 1, 2)
    frame_rows = [(p, i, t, total) for p, i, t, total in scores]
    data = build(frame_rows)
    sites = {"A": "S1", "B": "S2", "C": "S3", "X": None}
    data = _with_sites(data, sites)
    table = subgroup_rates(patient_outcomes(data), data, "site").set_index("level")
    assert table.index.tolist() == ["S1", "S2", "S3", "unknown"]
    # S1 against S2 + S3: 4/10 vs (6 + 1)/(10 + 3) = 7/13; the unknown pair is left out.
    expected = risk_difference_ci(4, 10, 7, 13).iloc[0]
    assert table.loc["S1", "diff"] == pytest.approx(4 / 10 - 7 / 13)
    assert table.loc["S1", "diff_ci_low"] == pytest.approx(expected["ci_low"])
    assert table.loc["S1", "diff_ci_high"] == pytest.approx(expected["ci_high"])
    assert table.loc["S1", "compared_with"] == "all other patients"
    assert math.isnan(table.loc["unknown", "diff"])


def _with_sites(data: Dataset, sites: Mapping[str, str | None]) -> Dataset:
    """Rebuild ``data`` with ``site_id`` on every assessment, by the id's first letter."""
    a = data.assessments
    scores = list(zip(a["patient_id"], a["instrument"], a["t"], a["total"], strict=True))
    patient, instrument, t, total = zip(*scores, strict=True)
    frame = pd.DataFrame(
        {
            "patient_id": patient,
            "instrument": instrument,
            "study_day": np.asarray(t) + DOSE_DAY,
            "total": total,
            "site_id": [sites[p[0]] for p in patient],
        }
    )
    doses = pd.DataFrame({"patient_id": list(dict.fromkeys(patient)), "study_day": DOSE_DAY})
    return Dataset.from_result(validate_frames({"assessments": frame, "treatments": doses}))


def test_site_is_the_most_frequent_site_across_assessments_and_treatments():
    # P001: assessments at S1, S1, S2 and a dose at S2 -> S1 2, S2 2: a tie, S1 first.
    # P002: assessments at S2, S2 and a dose at S1 -> S2.
    frame = pd.DataFrame(
        {
            "patient_id": ["P001"] * 3 + ["P002"] * 2,
            "instrument": "PHQ-9",
            "study_day": [100.0, 110.0, 120.0, 100.0, 110.0],
            "total": [20, 12, 8, 20, 9],
            "site_id": ["S1", "S1", "S2", "S2", "S2"],
        }
    )
    doses = pd.DataFrame(
        {"patient_id": ["P001", "P002"], "study_day": 100.0, "site_id": ["S2", "S1"]}
    )
    data = Dataset.from_result(validate_frames({"assessments": frame, "treatments": doses}))
    assert patient_attributes(data, "site").to_dict() == {"P001": "S1", "P002": "S2"}


@pytest.mark.parametrize(
    ("by", "dose_columns", "patient_columns", "expected"),
    [
        # Psychotherapy in 1 of 2 doses (half) -> yes; 1 of 3 -> no.
        (
            "psychotherapy",
            {"P001": [{"psychotherapy": True}, {"psychotherapy": False}],
             "P002": [{"psychotherapy": True}, {"psychotherapy": False},
                      {"psychotherapy": False}]},
            None,
            {"P001": "yes", "P002": "no"},
        ),
        # Route: the most frequent of the patient's doses.
        (
            "route",
            {"P001": [{"route": "IV"}, {"route": "IM"}, {"route": "IV"}],
             "P002": [{"route": "intranasal"}]},
            None,
            {"P001": "IV", "P002": "intranasal"},
        ),
        # Two prior failures -> treatment resistant; one -> not; none recorded -> unknown.
        (
            "treatment_resistance",
            None,
            [{"patient_id": "P001", "prior_treatment_failures": 2},
             {"patient_id": "P002", "prior_treatment_failures": 1},
             {"patient_id": "P003", "prior_treatment_failures": None}],
            {"P001": "yes", "P002": "no"},
        ),
        (
            "diagnosis",
            None,
            [{"patient_id": "P001", "primary_diagnosis": "TRD"},
             {"patient_id": "P002", "primary_diagnosis": "GAD"}],
            {"P001": "TRD", "P002": "GAD"},
        ),
    ],
)  # fmt: skip
def test_patient_attributes_are_derived_as_documented(by, dose_columns, patient_columns, expected):
    scores = visits("P001", (0, 20), (28, 8)) + visits("P002", (0, 20), (28, 16))
    scores += visits("P003", (0, 20), (28, 16))
    doses = None
    if dose_columns:
        doses = [
            {"patient_id": p, "t": float(7 * j), **extra}
            for p, rows in dose_columns.items()
            for j, extra in enumerate(rows)
        ]
    data = build(scores, doses, patients=patient_columns)
    assert patient_attributes(data, by).to_dict() == expected


@pytest.mark.parametrize(
    ("by", "message"),
    [
        ("ssri", "no patients table .needed for concurrent_ssri"),
        ("diagnosis", "no patients table .needed for primary_diagnosis"),
        ("route", "no treatments table .needed for route"),
        ("psychotherapy", "no treatments table .needed for psychotherapy"),
        ("site", "No site_id is recorded"),
    ],
)
def test_subgroups_the_data_cannot_give_raise_not_measurable(by, message):
    data = build(visits("P001", (0, 20), (28, 8)), doses=[])
    with pytest.raises(NotMeasurableError, match=f"(?i){message}"):
        subgroup_rates(patient_outcomes(data), data, by)


def test_subgroup_rates_input_data_not_modified():
    data = ssri_cohort()
    outcomes = patient_outcomes(data)
    before = (outcomes.copy(), data.patients.copy())
    subgroup_rates(outcomes, data, "ssri")
    pd.testing.assert_frame_equal(outcomes, before[0])
    pd.testing.assert_frame_equal(data.patients, before[1])
