"""Adjusted comparisons: case-mix adjusted effects and predictors of response (DESIGN 5).

Patients who chose psychotherapy, were on an SSRI, had a given route or were treatment
resistant differ in severity and history, so a crude difference in response can point
either way. This module estimates each such difference adjusted for the case mix:

- :func:`comparison_frame` gathers, per intention-to-treat patient of one instrument, the
  outcome (ITT response), the covariates and the exposures, from the outcome table and the
  dataset (reusing :func:`katoutcomes.cohort.patient_attributes`).
- :func:`fit_logistic` fits a logistic regression (statsmodels GLM, binomial family, logit
  link) on numeric and categorical terms and returns a :class:`LogisticFit` with a tidy
  odds-ratio :meth:`~LogisticFit.summary`.
- :func:`adjusted_effect` gives, for one exposure, the crude Newcombe difference beside the
  adjusted odds ratio and the standardised risk difference (g-computation, delta-method
  interval): one :class:`AdjustedEffect` per level compared (one per route for ``route``).
- :func:`predictors_of_response` fits one multivariable model with every exposure and
  covariate: a table of odds ratios with the number of events per variable.

Covariates (exactly these, each when the data record it): baseline score (linear), prior
treatment failures (linear), primary diagnosis, age band and sex (categorical, the most
frequent level as reference). A covariate that no analysed patient has is left out and
named; patients missing a covariate that others have are left out of the model and
counted (``n_excluded``). Whatever cannot be estimated raises
:class:`~katoutcomes.cohort.NotMeasurableError` inside and is reported as ``not_measurable``
with its reason by :func:`adjusted_effect`; nothing falls back silently.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from katoutcomes.cohort import (
    PSYCHOTHERAPY_MIN_SHARE,
    TRD_MIN_FAILURES,
    NotMeasurableError,
    in_population,
    patient_attributes,
)
from katoutcomes.instruments import PHQ9
from katoutcomes.stats import risk_difference_ci

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = [
    "CATEGORICAL_COVARIATES",
    "COVARIATES",
    "COVARIATE_LABELS",
    "EPV_WARNING",
    "EXPOSURES",
    "MIN_GROUP_N",
    "AdjustedEffect",
    "LogisticFit",
    "Predictors",
    "adjusted_effect",
    "comparison_frame",
    "effects_table",
    "fit_logistic",
    "predictors_of_response",
]

#: Case-mix covariates of every adjusted comparison (DESIGN 5, issue 12), in model order.
COVARIATES: Final = ("baseline", "prior_failures", "diagnosis", "age_band", "sex")

#: Covariates entered as categories (reference: the most frequent level).
CATEGORICAL_COVARIATES: Final = frozenset({"diagnosis", "age_band", "sex"})

#: Words for covariates and exposures in notes and tables.
COVARIATE_LABELS: Final = MappingProxyType(
    {
        "baseline": "baseline score",
        "prior_failures": "prior treatment failures",
        "diagnosis": "primary diagnosis",
        "age_band": "age band",
        "sex": "sex",
        "ssri": "concurrent SSRI",
        "psychotherapy": "psychotherapy in at least half of the doses",
        "trd": "treatment resistance",
        "route": "route",
    }
)

#: Exposures compared; ``trd`` is treatment resistance (>= TRD_MIN_FAILURES failures).
EXPOSURES: Final = ("ssri", "psychotherapy", "trd", "route")

#: Exposures coded yes/no; ``route`` has one level per route.
_TWO_LEVEL: Final = frozenset({"ssri", "psychotherapy", "trd"})

#: Fewest patients in each group compared (the claims' default minimum n, DESIGN 6).
MIN_GROUP_N: Final = 10

#: Events per variable below which a multivariable model is flagged: Peduzzi P et al.
#: J Clin Epidemiol 1996;49:1373-1379 found biased coefficients and poor interval coverage
#: below 10 events per variable.
EPV_WARNING: Final = 10

#: Sex recorded as "unknown" is a missing covariate, not a category.
_UNKNOWN_SEX: Final = "unknown"

#: Exposures and units :func:`comparison_frame` can derive.
_ATTRIBUTES: Final = (*EXPOSURES, "site", "clinician")

_FRAME_COLUMNS: Final = (
    "patient_id",
    "response",
    *COVARIATES,
    *EXPOSURES,
    "site",
    "clinician",
)

_EFFECT_COLUMNS: Final = (
    "exposure",
    "level",
    "reference",
    "crude_estimate",
    "crude_ci_low",
    "crude_ci_high",
    "crude_n",
    "risk_difference",
    "ci_low",
    "ci_high",
    "odds_ratio",
    "or_ci_low",
    "or_ci_high",
    "n",
    "n_excluded",
    "events",
    "covariates",
    "not_measurable",
    "notes",
)


def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run NumPy's BLAS on one thread inside the block (threadpoolctl restores it after).

    The logistic fits multiply tall, thin matrices (patients x a few dozen columns), for
    which BLAS threads gain little; on a machine with more runnable threads than cores,
    OpenBLAS threads wait on each other and a fit becomes several times slower (measured
    for 48,000 patients on 2 busy cores: 3 s on one thread, 15 to 22 s on two).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------------------
# The per-patient analysis frame
# --------------------------------------------------------------------------------------


def _first_dose_clinician(dataset: Dataset) -> pd.Series:
    """``clinician_id`` of each patient's first dose (earliest ``t``; stored order on ties)."""
    treatments = dataset.treatments
    if not dataset.has_treatments or "clinician_id" not in treatments:
        return pd.Series(dtype="str", name="clinician")
    rows = treatments[["patient_id", "t", "clinician_id"]]
    first = rows.sort_values(["patient_id", "t"], kind="stable").drop_duplicates("patient_id")
    first = first.dropna(subset=["clinician_id"])
    return pd.Series(
        first["clinician_id"].astype(str).to_numpy(),
        index=first["patient_id"].astype(str).to_numpy(),
        dtype="str",
        name="clinician",
    )


