"""Linear mixed models: one fitting function with tidy results.

:func:`fit_mixed_model` wraps statsmodels' ``MixedLM`` (formula interface) and returns a
:class:`MixedModelFit`, a frozen dataclass of tidy tables: the fixed effects with Wald
intervals and p-values, the variance components, the log-likelihood, convergence and the
numbers of observations and groups. The trajectory model of methods §7.1
(:mod:`katoutcomes.trajectories`) is built on it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["MixedModelFit", "fit_mixed_model"]

#: Gradient tolerance of the final BFGS run (see ``polish`` in :func:`fit_mixed_model`).
_POLISH_GTOL = 1e-8

#: Columns of :attr:`MixedModelFit.fixed_effects`.
FIXED_EFFECT_COLUMNS = ("term", "coef", "std_err", "ci_low", "ci_high", "p_value")
#: Columns of :attr:`MixedModelFit.variance_components`.
VARIANCE_COLUMNS = ("component", "term", "other_term", "estimate")


@dataclass(frozen=True)
class MixedModelFit:
    """A fitted linear mixed model.

    Attributes
    ----------
    formula, groups, re_formula : the model as specified.
    reml : True for restricted maximum likelihood, False for maximum likelihood.
    fixed_effects : one row per fixed-effect term: ``term, coef, std_err, ci_low, ci_high,
        p_value`` (Wald, normal reference, 95%).
    variance_components : one row per (co)variance: ``component`` is ``"random"`` (the
        variance of a random effect ``term``, or with ``other_term`` set, the covariance of
        two), ``"residual"``; ``estimate`` is on the variance scale.
    fe_cov : covariance matrix of the fixed-effect estimates (terms in the order of
        ``fixed_effects``).
    re_cov : covariance matrix ``D`` of the random effects (order of ``re_terms``).
    re_terms : names of the random-effect terms (the intercept is ``"Intercept"``).
    residual_variance : ``sigma^2``.
    log_likelihood : the maximised (restricted, when ``reml``) log-likelihood.
    converged : whether the optimiser reported convergence.
    n_observations, n_groups : rows used and groups among them.
    method : the optimiser(s) tried.
    warnings : messages statsmodels raised during the fit (e.g. a boundary estimate).
    """

    formula: str
    groups: str
    re_formula: str | None
    reml: bool
    fixed_effects: pd.DataFrame
    variance_components: pd.DataFrame
    fe_cov: NDArray[np.float64]
    re_cov: NDArray[np.float64]
    re_terms: tuple[str, ...]
    residual_variance: float
    log_likelihood: float
    converged: bool
    n_observations: int
    n_groups: int
    method: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def params(self) -> NDArray[np.float64]:
        """Fixed-effect estimates, in the order of :attr:`fixed_effects`."""
        return self.fixed_effects["coef"].to_numpy(dtype=np.float64)

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.fixed_effects["term"])

    def summary(self) -> pd.DataFrame:
        """Fixed effects then variance components in one table.

        Columns ``part`` (``"fixed"`` / ``"variance"``), ``term``, ``coef``, ``std_err``,
        ``ci_low``, ``ci_high``, ``p_value``; the variance rows carry the estimate in
        ``coef`` and NaN elsewhere (statsmodels gives no standard errors for them).
        """
        fixed = self.fixed_effects.assign(part="fixed")
        vc = self.variance_components
        label = np.where(
            vc["other_term"].isna(),
            vc["component"] + ": " + vc["term"],
            vc["component"] + ": " + vc["term"] + " x " + vc["other_term"].fillna(""),
        )
        label = np.where(vc["component"] == "residual", "residual", label)
        variance = pd.DataFrame(
            {"part": "variance", "term": label, "coef": vc["estimate"].to_numpy()}
        )
        out = pd.concat([fixed, variance], ignore_index=True)
        return out[["part", *FIXED_EFFECT_COLUMNS]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (fixed effects as records, variances by name)."""
        return {
            "formula": self.formula,
            "groups": self.groups,
            "re_formula": self.re_formula,
            "reml": self.reml,
            "converged": self.converged,
            "n_observations": self.n_observations,
            "n_groups": self.n_groups,
            "log_likelihood": self.log_likelihood,
            "fixed_effects": _records(self.fixed_effects),
            "variance_components": self.variance_dict(),
            "warnings": list(self.warnings),
        }

    def variance_dict(self) -> dict[str, float]:
        """Variance components keyed ``var_<term>``, ``cov_<term>_<other>``, ``residual``."""
        out: dict[str, float] = {}
        for row in self.variance_components.itertuples(index=False):
            if row.component == "residual":
                out["residual"] = float(row.estimate)
            elif pd.isna(row.other_term):
                out[f"var_{row.term}"] = float(row.estimate)
            else:
                out[f"cov_{row.term}_{row.other_term}"] = float(row.estimate)
        return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]


