"""Adjusted comparisons: logistic fits against published values, g-computation by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import build
from katoutcomes.cohort import NotMeasurableError, subgroup_rates
from katoutcomes.comparisons import (
    EPV_WARNING,
    adjusted_effect,
    comparison_frame,
    effects_table,
    fit_logistic,
    predictors_of_response,
)
from katoutcomes.dataset import Dataset
from katoutcomes.outcomes import patient_outcomes

DATA = Path(__file__).resolve().parent / "data" / "comparisons"
Z = 1.959963984540054  # standard normal 0.975 quantile


def _expand(table: pd.DataFrame, yes: str, no: str, outcome: str) -> pd.DataFrame:
    """One row per subject from a grouped table of yes/no counts."""
    keys = [c for c in table.columns if c not in (yes, no)]
    events = table.loc[table.index.repeat(table[yes]), keys].assign(**{outcome: 1})
    others = table.loc[table.index.repeat(table[no]), keys].assign(**{outcome: 0})
    return pd.concat([events, others], ignore_index=True)


def _frame(n: int, **columns: object) -> pd.DataFrame:
    """A frame shaped like comparison_frame's, with only the given columns recorded."""
    text = pd.array([None] * n, dtype="str")
    frame = pd.DataFrame(
        {
            "patient_id": pd.array([f"P{i:04d}" for i in range(n)], dtype="str"),
            "response": np.zeros(n, dtype=np.int64),
            "baseline": np.full(n, np.nan),
            "prior_failures": np.full(n, np.nan),
            **{c: text for c in ("diagnosis", "age_band", "sex", "ssri", "psychotherapy")},
            **{c: text for c in ("trd", "route", "site", "clinician")},
        }
    )
    for name, values in columns.items():
        if isinstance(values, (list, np.ndarray)) and len(values) and isinstance(values[0], str):
            frame[name] = pd.array(values, dtype="str")
        else:
            frame[name] = values
    return frame


def _cells(*cells: tuple[str, str, int, int]) -> pd.DataFrame:
    """Patients from (exposure, stratum, responders, patients) cells."""
    exposure, stratum, response = [], [], []
    for level, group, k, n in cells:
        exposure += [level] * n
        stratum += [group] * n
        response += [1] * k + [0] * (n - k)
    return _frame(
        len(response),
        response=np.array(response, dtype=np.int64),
        psychotherapy=exposure,
        diagnosis=stratum,
    )


# --------------------------------------------------------------------------------------
# The logistic fit against published estimates
# --------------------------------------------------------------------------------------


def test_odds_ratios_match_agrestis_death_penalty_model():
    # Agresti, An Introduction to Categorical Data Analysis, 2nd ed. (2007), death penalty
    # example: logit = -3.596 - 0.868 d + 2.404 v (d = 1 white defendant, v = 1 white victim),
    # SE 0.367 and 0.601; data of Table 2.10 (tests/data/comparisons/README.md).
    table = pd.read_csv(DATA / "death_penalty.csv")
    subjects = _expand(table, "death_penalty_yes", "death_penalty_no", "death")
    assert len(subjects) == 674
    fit = fit_logistic(subjects, "death", categorical={"defendant": "black", "victim": "black"})
    assert fit.params["intercept"] == pytest.approx(-3.596, abs=5e-4)
    summary = fit.summary().set_index("term")
    defendant, victim = summary.loc["defendant"], summary.loc["victim"]
    assert defendant["estimate"] == pytest.approx(-0.868, abs=5e-4)
    assert defendant["std_error"] == pytest.approx(0.367, abs=5e-4)
    assert victim["estimate"] == pytest.approx(2.404, abs=5e-4)
    assert victim["std_error"] == pytest.approx(0.601, abs=5e-4)
    # Odds ratios and Wald limits from the published estimates: exp(b -/+ 1.96 se). The
    # estimates are published to 3 decimals, so each limit is known to within
    # exp(+/-(0.0005 + 1.96 * 0.0005)), a relative 0.15%.
    assert defendant["odds_ratio"] == pytest.approx(math.exp(-0.868), rel=1e-3)
    assert defendant["ci_low"] == pytest.approx(math.exp(-0.868 - Z * 0.367), rel=2e-3)
    assert defendant["ci_high"] == pytest.approx(math.exp(-0.868 + Z * 0.367), rel=2e-3)
    assert victim["odds_ratio"] == pytest.approx(11.07, abs=0.01)  # Agresti: "11.1"
    assert victim["ci_low"] == pytest.approx(math.exp(2.404 - Z * 0.601), rel=2e-3)
    assert victim["ci_high"] == pytest.approx(math.exp(2.404 + Z * 0.601), rel=2e-3)
    # The empty cell (no death sentence for the 16 white defendants of black victims) is
    # one cell, not a whole level: no level is separated.
    assert fit.separated == ()