def _attribute(dataset: Dataset, by: str, **kwargs: Any) -> pd.Series:
    """:func:`patient_attributes`, empty when the data cannot give it (said downstream)."""
    try:
        return patient_attributes(dataset, by, **kwargs)
    except NotMeasurableError:
        return pd.Series(dtype="str", name=by)


def comparison_frame(
    outcomes: pd.DataFrame,
    dataset: Dataset,
    instrument: str = PHQ9.name,
    *,
    min_failures: int = TRD_MIN_FAILURES,
    psychotherapy_share: float = PSYCHOTHERAPY_MIN_SHARE,
    attributes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per intention-to-treat patient of an instrument: response, covariates, exposures.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes` for ``dataset``. Not
        modified.
    dataset : Dataset
        Where covariates and exposures come from. Not modified.
    instrument : str, default "PHQ-9"
        Instrument whose response is the outcome.
    min_failures : int, default 2
        Treatment resistance: at least this many prior failures (Gaynes 2020).
    psychotherapy_share : float, default 0.5
        Psychotherapy exposure: in at least this share of the patient's doses (DESIGN 6).
    attributes : sequence of str, optional
        The exposures and units to derive (of ``ssri, psychotherapy, trd, route, site,
        clinician``); the others are left missing. All of them by default. Deriving the
        site reads every assessment row, so a comparison that does not need it is faster
        without it.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, response, baseline, prior_failures, diagnosis, age_band, sex,
        ssri, psychotherapy, trd, route, site, clinician``. ``response`` is 0/1 (an ITT
        patient without an endpoint counts as 0); ``baseline`` and ``prior_failures`` are
        float (NaN when missing); the others are strings, missing (NaN) when not recorded.
        ``ssri``, ``psychotherapy`` and ``trd`` are ``"yes"``/``"no"``; ``route``, ``site``
        come from :func:`katoutcomes.cohort.patient_attributes` (most frequent value);
        ``clinician`` is the clinician of the patient's first dose. Sex ``"unknown"`` is
        missing.

    Notes
    -----
    The population is the intention-to-treat one (:func:`katoutcomes.cohort.in_population`):
    eligible patients with at least one dose (every eligible patient without a
    treatments table).

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.outcomes import patient_outcomes
    >>> data = Dataset.demo(patients=60)
    >>> comparison_frame(patient_outcomes(data), data).columns[:3].tolist()
    ['patient_id', 'response', 'baseline']
    """
    rows = in_population(outcomes, "itt").to_numpy() & (
        outcomes["instrument"].to_numpy() == instrument
    )
    members = outcomes.loc[rows, ["patient_id", "response", "baseline"]]
    ids = members["patient_id"].astype(str)
    frame = pd.DataFrame(
        {
            "patient_id": pd.array(ids.to_numpy(), dtype="str"),
            "response": members["response"]
            .astype("boolean")
            .fillna(False)
            .to_numpy(dtype=np.int64),
            "baseline": members["baseline"].to_numpy(dtype=np.float64, na_value=np.nan),
        }
    )
    if dataset.has_patients:
        patients = dataset.patients.drop_duplicates("patient_id")
        index = patients["patient_id"].astype(str).to_numpy()
        failures = pd.Series(
            patients["prior_treatment_failures"].to_numpy(dtype=np.float64, na_value=np.nan),
            index=index,
        )
        frame["prior_failures"] = ids.map(failures).to_numpy(dtype=np.float64, na_value=np.nan)
        for column, source in (
            ("diagnosis", "primary_diagnosis"),
            ("age_band", "age_band"),
            ("sex", "sex"),
        ):
            values = pd.Series(patients[source].to_numpy(), index=index, dtype="str")
            if column == "sex":
                values = values.mask(values.str.lower() == _UNKNOWN_SEX)
            frame[column] = pd.array(ids.map(values).to_numpy(), dtype="str")
    else:
        frame["prior_failures"] = np.nan
        for column in ("diagnosis", "age_band", "sex"):
            frame[column] = pd.array([None] * len(frame), dtype="str")
    options = {"min_failures": min_failures, "psychotherapy_share": psychotherapy_share}
    sources = {
        "ssri": "ssri",
        "psychotherapy": "psychotherapy",
        "trd": "treatment_resistance",
        "route": "route",
        "site": "site",
    }
    wanted = set(_ATTRIBUTES if attributes is None else attributes)
    unknown = wanted - set(_ATTRIBUTES)
    if unknown:
        raise ValueError(
            f"Unknown attribute(s) {', '.join(sorted(unknown))}; use {', '.join(_ATTRIBUTES)}."
        )
    missing = pd.array([None] * len(frame), dtype="str")
    for column, attribute in sources.items():
        frame[column] = (
            pd.array(ids.map(_attribute(dataset, attribute, **options)).to_numpy(), dtype="str")
            if column in wanted
            else missing
        )
    frame["clinician"] = (
        pd.array(ids.map(_first_dose_clinician(dataset)).to_numpy(), dtype="str")
        if "clinician" in wanted
        else missing
    )
    return frame[list(_FRAME_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Logistic regression
# --------------------------------------------------------------------------------------


def _reference_level(values: pd.Series) -> str:
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
        reference = given if given is not None else _reference_level(values)
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
        z = _z(alpha)
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
    with warnings.catch_warnings(record=True) as caught, _one_blas_thread():
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


# --------------------------------------------------------------------------------------
# Adjusted effect of an exposure
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdjustedEffect:
    """Crude and case-mix adjusted difference in ITT response for one exposure level.

    Attributes
    ----------
    exposure, level, reference : str
        ``level`` compared with ``reference`` (``"yes"`` vs ``"no"``; a route vs the most
        common route).
    instrument : str
    crude_estimate, crude_ci_low, crude_ci_high : float
        Response rate difference ``level - reference`` with its Newcombe interval.
    crude_n : int
        Patients in the two groups (known exposure).
    risk_difference, ci_low, ci_high : float
        Standardised risk difference (g-computation) with its delta-method interval.
    odds_ratio, or_ci_low, or_ci_high : float
        Adjusted odds ratio with its Wald interval.
    n : int
        Patients in the model (known exposure and every covariate used).
    n_excluded : int
        Intention-to-treat patients of the instrument left out of the model because their
        exposure or a covariate is missing. (For ``route``, patients of routes that could
        not be compared are in neither ``n`` nor ``n_excluded``.)
    events : int
        Responders in the model.
    covariates : tuple of str
        Covariates in the model.
    not_measurable : str or None
        Why the adjusted estimate could not be made (None when it was).
    notes : tuple of str
        Covariates left out and why, separated covariate levels, other caveats.
    """

    exposure: str
    level: str
    reference: str
    instrument: str
    crude_estimate: float = math.nan
    crude_ci_low: float = math.nan
    crude_ci_high: float = math.nan
    crude_n: int = 0
    risk_difference: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    odds_ratio: float = math.nan
    or_ci_low: float = math.nan
    or_ci_high: float = math.nan
    n: int = 0
    n_excluded: int = 0
    events: int = 0
    covariates: tuple[str, ...] = ()
    not_measurable: str | None = None
    notes: tuple[str, ...] = field(default=())

    def crude_dict(self) -> dict[str, Any]:
        """``{"estimate", "ci_low", "ci_high", "n"}`` (None for a missing number)."""
        return {
            "estimate": _number(self.crude_estimate),
            "ci_low": _number(self.crude_ci_low),
            "ci_high": _number(self.crude_ci_high),
            "n": self.crude_n,
        }

    def adjusted_dict(self) -> dict[str, Any]:
        """The adjusted estimate as the ``compare`` command writes it."""
        return {
            "risk_difference": _number(self.risk_difference),
            "ci_low": _number(self.ci_low),
            "ci_high": _number(self.ci_high),
            "odds_ratio": _number(self.odds_ratio),
            "or_ci_low": _number(self.or_ci_low),
            "or_ci_high": _number(self.or_ci_high),
            "n": self.n,
            "n_excluded": self.n_excluded,
            "covariates": list(self.covariates),
            "not_measurable": self.not_measurable,
            "notes": list(self.notes),
        }


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _covariates_present(
    frame: pd.DataFrame, candidates: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Covariates recorded for at least one patient, and notes on those that are not."""
    used, notes = [], []
    for name in candidates:
        if frame[name].notna().any():
            used.append(name)
        else:
            notes.append(f"{COVARIATE_LABELS[name]} is not recorded for any patient: left out")
    return used, notes


def _single_level_covariates(
    frame: pd.DataFrame, covariates: list[str]
) -> tuple[list[str], list[str]]:
    """Covariates that vary among the model's patients, and notes on those that do not."""
    used, notes = [], []
    for name in covariates:
        if frame[name].nunique() < 2:
            value = frame[name].iloc[0] if len(frame) else "-"
            notes.append(
                f"{COVARIATE_LABELS[name]} takes the single value {value} among the patients "
                "of the model: nothing to adjust for, left out"
            )
        else:
            used.append(name)
    return used, notes


def _g_computation(
    fit: LogisticFit, x1: NDArray[np.float64], x0: NDArray[np.float64], alpha: float
) -> tuple[float, float, float]:
    """Standardised risk difference and its delta-method interval."""
    b = fit.params.to_numpy()
    p1 = 1.0 / (1.0 + np.exp(-(x1 @ b)))
    p0 = 1.0 / (1.0 + np.exp(-(x0 @ b)))
    rd = float(p1.mean() - p0.mean())
    gradient = (x1 * (p1 * (1.0 - p1))[:, None]).mean(axis=0) - (
        x0 * (p0 * (1.0 - p0))[:, None]
    ).mean(axis=0)
    se = float(np.sqrt(gradient @ fit.cov.to_numpy() @ gradient))
    z = _z(alpha)
    return rd, rd - z * se, rd + z * se


def _crude(
    frame: pd.DataFrame, exposure: str, level: str, reference: str, alpha: float
) -> dict[str, Any]:
    values = frame[exposure]
    k1 = int(frame.loc[values == level, "response"].sum())
    n1 = int((values == level).sum())
    k0 = int(frame.loc[values == reference, "response"].sum())
    n0 = int((values == reference).sum())
    if n1 == 0 or n0 == 0:
        return {"crude_n": n1 + n0}
    diff = risk_difference_ci(k1, n1, k0, n0, alpha).iloc[0]
    return {
        "crude_estimate": float(diff["estimate"]),
        "crude_ci_low": float(diff["ci_low"]),
        "crude_ci_high": float(diff["ci_high"]),
        "crude_n": n1 + n0,
    }


def _exposure_levels(frame: pd.DataFrame, exposure: str) -> tuple[list[str], str]:
    """Levels compared and the reference level."""
    known = frame[exposure].dropna().astype(str)
    if known.empty:
        return [], ""
    if exposure in _TWO_LEVEL:
        return ["yes"], "no"
    reference = _reference_level(known)
    return sorted(set(known) - {reference}), reference


def adjusted_effect(
    frame: pd.DataFrame,
    exposure: str,
    *,
    instrument: str = PHQ9.name,
    alpha: float = 0.05,
    min_group_n: int = MIN_GROUP_N,
) -> list[AdjustedEffect]:
    """Crude and case-mix adjusted difference in ITT response for an exposure.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`comparison_frame` (or a frame with its columns ``response``,
        the exposure and any of :data:`COVARIATES`). Not modified.
    exposure : {"ssri", "psychotherapy", "trd", "route"}
        ``"yes"`` compared with ``"no"``; for ``route``, each route compared with the most
        common one.
    instrument : str, default "PHQ-9"
        Recorded in the results.
    alpha : float, default 0.05
        1 - confidence level.
    min_group_n : int, default 10
        Fewest model patients in each group compared.

    Returns
    -------
    list of AdjustedEffect
        One per level compared (one for a yes/no exposure; one per route but the most
        common for ``route``). A result that cannot be estimated has NaN numbers and
        ``not_measurable`` saying why.

    Raises
    ------
    ValueError
        For an unknown exposure.

    Notes
    -----
    **Population.** Intention-to-treat patients of the instrument with a known exposure;
    the model keeps those with every covariate used (``n``); the others are counted in
    ``n_excluded``. Covariates: :data:`COVARIATES` that at least one patient has, minus
    prior failures for ``trd`` (treatment resistance is defined from them); a covariate
    with a single value among the model's patients is left out (noted).

    **Crude.** ``p_level - p_reference`` over all patients with a known exposure, Newcombe
    hybrid score interval (:func:`katoutcomes.stats.risk_difference_ci`), as the claims
    scorecard reports it.

    **Model.** ``logit P(response) = b0 + b_E E + b' covariates`` (one model with every
    route for ``route``); adjusted odds ratio ``exp(b_E)`` with Wald interval
    ``exp(b_E -/+ z se)``.

    **Standardised risk difference** (g-computation; Robins 1986, Snowden et al. 2011):
    with ``x_i(1)`` / ``x_i(0)`` patient i's covariates with the exposure set to the level /
    the reference, ``p_i(e) = expit(x_i(e)' b)``::

        RD = mean_i p_i(1) - mean_i p_i(0)

    Its delta-method variance is ``g' V g`` with ``V`` the covariance of ``b`` and
    ``g = dRD/db = mean_i [p_i(1) (1 - p_i(1)) x_i(1) - p_i(0) (1 - p_i(0)) x_i(0)]``;
    interval ``RD -/+ z sqrt(g' V g)`` (Oehlert 1992). RD averages predictions over the
    observed covariates, so it does not depend on how they are coded.

    **Not measurable** when a group compared has fewer than ``min_group_n`` model patients,
    when every or no patient of a group responded (the exposure separates the outcome:
    infinite odds ratio), or when :func:`fit_logistic` refuses the model. Separated
    covariate levels are noted: their patients' predicted probabilities are 0 or 1 in
    the limit under both exposures, so the exposure's estimates are the limits.

    References
    ----------
    Robins J. A new approach to causal inference in mortality studies with a sustained
    exposure period. Math Model 1986;7:1393-1512.
    Snowden JM, Rose S, Mortimer KM. Implementation of G-computation on a simulated data
    set. Am J Epidemiol 2011;173:731-738.
    Oehlert GW. A note on the delta method. Am Stat 1992;46:27-29.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.outcomes import patient_outcomes
    >>> data = Dataset.demo(patients=300)
    >>> effect = adjusted_effect(comparison_frame(patient_outcomes(data), data), "ssri")[0]
    >>> (effect.level, effect.reference, effect.not_measurable is None)
    ('yes', 'no', True)
    """
    if exposure not in EXPOSURES:
        raise ValueError(f"Unknown exposure {exposure!r}; use one of {', '.join(EXPOSURES)}.")
    levels, reference = _exposure_levels(frame, exposure)
    base: dict[str, Any] = {"exposure": exposure, "reference": reference, "instrument": instrument}
    if not levels:
        return [
            AdjustedEffect(
                level="",
                not_measurable=f"no patient has a recorded {COVARIATE_LABELS[exposure]}.",
                **base,
            )
        ]
    known = frame[frame[exposure].notna()]
    crude = {level: _crude(known, exposure, level, reference, alpha) for level in levels}
    candidates = [c for c in COVARIATES if not (exposure == "trd" and c == "prior_failures")]
    covariates, notes = _covariates_present(known, candidates)
    if exposure == "trd":
        notes.append("prior treatment failures left out: treatment resistance is defined by them")
    complete = known.dropna(subset=covariates)
    n_excluded = int(len(frame) - len(complete))
    covariates, single = _single_level_covariates(complete, covariates)
    notes += single

    def unmeasurable(level: str, reason: str) -> AdjustedEffect:
        return AdjustedEffect(
            level=level,
            n=len(complete),
            n_excluded=n_excluded,
            events=int(complete["response"].sum()),
            covariates=tuple(covariates),
            not_measurable=reason,
            notes=tuple(notes),
            **crude[level],
            **base,
        )

    # Groups too small or separated by the outcome cannot be compared; with several
    # routes, those routes leave the model and the others are still compared.
    exposure_values = complete[exposure].astype(str)
    problems: dict[str, str] = {}
    for level in [reference, *levels]:
        members = complete.loc[exposure_values == level, "response"]
        words = _group_words(exposure, level)
        if len(members) < min_group_n:
            problems[level] = (
                f"{len(members):,} patients {words} have every covariate, fewer than the "
                f"{min_group_n} needed."
            )
        elif members.sum() in (0, len(members)):
            which = "all" if members.sum() == len(members) else "none"
            problems[level] = (
                f"{which} of the {len(members):,} patients {words} responded: the exposure "
                "separates the outcome and the odds ratio is infinite."
            )
    if reference in problems:
        return [unmeasurable(level, problems[reference]) for level in levels]
    compared = [level for level in levels if level not in problems]
    results = {level: unmeasurable(level, problems[level]) for level in problems}
    if compared:
        model = complete[exposure_values.isin([reference, *compared])]
        try:
            with _one_blas_thread():
                results |= _fit_effects(
                    model,
                    exposure,
                    compared,
                    reference,
                    covariates,
                    alpha,
                    n_excluded,
                    notes,
                    base,
                )
        except NotMeasurableError as exc:
            results |= {level: unmeasurable(level, str(exc)) for level in compared}
        else:
            for level in compared:
                results[level] = _with(results[level], crude[level])
    return [results[level] for level in levels]


def _with(effect: AdjustedEffect, values: Mapping[str, Any]) -> AdjustedEffect:
    return replace(effect, **values)


def _group_words(exposure: str, level: str) -> str:
    if exposure == "route":
        return f"with route {level}"
    words = {
        "ssri": ("on an SSRI", "not on an SSRI"),
        "psychotherapy": (
            "with psychotherapy in at least half of the doses",
            "with psychotherapy in fewer than half of the doses",
        ),
        "trd": ("with treatment resistance", "without treatment resistance"),
    }[exposure]
    return words[0] if level == "yes" else words[1]


def _fit_effects(
    model: pd.DataFrame,
    exposure: str,
    levels: list[str],
    reference: str,
    covariates: list[str],
    alpha: float,
    n_excluded: int,
    notes: list[str],
    base: Mapping[str, Any],
) -> dict[str, AdjustedEffect]:
    numeric = [c for c in covariates if c not in CATEGORICAL_COVARIATES]
    categorical: dict[str, str | None] = {exposure: reference}
    categorical |= {c: None for c in covariates if c in CATEGORICAL_COVARIATES}
    fit = fit_logistic(model, "response", numeric, categorical)
    separated = [name for name in fit.separated if not name.startswith(f"{exposure}[")]
    fit_notes = list(notes)
    if separated:
        fit_notes.append(
            "every or no patient responded in "
            + ", ".join(separated)
            + ": those coefficients are infinite (quasi-complete separation); the exposure's "
            "estimates are their limits"
        )
    z = _z(alpha)
    names = list(fit.params.index)
    columns = {level: names.index(f"{exposure}[{level}]") for level in levels}
    x = fit.design_matrix(model)
    out = {}
    for level in levels:
        j = columns[level]
        x1 = x.copy()
        x0 = x.copy()
        for other in columns.values():
            x1[:, other] = 0.0
            x0[:, other] = 0.0
        x1[:, j] = 1.0
        rd, low, high = _g_computation(fit, x1, x0, alpha)
        b = float(fit.params.iloc[j])
        se = math.sqrt(float(fit.cov.iloc[j, j]))
        out[level] = AdjustedEffect(
            level=level,
            risk_difference=rd,
            ci_low=low,
            ci_high=high,
            odds_ratio=math.exp(b),
            or_ci_low=math.exp(b - z * se),
            or_ci_high=math.exp(b + z * se),
            n=fit.n,
            n_excluded=n_excluded,
            events=fit.events,
            covariates=tuple(covariates),
            notes=tuple(fit_notes),
            **base,
        )
    return out


def effects_table(effects: Sequence[AdjustedEffect]) -> pd.DataFrame:
    """Adjusted effects as one tidy table (columns of :class:`AdjustedEffect`).

    ``covariates`` and ``notes`` are joined with ``"; "``.
    """
    rows = []
    for effect in effects:
        row = {name: getattr(effect, name) for name in _EFFECT_COLUMNS}
        row["covariates"] = ", ".join(effect.covariates)
        row["notes"] = "; ".join(effect.notes)
        row["not_measurable"] = effect.not_measurable or ""
        rows.append(row)
    return pd.DataFrame(rows, columns=list(_EFFECT_COLUMNS))


# --------------------------------------------------------------------------------------
# Predictors of response
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Predictors:
    """One multivariable logistic model of ITT response on every exposure and covariate.

    Attributes
    ----------
    table : pandas.DataFrame
        :meth:`LogisticFit.summary` of the model (odds ratios with Wald intervals), with a
        ``label`` column in words.
    instrument : str
    n, events : int
        Patients in the model and responders among them.
    n_excluded : int
        Intention-to-treat patients left out (a term missing).
    parameters : int
        Coefficients besides the intercept.
    events_per_variable : float
        ``min(events, n - events) / parameters``.
    terms : tuple of str
        Terms in the model.
    warning : str or None
        Set when events per variable fall below :data:`EPV_WARNING`.
    notes : tuple of str
        Terms left out and why.
    """

    table: pd.DataFrame
    instrument: str
    n: int
    events: int
    n_excluded: int
    parameters: int
    events_per_variable: float
    terms: tuple[str, ...]
    warning: str | None
    notes: tuple[str, ...]


def predictors_of_response(
    frame: pd.DataFrame, *, instrument: str = PHQ9.name, alpha: float = 0.05
) -> Predictors:
    """Odds ratios of ITT response for every exposure and covariate in one model.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`comparison_frame`. Not modified.
    instrument : str, default "PHQ-9"
        Recorded in the result.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    Predictors

    Raises
    ------
    NotMeasurableError
        When no term is recorded or :func:`fit_logistic` refuses the model.

    Notes
    -----
    Terms: baseline score (linear), treatment resistance (yes/no, reference no), concurrent
    SSRI, psychotherapy in at least half of the doses (reference no), route, primary
    diagnosis, age band, sex (reference: the most frequent level), each when recorded for
    at least one patient and not constant. Prior failures enter only through treatment
    resistance, which is defined from them (as in :func:`adjusted_effect` for ``trd``).
    Complete cases: patients missing any term are left out (``n_excluded``).

    Events per variable ``EPV = min(events, non-events) / parameters``; below 10 the
    coefficients are biased and their intervals too narrow (Peduzzi et al. 1996), which
    the ``warning`` says.

    References
    ----------
    Peduzzi P, Concato J, Kemper E, Holford TR, Feinstein AR. A simulation study of the
    number of events per variable in logistic regression analysis. J Clin Epidemiol
    1996;49:1373-1379.
    """
    candidates = ["baseline", "trd", "ssri", "psychotherapy", "route", "diagnosis"]
    candidates += ["age_band", "sex"]
    used, notes = [], []
    for name in candidates:
        if frame[name].notna().any():
            used.append(name)
        else:
            notes.append(f"{COVARIATE_LABELS[name]} is not recorded for any patient: left out")
    if not used:
        raise NotMeasurableError("no exposure or covariate is recorded for any patient.")
    notes.append("prior treatment failures enter through treatment resistance")
    complete = frame.dropna(subset=used)
    used, single = _single_level_covariates(complete, used)
    notes += single
    numeric = [name for name in used if name == "baseline"]
    categorical: dict[str, str | None] = {
        name: ("no" if name in _TWO_LEVEL else None) for name in used if name != "baseline"
    }
    fit = fit_logistic(complete, "response", numeric, categorical)
    table = fit.summary(alpha)
    table.insert(
        0,
        "label",
        pd.array(
            [
                COVARIATE_LABELS.get(term, term) + (f": {level}" if level else "")
                for term, level in zip(table["term"], table["level"], strict=True)
            ],
            dtype="str",
        ),
    )
    parameters = len(table)
    epv = min(fit.events, fit.n - fit.events) / parameters
    warning = None
    if epv < EPV_WARNING:
        warning = (
            f"{epv:.1f} events per variable (fewer than {EPV_WARNING}): the odds ratios may be "
            "biased and their intervals too narrow (Peduzzi et al. 1996)."
        )
    if fit.separated:
        notes.append(
            "every or no patient responded in "
            + ", ".join(fit.separated)
            + ": those odds ratios are infinite (quasi-complete separation) and not shown"
        )
    return Predictors(
        table=table,
        instrument=instrument,
        n=fit.n,
        events=fit.events,
        n_excluded=int(len(frame) - len(complete)),
        parameters=parameters,
        events_per_variable=epv,
        terms=tuple(used),
        warning=warning,
        notes=tuple(notes),
    )
