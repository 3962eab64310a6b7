"""Logistic regression for the adjusted comparisons (methods §6).

:func:`fit_logistic` fits a logistic regression (statsmodels GLM, binomial family, logit
link) on numeric and categorical terms (treatment-coded, the most frequent level as
reference) and returns a :class:`LogisticFit` with a tidy odds-ratio
:meth:`~LogisticFit.summary`. Used by :mod:`katoutcomes.comparisons` and
:mod:`katoutcomes.funnel`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import NormalDist
from types import MappingProxyType

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from katoutcomes.cohort import NotMeasurableError
from katoutcomes.comparison_data import COVARIATE_LABELS

__all__ = ["LogisticFit", "fit_logistic", "one_blas_thread", "reference_level", "z_value"]


def z_value(alpha: float) -> float:
    """The standard normal quantile of a two-sided ``1 - alpha`` interval."""
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run NumPy's BLAS on one thread inside the block (threadpoolctl restores it after).

    The logistic fits multiply tall, thin matrices (patients x a few dozen columns), for
    which BLAS threads gain little; on a machine with more runnable threads than cores,
    OpenBLAS threads wait on each other and a fit becomes several times slower (measured
    for 48,000 patients on 2 busy cores: 3 s on one thread, 15 to 22 s on two).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def reference_level(values: pd.Series) -> str:
    """The most frequent level (ties: alphabetical first)."""
    counts = values.value_counts()
    top = counts[counts == counts.max()]
    return str(sorted(top.index.astype(str))[0])


@dataclass(frozen=True)
class _Design:
    matrix: NDArray[np.float64]
    names: tuple[str, ...]
    terms: tuple[tuple[str, str], ...]  # (term, level) per column; level "" for numeric
    references: Mapping[str, str]


def _design(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Mapping[str, str | None],
) -> _Design:
    """Intercept, numeric columns, then treatment-coded dummies of each categorical term."""
    columns: list[NDArray[np.float64]] = [np.ones(len(frame))]
    names = ["intercept"]
    terms = [("intercept", "")]
    for name in numeric:
        columns.append(frame[name].to_numpy(dtype=np.float64, na_value=np.nan))
        names.append(name)
        terms.append((name, ""))
    references: dict[str, str] = {}
    for name, given in categorical.items():
        values = frame[name].astype(str)
        reference = given if given is not None else reference_level(values)
        references[name] = reference
        for level in sorted(set(values.unique().tolist()) - {reference}):
            columns.append((values == level).to_numpy(dtype=np.float64))
            names.append(f"{name}[{level}]")
            terms.append((name, level))
    return _Design(np.column_stack(columns), tuple(names), tuple(terms), references)


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic regression (maximum likelihood, statsmodels GLM binomial logit).

    Attributes
    ----------
    params : pandas.Series
        Coefficients (log odds) by column name: ``intercept``, numeric terms by name,
        categorical levels as ``term[level]``.
    cov : pandas.DataFrame
        Their covariance matrix (inverse Fisher information at the estimate).
    terms : tuple of (term, level)
        What each column is (level ``""`` for the intercept and numeric terms).
    references : mapping
        Reference level of each categorical term.
    n, events : int
        Patients in the model and those with the outcome.
    iterations : int
        IRLS iterations to convergence.
    separated : tuple of str
        Categorical levels in which every patient or no patient had the outcome
        (quasi-complete separation): their coefficients are infinite in the limit and
        what statsmodels reports for them is where IRLS stopped, not an estimate.
    """

    params: pd.Series
    cov: pd.DataFrame
    terms: tuple[tuple[str, str], ...]
    references: Mapping[str, str]
    n: int
    events: int
    iterations: int
    separated: tuple[str, ...] = ()

    def design_matrix(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """The model's columns for the patients of ``frame`` (same terms and references)."""
        columns = []
        for term, level in self.terms:
            if term == "intercept":
                columns.append(np.ones(len(frame)))
            elif level:
                columns.append((frame[term].astype(str) == level).to_numpy(dtype=np.float64))
            else:
                columns.append(frame[term].to_numpy(dtype=np.float64, na_value=np.nan))
        return np.column_stack(columns)

    def predict(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Predicted probabilities ``expit(x' b)`` for the patients of ``frame``."""
        return 1.0 / (1.0 + np.exp(-(self.design_matrix(frame) @ self.params.to_numpy())))

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Odds ratios with Wald intervals.

        Returns
        -------
        pandas.DataFrame
            One row per coefficient but the intercept: ``term, level, reference,
            estimate`` (log odds ratio), ``std_error, odds_ratio, ci_low, ci_high,
            p_value``. ``level`` and ``reference`` are empty for numeric terms (odds ratio
            per unit); rows of separated levels have NaN statistics.

        Notes
        -----
        ``OR = exp(b)``, interval ``exp(b -/+ z_{1-alpha/2} se(b))``, two-sided Wald
        ``p = 2 (1 - Phi(|b| / se(b)))``.
        """
        from scipy import stats as sps

        se = np.sqrt(np.diag(self.cov.to_numpy()))
        b = self.params.to_numpy()
        z = z_value(alpha)
        keep = np.array([term != "intercept" for term, _ in self.terms])
        separated = np.array([name in self.separated for name in self.params.index])
        with np.errstate(over="ignore"):  # a separated level's exp(b) may overflow
            odds_ratio, low, high = np.exp(b), np.exp(b - z * se), np.exp(b + z * se)
        table = pd.DataFrame(
            {
                "term": [term for term, _ in self.terms],
                "level": [level for _, level in self.terms],
                "reference": [self.references.get(term, "") for term, _ in self.terms],
                "estimate": b,
                "std_error": se,
                "odds_ratio": odds_ratio,
                "ci_low": low,
                "ci_high": high,
                "p_value": 2.0 * sps.norm.sf(np.abs(b) / se),
            }
        )
        stats = ["estimate", "std_error", "odds_ratio", "ci_low", "ci_high", "p_value"]
        table.loc[separated, stats] = np.nan
        out = table[keep].reset_index(drop=True)
        for column in ("term", "level", "reference"):
            out[column] = out[column].astype("str")
        return out


def _separated_levels(
    y: NDArray[np.float64], design: _Design, categorical: Sequence[str]
) -> tuple[str, ...]:
    """Dummy columns whose patients all have, or all lack, the outcome."""
    out = []
    for j, (term, level) in enumerate(design.terms):
        if term in categorical and level:
            members = design.matrix[:, j] == 1.0
            k = y[members].sum()
            if k == 0 or k == members.sum():
                out.append(design.names[j])
    return tuple(out)


def fit_logistic(
    frame: pd.DataFrame,
    outcome: str,
    numeric: Sequence[str] = (),
    categorical: Mapping[str, str | None] | Sequence[str] = (),
) -> LogisticFit:
    """Logistic regression of a 0/1 outcome on numeric and categorical terms.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient, no missing value in the columns used. Not modified.
    outcome : str
        Column of 0/1 (or True/False) outcomes.
    numeric : sequence of str
        Terms entered linearly.
    categorical : mapping of str to str or None, or sequence of str
        Terms entered as treatment-coded dummies; the mapping gives each term's reference
        level (None, or a plain sequence: the most frequent level, ties alphabetical).

    Returns
    -------
    LogisticFit

    Raises
    ------
    NotMeasurableError
        No patient; an outcome that never or always happens; a categorical term with a
        single level; collinear terms; perfect separation; no convergence.

    Notes
    -----
    Model: ``logit P(y = 1 | x) = x' b``, fitted by iteratively reweighted least squares
    (statsmodels ``GLM(family=Binomial())``, the canonical logit link), which maximises
    the binomial likelihood; ``cov`` is ``(X' W X)^{-1}`` with ``W = diag(p (1 - p))`` at
    the estimate (McCullagh & Nelder 1989, section 4.4).

    References
    ----------
    McCullagh P, Nelder JA. Generalized Linear Models, 2nd ed. Chapman & Hall; 1989.
    Agresti A. An Introduction to Categorical Data Analysis, 2nd ed. Wiley; 2007, ch. 4-5.

    Examples
    --------
    A 2 x 2 table: odds 3/1 with ``x = "a"``, 1/3 with ``x = "b"``, odds ratio 9.

    >>> frame = pd.DataFrame({"y": [1, 1, 1, 0, 1, 0, 0, 0], "x": ["a"] * 4 + ["b"] * 4})
    >>> fit_logistic(frame, "y", categorical={"x": "b"}).summary()["odds_ratio"].round(6).tolist()
    [9.0]
    """
    # The GLM module alone: statsmodels.api imports every model (about a second).
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    if not isinstance(categorical, Mapping):
        categorical = dict.fromkeys(categorical)
    y = frame[outcome].to_numpy(dtype=np.float64)
    n, events = len(y), int(y.sum())
    if n == 0:
        raise NotMeasurableError("no patient has every variable of the model.")
    if events in (0, n):
        what = "responded" if events == n else "did not respond"
        raise NotMeasurableError(f"all {n:,} patients of the model {what}.")
    for name in categorical:
        levels = frame[name].astype(str).nunique()
        if levels < 2:
            raise NotMeasurableError(
                f"{COVARIATE_LABELS.get(name, name)} has a single level among the {n:,} "
                "patients of the model."
            )
    design = _design(frame, numeric, categorical)
    x = design.matrix
    with warnings.catch_warnings(record=True) as caught, one_blas_thread():
        warnings.simplefilter("always")
        model = GLM(y, x, family=families.Binomial())
        # statsmodels computes the rank of the design: df_model = rank - constant columns
        if int(model.df_model) + int(model.k_constant) < x.shape[1]:
            raise NotMeasurableError(
                "the terms of the model are collinear (one is determined by the others): "
                + ", ".join(design.names[1:])
                + "."
            )
        result = model.fit(maxiter=100)
        cov_params = np.asarray(result.cov_params())
    if any(issubclass(w.category, PerfectSeparationWarning) for w in caught):
        raise NotMeasurableError(
            "the outcome is perfectly predicted by the terms of the model (perfect "
            "separation): no finite odds ratio exists."
        )
    if not result.converged:
        raise NotMeasurableError("the logistic regression did not converge in 100 iterations.")
    params = pd.Series(np.asarray(result.params), index=design.names)
    cov = pd.DataFrame(cov_params, index=design.names, columns=design.names)
    return LogisticFit(
        params=params,
        cov=cov,
        terms=design.terms,
        references=MappingProxyType(dict(design.references)),
        n=n,
        events=events,
        iterations=int(result.fit_history["iteration"]),
        separated=_separated_levels(y, design, list(categorical)),
    )