def test_a_continuous_dose_matches_dobson_and_barnetts_beetle_model():
    # Dobson & Barnett, An Introduction to Generalized Linear Models, 3rd ed. (2008),
    # section 7.3 (dose-response models), logistic model: b1 = -60.72 (SE 5.18), b2 = 34.27
    # (SE 2.91).
    table = pd.read_csv(DATA / "beetle_mortality.csv")
    table["survived"] = table["beetles"] - table["killed"]
    subjects = _expand(table.drop(columns="beetles"), "killed", "survived", "dead")
    fit = fit_logistic(subjects, "dead", ["log10_dose"])
    se = np.sqrt(np.diag(fit.cov.to_numpy()))
    assert fit.params["intercept"] == pytest.approx(-60.72, abs=5e-3)
    assert fit.params["log10_dose"] == pytest.approx(34.27, abs=5e-3)
    assert se[0] == pytest.approx(5.18, abs=5e-3)
    assert se[1] == pytest.approx(2.91, abs=5e-3)


def test_a_categorical_term_with_one_level_is_refused():
    frame = pd.DataFrame({"y": [0, 1, 1, 0], "g": ["a", "a", "a", "a"]})
    with pytest.raises(NotMeasurableError, match="single level"):
        fit_logistic(frame, "y", categorical=["g"])


def test_collinear_terms_are_refused():
    frame = pd.DataFrame({"y": [0, 1, 1, 0, 1], "a": [1.0, 2, 3, 4, 5]})
    frame["b"] = 2 * frame["a"]
    with pytest.raises(NotMeasurableError, match="collinear"):
        fit_logistic(frame, "y", ["a", "b"])


def test_perfect_separation_is_refused():
    frame = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1], "x": [1.0, 2, 3, 4, 5, 6]})
    with pytest.raises(NotMeasurableError, match="separation"):
        fit_logistic(frame, "y", ["x"])


# --------------------------------------------------------------------------------------
# Standardised risk difference by hand
# --------------------------------------------------------------------------------------


def test_standardised_risk_difference_matches_a_hand_computation():
    # Two strata with the same odds ratio 4 for psychotherapy:
    #   MDD: psychotherapy 8/10 (odds 4), none 5/10 (odds 1)
    #   TRD: psychotherapy 4/10 (odds 2/3), none 1/7 (odds 1/6)
    # The main-effects model then fits the four cells exactly (its MLE reproduces the
    # observed proportions), so the adjusted OR is 4 and g-computation averages the
    # stratum differences over the 37 patients' strata:
    #   MDD has 20 patients, difference 0.8 - 0.5 = 0.3
    #   TRD has 17 patients, difference 0.4 - 1/7 = 0.2571429
    #   RD = (20 * 0.3 + 17 * 0.2571429) / 37 = (6 + 4.3714286) / 37 = 0.2803089
    frame = _cells(("yes", "MDD", 8, 10), ("no", "MDD", 5, 10), ("yes", "TRD", 4, 10))
    frame = pd.concat([frame, _cells(("no", "TRD", 1, 7))], ignore_index=True)
    effect = adjusted_effect(frame, "psychotherapy")[0]
    assert effect.not_measurable is None
    assert effect.odds_ratio == pytest.approx(4.0, rel=1e-6)
    assert effect.risk_difference == pytest.approx((6 + 17 * (0.4 - 1 / 7)) / 37, abs=1e-7)
    assert effect.risk_difference == pytest.approx(0.2803089, abs=1e-7)
    # Crude: 12/20 - 6/17 = 0.6 - 0.3529412 = 0.2470588 (Newcombe interval around it).
    assert effect.crude_estimate == pytest.approx(0.6 - 6 / 17)
    assert effect.crude_ci_low < effect.crude_estimate < effect.crude_ci_high
    assert effect.covariates == ("diagnosis",)
    assert (effect.n, effect.events, effect.n_excluded) == (37, 18, 0)


