"""Missing-data sensitivity: ITT, completers, LOCF, multiple imputation, tipping point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from katoutcomes.sensitivity import METHODS, missing_data_sensitivity, rubin_logit
from test_trajectories import flat_model, hand_built, simulate

#: A steeper course than the model-recovery cohort, so that patients who leave after a
#: poor first week would often have responded by day 42.
STEEP = np.array([16.0, 0.5, -2.5, 1.5, 0.3])


@pytest.fixture(scope="module")
def mar_cohort() -> tuple[pd.DataFrame, pd.DataFrame, float]:
    data, complete = simulate(600, seed=1, dropout=True, beta=STEEP)
    day42 = complete[complete["t"] == 42.0]
    truth = float((day42["score"] <= 0.5 * day42["baseline"]).mean())
    analysis = missing_data_sensitivity(data)
    return analysis.table, analysis.tipping_point, truth


def test_mi_covers_the_complete_data_rate_while_completers_are_biased(
    mar_cohort: tuple[pd.DataFrame, pd.DataFrame, float],
) -> None:
    table, _, truth = mar_cohort
    rows = table[table["outcome"] == "response"].set_index("method")
    # The truth: the response rate at the day-42 visit of all 600 simulated patients
    # before anyone left (0.763 for this seed).
    assert truth == pytest.approx(0.763, abs=0.001)
    # MI under MAR (dropout depends on the observed day-7 score): its 95% interval
    # covers the complete-data rate.
    assert rows.loc["mi", "ci_low"] <= truth <= rows.loc["mi", "ci_high"]
    # Completers: those who left after a poor first week keep their day-7 score as their
    # endpoint, so the rate is biased down, its interval well below the truth.
    assert rows.loc["completers", "ci_high"] < truth - 0.05
    assert rows.loc["itt", "n"] == rows.loc["mi", "n"] == 600


def test_tipping_point_brings_the_imputed_rate_to_the_itt_interval(
    mar_cohort: tuple[pd.DataFrame, pd.DataFrame, float],
) -> None:
    _, tipping, _ = mar_cohort
    tip = tipping.iloc[0]
    assert tip["mi_estimate"] > tip["itt_ci_high"]  # MAR moves the rate above ITT's interval
    assert 0 < tip["delta_points"] < 27
    assert tip["tipping_response_share"] < tip["imputed_response_share"]
    assert f"{tip['delta_points']:.2f} points worse" in tip["statement"]


def test_rubin_rules_on_the_logit_scale_by_hand() -> None:
    # Rates 0.4, 0.5, 0.6 of n = 100. Logits -0.405465, 0, 0.405465: Q = 0;
    # U = 1/(100 p (1-p)) = 1/24, 1/25, 1/24, W = 0.0411111; B = 0.164402;
    # T = W + (4/3) B = 0.260314; gamma = (4/3) B / T = 0.842071; nu_m = 2 / gamma^2 =
    # 2.82054; nu_obs = (100/102) 99 (1 - gamma) = 15.3284; nu = 1 / (1/nu_m + 1/nu_obs)
    # = 2.38220; t_{0.975, 2.3822} = 3.70435; interval expit(-/+ 3.70435 sqrt(T)).
    estimate, low, high = rubin_logit(np.array([0.4, 0.5, 0.6]), 100)
    assert estimate == pytest.approx(0.5)
    assert low == pytest.approx(0.131245, abs=1e-5)
    assert high == pytest.approx(0.868755, abs=1e-5)


def test_rubin_rules_without_between_imputation_variance_is_the_wald_logit_interval() -> None:
    # Identical imputations: B = 0, T = U = 1/(200 * 0.3 * 0.7) = 0.0238095, nu = nu_obs
    # = (200/202) * 199 = 197.03; t quantile 1.97208. Interval expit(logit(0.3) -/+
    # 1.97208 * 0.154303) = (0.24020, 0.36749).
    estimate, low, high = rubin_logit(np.full(20, 0.3), 200)
    assert estimate == pytest.approx(0.3)
    assert (low, high) == pytest.approx((0.24020, 0.36749), abs=1e-5)


def test_rate_of_zero_gives_no_logit_interval() -> None:
    estimate, low, high = rubin_logit(np.array([0.0, 0.1]), 50)
    assert estimate == pytest.approx(0.05)
    assert np.isnan(low) and np.isnan(high)


def test_itt_completers_and_locf_by_hand() -> None:
    # Four eligible PHQ-9 patients (baseline 20): p1 responds (8 at day 42), p2 does not
    # (15), p3 responds early and is lost after day 7 (9), p4 has no score after the first
    # dose. ITT response 2/4, completers 2/3, LOCF carries p4's baseline: 2/4 as ITT.
    rows = [
        ("p1", "PHQ-9", 0, 20, 0),
        ("p1", "PHQ-9", 42, 8, 0),
        ("p2", "PHQ-9", 0, 20, 0),
        ("p2", "PHQ-9", 42, 15, 0),
        ("p3", "PHQ-9", 0, 20, 0),
        ("p3", "PHQ-9", 7, 9, 0),
        ("p4", "PHQ-9", 0, 20, 0),
    ]
    data = hand_built(rows, [(p, 0.0, "C1") for p in ("p1", "p2", "p3", "p4")])
    out = missing_data_sensitivity(data, models={"PHQ-9": flat_model()}, imputations=20)
    table = out.table.set_index(["outcome", "method"])
    assert tuple(out.table["method"].unique()) == METHODS
    assert table.loc[("response", "itt"), ["estimate", "n"]].tolist() == [0.5, 4]
    assert table.loc[("response", "completers"), "estimate"] == pytest.approx(2 / 3)
    assert table.loc[("response", "completers"), "n"] == 3
    assert table.loc[("response", "locf"), "estimate"] == 0.5
    # Remission (< 5): nobody.
    assert (table.xs("remission")["estimate"].loc[["itt", "completers", "locf"]] == 0).all()
    # MI: p3 (lost before day 35) and p4 are imputed from the flat model, scores
    # N(10, 4) at day 42: a response (<= 10) about half the time.
    assert "2 imputed" in table.loc[("response", "mi"), "note"]
    assert 0.5 < table.loc[("response", "mi"), "estimate"] < 1.0
    assert out.seed == 20261203 and out.imputations == 20


def test_imputations_are_reproducible_from_the_seed() -> None:
    data, _ = simulate(60, seed=11, dropout=True, beta=STEEP)
    first = missing_data_sensitivity(data, seed=5)
    again = missing_data_sensitivity(data, seed=5)
    pd.testing.assert_frame_equal(first.table, again.table)


def test_fewer_than_twenty_imputations_are_refused() -> None:
    data = hand_built([("p1", "PHQ-9", 0, 20, 0)], [("p1", 0.0, "C1")])
    with pytest.raises(ValueError, match="at least 20"):
        missing_data_sensitivity(data, models={"PHQ-9": flat_model()}, imputations=10)


def test_without_a_model_mi_is_not_measurable_and_says_why() -> None:
    data = hand_built([("p1", "PHQ-9", 0, 20, 0), ("p1", "PHQ-9", 14, 9, 0)], [("p1", 0.0, "C1")])
    out = missing_data_sensitivity(data, models={"PHQ-9": "needs at least 20 patients"})
    mi = out.table[out.table["method"] == "mi"]
    assert mi["estimate"].isna().all()
    assert mi["note"].str.contains("not measurable: needs at least 20 patients").all()
