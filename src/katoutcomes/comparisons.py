"""Adjusted comparisons: case-mix adjusted effects and predictors of response (docs/methods.md §9).

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

The per-patient frame and the covariates live in :mod:`katoutcomes.comparison_data`, the
regression in :mod:`katoutcomes.logistic`; their public names are importable from here too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from katoutcomes.cohort import NotMeasurableError
from katoutcomes.comparison_data import (
    CATEGORICAL_COVARIATES,
    COVARIATE_LABELS,
    COVARIATES,
    EXPOSURES,
    TWO_LEVEL_EXPOSURES,
    comparison_frame,
)
from katoutcomes.instruments import PHQ9
from katoutcomes.logistic import (
    LogisticFit,
    fit_logistic,
    one_blas_thread,
    reference_level,
    z_value,
)
from katoutcomes.stats import risk_difference_ci

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

#: Fewest patients in each group compared (the claims' default minimum n, methods §10.4).
MIN_GROUP_N: Final = 10

#: Events per variable below which a multivariable model is flagged: Peduzzi P et al.
#: J Clin Epidemiol 1996;49:1373-1379 found biased coefficients and poor interval coverage
#: below 10 events per variable.
EPV_WARNING: Final = 10

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
    z = z_value(alpha)
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
    if exposure in TWO_LEVEL_EXPOSURES:
        return ["yes"], "no"
    reference = reference_level(known)
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
            with one_blas_thread():
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
    z = z_value(alpha)
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
        name: ("no" if name in TWO_LEVEL_EXPOSURES else None) for name in used if name != "baseline"
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