def test_without_covariates_the_delta_method_gives_the_unpooled_wald_interval():
    # Exposure only: the model is saturated, RD = p1 - p0 and the delta-method variance is
    # p1 (1 - p1) / n1 + p0 (1 - p0) / n0 (the unpooled Wald variance):
    #   p1 = 12/20 = 0.6, p0 = 6/17 = 0.3529412
    #   var = 0.6 * 0.4 / 20 + (6/17)(11/17) / 17 = 0.012 + 0.0134337 = 0.0254337
    #   se = 0.1594796; RD = 0.2470588; interval RD -/+ 1.959964 se
    # The odds ratio is (12/8) / (6/11) = 2.75 with log-scale SE
    #   sqrt(1/12 + 1/8 + 1/6 + 1/11) = 0.6825749 (Woolf).
    frame = _cells(("yes", "x", 12, 20), ("no", "x", 6, 17)).assign(
        diagnosis=pd.array([None] * 37, dtype="str")
    )
    effect = adjusted_effect(frame, "psychotherapy")[0]
    se = math.sqrt(0.6 * 0.4 / 20 + (6 / 17) * (11 / 17) / 17)
    assert se == pytest.approx(0.1594796, abs=1e-7)
    assert effect.risk_difference == pytest.approx(0.2470588, abs=1e-7)
    assert effect.ci_low == pytest.approx(0.2470588 - Z * se, abs=1e-6)
    assert effect.ci_high == pytest.approx(0.2470588 + Z * se, abs=1e-6)
    assert effect.odds_ratio == pytest.approx(2.75, rel=1e-6)
    woolf = math.sqrt(1 / 12 + 1 / 8 + 1 / 6 + 1 / 11)
    assert effect.or_ci_low == pytest.approx(2.75 * math.exp(-Z * woolf), rel=1e-5)
    assert effect.or_ci_high == pytest.approx(2.75 * math.exp(Z * woolf), rel=1e-5)
    assert effect.covariates == ()
    assert any("baseline score is not recorded" in note for note in effect.notes)


def test_the_risk_difference_does_not_depend_on_how_covariates_are_coded():
    rng = np.random.default_rng(7)
    n = 400
    baseline = rng.integers(10, 28, n).astype(float)
    diagnosis = rng.choice(["MDD", "TRD", "PTSD"], n, p=[0.5, 0.3, 0.2])
    exposed = rng.random(n) < 0.5
    logit = 0.5 - 0.15 * (baseline - 18) + 0.4 * exposed + (diagnosis == "TRD") * -0.6
    response = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame = _frame(
        n,
        response=response,
        baseline=baseline,
        diagnosis=list(diagnosis),
        ssri=list(np.where(exposed, "yes", "no")),
    )
    first = adjusted_effect(frame, "ssri")[0]
    # Centre the baseline and rename the diagnoses so that another level is the most
    # frequent (and so the reference): the coefficients change, the RD and OR do not.
    recoded = frame.assign(
        baseline=frame["baseline"] - 18.0,
        diagnosis=frame["diagnosis"].map({"MDD": "z", "TRD": "a", "PTSD": "b"}),
    )
    second = adjusted_effect(recoded, "ssri")[0]
    assert second.risk_difference == pytest.approx(first.risk_difference, abs=1e-9)
    assert second.ci_low == pytest.approx(first.ci_low, abs=1e-9)
    assert second.odds_ratio == pytest.approx(first.odds_ratio, rel=1e-9)


def _confounded(seed: int, n: int = 1500) -> pd.DataFrame:
    """Milder patients choose psychotherapy and respond more; psychotherapy does nothing.

    P(psychotherapy) = expit(-0.35 (baseline - 18)); P(response) = expit(0.4 - 0.3
    (baseline - 18)), independent of psychotherapy given the baseline: the true adjusted
    effect is 0 while the crude difference is about +0.35.
    """
    rng = np.random.default_rng(seed)
    baseline = rng.integers(10, 28, n).astype(float)
    centred = baseline - 18.0
    psychotherapy = rng.random(n) < 1 / (1 + np.exp(0.35 * centred))
    response = rng.random(n) < 1 / (1 + np.exp(-(0.4 - 0.3 * centred)))
    return _frame(
        n,
        response=response.astype(np.int64),
        baseline=baseline,
        psychotherapy=list(np.where(psychotherapy, "yes", "no")),
    )


def test_adjustment_removes_confounding_by_baseline_severity():
    # Over seeds 0-39, the crude lower limit stayed above 0.30 and the adjusted 95%
    # interval covered 0 in 39 of 40 (as a 95% interval should); seed 1 is one of those.
    effect = adjusted_effect(_confounded(seed=1), "psychotherapy")[0]
    assert effect.crude_ci_low > 0.2  # crude: psychotherapy looks much better
    assert effect.ci_low < 0.0 < effect.ci_high  # adjusted: no effect
    assert abs(effect.risk_difference) < 0.05
    assert effect.or_ci_low < 1.0 < effect.or_ci_high


