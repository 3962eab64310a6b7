"""Funnel plots: exact binomial limits with interpolation, crude and adjusted unit rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from katoutcomes.cohort import NotMeasurableError
from katoutcomes.comparisons import predictors_of_response
from katoutcomes.funnel import UNIT_COLUMNS, funnel_limits, funnel_table
from katoutcomes.plots import funnel_plot, funnel_plot_data, predictors_forest
from test_comparisons import _frame


def _interpolated_limit(n: int, p: float, q: float) -> float:
    """Spiegelhalter (2005), appendix A.1.1, written out for one n.

    r = the q-quantile of Binomial(n, p): the smallest r with P(Y <= r) >= q;
    alpha = (P(Y <= r) - q) / (P(Y <= r) - P(Y <= r - 1)); limit = (r - alpha) / n.
    """
    r = 0
    while sps.binom.cdf(r, n, p) < q:
        r += 1
    at, below = sps.binom.cdf(r, n, p), sps.binom.cdf(r - 1, n, p)
    return max((r - (at - q) / (at - below)) / n, 0.0)


@pytest.mark.parametrize("p", [0.5, 0.6])
@pytest.mark.parametrize("n", [20, 50, 200])
def test_limits_are_the_interpolated_exact_binomial_quantiles(n: int, p: float):
    limits = funnel_limits([n], p).iloc[0]
    for level, name in ((0.95, "95"), (0.998, "998")):
        low_q, high_q = (1 - level) / 2, (1 + level) / 2
        assert limits[f"lower{name}"] == pytest.approx(_interpolated_limit(n, p, low_q), abs=1e-12)
        assert limits[f"upper{name}"] == pytest.approx(_interpolated_limit(n, p, high_q), abs=1e-12)
        # Each limit lies between the two counts it interpolates: (r - 1)/n and r/n.
        for q, column in ((low_q, f"lower{name}"), (high_q, f"upper{name}")):
            r = sps.binom.ppf(q, n, p)
            assert (r - 1) / n <= limits[column] <= r / n


def test_limits_for_twenty_patients_at_one_half_by_hand():
    # Binomial(20, 1/2): P(Y <= 5) = 21700 / 2^20, P(Y <= 6) = 60460 / 2^20
    # (sums of C(20, i)). Lower 95% limit, q = 0.025: r = 6,
    #   alpha = (60460 - 0.025 * 1048576) / 38760 = 34245.6 / 38760 = 0.8835294
    #   limit = (6 - 0.8835294) / 20 = 0.2558235
    # Upper, q = 0.975: P(Y <= 13) = 1 - 60460/2^20, P(Y <= 14) = 1 - 21700/2^20, r = 14,
    #   alpha = (1026876 - 0.975 * 1048576) / 38760 = 4514.4 / 38760 = 0.1164706
    #   limit = (14 - 0.1164706) / 20 = 0.6941765
    limits = funnel_limits(20, 0.5).iloc[0]
    assert limits["lower95"] == pytest.approx(0.2558235, abs=1e-7)
    assert limits["upper95"] == pytest.approx(0.6941765, abs=1e-7)


def test_limits_narrow_as_the_number_of_patients_grows():
    limits = funnel_limits(np.arange(5, 400), 0.6)
    width = limits["upper998"] - limits["lower998"]
    assert (np.diff(width.to_numpy()) < 0.02).all()
    assert width.iloc[-1] < width.iloc[0] / 4
    assert (limits["lower998"] <= limits["lower95"]).all()
    assert (limits["upper95"] <= limits["upper998"]).all()
    assert (limits[["lower998", "lower95"]] >= 0).all().all()
    assert (limits[["upper998", "upper95"]] <= 1).all().all()


@pytest.mark.parametrize("bad", [0, -3, 2.5, np.nan])
def test_limits_refuse_a_number_of_patients_that_is_not_a_count(bad):
    with pytest.raises(ValueError, match="whole numbers"):
        funnel_limits([10, bad], 0.5)


@pytest.mark.parametrize("p", [0.0, 1.0, 1.2])
def test_limits_refuse_a_degenerate_centre_line(p):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        funnel_limits([10], p)


def _units(*cells: tuple[str, str, int, int]) -> pd.DataFrame:
    """Patients from (unit, diagnosis, responders, patients) cells."""
    unit, diagnosis, response = [], [], []
    for name, group, k, n in cells:
        unit += [name] * n
        diagnosis += [group] * n
        response += [1] * k + [0] * (n - k)
    return _frame(
        len(unit),
        response=np.array(response, dtype=np.int64),
        site=unit,
        diagnosis=diagnosis,
    )


def test_indirect_standardisation_by_hand():
    # Diagnosis is the only covariate: its model is saturated, so each patient's expected
    # probability is the rate of their diagnosis over all patients:
    #   MDD 18/30 = 0.6, TRD 9/30 = 0.3; clinic rate 27/60 = 0.45.
    # A: 20 MDD (12 responders)            expected 20 * 0.6 = 12
    # B: 10 MDD (6) + 10 TRD (3)           expected 6 + 3 = 9
    # C: 20 TRD (6)                        expected 20 * 0.3 = 6
    # Crude rates 0.6, 0.45, 0.3; adjusted = O / E * 0.45 = 0.45 for all three: the case
    # mix explains every difference.
    frame = _units(
        ("A", "MDD", 12, 20), ("B", "MDD", 6, 10), ("B", "TRD", 3, 10), ("C", "TRD", 6, 20)
    )
    result = funnel_table(frame, "site")
    units = result.units.set_index("unit")
    assert tuple(result.units.columns) == UNIT_COLUMNS
    assert result.clinic_rate == pytest.approx(0.45)
    assert units["rate"].tolist() == pytest.approx([0.6, 0.45, 0.3])
    assert units["expected"].tolist() == pytest.approx([12.0, 9.0, 6.0], abs=1e-6)
    assert units["adjusted_rate"].tolist() == pytest.approx([0.45] * 3, abs=1e-7)
    assert result.covariates == ("diagnosis",)
    assert result.adjustment is None
    limits = funnel_limits([20], 0.45).iloc[0]
    assert units.loc["A", "lower998"] == pytest.approx(limits["lower998"])
    assert (units["outside"] == "").all()


def test_a_unit_beyond_the_998_limits_is_listed():
    # 60 of 100 patients respond elsewhere; unit X has 2 of 40: far below.
    frame = _units(("W", "MDD", 30, 50), ("V", "MDD", 30, 50), ("X", "MDD", 2, 40))
    frame["diagnosis"] = pd.array([None] * len(frame), dtype="str")
    result = funnel_table(frame, "site")
    assert result.adjustment == "no case-mix covariate is recorded."
    assert result.units["adjusted_rate"].isna().all()
    assert result.outside["unit"].tolist() == ["X"]
    assert result.outside["outside"].tolist() == ["below"]
    # Crude rate 2/40 = 0.05 against the clinic rate 62/140.
    x = result.units.set_index("unit").loc["X"]
    assert x["rate"] == pytest.approx(0.05)
    assert x["lower998"] == pytest.approx(funnel_limits([40], 62 / 140)["lower998"].iloc[0])
    assert x["rate"] < x["lower998"]


def test_expected_responders_add_up_to_the_observed():
    # The score equations of a logistic model with an intercept make the fitted
    # probabilities sum to the number of responders (McCullagh & Nelder 1989, 4.4.5).
    rng = np.random.default_rng(5)
    n = 300
    baseline = rng.integers(10, 28, n).astype(float)
    frame = _frame(
        n,
        response=(rng.random(n) < 1 / (1 + np.exp(0.2 * (baseline - 18)))).astype(np.int64),
        baseline=baseline,
        clinician=list(rng.choice(["C1", "C2", "C3", "C4"], n)),
    )
    result = funnel_table(frame, "clinician")
    assert result.units["expected"].sum() == pytest.approx(frame["response"].sum(), rel=1e-8)
    assert result.n_patients == n and result.n_adjusted == n


def test_patients_without_a_unit_are_left_out_and_counted():
    frame = _units(("A", "MDD", 5, 10), ("B", "TRD", 4, 10))
    frame.loc[[0, 1], "site"] = None
    result = funnel_table(frame, "site")
    assert (result.n_patients, result.n_unknown_unit) == (18, 2)


def test_no_unit_recorded_is_not_measurable():
    with pytest.raises(NotMeasurableError, match="clinician of the first dose"):
        funnel_table(_frame(10), "clinician")


def test_funnel_plot_draws_units_limits_and_highlights_the_outside():
    frame = _units(("W", "MDD", 30, 50), ("V", "MDD", 30, 50), ("X", "MDD", 2, 40))
    result = funnel_table(frame, "site")
    fig = funnel_plot(result)
    names = [trace.name for trace in fig.data]
    assert "99.8% limits" in names and "95% limits" in names
    outside = next(t for t in fig.data if t.name == "Outside the 99.8% limits")
    assert list(outside.text) == ["X"]
    assert "Outside the 99.8% limits: X" in fig.layout.title.subtitle.text
    hidden = funnel_plot(result, min_n=45)
    assert "1 unit(s) with fewer than 45 patients not shown" in hidden.layout.title.subtitle.text
    assert funnel_plot_data(result, min_n=45)["unit"].tolist() == ["V", "W"]


def test_predictors_forest_shows_every_estimated_odds_ratio_and_the_epv():
    rng = np.random.default_rng(11)
    n = 300
    frame = _frame(
        n,
        response=(rng.random(n) < 0.4).astype(np.int64),
        baseline=rng.integers(10, 28, n).astype(float),
        ssri=list(rng.choice(["yes", "no"], n)),
        diagnosis=list(rng.choice(["MDD", "TRD", "PTSD"], n)),
    )
    predictors = predictors_of_response(frame)
    fig = predictors_forest(predictors)
    assert list(fig.data[0].x) == pytest.approx(predictors.table["odds_ratio"].tolist())
    assert fig.layout.xaxis.type == "log"
    subtitle = fig.layout.title.subtitle.text.replace("<br>", " ")
    assert f"n = {predictors.n:,} patients" in subtitle
    assert f"{predictors.events_per_variable:.1f} events per variable" in subtitle


def test_small_multiples_draw_one_panel_per_group_over_the_overall_curve():
    from katoutcomes.cohort import time_to_event
    from katoutcomes.dataset import Dataset
    from katoutcomes.outcomes import patient_outcomes
    from katoutcomes.plots import SMALL_MULTIPLES_ABOVE, km_small_multiples

    data = Dataset.demo(patients=200)
    outcomes = patient_outcomes(data)
    phq = outcomes[outcomes["instrument"] == "PHQ-9"]
    groups = ["G1", "G2", "G3", "G4"]
    label = np.array(groups)[np.arange(len(phq)) % 4]
    curves = pd.concat(
        [time_to_event(phq[label == g]).assign(instrument=g) for g in groups], ignore_index=True
    )
    overall = time_to_event(phq)
    assert len(groups) > SMALL_MULTIPLES_ABOVE
    fig = km_small_multiples(curves, overall)
    titles = [a.text for a in fig.layout.annotations]
    assert [t.split(" (")[0] for t in titles] == groups
    lines = [t for t in fig.data if t.name == "Group"]
    grey = [t for t in fig.data if t.name == "All patients"]
    assert len(lines) == len(grey) == 4
    assert {t.xaxis for t in lines} == {"x", "x2", "x3", "x4"}
    # each panel's line is its group's 1 - S, the grey one is everyone's
    first = curves[curves["instrument"] == "G1"]
    assert list(lines[0].y)[1:] == pytest.approx((1 - first["survival"]).tolist())
    assert list(grey[0].y)[1:] == pytest.approx((1 - overall["survival"]).tolist())