def fit_mixed_model(
    data: pd.DataFrame,
    formula: str,
    groups: str,
    re_formula: str | None = None,
    reml: bool = True,
    *,
    method: str | Sequence[str] = ("lbfgs", "bfgs", "powell"),
    start_params: Any = None,
    maxiter: int = 200,
    polish: bool = True,
    engine: str = "statsmodels",
) -> MixedModelFit:
    """Fit a linear mixed model (Laird & Ware 1982) with statsmodels ``MixedLM``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation. Rows with a missing value in a variable of the model are
        dropped (as R's ``na.omit``). Not modified.
    formula : str
        Fixed-effects formula (patsy), e.g. ``"bdi ~ bdi_pre + time"``.
    groups : str
        Column identifying the group (patient) of each row.
    re_formula : str, optional
        Random-effects formula, e.g. ``"~L"`` for a random intercept and slope on ``L``;
        ``None`` for a random intercept only.
    reml : bool, default True
        Restricted maximum likelihood (True) or maximum likelihood.
    method : str or sequence of str
        Optimisers, tried in turn until one converges (statsmodels' ``method`` list).
    start_params : optional
        Starting values, e.g. from an earlier fit of the same model, to speed up refits on
        subsets: for ``"statsmodels"`` a ``MixedLMParams`` or the packed vector, for
        ``"profiled"`` a :class:`MixedModelFit` (its ``D / sigma^2``).
    maxiter : int, default 200
        Iteration limit of each optimiser.
    polish : bool, default True
        After convergence, take a final BFGS run from the estimates with a gradient
        tolerance of 1e-8. The L-BFGS stopping rule leaves flat likelihoods a few units in
        the sixth significant digit from their maximum; the polish moves the BtheB
        estimates onto lme4's. Turn off to save time where that precision does not matter.
    engine : {"statsmodels", "profiled"}, default "statsmodels"
        ``"statsmodels"`` runs ``MixedLM.fit``. ``"profiled"`` maximises the same
        (restricted) likelihood from per-group sufficient statistics with NumPy (see
        Notes): the same estimates, in a fraction of the time for thousands of groups
        (statsmodels evaluates the likelihood group by group in Python). ``method``,
        ``start_params``, ``maxiter`` and ``polish`` apply to ``"statsmodels"`` only.

    Returns
    -------
    MixedModelFit

    Notes
    -----
    The model for group ``i`` with ``n_i`` observations is
    ``y_i = X_i beta + Z_i b_i + e_i`` with ``b_i ~ N(0, D)`` and ``e_i ~ N(0, sigma^2 I)``
    independent (Laird & Ware 1982). The marginal covariance is
    ``V_i = Z_i D Z_i' + sigma^2 I``; ML maximises the Gaussian likelihood of ``y`` and REML
    the likelihood of error contrasts (Harville 1977), which removes the downward bias of
    the ML variance estimates. ``beta`` is the generalised least-squares estimate given
    ``D`` and ``sigma^2``, with covariance ``(sum_i X_i' V_i^{-1} X_i)^{-1}`` (``fe_cov``).
    The fixed-effect intervals and p-values are Wald ones with a normal reference:
    ``coef -/+ 1.959964 std_err`` and ``2 (1 - Phi(|coef / std_err|))``, as statsmodels
    reports them; lme4 reports no p-values, and with many groups the normal reference is
    close to any degrees-of-freedom correction.

    On BtheB (Proudfoot et al. 2003; ML, random intercept), the estimates agree with lme4
    to 5 decimals and the standard errors within 0.5% (``tests/test_models.py``).

    The ``"profiled"`` engine writes ``D = sigma^2 L L'`` with ``L`` lower triangular
    (``theta``, its entries, the only parameters searched; Bates et al. 2015, section 3)
    and uses, for each group, ``M_i = I + L' Z_i'Z_i L`` (Woodbury:
    ``(I + Z_i L L' Z_i')^{-1} = I - Z_i L M_i^{-1} L' Z_i'`` and
    ``det(I + Z_i L L' Z_i') = det M_i``). With ``U_i = X_i'Z_i L`` and
    ``w_i = L' Z_i'y_i``::

        P = sum_i (X_i'X_i - U_i M_i^{-1} U_i')        # X' V^{-1} X times sigma^2
        r = sum_i (X_i'y_i - U_i M_i^{-1} w_i)
        s = sum_i (y_i'y_i - w_i' M_i^{-1} w_i)
        beta = P^{-1} r,  RSS = s - r' beta

    so every quantity needs only the per-group cross-products ``X_i'X_i, X_i'Z_i,
    Z_i'Z_i, X_i'y_i, Z_i'y_i, y_i'y_i``, computed once. With ``sigma^2`` profiled out
    (``RSS / N`` for ML, ``RSS / (N - p)`` for REML) the deviance is::

        ML:   N (1 + log(2 pi RSS / N)) + sum_i log det M_i
        REML: (N - p)(1 + log(2 pi RSS / (N - p))) + sum_i log det M_i + log det P

    minimised over ``theta`` by L-BFGS-B (diagonal of ``L`` >= 0, from ``L = I``, with a
    restart from 0.1 for a diagonal entry that ends at 0); the log-likelihood is minus
    half of it. ``Cov(beta) = sigma^2 P^{-1}``, the inverse of
    ``sum_i X_i' V_i^{-1} X_i`` at the estimates, as lme4 reports it.

    References
    ----------
    Laird NM, Ware JH. Random-effects models for longitudinal data. Biometrics
    1982;38:963-974. Harville DA. Maximum likelihood approaches to variance component
    estimation. JASA 1977;72:320-338. Bates D, Mächler M, Bolker B, Walker S. Fitting
    linear mixed-effects models using lme4. J Stat Softw 2015;67(1).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(40), 5)
    >>> x = np.tile(np.arange(5.0), 40)
    >>> y = 2 + 0.5 * x + rng.normal(0, 1, 40)[g] + rng.normal(0, 0.5, 200)
    >>> fit = fit_mixed_model(pd.DataFrame({"y": y, "x": x, "g": g}), "y ~ x", "g")
    >>> fit.n_groups, fit.converged
    (40, True)
    >>> round(float(fit.fixed_effects.set_index("term").loc["x", "coef"]), 1)
    0.5
    """
    import statsmodels.formula.api as smf

    if groups not in data.columns:
        raise KeyError(f"groups column {groups!r} is not in the data")
    methods = (method,) if isinstance(method, str) else tuple(method)
    model_kwargs: dict[str, Any] = {"groups": groups, "missing": "drop"}
    if re_formula is not None:
        model_kwargs["re_formula"] = re_formula
    if engine not in ("statsmodels", "profiled"):
        raise ValueError(f"engine must be 'statsmodels' or 'profiled', got {engine!r}")
    if engine == "profiled":
        y, x, zmat, codes = _design(data, formula, groups, re_formula)
        return _fit_profiled(
            y,
            x,
            zmat,
            codes,
            formula=formula,
            groups=groups,
            re_formula=re_formula,
            reml=reml,
            start=start_params if isinstance(start_params, MixedModelFit) else None,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = smf.mixedlm(formula, data, **model_kwargs)
    re_names = ["Intercept" if n == groups else str(n) for n in model.data.exog_re_names]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(
            reml=reml, method=list(methods), start_params=start_params, maxiter=maxiter
        )
        if polish and result.converged:
            polished = model.fit(
                reml=reml,
                method=["bfgs"],
                start_params=result.params_object,
                maxiter=maxiter,
                gtol=_POLISH_GTOL,
            )
            if polished.converged and polished.llf >= result.llf:
                result = polished
    messages = tuple(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))

    k_fe = model.k_fe
    coef = np.asarray(result.fe_params, dtype=np.float64)
    fe_cov = np.asarray(result.cov_params(), dtype=np.float64)[:k_fe, :k_fe]
    return _build_fit(
        formula=formula,
        groups=groups,
        re_formula=re_formula,
        reml=reml,
        names=list(model.exog_names),
        coef=coef,
        fe_cov=fe_cov,
        re_names=re_names,
        re_cov=np.asarray(result.cov_re, dtype=np.float64),
        scale=float(result.scale),
        llf=float(result.llf),
        converged=bool(result.converged),
        n_observations=int(model.nobs),
        n_groups=int(model.n_groups),
        method=methods,
        messages=messages,
        result=result,
    )