# --------------------------------------------------------------------------------------
# Not measurable, explicitly
# --------------------------------------------------------------------------------------


def test_an_exposure_that_separates_the_outcome_is_not_measurable():
    frame = _cells(("yes", "MDD", 12, 12), ("no", "MDD", 5, 12), ("no", "TRD", 3, 10))
    effect = adjusted_effect(frame, "psychotherapy")[0]
    assert effect.not_measurable is not None
    assert "all of the 12 patients with psychotherapy" in effect.not_measurable
    assert math.isnan(effect.risk_difference) and math.isnan(effect.odds_ratio)
    assert effect.crude_estimate == pytest.approx(1.0 - 8 / 22)  # the crude is still given


def test_too_few_patients_in_a_group_is_not_measurable():
    frame = _cells(("yes", "MDD", 5, 9), ("no", "MDD", 5, 20))
    effect = adjusted_effect(frame, "psychotherapy")[0]
    assert "9 patients with psychotherapy" in effect.not_measurable
    assert "fewer than the 10 needed" in effect.not_measurable


def test_an_exposure_nobody_has_is_not_measurable():
    effect = adjusted_effect(_frame(30), "ssri")[0]
    assert effect.not_measurable == "no patient has a recorded concurrent SSRI."


def test_a_covariate_with_a_single_value_is_left_out_and_said():
    frame = _cells(("yes", "MDD", 8, 20), ("no", "MDD", 5, 20)).assign(
        sex=pd.array(["female"] * 40, dtype="str")
    )
    effect = adjusted_effect(frame, "psychotherapy")[0]
    assert effect.not_measurable is None
    assert effect.covariates == ()
    notes = " ".join(effect.notes)
    assert "sex takes the single value female" in notes
    assert "primary diagnosis takes the single value MDD" in notes


def test_patients_missing_a_covariate_are_excluded_and_counted():
    frame = _cells(("yes", "MDD", 8, 20), ("no", "TRD", 5, 20))
    frame.loc[[0, 1, 25], "diagnosis"] = None
    effect = adjusted_effect(frame, "psychotherapy")[0]
    assert (effect.n, effect.n_excluded, effect.crude_n) == (37, 3, 40)


def test_treatment_resistance_is_not_adjusted_for_prior_failures():
    rng = np.random.default_rng(3)
    failures = rng.integers(0, 5, 300).astype(float)
    frame = _frame(
        300,
        response=(rng.random(300) < 0.5).astype(np.int64),
        prior_failures=failures,
        trd=list(np.where(failures >= 2, "yes", "no")),
        baseline=rng.integers(10, 28, 300).astype(float),
    )
    effect = adjusted_effect(frame, "trd")[0]
    assert effect.covariates == ("baseline",)
    assert any("defined by them" in note for note in effect.notes)


def test_unknown_exposure_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown exposure"):
        adjusted_effect(_frame(5), "dose")


# --------------------------------------------------------------------------------------
# On a dataset
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> tuple[Dataset, pd.DataFrame, pd.DataFrame]:
    data = Dataset.demo(patients=400)
    outcomes = patient_outcomes(data)
    return data, outcomes, comparison_frame(outcomes, data)


def test_crude_difference_is_the_claims_newcombe_difference(demo):
    data, outcomes, frame = demo
    for exposure, attribute in (("ssri", "ssri"), ("psychotherapy", "psychotherapy")):
        effect = adjusted_effect(frame, exposure)[0]
        row = subgroup_rates(outcomes, data, attribute).set_index("level").loc["yes"]
        assert effect.crude_estimate == pytest.approx(row["diff"])
        assert effect.crude_ci_low == pytest.approx(row["diff_ci_low"])
        assert effect.crude_ci_high == pytest.approx(row["diff_ci_high"])


def test_route_gives_one_result_per_route_against_the_most_common(demo):
    _, _, frame = demo
    effects = adjusted_effect(frame, "route")
    most_common = frame["route"].value_counts().index[0]
    assert {e.reference for e in effects} == {most_common}
    assert sorted(e.level for e in effects) == sorted(set(frame["route"]) - {most_common})
    table = effects_table(effects)
    assert len(table) == len(effects)
    measured = table[table["not_measurable"] == ""]
    assert not measured.empty
    assert (measured["ci_low"] < measured["risk_difference"]).all()


