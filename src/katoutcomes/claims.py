"""Claims scorecard: public claims about ketamine treatment tested on the clinic's data.

Claims are data (DESIGN 6). A TOML file lists them; one engine, :func:`evaluate_claims`,
computes each claim's quantity from a :class:`~katoutcomes.dataset.Dataset`, applies the
claim's decision rule and explains the verdict in plain words. The default file,
``katoutcomes/data/claims.toml``, holds the claims of DESIGN 6; a researcher tests another
article's claims by writing another file, without code.

Claims file
-----------
Top-level keys ``title``, ``source`` and ``description`` (optional text) and an array of
``[[claims]]`` tables, each with:

``id`` (required)
    Unique name: letters, digits, ``_``, ``.`` or ``-``.
``claim`` (required)
    The claim as quoted.
``quantity`` (required)
    A name from :data:`QUANTITIES` (see :func:`describe_quantities`).
``params`` (optional)
    Inline table of the quantity's parameters, e.g. ``{ instrument = "GAD-7", time = 84 }``;
    omitted parameters take their defaults.
``claimed`` (required by the rules ``two_sided``, ``above`` and ``below``)
    The value the claim states, in the quantity's unit (:attr:`QuantitySpec.unit`): a
    share or a probability as a fraction between 0 and 1 (50% is ``0.5``), a difference of
    shares as a fraction between -1 and 1, mg/kg, US dollars. A share outside [0, 1] is
    rejected (``claimed = 50`` is almost always meant as ``0.50``).
``rule`` (required)
    One of :data:`RULES`:

    - ``two_sided``: a claim of *about* ``claimed`` (p0), judged against the equivalence
      band ``[p0 - margin, p0 + margin]`` (DESIGN 6): the interval inside the band →
      supported; wholly above ``p0 + margin`` or wholly below ``p0 - margin`` →
      contradicted, with the direction and whether that is better or worse for patients;
      otherwise inconclusive, and for a share the note gives the number of patients that
      would likely settle it (:func:`patients_to_settle`). An interval that merely
      contains p0 is not support: with few patients every claim would pass, with many
      every claim would fail.
    - ``above``: a claim of more than a bound ("usually": more than half). The interval
      wholly above ``claimed`` (``ci_low > claimed``) → supported; at or below it
      (``ci_high <= claimed``) → contradicted; otherwise inconclusive.
    - ``below``: a claim of less than a bound ("less than 1%"). ``ci_high < claimed`` →
      supported; ``ci_low >= claimed`` → contradicted; otherwise inconclusive.
    - ``difference_positive``: ``above`` for a difference (default bound 0).
    - ``difference_nonzero``: the interval excludes ``claimed`` (default 0) → supported;
      otherwise inconclusive.
    - ``descriptive``: no decision; the estimate is reported.

    :func:`judge_interval` applies these rules; its docstring gives the handling of an
    interval that touches a bound or a band edge.
``margin`` (optional; rule ``two_sided`` only)
    The equivalence margin δ, in the quantity's unit. Default 0.10 for a share or a
    probability; required for a ``two_sided`` claim of another kind (a difference, mg/kg,
    dollars). Bounds (``above``, ``below``, the difference rules) are judged against the
    bound itself and take no margin.
``min_n`` (optional)
    Fewer than this many patients (for a session-level quantity, patients contributing
    sessions) → ``inconclusive``; default the ``min_n`` setting (10).

Verdicts
--------
``supported``, ``contradicted``, ``inconclusive`` (too few patients, an interval that
cannot decide, or a Kaplan–Meier time beyond the last follow-up), ``not_measurable`` (the
data lack something the claim needs; the note names it) and ``descriptive``. Each row
also says whether the result is good or bad news for patients (``news``, see
:data:`NEWS`): the word says the verdict, the colour of a display the news, so
"contradicted — better than claimed" is not shown as bad news.

Populations (DESIGN 6; the ``population`` column says which one each claim used): outcome
claims use eligible patients, intention to treat for rates (eligible patients with at
least one dose, or all eligible patients without a treatments table). Claims about
treatment delivery and safety (``nth_dose_within``, ``adverse_event_share``,
``first_dose_mg_per_kg``, ``monitoring_share``, ``median_session_cost``) use the *safety
population* by default: every patient with at least one recorded dose, eligible or not,
as trials report safety. ``treatment_resistance_share`` uses every patient with the
diagnosis who started treatment (every one with the diagnosis without a treatments
table), whatever their baseline. Intervals: Wilson intervals for shares, Newcombe for differences,
log-scale Greenwood intervals for Kaplan–Meier probabilities (``1 - S`` has the interval
``1 -`` that of ``S``; where no event has happened yet, the exact interval for 0 events,
:func:`katoutcomes.stats.kaplan_meier`), binomial order-statistic intervals for medians
over patients.
``n`` is the number of patients the quantity is computed over (for a Kaplan–Meier
quantity, the patients in the curve; for a difference, both groups together; for a
session-level quantity, the patients contributing sessions, the number of sessions being
given in the note).

Session-level quantities (``monitoring_share``, ``median_session_cost``) take the patient
as the unit, because sessions of one patient are alike: the share of sessions has a
patient-level (cluster-robust) standard error and a Wilson interval on the effective
sample size (:func:`katoutcomes.cohort.clustered_share`); the median per session has a
percentile interval from resampling patients with a fixed seed
(:func:`katoutcomes.cohort.cluster_bootstrap_median`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from katoutcomes.cohort import (
    EVENTS,
    PSYCHOTHERAPY_MIN_SHARE,
    RATE_OUTCOMES,
    TRD_MIN_FAILURES,
    UNKNOWN_LEVEL,
    ClusteredShare,
    NotMeasurableError,
    cluster_bootstrap_median,
    clustered_share,
    in_population,
    median_ci,
    subgroup_rates,
    survival_at,
    time_to_event,
)
from katoutcomes.errors import KatoutcomesError
from katoutcomes.instruments import INSTRUMENTS, PHQ9, normalise_instrument_name
from katoutcomes.outcomes import meets_fraction, patient_outcomes
from katoutcomes.settings import Settings
from katoutcomes.stats import proportion_ci

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = [
    "CLAIM_COLUMNS",
    "DEFAULT_MARGIN",
    "NEWS",
    "QUANTITIES",
    "RULES",
    "VERDICTS",
    "Claim",
    "ClaimsFileError",
    "QuantityResult",
    "QuantitySpec",
    "claims_to_dict",
    "describe_quantities",
    "describe_rule",
    "evaluate_claims",
    "judge_interval",
    "load_claims",
    "patients_to_settle",
]

#: Columns of :func:`evaluate_claims`, in order.
CLAIM_COLUMNS: Final = (
    "id",
    "claim",
    "quantity",
    "estimate",
    "ci_low",
    "ci_high",
    "n",
    "claimed",
    "verdict",
    "note",
    "margin",
    "population",
)

#: Whether a result is good or bad news for patients (DESIGN 6: the colour follows the
#: news, the word the verdict): ``good`` and ``bad``; ``neutral`` where neither way is
#: better (descriptive claims, a share with no better direction, a difference that is
#: only claimed to exist); ``unclear`` where the data cannot tell yet (inconclusive, not
#: measurable).
NEWS: Final = ("good", "bad", "neutral", "unclear")

#: Equivalence margin of a claim of about a share or a probability (DESIGN 6): "a 50%
#: response rate" is supported by an interval inside 40%–60%.
DEFAULT_MARGIN: Final = 0.10

#: Slack, in the quantity's unit, for "touching" a bound or a band edge: p0 ± δ is a sum
#: of binary fractions (0.3 + 0.1 = 0.4000000000000001), far finer than any interval.
_EDGE_TOLERANCE: Final = 1e-12

#: Possible verdicts (DESIGN 6).
VERDICTS: Final = ("supported", "contradicted", "inconclusive", "not_measurable", "descriptive")

#: Decision rules a claim may use (see the module docstring).
RULES: Final = (
    "two_sided",
    "above",
    "below",
    "difference_positive",
    "difference_nonzero",
    "descriptive",
)
_RULES_NEEDING_CLAIMED: Final = frozenset({"two_sided", "above", "below"})

#: Range of a claimed value by quantity kind: shares and probabilities are fractions, a
#: difference of two shares lies between -1 and 1.
_CLAIMED_RANGE: Final = {"share": (0.0, 1.0), "probability": (0.0, 1.0), "difference": (-1.0, 1.0)}
_DIFFERENCE_RULES: Final = frozenset({"difference_positive", "difference_nonzero"})

_CLAIM_KEYS: Final = ("id", "claim", "quantity", "params", "claimed", "margin", "rule", "min_n")
_REQUIRED_KEYS: Final = ("id", "claim", "quantity", "rule")
_FILE_KEYS: Final = ("claims", "title", "source", "description")
_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

#: 95% intervals throughout, as DESIGN 5.
_ALPHA: Final = 0.05

#: 1 lb = 0.45359237 kg exactly (international yard and pound agreement, 1959).
_KG_PER_LB: Final = 0.45359237

Unit = Literal["share", "difference", "mg/kg", "usd"]
Verdict = Literal["supported", "contradicted", "inconclusive", "not_measurable", "descriptive"]


class ClaimsFileError(KatoutcomesError):
    """A claims file that cannot be used: unreadable, not TOML, or with invalid claims.

    The message lists every problem found, each with the claim it concerns.
    """


# --------------------------------------------------------------------------------------
# Claims and quantity results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One claim of a claims file, validated.

    Attributes
    ----------
    id : unique name.
    claim : the claim as quoted.
    quantity : name of a quantity in :data:`QUANTITIES`.
    rule : one of :data:`RULES`.
    params : every parameter of the quantity, defaults filled in.
    claimed : the claimed value, or None.
    min_n : minimum number of patients for a verdict, or None for the setting.
    margin : the equivalence margin of a ``two_sided`` claim (filled with
        :data:`DEFAULT_MARGIN` for a share or a probability when loaded); None for other
        rules, which judge against the bound itself.
    """

    id: str
    claim: str
    quantity: str
    rule: str
    params: Mapping[str, Any] = field(default_factory=dict)
    claimed: float | None = None
    min_n: int | None = None
    margin: float | None = None

    @property
    def quantity_label(self) -> str:
        """The quantity with its parameters, e.g. ``response_rate(instrument=PHQ-9, ...)``."""
        inside = ", ".join(f"{key}={_plain(value)}" for key, value in self.params.items())
        return f"{self.quantity}({inside})"


@dataclass(frozen=True, slots=True)
class QuantityResult:
    """What a quantity function returns.

    Attributes
    ----------
    estimate, ci_low, ci_high : the value and its 95% interval (NaN where undefined), in
        the unit of the quantity (:attr:`QuantitySpec.unit`).
    n : patients the value is computed over (for a session-level quantity, the patients
        contributing sessions; ``min_n`` applies to them).
    statement : the result in plain words, without a verdict.
    higher_is_better : whether a higher value means better care (None when neither).
    not_estimated : why the value could not be estimated (e.g. a time beyond the last
        follow-up); the verdict is then ``inconclusive``.
    """

    estimate: float
    ci_low: float
    ci_high: float
    n: int
    statement: str
    higher_is_better: bool | None = None
    not_estimated: str | None = None