def _build_fit(
    *,
    formula: str,
    groups: str,
    re_formula: str | None,
    reml: bool,
    names: list[str],
    coef: NDArray[np.float64],
    fe_cov: NDArray[np.float64],
    re_names: list[str],
    re_cov: NDArray[np.float64],
    scale: float,
    llf: float,
    converged: bool,
    n_observations: int,
    n_groups: int,
    method: tuple[str, ...],
    messages: tuple[str, ...],
    result: Any,
) -> MixedModelFit:
    """The tidy tables of a fit from its estimates."""
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(fe_cov))
        z = coef / se
    from scipy import stats as sps  # loaded on first use: importing the module stays light

    crit = float(sps.norm.ppf(0.975))
    fixed = pd.DataFrame(
        {
            "term": pd.array(names, dtype="str"),
            "coef": coef,
            "std_err": se,
            "ci_low": coef - crit * se,
            "ci_high": coef + crit * se,
            "p_value": 2 * sps.norm.sf(np.abs(z)),
        }
    )
    rows: list[tuple[str, str, str | None, float]] = []
    for i, a in enumerate(re_names):
        rows.append(("random", a, None, float(re_cov[i, i])))
        for j in range(i + 1, len(re_names)):
            rows.append(("random", a, re_names[j], float(re_cov[i, j])))
    rows.append(("residual", "Residual", None, scale))
    variance = pd.DataFrame(rows, columns=list(VARIANCE_COLUMNS))
    variance = variance.astype({"component": "str", "term": "str", "other_term": "str"})
    return MixedModelFit(
        formula=formula,
        groups=groups,
        re_formula=re_formula,
        reml=reml,
        fixed_effects=fixed,
        variance_components=variance,
        fe_cov=fe_cov,
        re_cov=re_cov,
        re_terms=tuple(re_names),
        residual_variance=scale,
        log_likelihood=llf,
        converged=converged,
        n_observations=n_observations,
        n_groups=n_groups,
        method=method,
        warnings=messages,
        result=result,
    )


