"""The mixed-model function against lme4 (reference data) and a simulated model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from katoutcomes.models import MixedModelFit, fit_mixed_model

#: lme4 ``lmer(bdi ~ bdi.pre + time + treatment + drug + length + (1|subject), REML=FALSE)``
#: on HSAUR3's BtheB (reference-data/README.md): estimates, the one standard error given,
#: log-likelihood and variances.
BTHEB_FORMULA = 'bdi ~ bdi_pre + time + C(treatment, Treatment(reference="TAU")) + drug + length'
LME4_ESTIMATES = {
    "time": -0.70476,
    'C(treatment, Treatment(reference="TAU"))[T.BtheB]': -2.32908,
    "bdi_pre": 0.63968,
}
LME4_TIME_SE = 0.14639


@pytest.fixture
def btheb(reference_data: Path) -> pd.DataFrame:
    return pd.read_csv(reference_data / "BtheB_long.csv")


@pytest.fixture(params=["statsmodels", "profiled"])
def btheb_fit(btheb: pd.DataFrame, request: pytest.FixtureRequest) -> MixedModelFit:
    return fit_mixed_model(btheb, BTHEB_FORMULA, "subject", reml=False, engine=request.param)


def test_btheb_estimates_match_lme4_to_five_decimals(btheb_fit: MixedModelFit) -> None:
    coef = btheb_fit.fixed_effects.set_index("term")["coef"]
    for term, expected in LME4_ESTIMATES.items():
        # lme4 prints 5 decimals: the estimate rounds to the printed value.
        assert round(float(coef[term]), 5) == pytest.approx(expected, abs=1e-12), term


def test_btheb_standard_error_within_half_a_percent_of_lme4(btheb_fit: MixedModelFit) -> None:
    se = float(btheb_fit.fixed_effects.set_index("term").loc["time", "std_err"])
    assert se == pytest.approx(LME4_TIME_SE, rel=0.005)


def test_btheb_likelihood_variances_and_counts_match_lme4(btheb_fit: MixedModelFit) -> None:
    assert btheb_fit.converged
    assert btheb_fit.log_likelihood == pytest.approx(-935.75, abs=0.005)
    variances = btheb_fit.variance_dict()
    assert variances["var_Intercept"] == pytest.approx(48.78, abs=0.005)
    assert variances["residual"] == pytest.approx(25.14, abs=0.005)
    # 280 observations of 97 subjects: rows with a missing BDI are dropped, as na.omit.
    assert (btheb_fit.n_observations, btheb_fit.n_groups) == (280, 97)


def test_wald_interval_and_p_value_follow_from_estimate_and_se(btheb_fit: MixedModelFit) -> None:
    row = btheb_fit.fixed_effects.set_index("term").loc["time"]
    assert row["ci_low"] == pytest.approx(row["coef"] - 1.959964 * row["std_err"], abs=1e-6)
    assert row["ci_high"] == pytest.approx(row["coef"] + 1.959964 * row["std_err"], abs=1e-6)
    # Hand calculation with lme4's numbers: z = -0.70476 / 0.14639 = -4.8143 and
    # 2 (1 - Phi(4.8143)) = 1.477e-6; statsmodels' 0.3% larger SE gives about 1.60e-6.
    expected = 1.477e-6 if btheb_fit.method == ("profiled-lbfgsb",) else 1.60e-6
    assert row["p_value"] == pytest.approx(expected, rel=0.01)


def test_summary_lists_fixed_effects_then_variances(btheb_fit: MixedModelFit) -> None:
    summary = btheb_fit.summary()
    assert list(summary.columns) == [
        "part",
        "term",
        "coef",
        "std_err",
        "ci_low",
        "ci_high",
        "p_value",
    ]
    assert summary["part"].tolist() == ["fixed"] * 6 + ["variance"] * 2
    assert summary["term"].iloc[-1] == "residual"


def test_profiled_engine_matches_statsmodels_on_a_random_slope_reml_fit(
    btheb: pd.DataFrame,
) -> None:
    # Two implementations of the same REML criterion: statsmodels' MixedLM.fit and the
    # sufficient-statistics one agree on estimates, variances and the log-likelihood.
    args = ("bdi ~ bdi_pre + time", "subject", "~time")
    reference = fit_mixed_model(btheb, *args, engine="statsmodels")
    profiled = fit_mixed_model(btheb, *args, engine="profiled")
    np.testing.assert_allclose(profiled.params, reference.params, atol=1e-5)
    np.testing.assert_allclose(profiled.re_cov, reference.re_cov, rtol=1e-4)
    assert profiled.residual_variance == pytest.approx(reference.residual_variance, rel=1e-4)
    assert profiled.log_likelihood == pytest.approx(reference.log_likelihood, abs=1e-6)
    # statsmodels' standard errors run larger (up to 0.3% on BtheB, 1.5% here); the
    # profiled ones are sigma^2 (X'V^-1 X)^-1, as lme4's.
    np.testing.assert_allclose(
        profiled.fixed_effects["std_err"], reference.fixed_effects["std_err"], rtol=0.02
    )


def test_profiled_standard_error_equals_lme4(btheb: pd.DataFrame) -> None:
    fit = fit_mixed_model(btheb, BTHEB_FORMULA, "subject", reml=False, engine="profiled")
    se = float(fit.fixed_effects.set_index("term").loc["time", "std_err"])
    assert round(se, 5) == pytest.approx(LME4_TIME_SE, abs=1e-12)


def test_fit_does_not_modify_the_data(btheb: pd.DataFrame) -> None:
    before = btheb.copy()
    fit_mixed_model(btheb, BTHEB_FORMULA, "subject", reml=False)
    pd.testing.assert_frame_equal(btheb, before)


@pytest.mark.parametrize("engine", ["statsmodels", "profiled"])
def test_random_slope_model_recovers_simulated_variances(engine: str) -> None:
    # y = 3 + 2x + b0 + b1 x + e with D = [[4, 0.6], [0.6, 0.5]], sigma^2 = 1, 400 groups
    # of 6: the REML estimates lie within 3 standard errors (fixed) and 25% (variances)
    # of the truth.
    rng = np.random.default_rng(20261202)
    n, k = 400, 6
    cov = np.array([[4.0, 0.6], [0.6, 0.5]])
    b = rng.multivariate_normal([0, 0], cov, n)
    g = np.repeat(np.arange(n), k)
    x = np.tile(np.linspace(0, 3, k), n)
    y = 3 + 2 * x + b[g, 0] + b[g, 1] * x + rng.normal(0, 1, n * k)
    fit = fit_mixed_model(pd.DataFrame({"y": y, "x": x, "g": g}), "y ~ x", "g", "~x", engine=engine)
    fe = fit.fixed_effects.set_index("term")
    for term, truth in {"Intercept": 3.0, "x": 2.0}.items():
        assert abs(fe.loc[term, "coef"] - truth) < 3 * fe.loc[term, "std_err"]
    assert fit.re_terms == ("Intercept", "x")
    np.testing.assert_allclose(fit.re_cov, cov, rtol=0.25, atol=0.15)
    assert fit.residual_variance == pytest.approx(1.0, rel=0.1)
    assert set(fit.variance_dict()) == {"var_Intercept", "cov_Intercept_x", "var_x", "residual"}


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine"):
        fit_mixed_model(pd.DataFrame({"y": [1.0], "g": [1]}), "y ~ 1", "g", engine="R")


def test_unknown_group_column_is_named() -> None:
    with pytest.raises(KeyError, match="patient"):
        fit_mixed_model(pd.DataFrame({"y": [1.0], "x": [1.0]}), "y ~ x", "patient")