QuantityFunction = Callable[..., QuantityResult]


@dataclass(frozen=True)
class QuantitySpec:
    """A quantity a claim can name.

    Attributes
    ----------
    function : ``function(context, min_n, **params) -> QuantityResult``.
    kind : ``"share"``, ``"probability"``, ``"difference"`` or ``"value"``; a claimed
        share or probability must lie in [0, 1], a claimed difference in [-1, 1].
    defaults : every parameter with its default (its type is the accepted type).
    choices : allowed values of parameters that take one of a few values.
    summary : one line for :func:`describe_quantities`.
    unit : the unit of the estimate, its interval and the claimed value, fixed for the
        quantity and known without data: ``"share"`` (a fraction shown as a
        percentage; probabilities too), ``"difference"`` (of shares, shown in
        percentage points), ``"mg/kg"`` or ``"usd"``.
    positive : number parameters that must be above 0; every other number parameter (a
        count, days, minutes, mg or dollars) must be 0 or more.
    ordered : pairs of parameters ``(low, high)`` that must satisfy ``low <= high``.
    """

    function: QuantityFunction
    kind: str
    defaults: Mapping[str, Any]
    choices: Mapping[str, tuple[Any, ...]]
    summary: str
    unit: Unit
    positive: tuple[str, ...] = ()
    ordered: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------------------
# Formatting for notes (full precision is kept in the columns)
# --------------------------------------------------------------------------------------


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pct(p: float) -> str:
    value = 100.0 * p
    if 0 < abs(value) < 10 and round(value) != round(value, 1):
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def _points(d: float, *, sign: bool = True) -> str:
    return f"{100.0 * d:+.0f}" if sign else f"{100.0 * d:.0f}"


def _days(x: float) -> str:
    text = _plain(round(float(x), 1))
    return f"{text} day" if text == "1" else f"{text} days"


def _count(n: int, noun: str) -> str:
    if n == 1:
        noun = re.sub(r"\b(patient|session|dose)s\b", r"\1", noun, count=1)
    return f"{n:,} {noun}"


def _value(x: float, unit: Unit) -> str:
    if unit == "share":
        return _pct(x)
    if unit == "difference":
        return f"{_points(x)} percentage points"
    if unit == "mg/kg":
        return f"{x:.3f} mg/kg"
    return f"${x:,.0f}"


def _interval(low: float, high: float, unit: Unit) -> str:
    if math.isnan(low) or math.isnan(high):
        return "no interval"
    if unit == "share":
        return f"95% CI {_pct(low)} to {_pct(high)}"
    if unit == "difference":
        return f"95% CI {_points(low)} to {_points(high)}"
    if unit == "mg/kg":
        return f"95% CI {low:.3f} to {high:.3f}"
    return f"95% CI ${low:,.0f} to ${high:,.0f}"


# --------------------------------------------------------------------------------------
# Evaluation context: the dataset, the settings and the outcome table, computed once
# --------------------------------------------------------------------------------------


class _Context:
    def __init__(self, dataset: Dataset, settings: Settings) -> None:
        self.dataset = dataset
        self.settings = settings
        self._doses: dict[tuple[str, str], _Doses] = {}
        self._members: dict[tuple[str, str], pd.DataFrame] = {}

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        return patient_outcomes(self.dataset, self.settings)

    @cached_property
    def instruments(self) -> frozenset[str]:
        """Instruments with at least one row in the outcome table."""
        return frozenset(self.outcomes["instrument"].dropna().astype(str).unique())

    def require_instrument(self, instrument: str) -> None:
        if instrument not in self.instruments:
            raise NotMeasurableError(f"there are no {instrument} assessments.")

    def require_treatments(self, columns: str) -> pd.DataFrame:
        if not self.dataset.has_treatments:
            raise NotMeasurableError(f"there is no treatments table (needed for {columns}).")
        return self.dataset.treatments

    def members(self, instrument: str, population: str = "itt") -> pd.DataFrame:
        """Outcome rows of ``instrument`` in ``population`` (``itt`` or ``completers``).

        Computed once per instrument and population; callers must not modify the frame.
        """
        self.require_instrument(instrument)
        key = (instrument, population)
        if key not in self._members:
            outcomes = self.outcomes
            rows = in_population(outcomes, population).to_numpy() & (
                outcomes["instrument"] == instrument
            ).to_numpy(dtype=bool, na_value=False)
            self._members[key] = outcomes.loc[rows]
        return self._members[key]

    def who(self, instrument: str, population: str = "itt") -> str:
        """Plain words for a population, e.g. "eligible patients (baseline PHQ-9 >= 10)"."""
        if population == "safety":
            return "patients with at least one recorded dose"
        caseness = INSTRUMENTS[instrument].caseness
        words = f"eligible patients (baseline {instrument} ≥ {caseness})"
        if population == "completers":
            return f"{words} with an endpoint"
        return f"{words} who started treatment" if self.dataset.has_treatments else words

    @cached_property
    def _dose_order(self) -> tuple[NDArray[np.intp], NDArray[np.intp], pd.Index]:
        """Treatment rows by patient then time: row positions, patient codes and ids.

        ``codes[i]`` numbers the patient of treatment row ``i`` in the sorted order of the
        ids (``ids[codes[i]]``), so a stable sort by code then ``t`` (missing times last)
        is the sort by patient id then time. Rows without a patient id are left out.
        """
        treatments = self.require_treatments("the dose dates")
        codes, ids = pd.factorize(treatments["patient_id"].astype(str), sort=True)
        t = treatments["t"].to_numpy(dtype=np.float64, na_value=np.nan)
        order = np.lexsort((t, codes))
        return order[codes[order] >= 0], codes.astype(np.intp), pd.Index(ids)

    def treated_patients(self, instrument: str, population: str) -> tuple[pd.Index, str]:
        """Patient ids for a treatment-based quantity, and how to describe them."""
        _, _, treated = self._dose_order
        if population == "safety":
            # The safety population: every patient with a recorded dose, eligible or not.
            ids = treated
        else:
            ids = pd.Index(self.members(instrument)["patient_id"].astype(str).unique())
        return ids, self.who(instrument, population)

    def doses(self, instrument: str, population: str) -> _Doses:
        """Treatment rows of a quantity's patients, sorted by patient then time (cached)."""
        key = (instrument, population)
        if key not in self._doses:
            self._doses[key] = self._patient_doses(instrument, population)
        return self._doses[key]

    def _patient_doses(self, instrument: str, population: str) -> _Doses:
        order, codes, treated = self._dose_order
        ids, who = self.treated_patients(instrument, population)
        if population != "safety":
            member = np.zeros(len(treated), dtype=bool)
            found = treated.get_indexer(ids)
            member[found[found >= 0]] = True
            order = order[member[codes[order]]]
        rows = self.dataset.treatments.take(order)
        rows["patient_id"] = rows["patient_id"].astype(str)
        return _Doses(rows, codes[order], who)


def _positions_in(ids: pd.Series, among: pd.Series | pd.Index) -> NDArray[np.intp]:
    """Position of each of ``ids`` in ``among`` (patient ids as text), -1 where absent.

    ``among`` holds each id once (the outcome rows of one instrument, the treated
    patients); pandas refuses ids that repeat. A hash lookup of the text ids, where
    ``Series.isin`` would turn every id into a Python string.
    """
    index = pd.Index(among.astype(str))
    return np.asarray(index.get_indexer(ids.astype(str)), dtype=np.intp)


@dataclass(frozen=True, slots=True)
class _Doses:
    """Treatment rows of a population's patients, sorted by patient then time.

    ``codes`` numbers each row's patient (non-decreasing, in the order of the ids), for
    group-wise counts without grouping by text; ``who`` describes the patients.
    """

    rows: pd.DataFrame
    codes: NDArray[np.intp]
    who: str

    def starts(self, keep: NDArray[np.bool_] | None = None) -> NDArray[np.intp]:
        """Position of each patient's first row (among the rows ``keep`` selects)."""
        codes = self.codes if keep is None else self.codes[keep]
        return np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if codes.size else codes


def _share(k: int, n: int) -> tuple[float, float, float]:
    ci = proportion_ci(k, n, alpha=_ALPHA).iloc[0]
    return float(ci["estimate"]), float(ci["ci_low"]), float(ci["ci_high"])


def _share_statement(k: int, n: int, who: str, what: str) -> str:
    estimate, low, high = _share(k, n)
    if n == 0:
        return f"there are no {who} to count"
    return f"{_pct(estimate)} ({_interval(low, high, 'share')}) of {_count(n, who)} {what}"


def _share_result(
    k: int, n: int, who: str, what: str, *, higher_is_better: bool | None
) -> QuantityResult:
    estimate, low, high = _share(k, n)
    return QuantityResult(
        estimate, low, high, n, _share_statement(k, n, who, what), higher_is_better
    )


# --------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------

_OUTCOME_VERBS: Final = {
    "response": "responded",
    "remission": "remitted",
    "reliable_improvement": "reliably improved",
    "reliable_deterioration": "reliably deteriorated",
    "recovery": "recovered",
    "reliable_recovery": "reliably recovered",
}


def _outcome_rate(
    ctx: _Context, min_n: int, *, instrument: str, outcome: str, population: str
) -> QuantityResult:
    """Share of the population achieving ``outcome`` at endpoint; n = the population.

    Intention to treat by default (eligible patients who started treatment; a missing
    endpoint counts as not achieved), or completers. Wilson interval.
    """
    rows = ctx.members(instrument, population)
    k = int(rows[outcome].astype("boolean").fillna(False).sum())
    n = len(rows)
    window = _days(ctx.settings.endpoint_days)
    what = f"{_OUTCOME_VERBS[outcome]} on the {instrument} at endpoint (within {window})"
    if population == "itt":
        what += "; a missing endpoint counts as not achieved"
    return _share_result(
        k,
        n,
        ctx.who(instrument, population),
        what,
        higher_is_better=outcome != "reliable_deterioration",
    )


def _response_rate(
    ctx: _Context, min_n: int, *, instrument: str, population: str
) -> QuantityResult:
    """:func:`_outcome_rate` with ``outcome="response"`` (DESIGN 6, "a 50% response rate")."""
    return _outcome_rate(
        ctx, min_n, instrument=instrument, outcome="response", population=population
    )


