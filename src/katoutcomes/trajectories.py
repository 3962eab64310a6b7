"""The trajectory model, the expected-recovery band and the at-risk list (docs/methods.md §7).

Per instrument, a linear mixed model of eligible patients' post-baseline scores on a
piecewise-linear function of ``log(1 + t)`` with the baseline as a covariate
(:func:`fit_trajectory_model`). From it:

- the mean curve at the mean baseline with its 95% confidence band
  (:meth:`TrajectoryModel.mean_curve`);
- the expected-recovery band of a patient with a given baseline
  (:meth:`TrajectoryModel.expected`), whose coverage is measured by patient-level
  cross-validation (:func:`band_calibration`);
- each patient's status (on / off track) and at-risk flag with its reasons
  (:func:`patient_status`, :func:`alerts`).

The missing-data sensitivity analyses built on the model are in
:mod:`katoutcomes.sensitivity`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from katoutcomes.errors import KatoutcomesError
from katoutcomes.instruments import INSTRUMENTS, PHQ9
from katoutcomes.models import MixedModelFit, fit_mixed_model
from katoutcomes.settings import Settings
from katoutcomes.timebase import runs, time_order

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = [
    "ALERT_COLUMNS",
    "CURVE_DAYS",
    "MODEL_HORIZON_DAYS",
    "MODEL_SEED",
    "REASONS",
    "STATUSES",
    "TRAJECTORY_FORMULA",
    "BandCalibration",
    "TrajectoryModel",
    "alerts",
    "band_calibration",
    "fit_trajectory_model",
    "fit_trajectory_models",
    "model_data",
    "patient_status",
]

#: Fixed effects of the trajectory model (methods §7.1, issue 11); random intercept and slope
#: on ``L`` per patient.
TRAJECTORY_FORMULA: Final = "score ~ baseline_c + L + L1 + L2"
RE_FORMULA: Final = "~L"
#: Scores used by the model: ``0 < t <= 365`` days after the first dose.
MODEL_HORIZON_DAYS: Final = 365.0
#: Second knot of the piecewise-linear time function, day 182 (six months).
LATE_KNOT_DAYS: Final = 182.0
#: Days of the mean curve (the issue asks for at least 1, 7, 14, 28, 42, 84 and 182).
CURVE_DAYS: Final = (1, 3, 7, 14, 21, 28, 35, 42, 56, 84, 119, 182, 273, 365)
#: Seed of the patient sample above ``model_max_patients`` and of the CV folds.
MODEL_SEED: Final = 20261202
#: Fewest eligible patients with follow-up for which a model is fitted: a random slope
#: variance from fewer is not worth a band.
MIN_MODEL_PATIENTS: Final = 20
#: Folds of the band's patient-level cross-validation.
CV_FOLDS: Final = 5

#: Status of a patient × instrument, in the order of the at-risk list.
STATUSES: Final = (
    "off_track",
    "on_track",
    "not_measurable",
    "no_followup",
    "not_eligible",
    "no_baseline",
)
#: At-risk reasons, in the order they are listed.
REASONS: Final = ("off_track", "reliable_deterioration", "relapse", "item9")
#: Columns of :func:`alerts`.
ALERT_COLUMNS: Final = (
    "patient_id",
    "instrument",
    "last_day",
    "last_score",
    "expected",
    "band_low",
    "band_high",
    "status",
    "at_risk",
    "reasons",
    "clinician_id",
)

FloatArray = NDArray[np.float64]


def _time_basis(t: FloatArray, acute_days: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``L = log(1 + t)``, ``L1 = max(0, L - log(1 + acute_days))``,
    ``L2 = max(0, L - log(1 + 182))``."""
    big_l = np.log1p(t)
    return (
        big_l,
        np.maximum(0.0, big_l - np.log1p(acute_days)),
        np.maximum(0.0, big_l - np.log1p(LATE_KNOT_DAYS)),
    )


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def model_data(
    dataset: Dataset,
    instrument: str,
    settings: Settings | None = None,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The observations of the trajectory model of ``instrument``.

    Eligible patients' (``baseline >= caseness``, :func:`katoutcomes.outcomes.
    patient_outcomes`) valid scores with ``0 < t <= 365``. Columns ``patient_id``, ``t``,
    ``score``, ``baseline``, sorted by patient then ``t``.
    """
    settings = settings or Settings()
    if outcomes is None:
        from katoutcomes.outcomes import patient_outcomes

        outcomes = patient_outcomes(dataset, settings)
    eligible = outcomes.loc[
        (outcomes["instrument"] == instrument) & outcomes["eligible"].fillna(False).astype(bool),
        ["patient_id", "baseline"],
    ]
    a = dataset.assessments
    score = a["total"].to_numpy(dtype=np.float64, na_value=np.nan)
    t = a["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    keep = np.flatnonzero(
        (a["instrument"] == instrument).to_numpy(bool)
        & ~np.isnan(score)
        & (t > 0)
        & (t <= MODEL_HORIZON_DAYS)
    )
    # Patients by their position among the eligible ones (a hash lookup per run of a
    # patient's rows, not per row), then a numeric sort.
    ids = pd.Index(eligible["patient_id"].astype("str"))
    starts, lengths = runs(a["patient_id"].take(keep))
    patient = np.repeat(ids.get_indexer(a["patient_id"].take(keep).take(starts)), lengths)
    found = patient >= 0
    keep, patient = keep[found], patient[found]
    order = time_order(patient, t[keep])
    if order is not None:
        keep, patient = keep[order], patient[order]
    out = pd.DataFrame(
        {
            "patient_id": ids.take(patient),
            "t": t[keep],
            "score": score[keep],
            "baseline": eligible["baseline"].to_numpy(np.float64)[patient],
        }
    )
    out["patient_id"] = out["patient_id"].astype("str")
    return out[["patient_id", "t", "score", "baseline"]]


# --------------------------------------------------------------------------------------
# The fitted model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrajectoryModel:
    """The trajectory model of one instrument, fitted.

    Attributes
    ----------
    instrument : canonical instrument name.
    fit : the mixed model (:class:`katoutcomes.models.MixedModelFit`).
    baseline_mean : mean baseline of the fitted patients (the centre of ``baseline_c``).
    acute_days : the first knot, ``log(1 + acute_days)``.
    band_level : coverage of the expected-recovery band.
    n_eligible : eligible patients with at least one score in ``0 < t <= 365``.
    n_patients, n_observations : patients and scores the model was fitted on.
    sampled : whether ``n_patients`` is a sample of ``n_eligible`` (above
        ``model_max_patients``); ``seed`` is the sample's seed.
    data : the fitted observations (``patient_id, t, score, baseline``).
    """

    instrument: str
    fit: MixedModelFit
    baseline_mean: float
    acute_days: float
    band_level: float
    n_eligible: int
    n_patients: int
    n_observations: int
    sampled: bool
    seed: int
    max_patients: int
    data: pd.DataFrame = field(repr=False, compare=False)

    @property
    def converged(self) -> bool:
        return self.fit.converged

    @property
    def formula(self) -> str:
        return f"{TRAJECTORY_FORMULA} + (1 + L | patient_id)"

    def design(self, baseline: Any, day: Any) -> tuple[FloatArray, FloatArray]:
        """Fixed-effect rows ``x = (1, b - b_mean, L, L1, L2)`` and random-effect rows
        ``z = (1, L)`` for baselines and days (broadcast against each other)."""
        b, t = np.broadcast_arrays(
            np.asarray(baseline, dtype=np.float64), np.asarray(day, dtype=np.float64)
        )
        b, t = b.ravel(), t.ravel()
        big_l, l1, l2 = _time_basis(t, self.acute_days)
        x = np.column_stack([np.ones_like(t), b - self.baseline_mean, big_l, l1, l2])
        z = np.column_stack([np.ones_like(t), big_l])
        return x, z

    def expected(self, baseline: Any, day: Any, level: float | None = None) -> pd.DataFrame:
        """Expected score and prediction band for patients with ``baseline`` at ``day``.

        Parameters
        ----------
        baseline, day : float or array-like (broadcast against each other)
            Baseline score and days since the first dose. Days beyond 365 use the band of
            day 365 (the model is fitted on the first year and not extrapolated).
        level : float, optional
            Coverage of the band; ``band_level`` when omitted.

        Returns
        -------
        pandas.DataFrame
            ``baseline, day, expected, band_low, band_high, se_prediction``.

        Notes
        -----
        With ``x`` and ``z`` the fixed- and random-effect rows (see :meth:`design`), the
        expected score is ``x' beta`` and the variance of a new score of a new patient
        with that baseline (a prediction from the marginal model) is::

            var = z' D z + sigma^2 + x' Cov(beta) x

        the random intercept and slope (``D``, with the intercept-slope covariance), the
        residual, and the uncertainty of the fixed effects. The band is
        ``x' beta -/+ z_q sqrt(var)`` with ``z_q`` the ``(1 + level) / 2`` normal quantile,
        cut to the instrument's range (a score is never outside it, so cutting changes
        no coverage). This is the prediction interval of the marginal distribution of
        ``y`` under the Laird–Ware model (Verbeke & Molenberghs 2000, ch. 7), with the
        estimation error of ``beta`` added as for a regression prediction interval; the
        variance parameters are taken as known. Its coverage is measured rather than
        assumed (:func:`band_calibration`).

        References
        ----------
        Laird NM, Ware JH. Biometrics 1982;38:963-974. Verbeke G, Molenberghs G. Linear
        Mixed Models for Longitudinal Data. Springer, 2000.
        """
        level = self.band_level if level is None else level
        b, t = np.broadcast_arrays(
            np.asarray(baseline, dtype=np.float64), np.asarray(day, dtype=np.float64)
        )
        b, t = b.ravel(), t.ravel()
        x, z = self.design(b, np.minimum(t, MODEL_HORIZON_DAYS))
        mean = x @ self.fit.params
        var = (
            np.einsum("ij,jk,ik->i", z, self.fit.re_cov, z)
            + self.fit.residual_variance
            + np.einsum("ij,jk,ik->i", x, self.fit.fe_cov, x)
        )
        se = np.sqrt(var)
        from scipy import stats as sps  # loaded on first use: importing the module stays light

        q = float(sps.norm.ppf((1 + level) / 2))
        top = float(INSTRUMENTS[self.instrument].max_score)
        return pd.DataFrame(
            {
                "baseline": b,
                "day": t,
                "expected": mean,
                "band_low": np.clip(mean - q * se, 0.0, top),
                "band_high": np.clip(mean + q * se, 0.0, top),
                "se_prediction": se,
            }
        )

    def mean_curve(self, days: Sequence[float] = CURVE_DAYS) -> pd.DataFrame:
        """Expected score at the mean baseline on ``days``, with its 95% confidence band.

        Returns ``day, mean, ci_low, ci_high, std_err``. The band is
        ``x' beta -/+ 1.959964 sqrt(x' Cov(beta) x)`` with ``x = (1, 0, L, L1, L2)``: the
        uncertainty of the mean curve, not of a patient's score.
        """
        t = np.asarray(days, dtype=np.float64)
        x, _ = self.design(self.baseline_mean, t)
        mean = x @ self.fit.params
        se = np.sqrt(np.einsum("ij,jk,ik->i", x, self.fit.fe_cov, x))
        from scipy import stats as sps  # loaded on first use: importing the module stays light

        q = float(sps.norm.ppf(0.975))
        return pd.DataFrame(
            {
                "day": t,
                "mean": mean,
                "ci_low": mean - q * se,
                "ci_high": mean + q * se,
                "std_err": se,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready values (fixed effects, variances, counts, settings)."""
        return {
            "instrument": self.instrument,
            "formula": self.formula,
            "reml": self.fit.reml,
            "converged": self.converged,
            "n_patients": self.n_patients,
            "n_observations": self.n_observations,
            "n_eligible": self.n_eligible,
            "sampled": self.sampled,
            "max_patients": self.max_patients,
            "seed": self.seed,
            "baseline_mean": self.baseline_mean,
            "acute_days": self.acute_days,
            "log_likelihood": self.fit.log_likelihood,
            "fixed_effects": self.fit.to_dict()["fixed_effects"],
            "variance_components": self.fit.variance_dict(),
            "warnings": list(self.fit.warnings),
        }


def _fit_frame(
    frame: pd.DataFrame,
    instrument: str,
    acute_days: float,
    band_level: float,
    *,
    n_eligible: int,
    sampled: bool,
    seed: int,
    max_patients: int,
    start: MixedModelFit | None = None,
) -> TrajectoryModel:
    """Fit the trajectory model on ``frame`` (``patient_id, t, score, baseline``)."""
    patient_codes, _ = pd.factorize(frame["patient_id"])
    baselines = np.bincount(patient_codes, weights=frame["baseline"].to_numpy(np.float64))
    counts = np.bincount(patient_codes)
    baseline_mean = float(np.mean(baselines / counts))
    big_l, l1, l2 = _time_basis(frame["t"].to_numpy(np.float64), acute_days)
    design = pd.DataFrame(
        {
            "score": frame["score"].to_numpy(np.float64),
            "baseline_c": frame["baseline"].to_numpy(np.float64) - baseline_mean,
            "L": big_l,
            "L1": l1,
            "L2": l2,
            "patient_id": patient_codes,
        }
    )
    fit = fit_mixed_model(
        design,
        TRAJECTORY_FORMULA,
        "patient_id",
        RE_FORMULA,
        reml=True,
        engine="profiled",
        start_params=start,
    )
    return TrajectoryModel(
        instrument=instrument,
        fit=fit,
        baseline_mean=baseline_mean,
        acute_days=acute_days,
        band_level=band_level,
        n_eligible=n_eligible,
        n_patients=int(counts.size),
        n_observations=len(frame),
        sampled=sampled,
        seed=seed,
        max_patients=max_patients,
        data=frame,
    )


def fit_trajectory_model(
    dataset: Dataset,
    instrument: str = PHQ9.name,
    settings: Settings | None = None,
    *,
    outcomes: pd.DataFrame | None = None,
    seed: int = MODEL_SEED,
) -> TrajectoryModel:
    """Fit the trajectory model of one instrument (methods §7.1).

    Parameters
    ----------
    dataset : Dataset
        Accepted rows with ``t``; not modified.
    instrument : {"PHQ-9", "GAD-7"}
    settings : Settings, optional
        ``acute_days`` (first knot), ``model_max_patients`` (cap on fitted patients,
        default 5,000), ``band_level`` (default 0.80) and the outcome settings that decide
        eligibility.
    outcomes : pandas.DataFrame, optional
        :func:`katoutcomes.outcomes.patient_outcomes` of ``dataset`` with ``settings``, when
        already computed.
    seed : int
        Seed of the patient sample when there are more than ``model_max_patients``.

    Returns
    -------
    TrajectoryModel

    Raises
    ------
    KatoutcomesError
        Fewer than 20 eligible patients with a score in ``0 < t <= 365``.

    Notes
    -----
    Observations are eligible patients' valid post-baseline scores with
    ``0 < t <= 365``. With ``L = log(1 + t)``, ``L1 = max(0, L - log(1 + acute_days))``
    and ``L2 = max(0, L - log(1 + 182))``, the model for score ``j`` of patient ``i`` is::

        y_ij = b0 + b1 (baseline_i - mean baseline) + b2 L + b3 L1 + b4 L2
               + u0_i + u1_i L + e_ij,
        (u0_i, u1_i) ~ N(0, D),  e_ij ~ N(0, sigma^2),

    piecewise linear in log time with knots at the end of the acute window and at six
    months, so the slope per unit of ``L`` is ``b2`` before the first knot, ``b2 + b3``
    between the knots and ``b2 + b3 + b4`` after the second. Fitted by REML
    (:func:`katoutcomes.models.fit_mixed_model` with the ``"profiled"`` engine, which
    maximises statsmodels MixedLM's restricted likelihood from per-patient sufficient
    statistics: 5,000 patients take about 2 s instead of about a minute). Above
    ``model_max_patients`` eligible
    patients a simple random sample of that many patients (all their scores), drawn with
    ``numpy.random.default_rng(seed)``, is fitted; the mean baseline is that of the
    fitted patients.

    References
    ----------
    Laird NM, Ware JH. Random-effects models for longitudinal data. Biometrics
    1982;38:963-974. docs/methods.md §7.1.
    """
    settings = settings or Settings()
    if instrument not in INSTRUMENTS:
        raise KatoutcomesError(
            f"unknown instrument {instrument!r}; expected one of {', '.join(INSTRUMENTS)}."
        )
    data = model_data(dataset, instrument, settings, outcomes)
    patients = pd.unique(data["patient_id"])
    n_eligible = len(patients)
    if n_eligible < MIN_MODEL_PATIENTS:
        raise KatoutcomesError(
            f"the {instrument} trajectory model needs at least {MIN_MODEL_PATIENTS} eligible "
            f"patients with a score between day 0 and day {MODEL_HORIZON_DAYS:g} after the "
            f"first dose; there are {n_eligible}."
        )
    sampled = n_eligible > settings.model_max_patients
    if sampled:
        rng = np.random.default_rng(seed)
        chosen = rng.choice(np.sort(patients), settings.model_max_patients, replace=False)
        data = data[data["patient_id"].isin(chosen)].reset_index(drop=True)
    return _fit_frame(
        data,
        instrument,
        settings.acute_days,
        settings.band_level,
        n_eligible=n_eligible,
        sampled=sampled,
        seed=seed,
        max_patients=settings.model_max_patients,
    )


def fit_trajectory_models(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    outcomes: pd.DataFrame | None = None,
    seed: int = MODEL_SEED,
) -> dict[str, TrajectoryModel | str]:
    """The model of every instrument in ``dataset``; where one cannot be fitted, the reason
    (a string) in its place."""
    settings = settings or Settings()
    if outcomes is None:
        from katoutcomes.outcomes import patient_outcomes

        outcomes = patient_outcomes(dataset, settings)
    out: dict[str, TrajectoryModel | str] = {}
    for instrument in INSTRUMENTS:
        if not (outcomes["instrument"] == instrument).any():
            continue
        try:
            out[instrument] = fit_trajectory_model(
                dataset, instrument, settings, outcomes=outcomes, seed=seed
            )
        except KatoutcomesError as exc:
            out[instrument] = str(exc)
    return out


# --------------------------------------------------------------------------------------
# Calibration of the band
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandCalibration:
    """Measured coverage of the expected-recovery band.

    Attributes
    ----------
    coverage : share of held-out scores inside their band.
    folds, n_patients, n_scores : folds, patients and scores of the cross-validation.
    band_level : the nominal coverage.
    seed : seed of the fold assignment.
    by_fold : ``fold, n_patients, n_scores, coverage`` per fold.
    """

    coverage: float
    folds: int
    n_patients: int
    n_scores: int
    band_level: float
    seed: int
    by_fold: pd.DataFrame = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "folds": self.folds,
            "n_patients": self.n_patients,
            "n_scores": self.n_scores,
            "band_level": self.band_level,
            "seed": self.seed,
        }


def band_calibration(
    model: TrajectoryModel, folds: int = CV_FOLDS, seed: int = MODEL_SEED
) -> BandCalibration:
    """Patient-level k-fold cross-validated coverage of the expected-recovery band.

    Notes
    -----
    The fitted patients are split at random (``numpy.random.default_rng(seed)``) into
    ``folds`` groups of near-equal size. For each group the model is refitted on the other
    patients (its search starting from the full fit's variances), and each held-out score ``y`` at
    day ``t`` of a patient with baseline ``b`` counts as covered when
    ``band_low(b, t) <= y <= band_high(b, t)`` of the refitted model. The coverage is
    the share of all held-out scores covered; a well-calibrated 80% band covers about
    80%. Whole patients are held out, as the band is used for patients the model has not
    seen (their scores are correlated, so holding out single scores would flatter it).

    References
    ----------
    Hastie T, Tibshirani R, Friedman J. The Elements of Statistical Learning, 2nd ed.,
    section 7.10 (cross-validation). docs/methods.md §7.4.
    """
    data = model.data
    codes, patients = pd.factorize(data["patient_id"])
    rng = np.random.default_rng(seed)
    fold_of_patient = rng.permutation(np.arange(len(patients)) % folds)
    fold = fold_of_patient[codes]
    covered = np.zeros(len(data), dtype=bool)
    rows = []
    for k in range(folds):
        held = fold == k
        refit = _fit_frame(
            data[~held],
            model.instrument,
            model.acute_days,
            model.band_level,
            n_eligible=model.n_eligible,
            sampled=model.sampled,
            seed=model.seed,
            max_patients=model.max_patients,
            start=model.fit,
        )
        test = data[held]
        band = refit.expected(test["baseline"].to_numpy(), test["t"].to_numpy())
        y = test["score"].to_numpy(np.float64)
        inside = (y >= band["band_low"].to_numpy()) & (y <= band["band_high"].to_numpy())
        covered[held] = inside
        rows.append((k, int((fold_of_patient == k).sum()), int(held.sum()), float(inside.mean())))
    by_fold = pd.DataFrame(rows, columns=["fold", "n_patients", "n_scores", "coverage"])
    return BandCalibration(
        coverage=float(covered.mean()),
        folds=folds,
        n_patients=len(patients),
        n_scores=len(data),
        band_level=model.band_level,
        seed=seed,
        by_fold=by_fold,
    )


# --------------------------------------------------------------------------------------
# Status and at-risk
# --------------------------------------------------------------------------------------


def _row_codes(values: pd.Series, index: pd.Index) -> NDArray[np.intp]:
    """Position of each value in ``index`` (-1 if absent), looked up once per run of equal
    consecutive values (a patient's rows are together)."""
    starts, lengths = runs(values)
    return np.repeat(index.get_indexer(values.take(starts)), lengths)


def _followup_and_item9(
    assessments: pd.DataFrame, outcomes: pd.DataFrame, last: int = 3
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """For each row of ``outcomes``: the latest valid score with ``t > 0`` and its day
    (NaN without one), and whether item 9 >= 1 on any of the patient's last ``last``
    PHQ-9 questionnaires (valid or incomplete: item 9 is never imputed, methods §2.5)."""
    patients = pd.Index(pd.unique(outcomes["patient_id"].astype("str")))
    names = list(INSTRUMENTS)
    out_patient = _row_codes(outcomes["patient_id"].astype("str"), patients)
    out_instrument = pd.Index(names).get_indexer(outcomes["instrument"])
    pair_of_key = pd.Index(out_patient * len(names) + out_instrument)

    patient = _row_codes(assessments["patient_id"], patients)
    instrument = np.full(len(assessments), -1, dtype=np.int64)
    for code, name in enumerate(names):
        instrument[(assessments["instrument"] == name).to_numpy(bool)] = code
    score = assessments["total"].to_numpy(dtype=np.float64, na_value=np.nan)
    t = assessments["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    n = len(outcomes)

    rows = np.flatnonzero(~np.isnan(score) & (t > 0) & (patient >= 0) & (instrument >= 0))
    pair = pair_of_key.get_indexer(patient[rows] * len(names) + instrument[rows])
    rows, pair = rows[pair >= 0], pair[pair >= 0]
    order = time_order(pair, t[rows])  # stable: equal days keep the stored order
    if order is not None:
        rows, pair = rows[order], pair[order]
    is_last = np.r_[pair[1:] != pair[:-1], True] if pair.size else np.zeros(0, bool)
    last_score, last_day = np.full(n, np.nan), np.full(n, np.nan)
    last_score[pair[is_last]] = score[rows[is_last]]
    last_day[pair[is_last]] = t[rows[is_last]]

    phq = np.flatnonzero((instrument == names.index(PHQ9.name)) & ~np.isnan(t) & (patient >= 0))
    order = time_order(patient[phq], t[phq])
    if order is not None:
        phq = phq[order]
    who = patient[phq]
    # Rank from the end within each patient: 0 for the latest questionnaire.
    ends = np.r_[np.flatnonzero(who[1:] != who[:-1]), who.size - 1] if who.size else who
    end_of_row = np.repeat(ends, np.diff(np.r_[-1, ends])) if who.size else who
    recent = end_of_row - np.arange(who.size) < last
    flag = assessments["item9_flag"].to_numpy(dtype=bool, na_value=False)[phq]
    flagged = np.bincount(who[recent & flag], minlength=len(patients)) > 0
    return last_score, last_day, flagged[out_patient]


def patient_status(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    models: Mapping[str, TrajectoryModel | str] | None = None,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Status and at-risk flag of every patient × instrument (methods §7.5, §7.6).

    Parameters
    ----------
    dataset : Dataset
        Not modified.
    settings : Settings, optional
    models : mapping, optional
        Instrument -> :class:`TrajectoryModel` (or the reason it could not be fitted), as
        :func:`fit_trajectory_models` returns; fitted when omitted.
    outcomes : pandas.DataFrame, optional
        :func:`katoutcomes.outcomes.patient_outcomes`, when already computed.

    Returns
    -------
    pandas.DataFrame
        One row per row of ``outcomes``: ``patient_id, instrument, baseline, last_day,
        last_score, expected, band_low, band_high, status, at_risk, reasons, relapse,
        item9``, sorted by patient and instrument.

    Notes
    -----
    ``last_score`` / ``last_day``: the latest valid score with ``t > 0``. Status:

    - ``no_baseline``: no baseline (methods §4.2); ``not_eligible``: baseline below caseness;
    - ``no_followup``: eligible without a valid score after the first dose;
    - ``off_track``: eligible with follow-up and ``last_score > band_high`` of the
      expected-recovery band for the patient's baseline at ``last_day`` (level
      ``band_level``; beyond day 365 the band of day 365); ``on_track`` otherwise;
    - ``not_measurable``: eligible with follow-up but the instrument has no usable model
      (too few patients, or the fit did not converge).

    ``at_risk`` is true when any reason holds, listed ``;``-separated in this order:

    - ``off_track``: the status above;
    - ``reliable_deterioration``: ``last_score >= baseline + reliable_change`` (6 points
      PHQ-9, 4 GAD-7; NHS Talking Therapies), the latest score and not the endpoint, so
      that a patient who worsens after the acute window is seen;
    - ``relapse``: ``relapse`` of :func:`~katoutcomes.outcomes.patient_outcomes`;
    - ``item9``: PHQ-9 item 9 >= 1 on any of the patient's last three PHQ-9
      questionnaires (valid or incomplete). A self-harm signal is the patient's, so it is
      listed on each of the patient's instruments.

    The reasons other than ``off_track`` apply whatever the status (an ineligible patient
    who worsens, or flags item 9, is at risk too).
    """
    settings = settings or Settings()
    if outcomes is None:
        from katoutcomes.outcomes import patient_outcomes

        outcomes = patient_outcomes(dataset, settings)
    if models is None:
        models = fit_trajectory_models(dataset, settings, outcomes=outcomes)
    frame = outcomes
    last_score, last_day, item9 = _followup_and_item9(dataset.assessments, outcomes)
    n = len(frame)
    baseline = frame["baseline"].to_numpy(np.float64)
    instrument = frame["instrument"].to_numpy().astype(str)
    eligible = frame["eligible"].fillna(False).to_numpy(bool)
    followup = ~np.isnan(last_score)

    expected = np.full(n, np.nan)
    band_low = np.full(n, np.nan)
    band_high = np.full(n, np.nan)
    measurable = np.zeros(n, dtype=bool)
    reliable_change = np.full(n, np.nan)
    for name, model in models.items():
        rows = instrument == name
        reliable_change[rows] = INSTRUMENTS[name].reliable_change
        if not isinstance(model, TrajectoryModel) or not model.converged:
            continue
        target = np.flatnonzero(rows & eligible & followup)
        band = model.expected(baseline[target], last_day[target])
        expected[target] = band["expected"].to_numpy()
        band_low[target] = band["band_low"].to_numpy()
        band_high[target] = band["band_high"].to_numpy()
        measurable[target] = True
    for name in set(instrument) - set(models):
        reliable_change[instrument == name] = INSTRUMENTS[name].reliable_change

    status = np.select(
        [
            np.isnan(baseline),
            ~eligible,
            ~followup,
            ~measurable,
            last_score > band_high,
        ],
        ["no_baseline", "not_eligible", "no_followup", "not_measurable", "off_track"],
        default="on_track",
    )
    reasons = {
        "off_track": status == "off_track",
        "reliable_deterioration": last_score - baseline >= reliable_change,
        "relapse": frame["relapse"].fillna(False).to_numpy(bool),
        "item9": item9,
    }
    # Each combination of reasons is a bit pattern; its text is looked up, not built per row.
    pattern = np.zeros(n, dtype=np.int64)
    for bit, reason in enumerate(REASONS):
        pattern |= reasons[reason].astype(np.int64) << bit
    texts = np.array(
        [
            ";".join(r for bit, r in enumerate(REASONS) if code >> bit & 1)
            for code in range(1 << len(REASONS))
        ],
        dtype=object,
    )
    listed = pd.array(texts[pattern], dtype="str")
    at_risk = pattern > 0
    return pd.DataFrame(
        {
            "patient_id": frame["patient_id"].astype("str"),
            "instrument": frame["instrument"].astype("str"),
            "baseline": baseline,
            "last_day": last_day,
            "last_score": last_score,
            "expected": expected,
            "band_low": band_low,
            "band_high": band_high,
            "status": pd.array(status, dtype="str"),
            "at_risk": at_risk,
            "reasons": listed,
            "relapse": frame["relapse"].astype("boolean"),
            "item9": reasons["item9"],
        }
    )


def _latest_dose_clinician(treatments: pd.DataFrame) -> pd.DataFrame:
    """The clinician of each patient's latest dose (by ``t``)."""
    if treatments.empty or "clinician_id" not in treatments:
        return pd.DataFrame(
            {"patient_id": pd.Series(dtype="str"), "clinician_id": pd.Series(dtype="str")}
        )
    doses = treatments.loc[treatments["t"].notna(), ["patient_id", "t", "clinician_id"]]
    doses = doses.sort_values(["patient_id", "t"], kind="stable")
    latest = doses.drop_duplicates("patient_id", keep="last")
    return latest[["patient_id", "clinician_id"]].astype("str")


def alerts(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    models: Mapping[str, TrajectoryModel | str] | None = None,
    outcomes: pd.DataFrame | None = None,
    clinician: str | None = None,
) -> pd.DataFrame:
    """The needs-review list: one row per patient × instrument, at-risk patients first.

    Columns :data:`ALERT_COLUMNS`: the status columns of :func:`patient_status` with
    ``clinician_id``, the clinician of the patient's latest dose (NaN without doses or
    without a recorded clinician). Sorted by ``at_risk`` (true first), then off-track
    before on-track and the other statuses (:data:`STATUSES`), then patient and
    instrument. ``clinician`` keeps only that clinician's patients.
    """
    status = patient_status(dataset, settings, models=models, outcomes=outcomes)
    status = status.merge(
        _latest_dose_clinician(dataset.treatments),
        on="patient_id",
        how="left",
        validate="many_to_one",
    )
    if clinician is not None:
        status = status[status["clinician_id"] == clinician]
    rank = pd.Categorical(status["status"], categories=STATUSES).codes
    status = status.assign(_risk=~status["at_risk"], _rank=rank).sort_values(
        ["_risk", "_rank", "patient_id", "instrument"], kind="stable"
    )
    return status[list(ALERT_COLUMNS)].reset_index(drop=True)