def test_comparison_frame_does_not_modify_its_inputs(demo):
    data, outcomes, _ = demo
    before = outcomes.copy()
    frame = comparison_frame(outcomes, data)
    pd.testing.assert_frame_equal(outcomes, before)
    copy = frame.copy()
    adjusted_effect(frame, "ssri")
    pd.testing.assert_frame_equal(frame, copy)


def test_comparison_frame_takes_the_clinician_of_the_first_dose():
    scores = [(p, "PHQ-9", t, s) for p in ("A", "B") for t, s in ((0, 20), (28, 8))]
    doses = [
        {"patient_id": "A", "t": 7.0, "clinician_id": "C1"},
        {"patient_id": "A", "t": 0.0, "clinician_id": "C2"},  # first dose, stored second
        {"patient_id": "A", "t": 14.0, "clinician_id": "C1"},
        {"patient_id": "B", "t": 0.0, "clinician_id": "C1"},
    ]
    patients = [
        {"patient_id": "A", "sex": "unknown", "prior_treatment_failures": 3},
        {"patient_id": "B", "sex": "female", "prior_treatment_failures": 0},
    ]
    data = build(scores, doses, patients=patients)
    frame = comparison_frame(patient_outcomes(data), data).set_index("patient_id")
    assert frame.loc["A", "clinician"] == "C2"
    assert frame.loc["B", "clinician"] == "C1"
    assert pd.isna(frame.loc["A", "sex"])  # "unknown" is a missing covariate
    assert frame.loc["B", "sex"] == "female"
    assert frame.loc["A", "trd"] == "yes" and frame.loc["B", "trd"] == "no"
    assert frame["response"].tolist() == [1, 1]


# --------------------------------------------------------------------------------------
# Predictors of response
# --------------------------------------------------------------------------------------


def test_predictors_table_states_n_and_events_per_variable(demo):
    _, _, frame = demo
    result = predictors_of_response(frame)
    assert result.n == result.events + (result.n - result.events)
    assert result.parameters == len(result.table)
    assert result.events_per_variable == pytest.approx(
        min(result.events, result.n - result.events) / result.parameters
    )
    assert set(result.table["term"]) >= {"baseline", "ssri", "psychotherapy", "trd"}
    assert "prior_failures" not in set(result.table["term"])
    if result.events_per_variable < EPV_WARNING:
        assert "events per variable" in result.warning
    else:
        assert result.warning is None


def test_predictors_warn_below_ten_events_per_variable():
    rng = np.random.default_rng(11)
    n = 60
    frame = _frame(
        n,
        response=(rng.random(n) < 0.3).astype(np.int64),
        baseline=rng.integers(10, 28, n).astype(float),
        ssri=list(rng.choice(["yes", "no"], n)),
        diagnosis=list(rng.choice(["MDD", "TRD", "PTSD", "GAD"], n)),
    )
    result = predictors_of_response(frame)
    assert result.parameters == 5  # baseline, ssri, three diagnoses
    assert result.events_per_variable < EPV_WARNING
    assert result.warning is not None and "fewer than 10" in result.warning


def test_comparison_frame_derives_only_the_attributes_asked_for(demo):
    data, outcomes, full = demo
    frame = comparison_frame(outcomes, data, attributes=("ssri",))
    pd.testing.assert_series_equal(frame["ssri"], full["ssri"])
    assert frame[["psychotherapy", "trd", "route", "site", "clinician"]].isna().all().all()
    with pytest.raises(ValueError, match="Unknown attribute"):
        comparison_frame(outcomes, data, attributes=("dose",))


def test_the_blas_thread_count_is_restored_after_a_fit():
    from threadpoolctl import threadpool_info

    from katoutcomes.logistic import one_blas_thread

    def blas_threads() -> dict[str, int]:
        return {
            p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
        }

    # A first fit loads every BLAS library involved (NumPy's, SciPy's).
    fit_logistic(pd.DataFrame({"y": [0, 1, 1, 0, 1], "x": [1.0, 2, 1, 2, 3]}), "y", ["x"])
    before = blas_threads()
    if not before:
        pytest.skip("no BLAS library found by threadpoolctl on this platform")
    with one_blas_thread():
        assert set(blas_threads().values()) == {1}
    assert blas_threads() == before
    fit_logistic(pd.DataFrame({"y": [0, 1, 1, 0, 1], "x": [1.0, 2, 1, 2, 3]}), "y", ["x"])
    assert blas_threads() == before
    with pytest.raises(NotMeasurableError, match="separation"):  # restored on failure too
        fit_logistic(pd.DataFrame({"y": [0, 1, 1, 0, 1], "x": [1.0, 2, 2, 1, 3]}), "y", ["x"])
    assert blas_threads() == before
