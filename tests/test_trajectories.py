"""Trajectory model, expected-recovery band, calibration, status and at-risk."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from katoutcomes.dataset import Dataset
from katoutcomes.errors import SettingsError
from katoutcomes.ingest import validate_frames
from katoutcomes.models import MixedModelFit, fit_mixed_model
from katoutcomes.settings import Settings
from katoutcomes.trajectories import (
    ALERT_COLUMNS,
    TRAJECTORY_FORMULA,
    TrajectoryModel,
    alerts,
    band_calibration,
    fit_trajectory_model,
    patient_status,
)

DOSE_DAY = 100.0

# --------------------------------------------------------------------------------------
# A cohort drawn from the model's own form
# --------------------------------------------------------------------------------------

#: Known parameters: fixed effects (Intercept, baseline_c, L, L1, L2), random-effect
#: covariance of (intercept, slope on L) and residual variance.
BETA = np.array([14.0, 0.5, -1.2, 0.8, 0.3])
D = np.array([[9.0, -1.0], [-1.0, 0.4]])
SIGMA2 = 4.0
VISITS = np.array([1.0, 7.0, 14.0, 28.0, 42.0, 84.0, 182.0, 300.0])


def simulate(
    n: int, seed: int, dropout: bool = False, beta: np.ndarray = BETA
) -> tuple[Dataset, pd.DataFrame]:
    """PHQ-9 baselines 12-24 at day 0 and scores at VISITS (+-2 days) drawn from
    ``y = x' BETA + z' u + e`` (rounded to whole points, kept within 0-27).

    With ``dropout``, a patient whose day-7 score shows no early improvement (a fall of
    less than 30% of baseline) leaves after day 7 with probability 0.9: missing at random,
    as it depends on an observed score. Returns the observed dataset and the complete scores.
    """
    rng = np.random.default_rng(seed)
    baseline = rng.integers(12, 25, n).astype(float)
    u = rng.multivariate_normal([0.0, 0.0], D, n)
    t = VISITS[None, :] + np.where(VISITS > 1, rng.uniform(-2, 2, (n, VISITS.size)), 0.0)
    big_l = np.log1p(t)
    l1 = np.maximum(0, big_l - np.log1p(42.0))
    l2 = np.maximum(0, big_l - np.log1p(182.0))
    mean = (
        beta[0]
        + beta[1] * (baseline - baseline.mean())[:, None]
        + beta[2] * big_l
        + beta[3] * l1
        + beta[4] * l2
    )
    y = mean + u[:, [0]] + u[:, [1]] * big_l + rng.normal(0, np.sqrt(SIGMA2), t.shape)
    y = np.clip(np.floor(y + 0.5), 0, 27)
    t[:, VISITS == 42.0] = 42.0  # the endpoint visit on its day
    complete = pd.DataFrame(
        {
            "patient_id": np.repeat([f"S{i:04d}" for i in range(n)], VISITS.size),
            "t": t.ravel(),
            "score": y.ravel(),
            "baseline": np.repeat(baseline, VISITS.size),
        }
    )
    keep = np.ones(t.shape, dtype=bool)
    if dropout:
        early = y[:, VISITS == 7.0][:, 0] <= 0.7 * baseline
        leaves = ~early & (rng.uniform(size=n) < 0.9)
        keep[leaves[:, None] & (VISITS[None, :] > 7)] = False
    ids = [f"S{i:04d}" for i in range(n)]
    scores = pd.DataFrame(
        {
            "patient_id": np.r_[ids, complete["patient_id"].to_numpy()[keep.ravel()]],
            "instrument": "PHQ-9",
            "study_day": np.r_[np.zeros(n), t.ravel()[keep.ravel()]] + DOSE_DAY,
            "total": np.r_[baseline, y.ravel()[keep.ravel()]],
        }
    )
    doses = pd.DataFrame({"patient_id": ids, "study_day": DOSE_DAY})
    result = validate_frames({"assessments": scores, "treatments": doses})
    assert result.n_rejected == 0
    return Dataset.from_result(result), complete


@pytest.fixture(scope="module")
def simulated() -> tuple[TrajectoryModel, int]:
    data, _ = simulate(600, seed=20261202)
    return fit_trajectory_model(data, "PHQ-9"), 600


def test_fit_recovers_the_fixed_effects_within_three_standard_errors(
    simulated: tuple[TrajectoryModel, int],
) -> None:
    model, n = simulated
    assert model.converged
    assert (model.n_patients, model.n_observations) == (n, n * VISITS.size)
    fe = model.fit.fixed_effects
    assert fe["term"].tolist() == ["Intercept", "baseline_c", "L", "L1", "L2"]
    deviation = np.abs(fe["coef"].to_numpy() - BETA) / fe["std_err"].to_numpy()
    assert (deviation < 3).all(), deviation


def test_fit_recovers_the_variances_within_three_standard_errors(
    simulated: tuple[TrajectoryModel, int],
) -> None:
    model, n = simulated
    n_obs = n * VISITS.size
    # Approximate standard errors (Searle, Casella & McCulloch 1992, ch. 6; two-stage
    # approximation): var(sigma2_hat) = 2 sigma^4 / (N - 2n); var(d_jj_hat) =
    # 2 (d_jj + sigma^2 [(Z'Z)^-1]_jj)^2 / n with Z = (1, L) at the visit days, and
    # var(d_01_hat) = ((d_00 + a_00)(d_11 + a_11) + (d_01 + a_01)^2) / n. They overstate
    # the ML standard errors slightly, so "within 3" is if anything lenient by ~10%.
    z = np.column_stack([np.ones(VISITS.size), np.log1p(VISITS)])
    a = SIGMA2 * np.linalg.inv(z.T @ z)
    se_residual = np.sqrt(2 * SIGMA2**2 / (n_obs - 2 * n))
    assert abs(model.fit.residual_variance - SIGMA2) < 3 * se_residual
    total = D + a
    se = np.sqrt(
        np.array(
            [
                [2 * total[0, 0] ** 2, total[0, 0] * total[1, 1] + total[0, 1] ** 2],
                [total[0, 0] * total[1, 1] + total[0, 1] ** 2, 2 * total[1, 1] ** 2],
            ]
        )
        / n
    )
    assert (np.abs(model.fit.re_cov - D) < 3 * se).all(), (model.fit.re_cov, se)


def test_eighty_percent_band_is_calibrated_in_cross_validation(
    simulated: tuple[TrajectoryModel, int],
) -> None:
    model, n = simulated
    calibration = band_calibration(model)
    assert (calibration.folds, calibration.n_patients) == (5, n)
    assert calibration.n_scores == n * VISITS.size
    assert calibration.by_fold["n_patients"].sum() == n
    assert calibration.coverage == pytest.approx(0.80, abs=0.03)


def test_band_follows_the_prediction_variance_formula(
    simulated: tuple[TrajectoryModel, int],
) -> None:
    model, _ = simulated
    band = model.expected(20.0, 42.0, level=0.8).iloc[0]
    fit = model.fit
    # Written out: x = (1, 20 - mean baseline, log 43, 0, 0), z = (1, log 43).
    x = np.array([1.0, 20.0 - model.baseline_mean, np.log(43.0), 0.0, 0.0])
    z = np.array([1.0, np.log(43.0)])
    var = z @ fit.re_cov @ z + fit.residual_variance + x @ fit.fe_cov @ x
    assert band["expected"] == pytest.approx(x @ fit.params)
    assert band["band_high"] == pytest.approx(x @ fit.params + 1.2815516 * np.sqrt(var))
    assert band["band_low"] == pytest.approx(x @ fit.params - 1.2815516 * np.sqrt(var))


def test_mean_curve_covers_the_required_days_at_the_mean_baseline(
    simulated: tuple[TrajectoryModel, int],
) -> None:
    model, _ = simulated
    curve = model.mean_curve()
    assert {1, 7, 14, 28, 42, 84, 182} <= set(curve["day"].astype(int))
    day42 = curve.set_index("day").loc[42.0]
    # The true mean at the mean baseline, day 42: 14 - 1.2 log 43 = 9.4866.
    truth = BETA[0] + BETA[2] * np.log(43.0)
    assert day42["ci_low"] < truth < day42["ci_high"]
    assert (curve["ci_low"] < curve["mean"]).all() and (curve["mean"] < curve["ci_high"]).all()


def test_trajectory_fit_equals_statsmodels_mixedlm_on_the_same_data() -> None:
    # The trajectory model is fitted with the profiled engine; statsmodels' MixedLM.fit
    # on the same design (REML, random intercept and slope on L) gives the same estimates.
    data, _ = simulate(150, seed=9)
    model = fit_trajectory_model(data, "PHQ-9")
    frame = model.data
    big_l = np.log1p(frame["t"].to_numpy())
    design = pd.DataFrame(
        {
            "score": frame["score"],
            "baseline_c": frame["baseline"] - model.baseline_mean,
            "L": big_l,
            "L1": np.maximum(0, big_l - np.log1p(42.0)),
            "L2": np.maximum(0, big_l - np.log1p(182.0)),
            "patient_id": frame["patient_id"],
        }
    )
    reference = fit_mixed_model(
        design, TRAJECTORY_FORMULA, "patient_id", "~L", engine="statsmodels"
    )
    np.testing.assert_allclose(model.fit.params, reference.params, atol=1e-4)
    np.testing.assert_allclose(model.fit.re_cov, reference.re_cov, rtol=1e-3, atol=1e-4)
    assert model.fit.residual_variance == pytest.approx(reference.residual_variance, rel=1e-4)


def test_cap_fits_a_seeded_sample_of_patients() -> None:
    data, _ = simulate(80, seed=7)
    settings = Settings().replace(model_max_patients=50)
    first = fit_trajectory_model(data, "PHQ-9", settings)
    again = fit_trajectory_model(data, "PHQ-9", settings)
    assert (first.n_patients, first.n_eligible, first.sampled) == (50, 80, True)
    assert first.data["patient_id"].nunique() == 50
    pd.testing.assert_frame_equal(first.data, again.data)


def test_too_few_patients_is_a_clear_error() -> None:
    data, _ = simulate(10, seed=3)
    with pytest.raises(Exception, match="at least 20 eligible patients"):
        fit_trajectory_model(data, "PHQ-9")


def test_model_does_not_modify_the_dataset() -> None:
    data, _ = simulate(40, seed=5)
    before = data.assessments.copy()
    fit_trajectory_model(data, "PHQ-9")
    pd.testing.assert_frame_equal(data.assessments, before)


# --------------------------------------------------------------------------------------
# Status and at-risk on hand-built patients
# --------------------------------------------------------------------------------------


def flat_model(instrument: str = "PHQ-9") -> TrajectoryModel:
    """A model whose band is known by hand: expected 10 at every day and baseline, no
    random effects, residual variance 4, no fixed-effect uncertainty. The 80% band is
    10 -/+ 1.2815516 * 2 = [7.437, 12.563]."""
    fixed = pd.DataFrame(
        {
            "term": ["Intercept", "baseline_c", "L", "L1", "L2"],
            "coef": [10.0, 0.0, 0.0, 0.0, 0.0],
            "std_err": 0.0,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "p_value": np.nan,
        }
    )
    fit = MixedModelFit(
        formula="score ~ baseline_c + L + L1 + L2",
        groups="patient_id",
        re_formula="~L",
        reml=True,
        fixed_effects=fixed,
        variance_components=pd.DataFrame(),
        fe_cov=np.zeros((5, 5)),
        re_cov=np.zeros((2, 2)),
        re_terms=("Intercept", "L"),
        residual_variance=4.0,
        log_likelihood=np.nan,
        converged=True,
        n_observations=0,
        n_groups=0,
        method=("hand",),
    )
    return TrajectoryModel(
        instrument=instrument,
        fit=fit,
        baseline_mean=18.0,
        acute_days=42.0,
        band_level=0.80,
        n_eligible=0,
        n_patients=0,
        n_observations=0,
        sampled=False,
        seed=0,
        max_patients=5000,
        data=pd.DataFrame(),
    )


Row = tuple[str, str, float, float | None, float | None]  # patient, instrument, t, total, item 9


def hand_built(rows: Sequence[Row], doses: Sequence[tuple[str, float, str]]) -> Dataset:
    patient, instrument, t, total, item9 = zip(*rows, strict=True)
    scores = pd.DataFrame(
        {
            "patient_id": patient,
            "instrument": instrument,
            "study_day": np.asarray(t, dtype=float) + DOSE_DAY,
            "total": total,
            "item_9": item9,
        }
    )
    treatments = pd.DataFrame(
        {
            "patient_id": [d[0] for d in doses],
            "study_day": [d[1] + DOSE_DAY for d in doses],
            "clinician_id": [d[2] for d in doses],
        }
    )
    result = validate_frames({"assessments": scores, "treatments": treatments})
    assert result.n_rejected == 0, result.rejected.to_dict("records")
    return Dataset.from_result(result)


@pytest.fixture(scope="module")
def hand_status() -> pd.DataFrame:
    p = "PHQ-9"
    rows: list[Row] = [
        # on track: 11 <= 12.563.
        ("on1", p, 0, 20, 0),
        ("on1", p, 14, 11, 0),
        # off track: 13 > 12.563; 13 - 20 is no deterioration.
        ("off1", p, 0, 20, 0),
        ("off1", p, 14, 13, 0),
        # off track and reliably deteriorated: 18 >= 12 + 6 (PHQ-9 reliable change 6).
        ("worse1", p, 0, 12, 0),
        ("worse1", p, 20, 18, 0),
        # relapse without being off track: response at day 7 (8 <= 10), then 11 and 12,
        # both failing the response criterion and >= caseness 10; latest 12 <= 12.563.
        ("relapsed1", p, 0, 20, 0),
        ("relapsed1", p, 7, 8, 0),
        ("relapsed1", p, 30, 11, 0),
        ("relapsed1", p, 40, 12, 0),
        # item 9 >= 1 on the third-last PHQ-9; otherwise on track.
        ("item91", p, 0, 20, 1),
        ("item91", p, 7, 11, 1),
        ("item91", p, 14, 11, 0),
        ("item91", p, 21, 11, 0),
        # item 9 only on the fourth-last PHQ-9: not a reason.
        ("item9old1", p, 0, 20, 1),
        ("item9old1", p, 7, 11, 0),
        ("item9old1", p, 14, 11, 0),
        ("item9old1", p, 21, 11, 0),
        # no baseline: first score after the first dose.
        ("nobase1", p, 5, 20, 0),
        # not eligible (baseline 6 < 10) but reliably deteriorated: 13 >= 6 + 6.
        ("mild1", p, 0, 6, 0),
        ("mild1", p, 14, 13, 0),
        # eligible, no score after the first dose.
        ("nofollow1", p, 0, 20, 0),
        # GAD-7, whose model could not be fitted: not measurable (17 - 15 < 4 points).
        ("gad1", "GAD-7", 0, 15, None),
        ("gad1", "GAD-7", 14, 17, None),
    ]
    names = dict.fromkeys(r[0] for r in rows)
    doses = [(name, 0.0, "C1") for name in names] + [("off1", 7.0, "C2")]
    data = hand_built(rows, doses)
    models: dict[str, TrajectoryModel | str] = {"PHQ-9": flat_model(), "GAD-7": "too few"}
    return patient_status(data, models=models).set_index(["patient_id", "instrument"])


@pytest.mark.parametrize(
    ("patient", "instrument", "status", "reasons"),
    [
        ("on1", "PHQ-9", "on_track", ""),
        ("off1", "PHQ-9", "off_track", "off_track"),
        ("worse1", "PHQ-9", "off_track", "off_track;reliable_deterioration"),
        ("relapsed1", "PHQ-9", "on_track", "relapse"),
        ("item91", "PHQ-9", "on_track", "item9"),
        ("item9old1", "PHQ-9", "on_track", ""),
        ("nobase1", "PHQ-9", "no_baseline", ""),
        ("mild1", "PHQ-9", "not_eligible", "reliable_deterioration"),
        ("nofollow1", "PHQ-9", "no_followup", ""),
        ("gad1", "GAD-7", "not_measurable", ""),
    ],
)
def test_status_and_reasons_of_hand_built_patients(
    hand_status: pd.DataFrame, patient: str, instrument: str, status: str, reasons: str
) -> None:
    row = hand_status.loc[(patient, instrument)]
    assert row["status"] == status
    assert row["reasons"] == reasons
    assert bool(row["at_risk"]) == bool(reasons)


def test_band_of_the_hand_built_model_is_the_hand_calculation(hand_status: pd.DataFrame) -> None:
    row = hand_status.loc[("off1", "PHQ-9")]
    assert row["expected"] == pytest.approx(10.0)
    assert row["band_low"] == pytest.approx(10 - 1.2815516 * 2, abs=1e-6)
    assert row["band_high"] == pytest.approx(10 + 1.2815516 * 2, abs=1e-6)
    assert (row["last_day"], row["last_score"]) == (14.0, 13.0)
    assert np.isnan(hand_status.loc[("nofollow1", "PHQ-9"), "band_high"])


def test_alerts_list_at_risk_first_with_the_latest_dose_clinician() -> None:
    rows: list[Row] = [
        ("a1", "PHQ-9", 0, 20, 0),
        ("a1", "PHQ-9", 14, 11, 0),
        ("b1", "PHQ-9", 0, 20, 0),
        ("b1", "PHQ-9", 14, 16, 0),
        ("c1", "PHQ-9", 0, 20, 0),
        ("c1", "PHQ-9", 14, 11, 0),
    ]
    data = hand_built(rows, [("a1", 0, "C1"), ("b1", 0, "C1"), ("b1", 7, "C2"), ("c1", 0, "C2")])
    models: dict[str, TrajectoryModel | str] = {"PHQ-9": flat_model()}
    out = alerts(data, models=models)
    assert tuple(out.columns) == ALERT_COLUMNS
    assert out["patient_id"].tolist() == ["b1", "a1", "c1"]
    assert out["clinician_id"].tolist() == ["C2", "C1", "C2"]
    assert out["at_risk"].tolist() == [True, False, False]
    only = alerts(data, models=models, clinician="C2")
    assert only["patient_id"].tolist() == ["b1", "c1"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"band_level": 1.5}, "band_level must be a fraction in \\(0, 1\\)"),
        ({"band_level": 0.0}, "band_level"),
        ({"model_max_patients": 5}, "model_max_patients must be >= 20"),
    ],
)
def test_model_settings_are_validated(change: dict[str, float], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings().replace(**change)


def test_status_and_alerts_do_not_modify_their_inputs() -> None:
    rows: list[Row] = [("a1", "PHQ-9", 0, 20, 1), ("a1", "PHQ-9", 14, 16, 0)]
    data = hand_built(rows, [("a1", 0.0, "C1")])
    from katoutcomes.outcomes import patient_outcomes

    outcomes = patient_outcomes(data)
    before = (data.assessments.copy(), data.treatments.copy(), outcomes.copy())
    models: dict[str, TrajectoryModel | str] = {"PHQ-9": flat_model()}
    alerts(data, models=models, outcomes=outcomes)
    for after, original in zip((data.assessments, data.treatments, outcomes), before, strict=True):
        pd.testing.assert_frame_equal(after, original)
