"""Missing-data sensitivity of response and remission (docs/methods.md §8).

:func:`missing_data_sensitivity` puts side by side, per instrument, the response and
remission rates under intention-to-treat (no endpoint = no response), completers, last
observation carried forward and multiple imputation under missing-at-random from the
trajectory model (:mod:`katoutcomes.trajectories`), and a tipping point: how much worse
than imputed the imputed patients would have to be for the imputation result to enter the
intention-to-treat interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.outcomes import meets_fraction
from katoutcomes.settings import Settings
from katoutcomes.stats import proportion_ci
from katoutcomes.trajectories import TrajectoryModel, fit_trajectory_models, model_data

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = [
    "IMPUTATION_SEED",
    "METHODS",
    "SensitivityAnalysis",
    "missing_data_sensitivity",
    "rubin_logit",
]

#: Rows of the sensitivity table, in order.
METHODS: Final = ("itt", "completers", "locf", "mi")
#: Seed of the imputations (recorded in every output).
IMPUTATION_SEED: Final = 20261203
#: Imputations by default (methods §8.2 asks for at least 20; 50 keeps the Monte Carlo error
#: of the pooled rate well below its standard error).
DEFAULT_IMPUTATIONS: Final = 50
#: Default of the visit window (methods §5.1), used when the settings do not carry one.
_VISIT_WINDOW_DEFAULT: Final = 7.0

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class SensitivityAnalysis:
    """The sensitivity table and the tipping points.

    Attributes
    ----------
    table : ``instrument, outcome, method, estimate, ci_low, ci_high, n, note``; methods
        :data:`METHODS`; outcomes ``response`` and ``remission``.
    tipping_point : one row per instrument (response): ``instrument, outcome,
        itt_estimate, itt_ci_low, itt_ci_high, mi_estimate, n_imputed,
        imputed_response_share, delta_points, tipping_response_share, statement``.
    imputations, seed : the number of imputations and their seed.
    """

    table: pd.DataFrame
    tipping_point: pd.DataFrame
    imputations: int
    seed: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self, instrument: str | None = None) -> dict[str, Any]:
        table, tipping = self.table, self.tipping_point
        if instrument is not None:
            table = table[table["instrument"] == instrument]
            tipping = tipping[tipping["instrument"] == instrument]
        records = _records(table.drop(columns=["note"]))
        tips = _records(tipping)
        return {
            "sensitivity": records,
            "tipping_point": {
                **(tips[0] if len(tips) == 1 else {"by_instrument": tips}),
                "imputations": self.imputations,
                "seed": self.seed,
            },
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, float | np.floating):
                clean[key] = float(value) if np.isfinite(value) else None
            elif isinstance(value, np.integer):
                clean[key] = int(value)
            elif value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                clean[key] = None
            else:
                clean[key] = value
        out.append(clean)
    return out


def rubin_logit(rates: FloatArray, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """Pool imputed proportions with Rubin's rules on the logit scale.

    Parameters
    ----------
    rates : array of the ``M`` imputed data sets' proportions.
    n : patients in each (the complete-data sample size).
    alpha : 1 - confidence level.

    Returns
    -------
    (estimate, ci_low, ci_high) on the proportion scale; NaN interval when a rate is 0
    or 1 (its logit is infinite).

    Notes
    -----
    With ``Q_m = logit(p_m)`` and its complete-data variance ``U_m = 1 / (n p_m (1 - p_m))``
    (delta method): ``Q = mean(Q_m)``, ``W = mean(U_m)``, ``B = var(Q_m)`` (``M - 1``
    denominator), ``T = W + (1 + 1/M) B``. The reference is Student's t with the
    Barnard–Rubin degrees of freedom: ``nu_m = (M - 1) / gamma^2`` with
    ``gamma = (1 + 1/M) B / T``, ``nu_obs = (nu_com + 1)/(nu_com + 3) nu_com (1 - gamma)``,
    ``nu_com = n - 1`` and ``nu = 1 / (1/nu_m + 1/nu_obs)``. The interval
    ``Q -/+ t_nu sqrt(T)`` is transformed back with ``expit``.

    References
    ----------
    Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley, 1987. Barnard J,
    Rubin DB. Small-sample degrees of freedom with multiple imputation. Biometrika
    1999;86:948-955. Marshall A, Altman DG, Holder RL, Royston P. Combining estimates
    of interest in prognostic modelling studies after multiple imputation. BMC Med Res
    Methodol 2009;9:57 (pooling proportions on the logit scale).

    Examples
    --------
    >>> est, lo, hi = rubin_logit(np.array([0.5, 0.5]), 100)
    >>> round(est, 3), round(lo, 3), round(hi, 3)
    (0.5, 0.402, 0.598)
    """
    p = np.asarray(rates, dtype=np.float64)
    m = p.size
    if np.any((p <= 0) | (p >= 1)):
        return float(p.mean()), np.nan, np.nan
    q = np.log(p / (1 - p))
    u = 1.0 / (n * p * (1 - p))
    q_bar, w = float(q.mean()), float(u.mean())
    b = float(q.var(ddof=1)) if m > 1 else 0.0
    total = w + (1 + 1 / m) * b
    gamma = (1 + 1 / m) * b / total
    nu_com = n - 1.0
    nu_obs = (nu_com + 1) / (nu_com + 3) * nu_com * (1 - gamma)
    nu = nu_obs if gamma == 0 else 1.0 / (gamma**2 / (m - 1) + 1.0 / nu_obs)
    from scipy import stats as sps  # loaded on first use: importing the module stays light

    crit = float(sps.t.ppf(1 - alpha / 2, nu))
    half = crit * np.sqrt(total)

    def expit(x: float) -> float:
        return float(1.0 / (1.0 + np.exp(-x)))

    return expit(q_bar), expit(q_bar - half), expit(q_bar + half)


def _draw_endpoints(
    model: TrajectoryModel,
    data: pd.DataFrame,
    patients: pd.Index,
    baseline: FloatArray,
    day: float,
    imputations: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Draws of the score at ``day`` for ``patients`` given their observed scores.

    Returns an ``(imputations, len(patients))`` array (continuous, before rounding).
    """
    fit = model.fit
    sigma2 = fit.residual_variance
    d = fit.re_cov
    k = len(patients)
    code = patients.get_indexer(data["patient_id"])
    rows = code >= 0
    code = code[rows]
    x_obs, z_obs = model.design(data["baseline"].to_numpy()[rows], data["t"].to_numpy()[rows])
    y_obs = data["score"].to_numpy(np.float64)[rows]
    # Per patient Z'Z (2x2) and the posterior covariance
    # Sigma_i = (D^-1 + Z'Z / s2)^-1 = D (I + Z'Z D / s2)^-1, which needs no D^-1.
    ztz = np.zeros((k, 2, 2))
    for i in range(2):
        for j in range(2):
            ztz[:, i, j] = np.bincount(code, weights=z_obs[:, i] * z_obs[:, j], minlength=k)
    a = np.eye(2) + ztz @ d / sigma2
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    a_inv = np.empty_like(a)
    a_inv[:, 0, 0], a_inv[:, 1, 1] = a[:, 1, 1] / det, a[:, 0, 0] / det
    a_inv[:, 0, 1], a_inv[:, 1, 0] = -a[:, 0, 1] / det, -a[:, 1, 0] / det
    post = d @ a_inv
    post = (post + np.swapaxes(post, 1, 2)) / 2
    # Cholesky factor of each 2x2 posterior covariance, closed form.
    l11 = np.sqrt(np.maximum(post[:, 0, 0], 0.0))
    l21 = np.divide(post[:, 1, 0], l11, out=np.zeros(k), where=l11 > 0)
    l22 = np.sqrt(np.maximum(post[:, 1, 1] - l21**2, 0.0))

    x_new, z_new = model.design(baseline, np.full(k, day))
    chol_fe = np.linalg.cholesky(fit.fe_cov + 1e-12 * np.eye(fit.fe_cov.shape[0]))
    out = np.empty((imputations, k))
    for m in range(imputations):
        beta = fit.params + chol_fe @ rng.standard_normal(fit.params.size)
        resid = y_obs - x_obs @ beta
        zr = np.column_stack(
            [np.bincount(code, weights=resid * z_obs[:, i], minlength=k) for i in range(2)]
        )
        mean = (post @ zr[:, :, None])[:, :, 0] / sigma2
        e = rng.standard_normal((k, 2))
        u0 = mean[:, 0] + l11 * e[:, 0]
        u1 = mean[:, 1] + l21 * e[:, 0] + l22 * e[:, 1]
        noise = rng.normal(0.0, np.sqrt(sigma2), k)
        out[m] = x_new @ beta + z_new[:, 0] * u0 + z_new[:, 1] * u1 + noise
    return out


