"""Tests for katoutcomes.stats against published numbers, R output and hand calculations.

Where each expected number comes from is written next to it. The public reference data
sets are read from ``tests/data/reference`` (see its README.md for their sources, licences
and the published values).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from conftest import AML_MAINTAINED_R, REFERENCE_DATA
from katoutcomes.stats import (
    JT_CATEGORIES,
    JT_CRITICAL_VALUE,
    KMMedian,
    binomial_test,
    jacobson_truax,
    jacobson_truax_cutoffs,
    kaplan_meier,
    km_median,
    no_event_lower_limit,
    proportion_ci,
    risk_difference_ci,
    s_diff,
)


def _reference_csv(name: str) -> pd.DataFrame:
    path = REFERENCE_DATA / name
    if not path.is_file():
        pytest.fail(f"reference data {path} is missing from the checkout")
    return pd.read_csv(path)


def _counts(result: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in result["category"].value_counts(sort=False).items()}


# --------------------------------------------------------------------------------------
# Jacobson–Truax
# --------------------------------------------------------------------------------------


@pytest.fixture
def claus_wide() -> pd.DataFrame:
    long = _reference_csv("claus_2020.csv")
    return long.pivot(index="id", columns="time", values=["hamd", "bdi"])


@pytest.fixture
def jacobson_1989_wide() -> pd.DataFrame:
    long = _reference_csv("jacobson_1989.csv")
    return long.pivot(index="subject", columns="time", values=["das", "gds"])


def test_reliable_change_alone_reproduces_clinicalsignificance_on_claus_hamd(claus_wide):
    # tests/data/reference/README.md and R clinicalsignificance snapshot cs_distribution.md
    # (claus_2020, hamd, pre = 1, post = 4, reliability 0.8, JT): 29 / 10 / 1 of 40.
    pre, post = claus_wide["hamd"][1.0], claus_wide["hamd"][4.0]
    result = jacobson_truax(pre, post, reliability=0.80, cutoff=None)
    assert result["category"].notna().sum() == 40
    assert result["category"].isna().sum() == 3
    assert _counts(result) == {
        "recovered": 0,
        "improved": 29,
        "unchanged": 10,
        "deteriorated": 1,
        "harmed": 0,
    }


def test_cutoff_c_reproduces_clinicalsignificance_on_claus_hamd(claus_wide):
    # tests/data/reference/README.md and R clinicalsignificance snapshot cs_combined.md
    # (m_functional 8, sd_functional 8, cutoff c, JT): 26 / 3 / 10 / 1 / 0.
    pre, post = claus_wide["hamd"][1.0], claus_wide["hamd"][4.0]
    result = jacobson_truax(pre, post, reliability=0.80, functional_mean=8, functional_sd=8)
    assert _counts(result) == {
        "recovered": 26,
        "improved": 3,
        "unchanged": 10,
        "deteriorated": 1,
        "harmed": 0,
    }


@pytest.mark.parametrize(
    ("cutoff", "functional", "expected_cutoff"),
    [
        # R clinicalsignificance snapshot clinical_significance.md, claus_2020 bdi 1 -> 4,
        # reliability 0.8: cut-off a = 19.16 (M clinical 35.48, SD clinical 8.16) ...
        ("a", {}, 19.16),
        # ... and cut-off c = 21.6 with a functional population of mean 8, SD 8.
        ("c", {"functional_mean": 8, "functional_sd": 8}, 21.60),
    ],
)
def test_bdi_cutoffs_and_counts_match_clinicalsignificance(
    claus_wide, cutoff, functional, expected_cutoff
):
    pre, post = claus_wide["bdi"][1.0], claus_wide["bdi"][4.0]
    complete = pre.notna() & post.notna()
    cut = jacobson_truax_cutoffs(pre[complete], **functional)
    assert cut.m_clin == pytest.approx(35.48, abs=0.005)
    assert cut.sd_clin == pytest.approx(8.16, abs=0.005)
    assert cut.cutoff(cutoff) == pytest.approx(expected_cutoff, abs=0.005)
    # Same snapshot: recovered 10, improved 8, unchanged 22, deteriorated 0, harmed 0.
    result = jacobson_truax(pre, post, reliability=0.80, cutoff=cutoff, **functional)
    assert _counts(result) == {
        "recovered": 10,
        "improved": 8,
        "unchanged": 22,
        "deteriorated": 0,
        "harmed": 0,
    }


def test_jacobson_1989_gds_matches_clinicalsignificance(jacobson_1989_wide):
    # R clinicalsignificance snapshot clinical_significance.md: jacobson_1989, gds,
    # reliability 0.8, pre = "pre", method JT (cut-off a, lower is better):
    # recovered 10, improved 4, unchanged 12, deteriorated 0, harmed 0 (26 complete).
    pre, post = jacobson_1989_wide["gds"]["pre"], jacobson_1989_wide["gds"]["post"]
    result = jacobson_truax(pre, post, reliability=0.80, cutoff="a")
    assert result["category"].notna().sum() == 26
    assert _counts(result) == {
        "recovered": 10,
        "improved": 4,
        "unchanged": 12,
        "deteriorated": 0,
        "harmed": 0,
    }


def test_s_diff_matches_hand_calculation():
    # SD_pre 5, r 0.8: SE = 5 sqrt(0.2) = 2.23607; S_diff = sqrt(2) SE = 3.16228.
    assert s_diff(5.0, 0.80) == pytest.approx(3.162278, abs=1e-6)


def test_cutoffs_follow_jacobson_truax_example_in_both_directions():
    # Jacobson & Truax (1991) example as coded in R clinicalsignificance
    # test-calc_cutoff.R: M clinical 40, SD 7.5, M functional 60, SD 7.5.
    # c = (7.5*60 + 7.5*40)/15 = 50; higher is better: a = 40 + 15 = 55, b = 60 - 15 = 45;
    # lower is better: a = 40 - 15 = 25, b = 60 + 15 = 75.
    pre = [32.5, 40.0, 47.5]  # mean 40, sample SD 7.5
    higher = jacobson_truax_cutoffs(
        pre, functional_mean=60, functional_sd=7.5, higher_is_better=True
    )
    lower = jacobson_truax_cutoffs(pre, functional_mean=60, functional_sd=7.5)
    assert (higher.a, higher.b, higher.c) == pytest.approx((55.0, 45.0, 50.0))
    assert (lower.a, lower.b, lower.c) == pytest.approx((25.0, 75.0, 50.0))
    assert lower.summary().loc[0, ["n", "m_clin", "sd_clin"]].tolist() == pytest.approx(
        [3, 40.0, 7.5]
    )


def test_categories_use_strict_inequalities_at_the_cutoff_and_critical_value():
    # pre 10, 12, 14: mean 12, sample SD exactly 2; r 0.5 -> S_diff = 2 sqrt(2*0.5) = 2.
    # Cut-off a = 12 - 2*2 = 8. RCI = (post - pre)/2 = -2.5, 2.0, -3.0.
    # Patient 3 ends exactly on the cut-off (8 < 8 is false): improved, not recovered.
    pre, post = [10.0, 12.0, 14.0], [5.0, 16.0, 8.0]
    result = jacobson_truax(pre, post, reliability=0.5, cutoff="a")
    assert result["rci"].tolist() == pytest.approx([-2.5, 2.0, -3.0])
    assert result["category"].tolist() == ["recovered", "deteriorated", "improved"]
    # An RCI exactly at the critical value is not reliable change.
    at_boundary = jacobson_truax(pre, post, reliability=0.5, cutoff="a", critical_value=2.0)
    assert at_boundary["category"].tolist() == ["recovered", "unchanged", "improved"]


def test_harm_needs_reliable_deterioration_across_the_cutoff():
    # pre 2, 6, 10: mean 6, sample SD exactly 4; r 0.5 -> S_diff 4.
    # Functional mean 0, SD 4: c = (4*0 + 4*6)/(4 + 4) = 3.
    # RCI = (12-2)/4 = 2.5 (2 < 3 < 12: harmed), (3-6)/4 = -0.75, (0-10)/4 = -2.5
    # (10 > 3 > 0: recovered).
    result = jacobson_truax(
        [2.0, 6.0, 10.0], [12.0, 3.0, 0.0], reliability=0.5, functional_mean=0, functional_sd=4
    )
    assert result["rci"].tolist() == pytest.approx([2.5, -0.75, -2.5])
    assert result["category"].tolist() == ["harmed", "unchanged", "recovered"]


def test_higher_is_better_mirrors_every_direction():
    # The previous case with every score negated: the same patients, the same categories.
    result = jacobson_truax(
        [-2.0, -6.0, -10.0],
        [-12.0, -3.0, 0.0],
        reliability=0.5,
        functional_mean=0,
        functional_sd=4,
        higher_is_better=True,
    )
    assert result["rci"].tolist() == pytest.approx([-2.5, 0.75, 2.5])
    assert result["category"].tolist() == ["harmed", "unchanged", "recovered"]


def test_result_keeps_the_series_index_and_marks_missing_pairs():
    pre = pd.Series([10.0, 12.0, np.nan, 14.0], index=["p1", "p2", "p3", "p4"])
    post = pd.Series([5.0, 16.0, 9.0, 8.0], index=["p1", "p2", "p3", "p4"])
    result = jacobson_truax(pre, post, reliability=0.5, cutoff="a")
    assert list(result.index) == ["p1", "p2", "p3", "p4"]
    assert list(result.columns) == ["rci", "category"]
    assert np.isnan(result.loc["p3", "rci"])
    assert pd.isna(result.loc["p3", "category"])
    assert list(result["category"].cat.categories) == list(JT_CATEGORIES)
    # The missing pair does not enter SD_pre: same answers as the three complete pairs.
    assert result["category"].dropna().tolist() == ["recovered", "deteriorated", "improved"]


def test_jacobson_truax_input_data_not_modified():
    pre = pd.Series([10.0, 12.0, np.nan, 14.0])
    post = pd.Series([5.0, 16.0, 9.0, 8.0])
    pre_copy, post_copy = pre.copy(), post.copy()
    jacobson_truax(pre, post, reliability=0.5, cutoff="a")
    pd.testing.assert_series_equal(pre, pre_copy)
    pd.testing.assert_series_equal(post, post_copy)


def test_default_critical_value_is_the_normal_975_quantile():
    # qnorm(0.975) = 1.959964 to six decimals (Jacobson & Truax 1991 use 1.96).
    assert pytest.approx(1.959964, abs=1e-6) == JT_CRITICAL_VALUE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pre": [1.0, 2.0, 3.0], "post": [1.0, 2.0]}, "same length"),
        ({"reliability": 1.0}, "reliability"),
        ({"reliability": -0.1}, "reliability"),
        ({"cutoff": "c", "functional_mean": None, "functional_sd": None}, "functional"),
        ({"cutoff": "d"}, "cutoff"),
        ({"functional_mean": 3.0, "functional_sd": None}, "both"),
        ({"pre": [10.0, np.nan, 14.0], "post": [5.0, 16.0, np.nan]}, "two complete"),
        ({"pre": [10.0, 10.0, 10.0]}, "SD_pre is 0"),
        ({"pre": [10.0, np.inf, 14.0]}, "infinite"),
        ({"pre": ["a", "b", "c"]}, "numeric"),
    ],
)
def test_invalid_jacobson_truax_input_raises_a_clear_error(kwargs, message):
    arguments = {
        "pre": [10.0, 12.0, 14.0],
        "post": [5.0, 16.0, 8.0],
        "reliability": 0.5,
        "functional_mean": 0.0,
        "functional_sd": 4.0,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        jacobson_truax(**arguments)


def test_series_with_different_indexes_raise_instead_of_aligning():
    pre = pd.Series([10.0, 12.0, 14.0], index=[1, 2, 3])
    post = pd.Series([5.0, 16.0, 8.0], index=[3, 2, 1])
    with pytest.raises(ValueError, match="different indexes"):
        jacobson_truax(pre, post, reliability=0.5, cutoff="a")


# --------------------------------------------------------------------------------------
# Kaplan–Meier
# --------------------------------------------------------------------------------------


@pytest.fixture
def aml() -> pd.DataFrame:
    return _reference_csv("aml.csv")


def _group(aml: pd.DataFrame, name: str) -> tuple[pd.Series, pd.Series]:
    rows = aml[aml["x"] == name]
    return rows["time"], rows["status"]


@pytest.mark.parametrize(("time", "survival", "std_err"), AML_MAINTAINED_R)
def test_kaplan_meier_matches_r_survfit_on_aml_maintained(aml, time, survival, std_err):
    curve = kaplan_meier(*_group(aml, "Maintained")).set_index("time")
    assert curve.loc[time, "survival"] == pytest.approx(survival, abs=5e-4)
    assert curve.loc[time, "std_err"] == pytest.approx(std_err, abs=5e-5)


def test_kaplan_meier_lists_event_and_censoring_times_with_r_risk_sets(aml):
    # Counted by hand from aml.csv (Maintained), as R's summary(fit, censored = TRUE):
    # the subject censored at 13 is still at risk at 13 (10 at risk, 1 event).
    curve = kaplan_meier(*_group(aml, "Maintained"))
    assert list(curve.columns) == [
        "time",
        "at_risk",
        "events",
        "survival",
        "std_err",
        "ci_low",
        "ci_high",
    ]
    assert curve["time"].tolist() == [9, 13, 18, 23, 28, 31, 34, 45, 48, 161]
    assert curve["at_risk"].tolist() == [11, 10, 8, 7, 6, 5, 4, 3, 2, 1]
    assert curve["events"].tolist() == [1, 1, 1, 1, 0, 1, 1, 0, 1, 0]


def test_log_scale_interval_matches_hand_calculation(aml):
    curve = kaplan_meier(*_group(aml, "Maintained")).set_index("time")
    # t = 9: n = 11, d = 1, S = 10/11 = 0.9090909, se(log S) = sqrt(1/(11*10)) = 0.0953463,
    # z*se = 1.959964 * 0.0953463 = 0.1868752; lower = 0.9090909 * exp(-0.1868752)
    # = 0.9090909 * 0.8295472 = 0.7541338; upper = 0.9090909 * 1.2054769 = 1.0959 -> 1.
    assert curve.loc[9, "ci_low"] == pytest.approx(0.7541338, abs=1e-6)
    assert curve.loc[9, "ci_high"] == 1.0
    # t = 23: S = (10/11)(9/10)(7/8)(6/7) = 0.6136364; V = 1/110 + 1/90 + 1/56 + 1/42
    # = 0.0618687, se = 0.2487342, z*se = 0.4875100; upper = 0.6136364 * exp(0.4875100)
    # = 0.6136364 * 1.6282568 = 0.9991576; lower = 0.6136364 / 1.6282568 = 0.3768671.
    assert curve.loc[23, "ci_high"] == pytest.approx(0.9991576, abs=1e-6)
    assert curve.loc[23, "ci_low"] == pytest.approx(0.3768671, abs=1e-6)


def test_survival_of_zero_has_missing_error_and_interval_as_r_reports(aml):
    # R: Nonmaintained at t = 45 (n = 1, d = 1): survival 0, std.err NaN, CI NA.
    curve = kaplan_meier(*_group(aml, "Nonmaintained"))
    last = curve.iloc[-1]
    assert last["time"] == 45
    assert last["survival"] == 0.0
    assert np.isnan(last["std_err"])
    assert np.isnan(last["ci_low"])
    assert np.isnan(last["ci_high"])


@pytest.mark.parametrize(
    ("group", "expected"),
    # tests/data/reference/README.md (R survival 3.8, print(survfit(...))):
    # Maintained median 31 (95% CI 18 to NA); Nonmaintained 23 (8 to NA).
    [("Maintained", (31.0, 18.0, None)), ("Nonmaintained", (23.0, 8.0, None))],
)
def test_km_median_and_interval_match_r_on_aml(aml, group, expected):
    assert tuple(km_median(*_group(aml, group))) == expected


def test_km_median_takes_the_midpoint_where_the_curve_sits_on_one_half():
    # Four events at 1, 2, 3, 4: S = 0.75, 0.5, 0.25, 0. S equals 0.5 on [2, 3), so R's
    # quantile.survfit returns (2 + 3)/2 = 2.5 (print(survfit(Surv(1:4) ~ 1)) shows 2.5).
    result = km_median([1, 2, 3, 4], [1, 1, 1, 1])
    assert result.median == 2.5


def test_km_median_flat_at_one_half_until_the_end_is_the_time_it_got_there():
    # Events at 1 and 2, censored at 3 and 4: S = 0.75, 0.5, 0.5, 0.5. The curve never
    # drops below 0.5, so print(survfit(...)) (survmean's minmin) shows 2, the first time
    # at 0.5. (quantile.survfit would give (2 + 4)/2 = 3; one rule serves all three
    # numbers here, print's.)
    assert km_median([1, 2, 3, 4], [1, 1, 0, 0]).median == 2.0
    # Censored at 3, event at 25 (2 at risk: S = 0.5), censored at 37: median 25, as
    # print shows, not (25 + 37)/2.
    assert km_median([37, 3, 25], [0, 0, 1]).median == 25.0


def test_km_median_limits_are_the_first_crossings_of_the_bands():
    # 17 subjects; events at each time except a censoring at 26. With n at risk and one
    # event, S after the k-th event is (17 - k)/17 and var(log S) = sum 1/(n(n - 1)) =
    # 1/(n_last - 1) - 1/17 (telescoping).
    # Median: S(14) = 9/17 = 0.529, S(16) = 8/17 = 0.471 -> 16.
    # Lower band at 8: S = 12/17, var = 1/12 - 1/17 = 0.024510, se = 0.156556,
    #   12/17 * exp(-1.959964 * 0.156556) = 0.519 > 0.5; at 10: S = 11/17, var = 1/11 -
    #   1/17 = 0.032086, se = 0.179125, 11/17 * exp(-0.351079) = 0.455 -> 10.
    # Upper band at 20: S = 4/17, var = 1/4 - 1/17 = 0.191176, se = 0.437237,
    #   4/17 * exp(0.856969) = 0.554 > 0.5; at 21: S = 3/17, var = 1/3 - 1/17 = 0.274510,
    #   se = 0.523937, 3/17 * exp(1.026895) = 0.493 -> 21 (R's print; the band is 0.495
    #   again at 27, which quantile.survfit would read as 27).
    times = [1, 3, 4, 5, 8, 10, 12, 14, 16, 17, 18, 19, 20, 21, 26, 27, 28]
    events = [1] * 14 + [0, 1, 1]
    assert tuple(km_median(times, events)) == (16.0, 10.0, 21.0)


def test_all_censored_gives_no_median_and_a_flat_curve():
    result = km_median([3.0, 5.0, 8.0], [0, 0, 0])
    assert result == KMMedian(None, None, None)
    curve = kaplan_meier([3.0, 5.0, 8.0], [False, False, False])
    assert curve["survival"].tolist() == [1.0, 1.0, 1.0]
    assert curve["std_err"].tolist() == [0.0, 0.0, 0.0]
    # No event: the exact interval for 0 events among the 3, 2 and 1 still followed,
    # 0.025^(1/3) = 0.2924018, 0.025^(1/2) = 0.1581139, 0.025^(1/1) = 0.025 (methods §6.4).
    assert curve["ci_low"].tolist() == pytest.approx([0.2924018, 0.1581139, 0.025], abs=1e-7)
    assert curve["ci_high"].tolist() == [1.0, 1.0, 1.0]


def test_a_zero_event_curve_has_the_exact_interval_for_the_patients_still_followed():
    # 35 patients followed past 84 days (censored at 90..124) and 5 censored earlier
    # (10, 20, 30, 40, 50), no event anywhere. At 84 days the last curve time <= 84 is 50,
    # where n_t = 35 + 1 = 36 were at risk (the one censored at 50 was seen event-free at
    # 50); the first row after 50 is 90 with n_t = 35. Read at 90 (the 35 still followed):
    # Clopper-Pearson for 0 events in 35: (1 - p_U)^35 = 0.025, S lower = 0.025^(1/35)
    # = exp(ln(0.025)/35) = exp(-3.6888795/35) = exp(-0.1053966) = 0.8999676.
    durations = [10, 20, 30, 40, 50, *range(90, 125)]
    curve = kaplan_meier(durations, [0] * len(durations)).set_index("time")
    assert curve.loc[90, "at_risk"] == 35
    assert curve.loc[90, "ci_low"] == pytest.approx(0.8999676, abs=1e-7)
    assert curve.loc[90, "ci_high"] == 1.0
    assert curve.loc[90, "survival"] == 1.0
    # At 50, 36 at risk: 0.025^(1/36) = exp(-3.6888795/36) = exp(-0.1024689) = 0.9026062.
    assert curve.loc[50, "ci_low"] == pytest.approx(0.9026062, abs=1e-7)
    assert no_event_lower_limit(35)[0] == pytest.approx(0.89997, abs=5e-6)


def test_the_exact_interval_stops_at_the_first_event_and_r_intervals_take_over():
    # Censored at 2 and 3 (no event yet: at risk 5 and 4, lower 0.025^(1/5) = 0.4781762
    # and 0.025^(1/4) = 0.3976354); an event at 4 with 3 at risk: S = 2/3, log-scale
    # interval exp(log(2/3) -/+ 1.959964 sqrt(1/(3*2))): se = 0.4082483, z*se = 0.8001520,
    # lower = 0.6666667 * exp(-0.8001520) = 0.6666667 * 0.4492607 = 0.2995071.
    curve = kaplan_meier([2, 3, 4, 5, 6], [0, 0, 1, 0, 0])
    assert curve["ci_low"].tolist()[:3] == pytest.approx(
        [0.4781762, 0.3976354, 0.2995071], abs=1e-7
    )
    # After the first event the rows keep R's log-scale interval even without a new event:
    # at 5 (censored) S and V are unchanged, so the interval is that of t = 4.
    assert curve["ci_low"].iloc[3] == pytest.approx(
        (2 / 3) * math.exp(-1.959964 * math.sqrt(1 / 6)), abs=1e-7
    )


def test_the_median_interval_is_still_read_from_r_bands_before_the_first_event():
    # Two censored at 1 and 2, then events at 3, 4, 5, 6: with the exact no-event limits
    # (0.025^(1/6) = 0.54, 0.025^(1/5) = 0.478 <= 0.5) the lower band would cross 0.5 at
    # t = 2, before any event; R's bands are 1 there, so its lower limit comes later.
    times, events = [1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 1, 1]
    assert km_median(times, events).ci_low is not None
    assert km_median(times, events).ci_low >= 3.0


def test_subjects_censored_at_an_event_time_are_still_at_risk():
    # Event and censoring at t = 2: 3 at risk, 1 event -> S = 2/3 (not 1/2, which is what
    # treating the censored subject as gone before t = 2 would give).
    curve = kaplan_meier([2.0, 2.0, 3.0], [1, 0, 1])
    assert curve["at_risk"].tolist() == [3, 1]
    assert curve["events"].tolist() == [1, 1]
    assert curve["survival"].tolist() == pytest.approx([2 / 3, 0.0])


def test_km_median_unpacks_like_a_tuple():
    median, low, high = km_median([1, 2, 3, 4], [1, 1, 1, 1])
    assert median == 2.5
    assert (low is None) or isinstance(low, float)
    assert (high is None) or isinstance(high, float)


def test_empty_input_gives_an_empty_curve_and_no_median():
    curve = kaplan_meier([], [])
    assert curve.empty
    assert list(curve.columns)[:3] == ["time", "at_risk", "events"]
    assert km_median([], []) == KMMedian(None, None, None)


def test_kaplan_meier_input_data_not_modified(aml):
    time, status = _group(aml, "Maintained")
    time_copy, status_copy = time.copy(), status.copy()
    kaplan_meier(time, status)
    km_median(time, status)
    pd.testing.assert_series_equal(time, time_copy)
    pd.testing.assert_series_equal(status, status_copy)


@pytest.mark.parametrize(
    ("durations", "events", "message"),
    [
        ([1.0, 2.0, 3.0], [1, 0], "same length"),
        ([1.0, np.nan, 3.0], [1, 0, 1], "missing"),
        ([1.0, 2.0, 3.0], [1, np.nan, 1], "missing"),
        ([1.0, -2.0, 3.0], [1, 0, 1], ">= 0"),
        ([1.0, np.inf, 3.0], [1, 0, 1], "finite"),
        ([1.0, 2.0, 3.0], [1, 2, 1], "True/False or 1/0"),
    ],
)
def test_invalid_survival_input_raises_a_clear_error(durations, events, message):
    with pytest.raises(ValueError, match=message):
        kaplan_meier(durations, events)


# --------------------------------------------------------------------------------------
# Proportions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # Newcombe RG, Stat Med 1998;17:857-872, Table I, method 3 (Wilson score without
    # continuity correction); 81/263 and 15/148 are also the expected values of the
    # R package propint's tests (test_Single_Proportion_CI.R).
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_table_one(k, n, low, high):
    row = proportion_ci(k, n).iloc[0]
    assert row["estimate"] == pytest.approx(k / n)
    assert row["ci_low"] == pytest.approx(low, abs=5e-5)
    assert row["ci_high"] == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(
    ("k", "n", "method", "low", "high"),
    [
        # R 4.3.3 DescTools::BinomCI and binom.test, recorded in statsmodels'
        # test_proportion.py (test_proportion_confint): 100/200.
        (100, 200, "wilson", 0.4313609, 0.5686391),
        (100, 200, "clopper-pearson", 0.4286584, 0.5713416),
        # R binom.test(51, 235, 1/6)$conf.int, recorded in statsmodels' test_binom_test.
        (51, 235, "clopper-pearson", 0.1660633298083073, 0.2752683640289254),
        (51, 235, "exact", 0.1660633298083073, 0.2752683640289254),
        # Hand calculation: at k = 0 the exact upper limit solves (1 - p)^n = alpha/2,
        # p = 1 - 0.025^(1/20) = 1 - exp(ln(0.025)/20) = 0.1684335.
        (0, 20, "clopper-pearson", 0.0, 0.1684335),
    ],
)
def test_proportion_interval_matches_r(k, n, method, low, high):
    row = proportion_ci(k, n, method=method).iloc[0]
    assert row["ci_low"] == pytest.approx(low, abs=1e-7)
    assert row["ci_high"] == pytest.approx(high, abs=1e-7)


def test_proportion_ci_returns_one_row_per_input_and_nan_for_no_trials():
    result = proportion_ci([81, 15, 0], [263, 148, 0])
    assert list(result.columns) == ["k", "n", "estimate", "ci_low", "ci_high"]
    assert result["k"].tolist() == [81, 15, 0]
    assert result["n"].tolist() == [263, 148, 0]
    assert result.loc[2, ["estimate", "ci_low", "ci_high"]].isna().all()
    # Cross-check against statsmodels for the two real rows.
    low, high = proportion_confint([81, 15], [263, 148], method="wilson")
    assert result.loc[:1, "ci_low"].tolist() == pytest.approx(list(low))
    assert result.loc[:1, "ci_high"].tolist() == pytest.approx(list(high))


def test_a_single_n_applies_to_every_k():
    result = proportion_ci([0, 5, 10], 10, method="clopper-pearson")
    assert result["n"].tolist() == [10, 10, 10]
    # Exact limits at the edges: 0 below k = 0 and 1 above k = n.
    assert result.loc[0, "ci_low"] == 0.0
    assert result.loc[2, "ci_high"] == 1.0


@pytest.mark.parametrize(
    ("k", "n", "method", "message"),
    [
        (5, 4, "wilson", "exceeds"),
        (-1, 4, "wilson", "whole numbers"),
        (1.5, 4, "wilson", "whole numbers"),
        (1, 4, "wald", "Unknown method"),
        ([1, 2, 3], [4, 5], "wilson", "same length"),
    ],
)
def test_invalid_proportion_input_raises_a_clear_error(k, n, method, message):
    with pytest.raises(ValueError, match=message):
        proportion_ci(k, n, method=method)


def test_binomial_test_matches_hand_calculation_for_a_fair_coin():
    # P(X <= 7 | n = 20, p = 0.5) = sum_{i<=7} C(20, i) / 2^20 = 137980 / 1048576
    # = 0.1315880; by symmetry the two-sided p-value is twice that, 0.2631760.
    assert binomial_test(7, 20, 0.5) == pytest.approx(0.2631760, abs=1e-7)


def test_binomial_test_matches_r_binom_test_for_an_asymmetric_null():
    # R binom.test(51, 235, 1/6)$p.value = 0.0437479701823997, recorded in statsmodels'
    # test_proportion.py (test_binom_test).
    assert binomial_test(51, 235, 1 / 6) == pytest.approx(0.0437479701823997, rel=1e-9)


def test_binomial_test_with_no_trials_is_nan():
    assert math.isnan(binomial_test(0, 0, 0.5))


# --------------------------------------------------------------------------------------
# Difference of two proportions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    # Newcombe RG, Stat Med 1998;17:873-890, Table II, method 10 (hybrid score). The first
    # two are also the expected values of the R package propint's tests
    # (test_Two_Independent_Props_CI.R).
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
    ],
)
def test_newcombe_interval_matches_newcombe_table_two(k1, n1, k2, n2, low, high):
    row = risk_difference_ci(k1, n1, k2, n2).iloc[0]
    assert row["estimate"] == pytest.approx(k1 / n1 - k2 / n2)
    assert row["ci_low"] == pytest.approx(low, abs=5e-5)
    assert row["ci_high"] == pytest.approx(high, abs=5e-5)


def test_newcombe_interval_agrees_with_statsmodels_newcomb():
    # Independent implementation: statsmodels confint_proportions_2indep(method="newcomb").
    cases = [(6, 7, 2, 7), (7, 34, 1, 34), (3, 40, 12, 41), (20, 20, 19, 20)]
    k1, n1, k2, n2 = (list(column) for column in zip(*cases, strict=True))
    result = risk_difference_ci(k1, n1, k2, n2)
    for row, case in zip(result.itertuples(), cases, strict=True):
        low, high = confint_proportions_2indep(*case, method="newcomb")
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), abs=1e-10)


def test_risk_difference_ci_columns_and_no_trials():
    result = risk_difference_ci([56, 0], [70, 0], [48, 1], [80, 4])
    assert list(result.columns) == ["k1", "n1", "k2", "n2", "estimate", "ci_low", "ci_high"]
    assert result.loc[1, ["estimate", "ci_low", "ci_high"]].isna().all()