def _early_change_share(
    ctx: _Context,
    min_n: int,
    *,
    instrument: str,
    window: float,
    fallback_window: float,
) -> QuantityResult:
    """Share with an early improvement at an assessment in ``(0, window]`` days.

    Early improvement is a fall of at least the ``early_improvement`` setting (20%, DESIGN
    4), the same test as ``first_early_improvement_day``. Among intention-to-treat
    patients with a valid assessment of the instrument with ``0 < t <= window`` (time
    since the first dose): the share with at least one such assessment at or below
    ``(1 - early_improvement) * baseline``. When fewer than ``min_n`` were
    assessed then, ``(0, fallback_window]`` is used and the note says so. n = patients
    assessed in the window used. Needs a treatments table (time since the first dose).
    """
    if not ctx.dataset.has_treatments:
        # Time is counted from the first dose; without doses "within hours" has no anchor.
        raise NotMeasurableError(
            "There is no treatments table, so the time since the first dose is unknown."
        )
    members = ctx.members(instrument)
    a = ctx.dataset.assessments
    total = a["total"].to_numpy(dtype=np.float64, na_value=np.nan)
    t = a["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    of_instrument = (a["instrument"] == instrument).to_numpy(dtype=bool, na_value=False)
    valid = ~np.isnan(total) & ~np.isnan(t) & of_instrument & (t > 0)
    # The member (one outcome row per patient) each valid assessment belongs to, if any.
    member = _positions_in(a["patient_id"][valid], members["patient_id"])
    belongs = member >= 0
    member, t, total = member[belongs], t[valid][belongs], total[valid][belongs]
    baseline = members["baseline"].to_numpy(dtype=np.float64, na_value=np.nan)
    threshold = ctx.settings.early_improvement
    improved = meets_fraction(total, baseline[member], threshold)

    def count(days: float) -> tuple[int, int]:
        inside = t <= days
        assessed = np.bincount(member[inside], minlength=len(members))
        hits = np.bincount(member[inside & improved], minlength=len(members))
        return int((hits > 0).sum()), int((assessed > 0).sum())

    k, n = count(window)
    prefix = ""
    used = window
    if n < min_n and fallback_window > window:
        prefix = (
            f"only {_count(n, 'patients')} (fewer than {min_n}) had a {instrument} within "
            f"{_days(window)} of their first dose, so the window is widened to "
            f"{_days(fallback_window)}: "
        )
        used = fallback_window
        k, n = count(fallback_window)
    who = ctx.who(instrument)
    what = (
        f"with a {instrument} within {_days(used)} of their first dose had improved by at "
        f"least {_pct(threshold)} from baseline at such an assessment"
    )
    result = _share_result(k, n, who, what, higher_is_better=True)
    return QuantityResult(
        result.estimate,
        result.ci_low,
        result.ci_high,
        n,
        prefix + result.statement,
        True,
    )


_EVENT_WORDS: Final = {
    "response": ("response", "the first dose", "patients who started treatment"),
    "early_improvement": (
        "early improvement",
        "the first dose",
        "patients who started treatment",
    ),
    "relapse": ("relapse", "a first response", "patients who responded"),
}


def _km_point(
    ctx: _Context, *, event: str, instrument: str, time: float, complement: bool
) -> QuantityResult:
    """``1 - S(time)`` (``complement``) or ``S(time)`` of a :func:`time_to_event` curve.

    n = patients in the curve. The interval of ``1 - S`` is ``1 -`` the interval of ``S``.
    A time beyond the last follow-up is not estimated (``not_estimated`` says why).
    """
    ctx.require_instrument(instrument)
    curve = time_to_event(ctx.outcomes, event)
    curve = curve[curve["instrument"] == instrument]
    point = survival_at(curve, time)
    name, origin, group = _EVENT_WORDS[event]
    if complement:
        estimate, low, high = 1.0 - point.survival, 1.0 - point.ci_high, 1.0 - point.ci_low
        label = f"Kaplan–Meier probability of {name} within {_days(time)} of {origin}"
    else:
        estimate, low, high = point.survival, point.ci_low, point.ci_high
        label = f"Kaplan–Meier probability of no {name} {_days(time)} after {origin}"
    # A relapse is bad news; a response (or early improvement) good news.
    good_event = event != "relapse"
    higher_is_better = good_event if complement else not good_event
    events_word = "relapses" if event == "relapse" else f"{name}s"
    if point.n == 0:
        return QuantityResult(
            np.nan,
            np.nan,
            np.nan,
            0,
            f"{label}: no {group} in the curve",
            higher_is_better,
        )
    if not point.estimated:
        return QuantityResult(
            np.nan,
            np.nan,
            np.nan,
            point.n,
            f"{label}: not estimated from {_count(point.n, group)}",
            higher_is_better,
            not_estimated=(
                f"the longest follow-up after {origin} is {_days(point.last_time)}, short of "
                f"{_days(time)}, so the curve does not reach that time"
            ),
        )
    if point.survival == 0.0:
        statement = (
            f"{label}: {_pct(estimate)}, from {_count(point.n, group)} ({instrument}): every "
            f"one had a {name} within {_days(point.last_time)} of {origin}, where the curve "
            "reaches 0 and its log-scale interval is not defined"
        )
    else:
        statement = (
            f"{label}: {_pct(estimate)} ({_interval(low, high, 'share')}), from "
            f"{_count(point.n, group)} ({instrument}; {point.events} {events_word} by then)"
        )
    return QuantityResult(estimate, low, high, point.n, statement, higher_is_better)


def _event_probability(
    ctx: _Context, min_n: int, *, event: str, instrument: str, time: float
) -> QuantityResult:
    """Kaplan–Meier probability of ``event`` by ``time`` days, ``1 - S(time)``."""
    return _km_point(ctx, event=event, instrument=instrument, time=time, complement=True)


def _event_free_probability(
    ctx: _Context, min_n: int, *, event: str, instrument: str, time: float
) -> QuantityResult:
    """Kaplan–Meier probability of no ``event`` by ``time`` days, ``S(time)``."""
    return _km_point(ctx, event=event, instrument=instrument, time=time, complement=False)


def _nth_dose_within(
    ctx: _Context, min_n: int, *, doses: int, days: float, instrument: str, population: str
) -> QuantityResult:
    """Share of treated patients whose dose number ``doses`` is within ``days`` of the first.

    Patients with fewer doses count as not. n = treated patients of the population (the
    safety population by default, every patient with a recorded dose; or intention to
    treat). Wilson interval.
    """
    ctx.require_treatments("the dose dates")
    given = ctx.doses(instrument, population)
    who = given.who
    t = given.rows["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    dated = ~np.isnan(t)
    t = t[dated]
    # Per patient, doses with a date in time order: the first is the earliest.
    starts = given.starts(dated)
    counts = np.diff(np.r_[starts, t.size])
    patient = np.repeat(np.arange(starts.size), counts)
    rank = np.arange(t.size) - starts[patient]
    on_time = (rank == doses - 1) & (t - t[starts][patient] <= days)
    k = int(on_time.sum())
    n = int(starts.size)
    too_few = int((counts < doses).sum())
    what = (
        f"had their dose number {doses} within {_days(days)} of the first"
        f" ({too_few:,} had fewer than {doses} doses)"
    )
    return _share_result(k, n, who, what, higher_is_better=None)


def _adverse_event_share(
    ctx: _Context, min_n: int, *, instrument: str, population: str
) -> QuantityResult:
    """Share of treated patients with at least one non-blank ``adverse_events`` value.

    A blank is "none recorded" (DESIGN 3.2). n = treated patients. Wilson interval.
    Not measurable when no treatment row records an adverse event: an absent or wholly
    blank column cannot tell "none occurred" from "not recorded", and would otherwise
    support "less than 1%" by silence.
    """
    treatments = ctx.require_treatments("adverse_events")
    recorded = treatments["adverse_events"].astype("str").str.strip().fillna("") != ""
    if not recorded.any():
        raise NotMeasurableError(
            "no treatment row records an adverse event (the adverse_events column is absent "
            "or blank throughout), so 'none occurred' cannot be told from 'not recorded'."
        )
    given = ctx.doses(instrument, population)
    events = given.rows["adverse_events"].astype("str")
    any_event = (events.notna() & (events.str.strip() != "")).to_numpy(dtype=bool)
    starts = given.starts()
    # Rows are grouped by patient: a patient with any event has a positive sum.
    per_patient = np.add.reduceat(any_event.astype(np.int64), starts) if starts.size else starts
    what = "had at least one recorded adverse event (a blank counts as none recorded)"
    return _share_result(
        int((per_patient > 0).sum()), int(starts.size), given.who, what, higher_is_better=False
    )


def _first_dose_mg_per_kg(
    ctx: _Context, min_n: int, *, instrument: str, population: str, low_mg: float, high_mg: float
) -> QuantityResult:
    """Median first dose in mg/kg, with a binomial order-statistic interval.

    Per patient, the ``dose_mg`` of their first treatment divided by their first recorded
    ``weight_kg``. Patients whose first treatment has no ``dose_mg`` (a later dose is not
    their first) and patients without any weight are left out, and counted in the note.
    n = patients with a first dose in mg/kg. The note adds the share of all their doses
    within ``low_mg``-``high_mg``.
    """
    treatments = ctx.require_treatments("dose_mg and weight_kg")
    if treatments["dose_mg"].notna().sum() == 0:
        raise NotMeasurableError("no treatment row has a dose_mg value.")
    if treatments["weight_kg"].notna().sum() == 0:
        raise NotMeasurableError(
            "no treatment row has a weight_kg value, so doses cannot be expressed in mg/kg."
        )
    given = ctx.doses(instrument, population)
    who = given.who
    dose_mg = given.rows["dose_mg"].to_numpy(dtype=np.float64, na_value=np.nan)
    weight_kg = given.rows["weight_kg"].to_numpy(dtype=np.float64, na_value=np.nan)
    # Rows are in time order within each patient: the first row is the first dose.
    starts = given.starts()
    first_dose = dose_mg[starts]
    no_first_mg = int(np.isnan(first_dose).sum())
    with_first_mg = int(starts.size) - no_first_mg
    if no_first_mg and with_first_mg == 0:
        raise NotMeasurableError(
            f"the first treatment of none of the {_count(no_first_mg, who)} has a dose_mg "
            "value, so no first dose is known."
        )
    # Each patient's first recorded weight: the first weighed row of the patient.
    patient = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, dose_mg.size]))
    weighed = np.flatnonzero(~np.isnan(weight_kg))
    owner = patient[weighed]
    first_weighed = weighed[np.r_[True, owner[1:] != owner[:-1]]] if weighed.size else weighed
    first_weight = np.full(starts.size, np.nan)
    first_weight[patient[first_weighed]] = weight_kg[first_weighed]
    per_kg = first_dose / first_weight
    result = median_ci(per_kg[~np.isnan(per_kg)], alpha=_ALPHA)
    left_out = (
        f" (left out: {_count(no_first_mg, 'patients')} whose first dose has no dose_mg)"
        if no_first_mg
        else ""
    )
    if result.n == 0:
        reason = f"none of the {who} has a recorded weight" if with_first_mg else f"no {who}"
        statement = f"no first dose in mg/kg: {reason}{left_out}"
    else:
        statement = (
            f"median first dose {result.median:.3f} mg/kg "
            f"({_interval(result.ci_low, result.ci_high, 'mg/kg')}) "
            f"over {_count(result.n, who)} with a recorded weight{left_out}"
        )
    doses = dose_mg[~np.isnan(dose_mg)]
    if doses.size:
        in_range = int(((doses >= low_mg) & (doses <= high_mg)).sum())
        statement += (
            f"; {_pct(in_range / doses.size)} of {_count(int(doses.size), 'doses')} given to "
            f"them were within {_plain(low_mg)}–{_plain(high_mg)} mg"
        )
    statement += f" (0.23 mg/lb = {0.23 / _KG_PER_LB:.3f} mg/kg)"
    return QuantityResult(result.median, result.ci_low, result.ci_high, result.n, statement, None)