def _round_scores(scores: FloatArray, top: float) -> FloatArray:
    """Imputed totals as totals are: whole points (half up) within ``0..top``."""
    return np.clip(np.floor(scores + 0.5), 0.0, top)


def missing_data_sensitivity(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    models: Mapping[str, TrajectoryModel | str] | None = None,
    outcomes: pd.DataFrame | None = None,
    imputations: int = DEFAULT_IMPUTATIONS,
    seed: int = IMPUTATION_SEED,
) -> SensitivityAnalysis:
    """Response and remission under four missing-data assumptions, and the tipping point.

    Parameters
    ----------
    dataset : Dataset
        Not modified.
    settings : Settings, optional
    models : mapping, optional
        Instrument -> fitted :class:`~katoutcomes.trajectories.TrajectoryModel` (or the
        reason there is none), as :func:`~katoutcomes.trajectories.fit_trajectory_models`
        returns; fitted when omitted.
    outcomes : pandas.DataFrame, optional
        :func:`~katoutcomes.outcomes.patient_outcomes`, when already computed.
    imputations : int, default 50
        Number of imputations (at least 20).
    seed : int
        Seed of the imputations (``numpy.random.default_rng``).

    Returns
    -------
    SensitivityAnalysis

    Notes
    -----
    Patients: the intention-to-treat population of :func:`katoutcomes.cohort.
    in_population` (eligible patients who started treatment), ``n`` of them.

    - ``itt``: ``k / n``, patients without an endpoint counted as not responding (not in
      remission); Wilson 95% interval.
    - ``completers``: among patients with an endpoint; Wilson interval.
    - ``locf``: the last valid score on or before the end of the endpoint window,
      the baseline included. The endpoint (methods §4.4) is already the last score in the
      window, so a non-completer carries their baseline forward and, being eligible,
      neither responds nor remits: LOCF equals ITT here, and the row shows it.
    - ``mi``: multiple imputation under missing at random from the instrument's
      trajectory model. A patient without an endpoint, or lost to follow-up before the
      end of the acute window (no valid score at or after day
      ``acute_days - visit_window_days``, visit window 7 days by default), has their score
      at day ``acute_days`` imputed given all their observed scores ``0 < t <= 365``;
      everyone else keeps their observed endpoint. (An early dropout's endpoint is the
      last score before they left, which understates a course that keeps working; a
      patient still followed after the window is not a dropout even when no visit fell
      in its last week.) For imputation ``m``:
      ``beta_m ~ N(beta_hat, Cov(beta_hat))`` (parameter uncertainty; the variance
      components are held at their estimates); the random effects from their conditional
      distribution given the observed scores,
      ``u_i ~ N(Sigma_i Z_i'(y_i - X_i beta_m) / sigma^2, Sigma_i)`` with
      ``Sigma_i = (D^-1 + Z_i'Z_i / sigma^2)^-1`` (Laird & Ware 1982; a patient with no
      post-baseline score draws from ``N(0, D)``); and the score
      ``y* = x' beta_m + z' u_i + e``, ``e ~ N(0, sigma^2)``, rounded half up to whole
      points within the instrument's range. Response and remission follow from the
      imputed score as from an observed endpoint; the ``M`` rates are pooled by
      :func:`rubin_logit`.

    Tipping point (response): the imputed scores are shifted by ``delta`` points (``+``:
    worse), the same draws reused, and ``delta_points`` is where the pooled rate reaches
    the nearer limit of the ITT 95% interval (0 when it already lies inside; found by
    bisection to 0.01 points; empty when no shift within the score range reaches it).
    ``imputed_response_share`` is the imputed patients' response share at ``delta = 0``
    and ``tipping_response_share`` at ``delta_points``: how much worse than imputed the
    missing patients' response would have to be for the MAR result to agree with ITT.

    References
    ----------
    Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley, 1987. Little RJA,
    Rubin DB. Statistical Analysis with Missing Data, 3rd ed. Wiley, 2019 (MAR,
    model-based imputation). Laird NM, Ware JH. Biometrics 1982;38:963-974. Ratitch B,
    O'Kelly M, Tosiello R. Missing data in clinical trials: from clinical assumptions to
    statistical analysis using pattern mixture models. Pharm Stat 2013;12:337-347
    (delta-adjusted tipping-point analysis).
    """
    from katoutcomes.cohort import in_population

    settings = settings or Settings()
    if imputations < 20:
        raise ValueError(f"imputations must be at least 20 (methods §8.2), got {imputations}")
    if outcomes is None:
        from katoutcomes.outcomes import patient_outcomes

        outcomes = patient_outcomes(dataset, settings)
    if models is None:
        models = fit_trajectory_models(dataset, settings, outcomes=outcomes)
    visit_window = float(getattr(settings, "visit_window_days", _VISIT_WINDOW_DEFAULT))
    rng = np.random.default_rng(seed)
    itt = in_population(outcomes, "itt").to_numpy(bool)
    rows: list[dict[str, Any]] = []
    tips: list[dict[str, Any]] = []
    for instrument, model in models.items():
        inst = INSTRUMENTS[instrument]
        pop = outcomes[itt & (outcomes["instrument"] == instrument).to_numpy(bool)]
        n = len(pop)
        baseline = pop["baseline"].to_numpy(np.float64)
        endpoint = pop["endpoint"].to_numpy(np.float64)
        completer = ~np.isnan(endpoint)
        response = pop["response"].fillna(False).to_numpy(bool)
        remission = pop["remission"].fillna(False).to_numpy(bool)
        locf = np.where(completer, endpoint, baseline)
        counts = {
            "itt": (response.sum(), remission.sum(), n, ""),
            "completers": (
                response[completer].sum(),
                remission[completer].sum(),
                int(completer.sum()),
                "",
            ),
            "locf": (
                meets_fraction(locf, baseline, settings.response).sum(),
                (locf < inst.remission_below).sum(),
                n,
                "equals ITT: the endpoint is the last score in the window",
            ),
        }
        for method, (k_resp, k_rem, m_n, note) in counts.items():
            ci = proportion_ci([int(k_resp), int(k_rem)], m_n)
            for outcome, r in zip(("response", "remission"), ci.itertuples(), strict=True):
                rows.append(
                    {
                        "instrument": instrument,
                        "outcome": outcome,
                        "method": method,
                        "estimate": r.estimate,
                        "ci_low": r.ci_low,
                        "ci_high": r.ci_high,
                        "n": m_n,
                        "note": note,
                    }
                )
        if not isinstance(model, TrajectoryModel) or not model.converged or n == 0:
            reason = model if isinstance(model, str) else "the trajectory model did not converge"
            for outcome in ("response", "remission"):
                rows.append(
                    {
                        "instrument": instrument,
                        "outcome": outcome,
                        "method": "mi",
                        "estimate": np.nan,
                        "ci_low": np.nan,
                        "ci_high": np.nan,
                        "n": n,
                        "note": f"not measurable: {reason or 'no patients'}",
                    }
                )
            continue
        data = model_data(dataset, instrument, settings, outcomes)
        last_seen = data.groupby("patient_id", sort=False)["t"].max()
        last_day = last_seen.reindex(pop["patient_id"]).to_numpy(np.float64)
        followed = last_day >= settings.acute_days - visit_window  # False for NaN
        dropped = ~completer | ~followed
        patients = pd.Index(pop["patient_id"].to_numpy()[dropped])
        draws = _draw_endpoints(
            model,
            data[data["patient_id"].isin(patients)],
            patients,
            baseline[dropped],
            settings.acute_days,
            imputations,
            rng,
        )
        kept_response = int(response[~dropped].sum())
        kept_remission = int(remission[~dropped].sum())
        top = float(inst.max_score)

        def pooled(
            delta: float,
            _draws: FloatArray = draws,
            _base: FloatArray = baseline[dropped],
            _kept: int = kept_response,
            _n: int = n,
            _top: float = top,
        ) -> tuple[float, float, float, float]:
            scores = _round_scores(_draws + delta, _top)
            responded = meets_fraction(scores, _base, settings.response)
            share = float(responded.mean()) if responded.size else np.nan
            return (*rubin_logit((_kept + responded.sum(axis=1)) / _n, _n), share)

        est, lo, hi, share0 = pooled(0.0)
        scores0 = _round_scores(draws, top)
        remitted = (scores0 < inst.remission_below).sum(axis=1)
        rem = rubin_logit((kept_remission + remitted) / n, n)
        note = f"{imputations} imputations, seed {seed}; {int(dropped.sum())} imputed"
        for outcome, (e, a, b) in (("response", (est, lo, hi)), ("remission", rem)):
            rows.append(
                {
                    "instrument": instrument,
                    "outcome": outcome,
                    "method": "mi",
                    "estimate": e,
                    "ci_low": a,
                    "ci_high": b,
                    "n": n,
                    "note": note,
                }
            )
        itt_row = next(
            r
            for r in rows
            if (r["instrument"], r["outcome"], r["method"]) == (instrument, "response", "itt")
        )
        tips.append(
            _tipping_point(instrument, itt_row, est, share0, int(dropped.sum()), pooled, top)
        )
    table = pd.DataFrame(
        rows,
        columns=["instrument", "outcome", "method", "estimate", "ci_low", "ci_high", "n", "note"],
    )
    order = {m: i for i, m in enumerate(METHODS)}
    table = table.assign(_o=table["method"].map(order)).sort_values(
        ["instrument", "outcome", "_o"], ascending=[True, False, True], kind="stable"
    )
    table = table.drop(columns="_o").reset_index(drop=True)
    table = table.astype(
        {"instrument": "str", "outcome": "str", "method": "str", "note": "str", "n": "int64"}
    )
    return SensitivityAnalysis(
        table=table,
        tipping_point=pd.DataFrame(tips, columns=list(_TIP_COLUMNS)),
        imputations=imputations,
        seed=seed,
    )