def _group_sums(
    codes: NDArray[np.intp], n_groups: int, a: NDArray[np.float64], b: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``sum_j a_j b_j'`` within each group: shape ``(n_groups, a.shape[1], b.shape[1])``."""
    out = np.empty((n_groups, a.shape[1], b.shape[1]))
    for i in range(a.shape[1]):
        for j in range(b.shape[1]):
            out[:, i, j] = np.bincount(codes, weights=a[:, i] * b[:, j], minlength=n_groups)
    return out


def _inverse(m: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverses of a stack of small symmetric matrices (closed form for 1x1 and 2x2)."""
    q = m.shape[-1]
    if q == 1:
        return 1.0 / m
    if q == 2:
        a, b, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 1]
        det = a * d - b * b
        out = np.empty_like(m)
        out[:, 0, 0], out[:, 1, 1] = d / det, a / det
        out[:, 0, 1] = out[:, 1, 0] = -b / det
        return out
    return np.asarray(np.linalg.inv(m), dtype=np.float64)


def _determinant(m: NDArray[np.float64]) -> NDArray[np.float64]:
    q = m.shape[-1]
    if q == 1:
        return m[:, 0, 0]
    if q == 2:
        return m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    return np.linalg.det(m)


def _pieces_2x2(
    lower: NDArray[np.float64],
    xtx: NDArray[np.float64],
    xtz: NDArray[np.float64],
    ztz: NDArray[np.float64],
    xty: NDArray[np.float64],
    zty: NDArray[np.float64],
    yty: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], float, float]:
    """``P``, ``beta``, ``RSS`` and ``sum log det M_i`` for two random effects, written
    out element by element (NumPy's stacked 2x2 products are slow for many groups)."""
    l0, l1, l2 = lower[0, 0], lower[1, 0], lower[1, 1]
    a00, a01, a11 = ztz[:, 0, 0], ztz[:, 0, 1], ztz[:, 1, 1]
    # M = I + L' A L with L = [[l0, 0], [l1, l2]].
    m00 = 1 + l0 * l0 * a00 + 2 * l0 * l1 * a01 + l1 * l1 * a11
    m01 = l2 * (l0 * a01 + l1 * a11)
    m11 = 1 + l2 * l2 * a11
    det = m00 * m11 - m01 * m01
    i00, i01, i11 = m11 / det, -m01 / det, m00 / det
    # U = X'Z L (columns u0, u1) and w = L' Z'y.
    u0 = xtz[:, :, 0] * l0 + xtz[:, :, 1] * l1
    u1 = xtz[:, :, 1] * l2
    w0 = zty[:, 0] * l0 + zty[:, 1] * l1
    w1 = zty[:, 1] * l2
    v0 = i00[:, None] * u0 + i01[:, None] * u1  # rows of U M^-1
    v1 = i01[:, None] * u0 + i11[:, None] * u1
    big_p = xtx - u0.T @ v0 - u1.T @ v1
    r = xty - v0.T @ w0 - v1.T @ w1
    s = yty - float(np.sum(w0 * (i00 * w0 + i01 * w1) + w1 * (i01 * w0 + i11 * w1)))
    beta = np.linalg.solve(big_p, r)
    rss = s - float(r @ beta)
    return big_p, beta, rss, float(np.log(det).sum())


def _stationary(
    fun: Any, x: NDArray[np.float64], lower_bounded: NDArray[np.bool_], tol: float = 1e-3
) -> bool:
    """Whether the projected central-difference gradient of ``fun`` at ``x`` is below
    ``tol`` (a parameter at its lower bound 0 may have a positive derivative)."""
    h = 1e-5
    grad = np.empty_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] = max(down[i] - h, 0.0) if lower_bounded[i] else down[i] - h
        grad[i] = (fun(up) - fun(down)) / (up[i] - down[i])
    at_bound = lower_bounded & (x <= h) & (grad > 0)
    return bool(np.all(np.isfinite(grad)) and np.all(np.abs(grad[~at_bound]) < tol))


def _design(
    data: pd.DataFrame, formula: str, groups: str, re_formula: str | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, NDArray[np.intp]]:
    """Response, fixed- and random-effect design matrices (patsy, as statsmodels builds
    them) and group codes, over the rows complete in every variable."""
    import patsy

    y, x = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="drop")
    if re_formula is None:
        zmat = pd.DataFrame({"Intercept": np.ones(len(x))}, index=x.index)
    else:
        zmat = patsy.dmatrix(re_formula, data, return_type="dataframe", NA_action="drop")
    group = data[groups]
    keep = x.index.intersection(zmat.index)
    keep = keep[group.loc[keep].notna().to_numpy()]
    codes, _ = pd.factorize(group.loc[keep])
    return y.loc[keep], x.loc[keep], zmat.loc[keep], codes


def _fit_profiled(
    y_frame: pd.DataFrame,
    x_frame: pd.DataFrame,
    z_frame: pd.DataFrame,
    codes: NDArray[np.intp],
    *,
    formula: str,
    groups: str,
    re_formula: str | None,
    reml: bool,
    start: MixedModelFit | None = None,
) -> MixedModelFit:
    """Maximise the (restricted) likelihood from per-group cross-products (see
    :func:`fit_mixed_model`, Notes)."""
    from scipy.optimize import minimize

    x = x_frame.to_numpy(dtype=np.float64)
    zmat = z_frame.to_numpy(dtype=np.float64)
    y = y_frame.to_numpy(dtype=np.float64)[:, :1]
    n_groups = int(codes.max()) + 1
    n, p = x.shape
    q = zmat.shape[1]
    xtx = _group_sums(codes, n_groups, x, x).sum(axis=0)
    xtz = _group_sums(codes, n_groups, x, zmat)
    ztz = _group_sums(codes, n_groups, zmat, zmat)
    xty = _group_sums(codes, n_groups, x, y)[:, :, 0].sum(axis=0)
    zty = _group_sums(codes, n_groups, zmat, y)[:, :, 0]
    yty = float(y[:, 0] @ y[:, 0])
    rows, cols = np.tril_indices(q)
    eye = np.eye(q)
    dof = n - p if reml else n

    def pieces(theta: NDArray[np.float64]) -> tuple[Any, ...]:
        lower = np.zeros((q, q))
        lower[rows, cols] = theta
        if q == 2:
            return (lower, *_pieces_2x2(lower, xtx, xtz, ztz, xty, zty, yty))
        m = eye + lower.T @ ztz @ lower  # (g, q, q)
        m_inv = _inverse(m)
        u = xtz @ lower  # (g, p, q)
        w = zty @ lower  # (g, q): rows L' Z_i'y_i
        m_inv_ut = m_inv @ np.swapaxes(u, 1, 2)  # (g, q, p)
        m_inv_w = (m_inv @ w[:, :, None])[:, :, 0]  # (g, q)
        # Sums over groups as one matrix product each.
        big_p = xtx - np.swapaxes(u, 0, 1).reshape(p, -1) @ m_inv_ut.reshape(-1, p)
        r = xty - np.swapaxes(u, 0, 1).reshape(p, -1) @ m_inv_w.reshape(-1)
        s = yty - float(w.reshape(-1) @ m_inv_w.reshape(-1))
        beta = np.linalg.solve(big_p, r)
        rss = s - float(r @ beta)
        logdet_m = float(np.log(_determinant(m)).sum())
        return lower, big_p, beta, rss, logdet_m

    def deviance(theta: NDArray[np.float64]) -> float:
        _, big_p, _, rss, logdet_m = pieces(theta)
        if not rss > 0:
            return np.inf
        value = dof * (1 + np.log(2 * np.pi * rss / dof)) + logdet_m
        if reml:
            value += float(np.linalg.slogdet(big_p)[1])
        return float(value)

    theta0 = eye[rows, cols].astype(np.float64)
    if start is not None and start.re_cov.shape == (q, q):
        # A singular D has no Cholesky factor: the search then starts from L = I.
        with contextlib.suppress(np.linalg.LinAlgError):
            factor = np.linalg.cholesky(start.re_cov / start.residual_variance)
            theta0 = np.asarray(factor[rows, cols], dtype=np.float64)
    on_diagonal = rows == cols
    bounds = [(0.0, None) if d else (None, None) for d in on_diagonal]
    options = {"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9}
    opt = minimize(deviance, theta0, method="L-BFGS-B", bounds=bounds, options=options)
    # The deviance is even in each diagonal entry of L, so 0 (a variance on the boundary)
    # is always a stationary point where the search can stall. As lme4's restart_edge,
    # restart from 0.1 there and keep the better fit.
    stalled = on_diagonal & (opt.x <= 1e-6)
    if stalled.any():
        again = minimize(
            deviance,
            np.where(stalled, 0.1, opt.x),
            method="L-BFGS-B",
            bounds=bounds,
            options=options,
        )
        if again.fun < opt.fun:
            opt = again
    # L-BFGS-B with finite-difference gradients can stop in its line search a hair from
    # the optimum ("ABNORMAL"); the fit counts as converged when the projected central-
    # difference gradient of the deviance is below 1e-3 there.
    converged = bool(opt.success) or _stationary(deviance, opt.x, on_diagonal)
    lower, big_p, beta, rss, _ = pieces(opt.x)
    sigma2 = rss / dof
    return _build_fit(
        formula=formula,
        groups=groups,
        re_formula=re_formula,
        reml=reml,
        names=[str(c) for c in x_frame.columns],
        coef=beta,
        fe_cov=sigma2 * np.linalg.inv(big_p),
        re_names=[str(c) for c in z_frame.columns],
        re_cov=sigma2 * lower @ lower.T,
        scale=float(sigma2),
        llf=-0.5 * float(opt.fun),
        converged=converged,
        n_observations=n,
        n_groups=n_groups,
        method=("profiled-lbfgsb",),
        messages=() if converged else (f"optimiser stopped: {opt.message}",),
        result=None,
    )