def _monitoring_share(
    ctx: _Context, min_n: int, *, minutes: float, instrument: str, population: str
) -> QuantityResult:
    """Share of sessions with ``monitoring_minutes >= minutes``; n = patients.

    Sessions without a recorded time are left out (and counted in the note). ``n`` is the
    number of patients contributing sessions with a recorded time, and ``min_n`` applies
    to them; the note gives the number of sessions. Sessions of one patient are not
    independent, so the interval is :func:`katoutcomes.cohort.clustered_share`'s: the
    ratio estimator ``K / M`` with a patient-level (cluster-robust) variance
    ``G / (G - 1) * sum_i (k_i - p m_i)^2 / M^2`` and a Wilson interval on the effective
    sample size ``M / deff``.
    """
    treatments = ctx.require_treatments("monitoring_minutes")
    if treatments["monitoring_minutes"].notna().sum() == 0:
        raise NotMeasurableError("no treatment row has a monitoring_minutes value.")
    given = ctx.doses(instrument, population)
    who = given.who
    times = given.rows["monitoring_minutes"].to_numpy(dtype=np.float64, na_value=np.nan)
    recorded = ~np.isnan(times)
    # Patient codes number the ids in sorted order, as the patient ids themselves would.
    share = clustered_share(times[recorded] >= minutes, given.codes[recorded], alpha=_ALPHA)
    blank = len(given.rows) - share.n_units
    left_out = f"{_count(blank, 'sessions')} without a recorded time are left out"
    if share.n_units == 0:
        statement = f"no session of {who} has a recorded monitoring time ({left_out})"
    else:
        statement = (
            f"{_pct(share.estimate)} ({_interval(share.ci_low, share.ci_high, 'share')}) of "
            f"{_count(share.n_units, 'sessions')} with a recorded monitoring time, from "
            f"{_count(share.n_clusters, who)}, were monitored for at least "
            f"{_plain(minutes)} minutes ({left_out}); {_clustered_share_words(share)}"
        )
    return QuantityResult(
        share.estimate, share.ci_low, share.ci_high, share.n_clusters, statement, True
    )


def _clustered_share_words(share: ClusteredShare) -> str:
    """How the interval of a share of sessions was computed, for the note."""
    if share.n_clusters < 2:
        return "no interval can allow for clustering with fewer than 2 patients"
    return (
        "the interval counts patients, not sessions, as independent: a patient-level "
        f"(cluster-robust) standard error of {_pct(share.std_err)} and a design effect of "
        f"{share.design_effect:.2f}, giving a Wilson interval on an effective "
        f"{share.effective_n:,.0f} sessions"
    )


def _treatment_resistance_share(
    ctx: _Context,
    min_n: int,
    *,
    diagnosis: str,
    min_failures: int,
    instrument: str,
    population: str,
) -> QuantityResult:
    """Share of ``diagnosis`` patients with ``prior_treatment_failures >= min_failures``.

    Populations: ``"treated"`` (default, DESIGN 6): every patient with the diagnosis who
    started treatment (has a recorded dose), whatever their baseline or instrument; every
    patient with the diagnosis when there is no treatments table. ``"itt"``: those in the
    intention-to-treat population of ``instrument``. ``"all"``: every patient with the
    diagnosis in the patients table. n = those patients with a recorded count. Wilson
    interval.
    """
    if not ctx.dataset.has_patients:
        raise NotMeasurableError(
            "there is no patients table (needed for primary_diagnosis and "
            "prior_treatment_failures)."
        )
    patients = ctx.dataset.patients.drop_duplicates("patient_id")
    diagnosed = patients["primary_diagnosis"].astype("str") == diagnosis
    if not diagnosed.any():
        raise NotMeasurableError(
            f"no patient in the patients table has primary_diagnosis {diagnosis}."
        )
    rows = patients.loc[diagnosed.to_numpy()]
    who = f"{diagnosis}-diagnosed patients"
    if population == "itt":
        ids = ctx.members(instrument)["patient_id"]
        rows = rows[_positions_in(rows["patient_id"], ids) >= 0]
        who = f"{diagnosis}-diagnosed {ctx.who(instrument)}"
    elif population == "treated" and ctx.dataset.has_treatments:
        _, _, treated = ctx._dose_order
        rows = rows[_positions_in(rows["patient_id"], treated) >= 0]
        who = f"{diagnosis}-diagnosed patients who started treatment"
    failures = rows["prior_treatment_failures"].to_numpy(dtype=np.float64, na_value=np.nan)
    recorded = failures[~np.isnan(failures)]
    if recorded.size == 0 and len(rows):
        raise NotMeasurableError(
            f"no {diagnosis}-diagnosed patient has a prior_treatment_failures value."
        )
    k = int((recorded >= min_failures).sum())
    unrecorded = len(rows) - len(recorded)
    what = f"had at least {min_failures} prior treatment failures" + (
        f" ({_count(unrecorded, 'patients')} without a recorded count left out)"
        if unrecorded
        else ""
    )
    return _share_result(k, len(recorded), who, what, higher_is_better=None)


_LEVEL_WORDS: Final = {
    "ssri": ("on an SSRI", "not on an SSRI"),
    "psychotherapy": (
        f"with psychotherapy in at least {_pct(PSYCHOTHERAPY_MIN_SHARE)} of their doses",
        "with less psychotherapy",
    ),
    "treatment_resistance": (
        "with at least {m} prior treatment failures",
        "with fewer prior treatment failures",
    ),
}


def _level_words(by: str, level: str, min_failures: int) -> str:
    if by in _LEVEL_WORDS:
        yes, no = _LEVEL_WORDS[by]
        return (yes if level == "yes" else no).format(m=min_failures)
    return f"with {by} {level}"


def _subgroup_table(
    ctx: _Context, *, by: str, instrument: str, outcome: str, population: str
) -> pd.DataFrame:
    ctx.require_instrument(instrument)
    return subgroup_rates(
        ctx.outcomes,
        ctx.dataset,
        by,
        outcome,
        instrument,
        population=population,
        min_failures=TRD_MIN_FAILURES,
        alpha=_ALPHA,
    )


def _response_difference(
    ctx: _Context, min_n: int, *, by: str, instrument: str, outcome: str, population: str
) -> QuantityResult:
    """Outcome rate "yes" minus "no" of a two-level attribute, with the Newcombe interval.

    From :func:`katoutcomes.cohort.subgroup_rates`; n = both groups together (patients
    with an unknown level are left out and counted in the note).
    """
    table = _subgroup_table(
        ctx, by=by, instrument=instrument, outcome=outcome, population=population
    ).set_index("level")
    yes = table.loc["yes"] if "yes" in table.index else None
    no = table.loc["no"] if "no" in table.index else None
    n = int((0 if yes is None else yes["n"]) + (0 if no is None else no["n"]))
    unknown = int(table.loc[UNKNOWN_LEVEL, "n"]) if UNKNOWN_LEVEL in table.index else 0
    verb = _OUTCOME_VERBS[outcome]
    who = ctx.who(instrument, population)

    def part(row: pd.Series | None, level: str) -> str:
        words = _level_words(by, level, TRD_MIN_FAILURES)
        if row is None:
            return f"no patients {words}"
        return f"{_pct(float(row['estimate']))} of {int(row['n']):,} {words} ({int(row['k']):,})"

    left_out = f"; {_count(unknown, 'patients')} with unknown {by} left out" if unknown else ""
    if yes is None or no is None or math.isnan(float(yes["diff"])):
        statement = (
            f"{instrument} {outcome} among {who}: {part(yes, 'yes')} vs {part(no, 'no')}; "
            f"no difference can be estimated{left_out}"
        )
        return QuantityResult(np.nan, np.nan, np.nan, n, statement, True)
    estimate, low, high = float(yes["diff"]), float(yes["diff_ci_low"]), float(yes["diff_ci_high"])
    statement = (
        f"{_pct(float(yes['estimate']))} of {int(yes['n']):,} {who} "
        f"{_level_words(by, 'yes', TRD_MIN_FAILURES)} {verb} on the {instrument} vs "
        f"{_pct(float(no['estimate']))} of {int(no['n']):,} "
        f"{_level_words(by, 'no', TRD_MIN_FAILURES)}: a difference of "
        f"{_points(estimate)} percentage points ({_interval(low, high, 'difference')})"
        f"{left_out}"
    )
    return QuantityResult(estimate, low, high, n, statement, True)


def _subgroup_rate(
    ctx: _Context,
    min_n: int,
    *,
    by: str,
    level: str,
    instrument: str,
    outcome: str,
    population: str,
) -> QuantityResult:
    """Outcome rate within one level of a patient attribute; n = patients at that level."""
    table = _subgroup_table(
        ctx, by=by, instrument=instrument, outcome=outcome, population=population
    ).set_index("level")
    k, n = (
        (int(table.loc[level, "k"]), int(table.loc[level, "n"])) if level in table.index else (0, 0)
    )
    who = f"{ctx.who(instrument, population)} {_level_words(by, level, TRD_MIN_FAILURES)}"
    what = f"{_OUTCOME_VERBS[outcome]} on the {instrument} at endpoint"
    if population == "itt":
        what += " (a missing endpoint counts as not achieved)"
    return _share_result(k, n, who, what, higher_is_better=outcome != "reliable_deterioration")