_TIP_COLUMNS: Final = (
    "instrument",
    "outcome",
    "itt_estimate",
    "itt_ci_low",
    "itt_ci_high",
    "mi_estimate",
    "n_imputed",
    "imputed_response_share",
    "delta_points",
    "tipping_response_share",
    "statement",
)


def _tipping_point(
    instrument: str,
    itt: Mapping[str, Any],
    mi_estimate: float,
    share0: float,
    n_imputed: int,
    pooled: Any,
    top: float,
) -> dict[str, Any]:
    """Bisection for the shift of the imputed scores at which the pooled MI response rate
    reaches the nearer limit of the ITT interval."""
    lo_limit, hi_limit = float(itt["ci_low"]), float(itt["ci_high"])
    base = {
        "instrument": instrument,
        "outcome": "response",
        "itt_estimate": float(itt["estimate"]),
        "itt_ci_low": lo_limit,
        "itt_ci_high": hi_limit,
        "mi_estimate": mi_estimate,
        "n_imputed": n_imputed,
        "imputed_response_share": share0,
    }
    if lo_limit <= mi_estimate <= hi_limit or n_imputed == 0:
        return {
            **base,
            "delta_points": 0.0,
            "tipping_response_share": share0,
            "statement": "the MAR imputation already lies within the intention-to-treat "
            "95% interval: missing data do not move the ITT verdict",
        }
    above = mi_estimate > hi_limit
    target = hi_limit if above else lo_limit
    sign = 1.0 if above else -1.0

    def crossed(delta: float) -> bool:
        est = pooled(sign * delta)[0]
        return bool(est <= target) if above else bool(est >= target)

    if not crossed(top):
        return {
            **base,
            "delta_points": np.nan,
            "tipping_response_share": np.nan,
            "statement": "no shift of the imputed scores within the score range brings the "
            "MAR result into the intention-to-treat interval",
        }
    low, high = 0.0, top
    while high - low > 0.01:
        mid = (low + high) / 2
        low, high = (low, mid) if crossed(mid) else (mid, high)
    delta = sign * high
    share = pooled(delta)[3]
    direction = "worse" if above else "better"
    return {
        **base,
        "delta_points": delta,
        "tipping_response_share": share,
        "statement": (
            f"the {n_imputed} imputed patients would have to score {abs(delta):.2f} points "
            f"{direction} than imputed under MAR (response share {share:.1%} instead of "
            f"{share0:.1%}) for the MI result to reach the ITT interval"
        ),
    }
