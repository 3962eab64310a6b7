"""Decision rules: the verdict of a claim from its interval, and the note that explains it.

:func:`judge_interval` applies a rule to an interval, :func:`patients_to_settle` gives
the patients that would likely settle an inconclusive claim of about a share, and
:func:`describe_rule` states a claim's rule in one sentence.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from katoutcomes.claims.context import _Context
from katoutcomes.claims.definitions import (
    _ALPHA,
    _EDGE_TOLERANCE,
    RULES,
    Claim,
    QuantityResult,
    Unit,
    Verdict,
)
from katoutcomes.claims.formatting import _margin, _pct, _points, _value
from katoutcomes.claims.quantities import QUANTITIES, _level_words
from katoutcomes.cohort import (
    TRD_MIN_FAILURES,
)
from katoutcomes.instruments import PHQ9

__all__ = ["describe_rule", "judge_interval", "patients_to_settle"]


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
    ``two_sided`` (a claim of about p0, methods §10.3), with the band ``[p0 - δ, p0 + δ]``:

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
    """The population a claim's quantity counts, in plain words (methods §10.5)."""
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
    # Outcome shares count eligible patients (methods §10.5); other shares their population.
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


def describe_rule(claim: Claim, unit: Unit | None = None) -> str:
    """A claim's decision rule in one sentence, with its claimed value and margin.

    Examples
    --------
    >>> from katoutcomes.claims import load_claims
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