def _median_session_cost(
    ctx: _Context, min_n: int, *, instrument: str, population: str, low: float, high: float
) -> QuantityResult:
    """Median ``cost_usd`` per session with a patient-level bootstrap interval; n = patients.

    ``n`` is the number of patients contributing sessions with a recorded cost, and
    ``min_n`` applies to them; the note gives the number of sessions. Sessions of one
    patient are not independent, so the interval is the percentile interval of
    :func:`katoutcomes.cohort.cluster_bootstrap_median`: patients resampled with
    replacement (2000 resamples, fixed seed), each with all their sessions. The note adds
    the share of sessions costing ``low``-``high`` and the cost per responder: the
    recorded cost of the population's sessions divided by the number of
    intention-to-treat responders on ``instrument``.
    """
    treatments = ctx.require_treatments("cost_usd")
    if treatments["cost_usd"].notna().sum() == 0:
        raise NotMeasurableError("no treatment row has a cost_usd value.")
    given = ctx.doses(instrument, population)
    who = given.who
    all_costs = given.rows["cost_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
    recorded = ~np.isnan(all_costs)
    costs = all_costs[recorded]
    # Patient codes number the ids in sorted order, as the patient ids themselves would,
    # so the resamples are the same.
    result = cluster_bootstrap_median(costs, given.codes[recorded], alpha=_ALPHA)
    blank = len(given.rows) - costs.size
    in_range = int(((costs >= low) & (costs <= high)).sum())
    responders = int(ctx.members(instrument)["response"].astype("boolean").fillna(False).sum())
    total = float(costs.sum())
    if responders:
        per_responder = (
            f"cost per {instrument} responder ${total / responders:,.0f} (${total:,.0f} recorded "
            f"for these patients / {responders:,} responders, intention to treat)"
        )
    else:
        per_responder = "no responders, so no cost per responder"
    if result.n_clusters < 2:
        method = "no interval can allow for clustering with fewer than 2 patients"
    else:
        method = (
            "the interval counts patients, not sessions, as independent: a bootstrap "
            f"resampling patients with all their sessions ({result.replicates:,} resamples, "
            f"seed {result.seed})"
        )
    statement = (
        f"median cost per session ${result.median:,.0f} "
        f"({_interval(result.ci_low, result.ci_high, 'usd')}) over "
        f"{_count(int(costs.size), 'sessions')} with a recorded cost, from "
        f"{_count(result.n_clusters, who)} ({_count(blank, 'sessions')} without one); "
        f"{method}; "
        f"{_pct(in_range / costs.size) if costs.size else '0%'} cost ${low:,.0f}–${high:,.0f}; "
        f"{per_responder}"
    )
    return QuantityResult(
        result.median, result.ci_low, result.ci_high, result.n_clusters, statement, None
    )


_INSTRUMENT_CHOICES: Final = tuple(INSTRUMENTS)
_RATE_POPULATIONS: Final = ("itt", "completers")
#: Populations of the treatment-delivery and safety quantities: the safety population
#: (every patient with a recorded dose, eligible or not; DESIGN 6) or intention to treat.
_DATASET_POPULATIONS: Final = ("safety", "itt")
_TWO_LEVEL_SUBGROUPS: Final = ("ssri", "psychotherapy", "treatment_resistance")

#: Quantities a claim can name, with their parameters and defaults.
QUANTITIES: Final[Mapping[str, QuantitySpec]] = MappingProxyType(
    {
        "response_rate": QuantitySpec(
            _response_rate,
            "share",
            {"instrument": PHQ9.name, "population": "itt"},
            {"instrument": _INSTRUMENT_CHOICES, "population": _RATE_POPULATIONS},
            "Share of eligible patients who responded at endpoint (ITT by default).",
            unit="share",
        ),
        "outcome_rate": QuantitySpec(
            _outcome_rate,
            "share",
            {"instrument": PHQ9.name, "outcome": "response", "population": "itt"},
            {
                "instrument": _INSTRUMENT_CHOICES,
                "outcome": RATE_OUTCOMES,
                "population": _RATE_POPULATIONS,
            },
            "Share of eligible patients achieving an outcome (response, remission, ...).",
            unit="share",
        ),
        "early_change_share": QuantitySpec(
            _early_change_share,
            "share",
            {"instrument": PHQ9.name, "window": 1.0, "fallback_window": 7.0},
            {"instrument": _INSTRUMENT_CHOICES},
            "Share of ITT patients assessed in (0, window] days with a fall of at least the "
            "early_improvement setting then; widened to fallback_window when fewer than "
            "min_n were assessed.",
            unit="share",
            positive=("window", "fallback_window"),
            ordered=(("window", "fallback_window"),),
        ),
        "event_probability": QuantitySpec(
            _event_probability,
            "probability",
            {"event": "relapse", "instrument": PHQ9.name, "time": 84.0},
            {"event": tuple(EVENTS), "instrument": _INSTRUMENT_CHOICES},
            "Kaplan–Meier probability of the event by `time` days (1 - S(time)).",
            unit="share",
        ),
        "event_free_probability": QuantitySpec(
            _event_free_probability,
            "probability",
            {"event": "relapse", "instrument": PHQ9.name, "time": 182.0},
            {"event": tuple(EVENTS), "instrument": _INSTRUMENT_CHOICES},
            "Kaplan–Meier probability of no event by `time` days (S(time)).",
            unit="share",
        ),
        "nth_dose_within": QuantitySpec(
            _nth_dose_within,
            "share",
            {"doses": 6, "days": 21.0, "instrument": PHQ9.name, "population": "safety"},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Share of treated patients whose dose number `doses` came within `days` of the first.",
            unit="share",
            positive=("doses",),
        ),
        "adverse_event_share": QuantitySpec(
            _adverse_event_share,
            "share",
            {"instrument": PHQ9.name, "population": "safety"},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Share of treated patients with any recorded adverse event.",
            unit="share",
        ),
        "first_dose_mg_per_kg": QuantitySpec(
            _first_dose_mg_per_kg,
            "value",
            {"instrument": PHQ9.name, "population": "safety", "low_mg": 50.0, "high_mg": 100.0},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Median first dose in mg/kg; the note gives the share of doses in low_mg-high_mg.",
            unit="mg/kg",
            ordered=(("low_mg", "high_mg"),),
        ),
        "monitoring_share": QuantitySpec(
            _monitoring_share,
            "share",
            {"minutes": 120.0, "instrument": PHQ9.name, "population": "safety"},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Share of sessions (with a recorded time) monitored for at least `minutes`; "
            "n = patients, interval clustered by patient.",
            unit="share",
        ),
        "treatment_resistance_share": QuantitySpec(
            _treatment_resistance_share,
            "share",
            {
                "diagnosis": "GAD",
                "min_failures": TRD_MIN_FAILURES,
                "instrument": PHQ9.name,
                "population": "treated",
            },
            {"instrument": _INSTRUMENT_CHOICES, "population": ("treated", "itt", "all")},
            "Share of patients with a diagnosis who have >= min_failures prior failures.",
            unit="share",
        ),
        "response_difference": QuantitySpec(
            _response_difference,
            "difference",
            {
                "by": "psychotherapy",
                "instrument": PHQ9.name,
                "outcome": "response",
                "population": "itt",
            },
            {
                "by": _TWO_LEVEL_SUBGROUPS,
                "instrument": _INSTRUMENT_CHOICES,
                "outcome": RATE_OUTCOMES,
                "population": _RATE_POPULATIONS,
            },
            "Difference in an outcome rate, 'yes' minus 'no' level of a two-level attribute.",
            unit="difference",
        ),
        "subgroup_rate": QuantitySpec(
            _subgroup_rate,
            "share",
            {
                "by": "treatment_resistance",
                "level": "yes",
                "instrument": PHQ9.name,
                "outcome": "response",
                "population": "itt",
            },
            {
                "instrument": _INSTRUMENT_CHOICES,
                "outcome": RATE_OUTCOMES,
                "population": _RATE_POPULATIONS,
                "by": (
                    "site",
                    "clinician",
                    "route",
                    "diagnosis",
                    *_TWO_LEVEL_SUBGROUPS,
                ),
            },
            "Outcome rate within one level of a patient attribute (see cohort.subgroup_rates).",
            unit="share",
        ),
        "median_session_cost": QuantitySpec(
            _median_session_cost,
            "value",
            {"instrument": PHQ9.name, "population": "safety", "low": 400.0, "high": 800.0},
            {"instrument": _INSTRUMENT_CHOICES, "population": _DATASET_POPULATIONS},
            "Median cost per session (USD), patient-level bootstrap interval, n = patients; "
            "the note gives the share in low-high and the cost per responder.",
            unit="usd",
            ordered=(("low", "high"),),
        ),
    }
)


def describe_quantities() -> pd.DataFrame:
    """The quantities a claims file can name, with their parameters and defaults.

    Returns
    -------
    pandas.DataFrame
        Columns ``quantity, kind, unit, params, summary``; ``unit`` is the unit of the
        estimate and of a claimed value (:attr:`QuantitySpec.unit`); ``params`` reads
        ``name=default`` (choices in brackets).

    Examples
    --------
    >>> "response_rate" in describe_quantities()["quantity"].tolist()
    True
    """
    rows = []
    for name, spec in QUANTITIES.items():
        params = []
        for key, default in spec.defaults.items():
            text = f"{key}={_plain(default)}"
            if key in spec.choices:
                text += f" [{' | '.join(str(c) for c in spec.choices[key])}]"
            params.append(text)
        rows.append(
            {
                "quantity": name,
                "kind": spec.kind,
                "unit": spec.unit,
                "params": ", ".join(params),
                "summary": spec.summary,
            }
        )
    return pd.DataFrame(rows, columns=["quantity", "kind", "unit", "params", "summary"])


# --------------------------------------------------------------------------------------
# Loading and validating a claims file
# --------------------------------------------------------------------------------------


def _default_claims_text() -> tuple[str, str]:
    resource = resources.files("katoutcomes").joinpath("data", "claims.toml")
    return resource.read_text(encoding="utf-8"), "katoutcomes/data/claims.toml (packaged)"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_claimed(prefix: str, quantity: str, claimed: float, problems: list[str]) -> None:
    """A claimed share or probability must be a fraction; a difference of shares too."""
    kind = QUANTITIES[quantity].kind
    if kind not in _CLAIMED_RANGE:
        return
    low, high = _CLAIMED_RANGE[kind]
    if low <= claimed <= high:
        return
    what = "a difference of shares" if kind == "difference" else f"a {kind}"
    # A percentage typed as a number (claimed = 50 for 50%) is the usual slip.
    hint = (
        f"for {_plain(claimed)}% write claimed = {claimed / 100:.2f}"
        if low <= claimed / 100 <= high
        else "50% is claimed = 0.50"
    )
    problems.append(
        f"{prefix}claimed = {_plain(claimed)} is out of range: quantity {quantity} is "
        f"{what}, written as a fraction between {_plain(low)} and {_plain(high)}; {hint}."
    )


def _check_margin(
    prefix: str, quantity: str, rule: str, margin: Any, problems: list[str]
) -> float | None:
    """The margin of a claim, with the default filled in; None for rules without one."""
    kind = QUANTITIES[quantity].kind if quantity in QUANTITIES else None
    if rule != "two_sided":
        if margin is not None:
            problems.append(
                f"{prefix}margin applies to a claim of about a value (rule two_sided); rule "
                f"{rule} is judged against the bound itself, so remove the margin."
            )
        return None
    if margin is None:
        if kind in ("share", "probability"):
            return DEFAULT_MARGIN
        problems.append(
            f"{prefix}rule two_sided on quantity {quantity} needs a margin in its unit "
            f"({QUANTITIES[quantity].unit if kind else 'the quantity unit'}): the claimed "
            "value is supported when the interval lies within claimed ± margin."
        )
        return None
    if not (_is_number(margin) and math.isfinite(margin) and margin > 0):
        problems.append(f"{prefix}margin must be a number above 0, got {margin!r}.")
        return None
    if kind in ("share", "probability") and margin >= 1:
        problems.append(
            f"{prefix}margin = {_plain(margin)} is not a fraction: for a {kind} write it "
            f"between 0 and 1 (10 percentage points is margin = 0.10)."
        )
        return None
    return float(margin)


def _check_params(where: str, quantity: str, given: Any, problems: list[str]) -> dict[str, Any]:
    spec = QUANTITIES[quantity]
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        problems.append(f'{where}: params must be a table such as {{ instrument = "PHQ-9" }}.')
        return dict(spec.defaults)
    params = dict(spec.defaults)
    accepted: set[str] = set()
    for key, value in given.items():
        if key == "threshold" and quantity == "early_change_share":
            # A parameter of earlier claims files, now the setting shared with the outcomes.
            problems.append(
                f"{where}: parameter threshold is now the early_improvement setting, shared "
                "with the outcome columns; remove it and set the fall with --set "
                f"early_improvement={_plain(value) if _is_number(value) else '0.2'} (or a "
                "settings file)."
            )
            continue
        if key not in spec.defaults:
            problems.append(
                f"{where}: unknown parameter {key!r} for quantity {quantity}; it takes "
                f"{', '.join(spec.defaults) or 'no parameters'}."
            )
            continue
        default = spec.defaults[key]
        if key == "instrument" and isinstance(value, str):
            value = normalise_instrument_name(value) or value
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = _is_number(value) and math.isfinite(float(value))
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            kind = {bool: "true or false", int: "a whole number", float: "a number"}.get(
                type(default), "text"
            )
            problems.append(f"{where}: parameter {key} must be {kind}, got {value!r}.")
            continue
        choices = spec.choices.get(key)
        if choices is not None and value not in choices:
            problems.append(
                f"{where}: parameter {key} = {value!r} is not one of "
                f"{', '.join(str(c) for c in choices)}."
            )
            continue
        if _is_number(default):
            if key in spec.positive and not value > 0:
                problems.append(f"{where}: parameter {key} must be above 0, got {value!r}.")
                continue
            if not value >= 0:
                problems.append(f"{where}: parameter {key} must be 0 or more, got {value!r}.")
                continue
        params[key] = value
        accepted.add(key)
    # Bounds are compared only when neither was refused above (it would be its default).
    refused = set(given) - accepted
    for low, high in spec.ordered:
        if not {low, high} & refused and params[low] > params[high]:
            problems.append(
                f"{where}: parameter {low} = {_plain(params[low])} is above {high} = "
                f"{_plain(params[high])}; give the lower bound first."
            )
    return params


def _parse_claims(data: Mapping[str, Any], source: str) -> tuple[Claim, ...]:
    problems: list[str] = []
    unknown_top = sorted(set(data) - set(_FILE_KEYS))
    if unknown_top:
        problems.append(
            f"unknown top-level key(s) {', '.join(unknown_top)}; a claims file holds "
            "[[claims]] tables (and optional title, source, description)."
        )
    entries = data.get("claims")
    if not isinstance(entries, list) or not entries:
        problems.append("no claims found; add [[claims]] tables with id, claim, quantity and rule.")
        entries = []
    claims: list[Claim] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        label = entry.get("id") if isinstance(entry, Mapping) else None
        where = f"claim {number}" + (f" ({label})" if isinstance(label, str) else "")
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: must be a [[claims]] table.")
            continue
        before = len(problems)
        unknown = sorted(set(entry) - set(_CLAIM_KEYS))
        if unknown:
            problems.append(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed keys are "
                f"{', '.join(_CLAIM_KEYS)}."
            )
        missing = [key for key in _REQUIRED_KEYS if key not in entry]
        if missing:
            problems.append(f"{where}: missing required key(s) {', '.join(missing)}.")
            continue
        for key in ("id", "claim", "quantity", "rule"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                problems.append(f"{where}: {key} must be non-empty text.")
        if len(problems) > before:
            continue
        claim_id = entry["id"]
        if not _ID_PATTERN.match(claim_id):
            problems.append(
                f"{where}: id {claim_id!r} may use only letters, digits, _, . and - (at most 64)."
            )
        if claim_id in seen:
            problems.append(
                f"{where}: duplicate id {claim_id!r} (also claim {seen[claim_id]}); ids must "
                "be unique."
            )
        else:
            seen[claim_id] = number
        quantity, rule = entry["quantity"], entry["rule"]
        if quantity not in QUANTITIES:
            problems.append(
                f"{where}: unknown quantity {quantity!r}; known quantities are "
                f"{', '.join(QUANTITIES)}."
            )
        if rule not in RULES:
            problems.append(f"{where}: unknown rule {rule!r}; use one of {', '.join(RULES)}.")
        claimed = entry.get("claimed")
        if claimed is not None and not (_is_number(claimed) and math.isfinite(claimed)):
            problems.append(f"{where}: claimed must be a number, got {claimed!r}.")
            claimed = None
        if claimed is not None and quantity in QUANTITIES:
            _check_claimed(f"{where}: ", quantity, float(claimed), problems)
        if rule in _RULES_NEEDING_CLAIMED and "claimed" not in entry:
            problems.append(f"{where}: rule {rule} needs a claimed value (e.g. claimed = 0.5).")
        if (
            rule in _DIFFERENCE_RULES
            and quantity in QUANTITIES
            and QUANTITIES[quantity].kind != "difference"
        ):
            problems.append(
                f"{where}: rule {rule} applies to a difference; quantity {quantity} is not "
                "one (use response_difference)."
            )
        margin = (
            _check_margin(f"{where}: ", quantity, rule, entry.get("margin"), problems)
            if quantity in QUANTITIES
            else None
        )
        min_n = entry.get("min_n")
        if min_n is not None and (
            not isinstance(min_n, int) or isinstance(min_n, bool) or min_n < 1
        ):
            problems.append(f"{where}: min_n must be a whole number >= 1, got {min_n!r}.")
            min_n = None
        params = (
            _check_params(where, quantity, entry.get("params"), problems)
            if quantity in QUANTITIES
            else {}
        )
        if len(problems) == before:
            claims.append(
                Claim(
                    id=claim_id,
                    claim=entry["claim"].strip(),
                    quantity=quantity,
                    rule=rule,
                    params=MappingProxyType(params),
                    claimed=None if claimed is None else float(claimed),
                    min_n=min_n,
                    margin=margin,
                )
            )
    if problems:
        raise ClaimsFileError(
            f"Claims file {source} has {len(problems)} problem(s):\n- " + "\n- ".join(problems)
        )
    return tuple(claims)


def load_claims(path: str | Path | None = None) -> tuple[Claim, ...]:
    """Read and validate a claims file (the packaged one by default).

    Parameters
    ----------
    path : str or Path, optional
        A TOML claims file (format in the module docstring). ``None`` reads
        ``katoutcomes/data/claims.toml``, the claims of DESIGN 6.

    Returns
    -------
    tuple of Claim
        In file order, parameters filled with their defaults.

    Raises
    ------
    ClaimsFileError
        The file cannot be read, is not TOML, or has invalid claims: unknown quantity,
        rule, key or parameter, a missing required key, a rule without the claimed value
        it needs, a claimed share or probability outside [0, 1] (or a difference outside
        [-1, 1]), or duplicate ids. Every problem is listed in one message.

    Examples
    --------
    >>> [claim.id for claim in load_claims()][:2]
    ['response_rate_phq9', 'response_rate_gad7']
    """
    if path is None:
        text, source = _default_claims_text()
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ClaimsFileError(f"Cannot read claims file {source}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise ClaimsFileError(f"Claims file {source} is not UTF-8 text.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClaimsFileError(f"Claims file {source} is not valid TOML: {exc}.") from None
    return _parse_claims(data, source)


def _resolve(claim: Claim) -> Claim:
    """A claim built in code, checked as a file's claim would be and with defaults filled."""
    problems: list[str] = []
    if claim.quantity not in QUANTITIES:
        problems.append(
            f"unknown quantity {claim.quantity!r}; known quantities are {', '.join(QUANTITIES)}."
        )
    if claim.rule not in RULES:
        problems.append(f"unknown rule {claim.rule!r}; use one of {', '.join(RULES)}.")
    if claim.rule in _RULES_NEEDING_CLAIMED and claim.claimed is None:
        problems.append(f"rule {claim.rule} needs a claimed value.")
    if claim.claimed is not None and claim.quantity in QUANTITIES:
        _check_claimed("", claim.quantity, float(claim.claimed), problems)
    params: dict[str, Any] = {}
    margin = None
    if not problems:
        params = _check_params(f"claim {claim.id}", claim.quantity, claim.params, problems)
        margin = _check_margin("", claim.quantity, claim.rule, claim.margin, problems)
    if problems:
        raise ClaimsFileError(f"Claim {claim.id}: " + " ".join(problems))
    return dataclasses.replace(claim, params=MappingProxyType(params), margin=margin)


# --------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------


def judge_interval(
    rule: str, ci_low: float, ci_high: float, claimed: float | None, margin: float | None = None
) -> tuple[Verdict, bool | None]:
    """The verdict of a decision rule on a 95% interval, and which way the data lie.

    Parameters
    ----------
    rule : str
        One of :data:`RULES` other than ``descriptive``.
    ci_low, ci_high : float
        The interval (finite).
    claimed : float or None
        The claimed value p0 or bound (None: 0, for the difference rules).
    margin : float, optional
        The equivalence margin δ of a ``two_sided`` claim (required there).

    Returns
    -------
    verdict : ``"supported"``, ``"contradicted"`` or ``"inconclusive"``
    higher : bool or None
        Whether the data lie above (True) or below (False) the claim when the verdict is
        ``supported`` for a bound or ``contradicted``; None otherwise (and for a
        ``two_sided`` claim that is supported: the data are about p0).

    Notes
    -----
    ``two_sided`` (a claim of about p0, DESIGN 6), with the band ``[p0 - δ, p0 + δ]``:

    - supported when ``p0 - δ <= ci_low`` and ``ci_high <= p0 + δ``: every plausible value
      is about p0. The band is closed, so an interval that touches an edge from inside
      (``ci_low = p0 - δ``) is supported: p0 - δ is itself "about p0".
    - contradicted when ``ci_low > p0 + δ`` (better or worse, above) or
      ``ci_high < p0 - δ`` (below): no plausible value is about p0. An interval that
      touches the band from outside (``ci_low = p0 + δ``) still holds a value about p0,
      so it is not contradicted.
    - otherwise inconclusive.

    Bounds are strict claims judged against the bound b itself ("usually": more than
    half; "less than 1%"), so the bound is on the losing side of each claim:

    - ``above`` / ``difference_positive`` (more than b): supported when ``ci_low > b``;
      contradicted when ``ci_high <= b`` (every plausible value is at most b, none is
      more than b); otherwise inconclusive.
    - ``below`` (less than b): supported when ``ci_high < b``; contradicted when
      ``ci_low >= b``; otherwise inconclusive.
    - ``difference_nonzero``: supported when ``ci_low > b`` or ``ci_high < b``;
      otherwise inconclusive.

    "Equal" allows 1e-12 of slack in the quantity's unit, so that p0 ± δ computed in
    binary (0.3 + 0.1 = 0.4000000000000001) does not decide a touching interval.

    Examples
    --------
    >>> judge_interval("two_sided", 0.42, 0.58, 0.5, 0.10)
    ('supported', None)
    >>> judge_interval("two_sided", 0.61, 0.75, 0.5, 0.10)
    ('contradicted', True)
    >>> judge_interval("two_sided", 0.30, 0.55, 0.5, 0.10)
    ('inconclusive', None)
    """
    eps = _EDGE_TOLERANCE
    b = 0.0 if claimed is None else float(claimed)
    if rule == "two_sided":
        if margin is None:
            raise ValueError("rule two_sided needs a margin (the equivalence margin δ).")
        low_edge, high_edge = b - margin, b + margin
        if ci_low >= low_edge - eps and ci_high <= high_edge + eps:
            return "supported", None
        if ci_low > high_edge + eps:
            return "contradicted", True
        if ci_high < low_edge - eps:
            return "contradicted", False
        return "inconclusive", None
    if rule in ("above", "difference_positive"):
        if ci_low > b + eps:
            return "supported", True
        if ci_high <= b + eps:
            return "contradicted", False
        return "inconclusive", None
    if rule == "below":
        if ci_high < b - eps:
            return "supported", False
        if ci_low >= b - eps:
            return "contradicted", True
        return "inconclusive", None
    if rule == "difference_nonzero":
        if ci_low > b + eps:
            return "supported", True
        if ci_high < b - eps:
            return "supported", False
        return "inconclusive", None
    raise ValueError(f"Rule {rule!r} gives no verdict on an interval; use one of {RULES}.")


def patients_to_settle(
    estimate: float, claimed: float, margin: float, *, alpha: float = 0.05
) -> int | None:
    """Patients that would likely settle a claim of about ``claimed``, at the current share.

    Parameters
    ----------
    estimate : float
        The current share p̂, in [0, 1].
    claimed, margin : float
        p0 and δ: the band ``[p0 - δ, p0 + δ]`` of a ``two_sided`` claim.
    alpha : float, default 0.05
        1 - confidence level of the Wilson interval.

    Returns
    -------
    int or None
        The smallest number of patients n at which the Wilson interval of a share equal
        to p̂ would decide the claim: lie inside the band (p̂ inside it: supported) or
        wholly outside it (p̂ outside: contradicted). None when p̂ sits exactly on an
        edge, where no number of patients settles it at this estimate.

    Notes
    -----
    The Wilson interval of a share p̂ among n is the set of p with
    ``n (p̂ - p)^2 <= z^2 p (1 - p)`` (``z = 1.959964``), so a value p ≠ p̂ lies outside
    it exactly when ``n > N(p) = z^2 p (1 - p) / (p̂ - p)^2``, and on its edge when
    ``n = N(p)``. Hence, with ``a = p0 - δ`` and ``b = p0 + δ``:

    - ``a < p̂ < b``: the interval lies inside the closed band (as :func:`judge_interval`
      reads it) when ``n >= N(a)`` (needed only when ``a > 0``; the interval never goes
      below 0) and ``n >= N(b)`` (only when ``b < 1``): ``n = ceil(max(N(a), N(b)))``.
    - ``p̂ > b``: the interval lies wholly above b when ``n > N(b)``:
      ``n = floor(N(b)) + 1``; likewise ``p̂ < a`` with ``N(a)``.

    It is the number of patients the claim needs in all, not the number to add, and
    "likely" because the share will move as patients are added. For p̂ = 0.5 and the
    band 0.4–0.6: ``N = 3.841459 × 0.24 / 0.01 = 92.2``, so 93 patients.

    Examples
    --------
    >>> patients_to_settle(0.5, 0.5, 0.10)
    93
    >>> patients_to_settle(0.75, 0.5, 0.10)
    41
    """
    if not (0.0 <= estimate <= 1.0) or not margin > 0:
        raise ValueError("`estimate` must be a share in [0, 1] and `margin` above 0.")
    z2 = NormalDist().inv_cdf(1.0 - alpha / 2.0) ** 2
    low_edge, high_edge = claimed - margin, claimed + margin

    def needed(p: float) -> float:
        return z2 * p * (1.0 - p) / (estimate - p) ** 2

    eps = _EDGE_TOLERANCE
    if (low_edge > 0 and abs(estimate - low_edge) <= eps) or (
        high_edge < 1 and abs(estimate - high_edge) <= eps
    ):
        return None
    if high_edge < 1 and estimate > high_edge:
        return math.floor(needed(high_edge)) + 1
    if low_edge > 0 and estimate < low_edge:
        return math.floor(needed(low_edge)) + 1
    bounds = [needed(p) for p in (low_edge, high_edge) if 0 < p < 1]
    return max(1, math.ceil(max(bounds, default=1.0)))


def _way(higher: bool, higher_is_better: bool | None) -> str:
    """Which way the data lie from a claimed value: "better" or "worse" where a direction
    is good, else "higher" or "lower"."""
    if higher_is_better is None:
        return "higher" if higher else "lower"
    return "better" if higher == higher_is_better else "worse"


def _direction(higher: bool, higher_is_better: bool | None) -> str:
    way = _way(higher, higher_is_better)
    if higher_is_better is None:
        return f"the data show a {way} value than claimed"
    return f"the clinic does {way} than claimed"


def _news(claim: Claim, verdict: str, higher: bool | None, higher_is_better: bool | None) -> str:
    """Good or bad news for patients (:data:`NEWS`).

    Supported claims of about a value: good news when a direction is good (patients get
    what they were told), neutral otherwise. A bound that holds, or a contradicted claim:
    good when the data lie on the better side, bad on the worse side, neutral when
    neither side is better. A difference claimed only to exist (``difference_nonzero``):
    neutral. Inconclusive and not measurable: unclear. Descriptive: neutral.
    """
    if verdict in ("inconclusive", "not_measurable"):
        return "unclear"
    if verdict == "descriptive" or claim.rule == "difference_nonzero":
        return "neutral"
    if higher_is_better is None:
        return "neutral"
    if higher is None:  # two_sided supported: about as claimed
        return "good"
    return "good" if higher == higher_is_better else "bad"


def _population(ctx: _Context, claim: Claim) -> str:
    """The population a claim's quantity counts, in plain words (DESIGN 6)."""
    params = claim.params
    instrument = str(params.get("instrument", PHQ9.name))
    population = str(params.get("population", "itt"))
    treated = ctx.dataset.has_treatments
    itt = f"intention to treat: {ctx.who(instrument, 'itt')}"
    if claim.quantity in ("event_probability", "event_free_probability"):
        event = str(params.get("event", "relapse"))
        if event == "relapse":
            return f"{instrument} responders among the {ctx.who(instrument, 'itt')}"
        return itt
    if claim.quantity == "early_change_share":
        return f"{itt}, with a {instrument} in the window"
    if claim.quantity == "treatment_resistance_share":
        diagnosis = str(params.get("diagnosis", "GAD"))
        if population == "itt":
            return f"{diagnosis}-diagnosed patients in the {itt}"
        if population == "treated" and treated:
            return f"every {diagnosis}-diagnosed patient who started treatment"
        return f"every {diagnosis}-diagnosed patient"
    if population == "safety":
        return "safety population: every patient with at least one recorded dose, eligible or not"
    if population == "completers":
        return f"completers: {ctx.who(instrument, 'completers')}"
    if claim.quantity == "subgroup_rate":
        words = _level_words(str(params["by"]), str(params["level"]), TRD_MIN_FAILURES)
        return f"{itt}, {words}"
    if claim.quantity == "response_difference":
        by = str(params["by"])
        return f"{itt}, {_level_words(by, 'yes', TRD_MIN_FAILURES)} against not"
    return itt


def _patients_needed_words(claim: Claim, result: QuantityResult, unit: Unit) -> str:
    """For a share claimed about p0: the patients that would likely settle it, or ""."""
    if (
        claim.rule != "two_sided"
        or claim.margin is None
        or claim.claimed is None
        or QUANTITIES[claim.quantity].kind != "share"
        or math.isnan(result.estimate)
    ):
        return ""
    needed = patients_to_settle(result.estimate, claim.claimed, claim.margin, alpha=_ALPHA)
    if needed is None:
        return (
            f" With the share at {_pct(result.estimate)}, exactly on the edge of the band, no "
            "number of patients would settle it at this estimate."
        )
    # Outcome shares count eligible patients (DESIGN 6); other shares their population.
    eligible = claim.quantity in ("response_rate", "outcome_rate", "early_change_share")
    noun = "eligible patients" if eligible else "patients"
    return (
        f" At the current share of {_pct(result.estimate)}, about {needed:,} {noun} in all "
        f"(now {result.n:,}) would likely settle it."
    )


def _decide(
    claim: Claim, result: QuantityResult, min_n: int, unit: Unit
) -> tuple[Verdict, str, bool | None]:
    """The verdict, its note and which way the data lie (see :func:`judge_interval`)."""
    statement = result.statement[:1].upper() + result.statement[1:]
    if result.not_estimated:
        return "inconclusive", f"{statement}: {result.not_estimated}.", None
    if result.n < min_n:
        needed = _patients_needed_words(claim, result, unit) if result.n > 0 else ""
        return (
            "inconclusive",
            f"{statement}; fewer patients than the minimum of {min_n} needed for a verdict."
            + needed,
            None,
        )
    if claim.rule == "descriptive":
        if claim.claimed is not None:
            return (
                "descriptive",
                f"{statement}; claimed {_value(claim.claimed, unit)} (no decision rule).",
                None,
            )
        return "descriptive", f"{statement}.", None
    low, high = result.ci_low, result.ci_high
    if math.isnan(low) or math.isnan(high):
        return "inconclusive", f"{statement}; no interval could be computed.", None
    verdict, higher = judge_interval(claim.rule, low, high, claim.claimed, claim.margin)
    target = 0.0 if claim.claimed is None else claim.claimed
    said = _value(target, unit)
    if claim.rule == "two_sided":
        margin = claim.margin if claim.margin is not None else 0.0
        band = f"{_value(target - margin, unit)} to {_value(target + margin, unit)}"
        if unit == "difference":
            band = f"{_points(target - margin)} to {_points(target + margin)} percentage points"
        about = f"{band} (the claimed {said} ± {_margin(margin, unit)})"
        if verdict == "supported":
            return (
                verdict,
                f"{statement}; the interval lies inside {about}: consistent with the claim.",
                higher,
            )
        if verdict == "contradicted":
            side = "above" if higher else "below"
            return (
                verdict,
                f"{statement}; the interval lies wholly {side} {about}: "
                f"{_direction(bool(higher), result.higher_is_better)}.",
                higher,
            )
        return (
            verdict,
            f"{statement}; the interval reaches outside {about} without lying wholly outside "
            "it, so the data cannot tell yet." + _patients_needed_words(claim, result, unit),
            higher,
        )
    if claim.rule == "above":
        if verdict == "supported":
            return (
                verdict,
                f"{statement}; the interval lies wholly above {said}, as claimed.",
                higher,
            )
        if verdict == "contradicted":
            return (
                verdict,
                f"{statement}; the interval lies "
                f"{'wholly below' if high < target else 'at or below'} {said}, against the "
                f"claim: {_direction(False, result.higher_is_better)}.",
                higher,
            )
        return (
            verdict,
            f"{statement}; the interval includes {said}, so the data cannot tell.",
            higher,
        )
    if claim.rule == "below":
        if verdict == "supported":
            return (
                verdict,
                f"{statement}; the interval lies wholly below the claimed {said}.",
                higher,
            )
        if verdict == "contradicted":
            return (
                verdict,
                f"{statement}; even the lower limit is at or above the claimed {said}: "
                f"{_direction(True, result.higher_is_better)}.",
                higher,
            )
        return (
            verdict,
            f"{statement}; the interval includes the claimed {said}, so the data cannot tell.",
            higher,
        )
    what = "0" if claim.claimed is None else said
    if claim.rule == "difference_positive":
        if verdict == "supported":
            return verdict, f"{statement}; the interval lies above {what}, as claimed.", higher
        if verdict == "contradicted":
            return (
                verdict,
                f"{statement}; the interval lies "
                f"{'below' if high < target else 'at or below'} {what}: the difference goes "
                "the other way.",
                higher,
            )
        return verdict, f"{statement}; the interval includes {what}: no clear difference.", higher
    # difference_nonzero
    if verdict == "supported":
        return verdict, f"{statement}; the interval excludes {what}: outcomes differ.", higher
    return (
        verdict,
        f"{statement}; the interval includes {what}: no clear difference either way.",
        higher,
    )


def _margin(margin: float, unit: Unit) -> str:
    if unit == "share":
        return f"{_plain(round(100.0 * margin, 6))} percentage points"
    if unit == "difference":
        return f"{_plain(round(100.0 * margin, 6))} percentage points"
    if unit == "mg/kg":
        return f"{margin:.3f} mg/kg"
    return f"${margin:,.0f}"


def describe_rule(claim: Claim, unit: Unit | None = None) -> str:
    """A claim's decision rule in one sentence, with its claimed value and margin.

    Examples
    --------
    >>> describe_rule(load_claims()[0])[:76]
    'Supported when the 95% interval lies inside 40% to 60% (the claimed 50% ± 10'
    """
    unit = unit or QUANTITIES[claim.quantity].unit
    claimed = 0.0 if claim.claimed is None else claim.claimed
    said = _value(claimed, unit) if claim.claimed is not None else "0"
    if claim.rule == "two_sided" and claim.margin is not None:
        low, high = claimed - claim.margin, claimed + claim.margin
        band = (
            f"{_points(low)} to {_points(high)} percentage points"
            if unit == "difference"
            else f"{_value(low, unit)} to {_value(high, unit)}"
        )
        return (
            f"Supported when the 95% interval lies inside {band} (the claimed {said} ± "
            f"{_margin(claim.margin, unit)}); contradicted when it lies wholly above or "
            "wholly below that band; otherwise inconclusive."
        )
    texts = {
        "above": f"Supported when the 95% interval lies wholly above {said}; contradicted "
        "when it lies at or below it; otherwise inconclusive.",
        "below": f"Supported when the upper 95% limit is below {said}; contradicted when the "
        "lower limit is at or above it; otherwise inconclusive.",
        "difference_positive": f"Supported when the 95% interval of the difference lies above "
        f"{said}; contradicted when it lies at or below it; otherwise inconclusive.",
        "difference_nonzero": f"Supported when the 95% interval of the difference excludes "
        f"{said}; otherwise inconclusive.",
        "descriptive": "No verdict: the claim gives no testable number, so the estimate is "
        "reported.",
    }
    return texts.get(claim.rule, claim.rule)


# --------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------


def evaluate_claims(
    dataset: Dataset,
    settings: Settings | None = None,
    claims: str | Path | Sequence[Claim] | None = None,
) -> pd.DataFrame:
    """Evaluate claims against a dataset: the claims scorecard.

    Parameters
    ----------
    dataset : Dataset
        The clinic's data. Not modified.
    settings : Settings, optional
        Outcome definitions and the default ``min_n``; ``Settings()`` when omitted.
    claims : str, Path or sequence of Claim, optional
        A claims file, claims already loaded with :func:`load_claims`, or ``None`` for the
        packaged claims of DESIGN 6.

    Returns
    -------
    pandas.DataFrame
        One row per claim, in file order, with the columns of :data:`CLAIM_COLUMNS`:
        ``id, claim, quantity`` (name and parameters), ``estimate, ci_low, ci_high``
        (float, NaN where undefined), ``n`` (nullable Int64; NA when not measurable),
        ``claimed`` (float, NaN when absent), ``verdict`` (one of :data:`VERDICTS`),
        ``note`` (the result and the reason for the verdict in plain words; for an
        inconclusive claim of about a share, the patients that would likely settle it),
        ``margin`` (the equivalence margin of a ``two_sided`` claim, NaN for other rules)
        and ``population`` (which patients the quantity counts, in words), then
        ``unit`` (``share``, ``difference``, ``mg/kg`` or ``usd``: the quantity's fixed
        :attr:`QuantitySpec.unit`, filled for every row, ``not_measurable`` ones too) so
        that displays can format the estimate and the claimed value, and ``direction``:
        for a contradicted claim with a claimed value, which way the data lie ("better
        than claimed", "worse than claimed", or "higher"/"lower than claimed" where
        neither is better), else "". A clinic doing better than it claims is contradicted
        too; displays show this beside the verdict. Last ``news`` (one of :data:`NEWS`):
        whether the result is good or bad news for patients, which displays show as the
        verdict's colour.

    Raises
    ------
    ClaimsFileError
        When a claims file is invalid (see :func:`load_claims`).

    Notes
    -----
    For each claim: compute the quantity; if the data lack what it needs →
    ``not_measurable``; if it cannot be estimated (a Kaplan–Meier time beyond the last
    follow-up) or ``n < min_n`` → ``inconclusive``; otherwise apply the rule (module
    docstring). The per-patient outcomes are computed once for all claims.

    References
    ----------
    DESIGN.md section 6.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> card = evaluate_claims(Dataset.demo(patients=60))
    >>> card.loc[card["id"] == "response_rate_phq9", "verdict"].isin(VERDICTS).all()
    np.True_
    """
    settings = settings or Settings()
    if claims is None or isinstance(claims, str | Path):
        claims = load_claims(claims)
    ctx = _Context(dataset, settings)
    rows = []
    for claim in map(_resolve, claims):
        min_n = claim.min_n if claim.min_n is not None else settings.min_n
        spec = QUANTITIES[claim.quantity]
        row: dict[str, Any] = {
            "id": claim.id,
            "claim": claim.claim,
            "quantity": claim.quantity_label,
            "claimed": np.nan if claim.claimed is None else claim.claimed,
            "margin": np.nan if claim.margin is None else claim.margin,
            "population": _population(ctx, claim),
        }
        try:
            result = spec.function(ctx, min_n, **claim.params)
        except NotMeasurableError as exc:
            row |= {
                "unit": spec.unit,
                "estimate": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "n": pd.NA,
                "verdict": "not_measurable",
                "note": f"Not measurable: {str(exc)[:1].lower()}{str(exc)[1:]}",
                "direction": "",
                "news": "unclear",
            }
        else:
            verdict, note, higher = _decide(claim, result, min_n, spec.unit)
            # Which way a contradicted claim of a value is wrong; a contradicted difference
            # already means "the other way".
            shows_way = (
                verdict == "contradicted"
                and higher is not None
                and claim.rule not in _DIFFERENCE_RULES
            )
            row |= {
                "direction": (
                    f"{_way(bool(higher), result.higher_is_better)} than claimed"
                    if shows_way
                    else ""
                ),
                "news": _news(claim, verdict, higher, result.higher_is_better),
                "unit": spec.unit,
                "estimate": result.estimate,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "n": result.n,
                "verdict": verdict,
                "note": note,
            }
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*CLAIM_COLUMNS, "unit", "direction", "news"])
    return out.astype(
        {
            "unit": "str",
            "direction": "str",
            "news": "str",
            "margin": np.float64,
            "population": "str",
            "id": "str",
            "claim": "str",
            "quantity": "str",
            "estimate": np.float64,
            "ci_low": np.float64,
            "ci_high": np.float64,
            "n": "Int64",
            "claimed": np.float64,
            "verdict": "str",
            "note": "str",
        }
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def claims_to_dict(
    frame: pd.DataFrame,
    settings: Settings | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The scorecard as a JSON-ready dict: claims, the settings and the data provenance.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`evaluate_claims`.
    settings : Settings, optional
        The settings used (``Settings()`` when omitted), echoed for reproducibility.
    provenance : mapping, optional
        Where the data came from, e.g. ``dataset.provenance``.

    Returns
    -------
    dict
        ``{"claims": [{"id", "claim", "quantity", "estimate", "ci_low", "ci_high", "n",
        "claimed", "verdict", "note", "margin", "population"}, ...], "settings": {...},
        "data": {...}}`` with NaN and NA as ``None``; ``json.dumps`` accepts it as is.

    Examples
    --------
    >>> import json
    >>> from katoutcomes.dataset import Dataset
    >>> data = Dataset.demo(patients=60)
    >>> out = claims_to_dict(evaluate_claims(data), provenance=data.provenance)
    >>> sorted(out), sorted(out["claims"][0])[:3]
    (['claims', 'data', 'settings'], ['ci_high', 'ci_low', 'claim'])
    >>> _ = json.dumps(out, allow_nan=False)
    """
    settings = settings or Settings()
    claims = [
        {column: _json_safe(record[column]) for column in CLAIM_COLUMNS}
        for record in frame[list(CLAIM_COLUMNS)].astype(object).to_dict(orient="records")
    ]
    return {
        "claims": claims,
        "settings": _json_safe(settings.to_dict()),
        "data": _json_safe(dict(provenance or {})),
    }
