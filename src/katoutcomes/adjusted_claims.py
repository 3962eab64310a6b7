"""Crude and case-mix adjusted side by side for the claims that compare groups.

A claim such as "integration enhances outcomes" or "SSRIs may affect outcomes" is tested
on the crude difference in intention-to-treat response (Newcombe interval): that is its
``estimate`` and its verdict. Patients who chose psychotherapy, or who take an SSRI,
differ in severity and history, so the scorecard also gives the case-mix adjusted
difference — the standardised risk difference by g-computation from a logistic model of
response on the exposure, baseline score, prior treatment failures, primary diagnosis, age
band and sex (:func:`katoutcomes.comparisons.adjusted_effect`) — and says whether the
adjustment changes the conclusion: the claim's rule is applied to the adjusted interval
too (:func:`katoutcomes.claims.judge_interval`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from katoutcomes import formatting as fmt

if TYPE_CHECKING:
    from katoutcomes.claims import Claim
    from katoutcomes.comparisons import AdjustedEffect

__all__ = ["ADJUSTABLE", "ADJUSTED_COLUMNS", "add_adjusted"]

#: Columns added to the scorecard (NaN for claims that compare nothing).
ADJUSTED_COLUMNS: Final = (
    "adjusted_estimate",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "adjusted_n",
    "adjusted_or",
)

#: Exposures of ``response_difference`` claims that have an adjusted comparison.
ADJUSTABLE: Final = ("psychotherapy", "ssri")


def add_adjusted(
    card: pd.DataFrame,
    claims: Sequence[Claim],
    effect: Callable[[str, str], Sequence[AdjustedEffect]],
) -> pd.DataFrame:
    """The scorecard with :data:`ADJUSTED_COLUMNS` and, for adjustable claims, a note.

    Parameters
    ----------
    card : DataFrame
        :func:`katoutcomes.claims.evaluate_claims` output. Not modified.
    claims : sequence of Claim
        The claims of ``card``.
    effect : callable
        ``effect(exposure, instrument)``: the adjusted effects of an exposure
        (:meth:`katoutcomes.analysis.Analysis.adjusted_effects`).

    Returns
    -------
    DataFrame
        ``card`` with the five columns added; the note of each adjusted claim gains a
        sentence with the adjusted difference and whether it changes the conclusion.
    """
    from katoutcomes.claims import judge_interval

    values: dict[str, list[Any]] = {c: [np.nan] * len(card) for c in ADJUSTED_COLUMNS}
    notes = card["note"].astype(str).tolist()
    by_id: Mapping[str, Claim] = {c.id: c for c in claims}
    for i, row in enumerate(card.to_dict(orient="records")):
        claim = by_id.get(str(row["id"]))
        if claim is None or claim.quantity != "response_difference":
            continue
        exposure = str(claim.params.get("by", ""))
        if exposure not in ADJUSTABLE or row["verdict"] == "not_measurable":
            continue
        effects = effect(exposure, str(claim.params.get("instrument", "PHQ-9")))
        if not effects:
            continue
        e = effects[0]
        if e.not_measurable or fmt.is_missing(e.risk_difference):
            reason = e.not_measurable or "the model could not be fitted"
            notes[i] += f" Adjusted difference not measurable: {reason}."
            continue
        for column, value in zip(
            ADJUSTED_COLUMNS,
            (e.risk_difference, e.ci_low, e.ci_high, int(e.n), e.odds_ratio),
            strict=True,
        ):
            values[column][i] = value
        notes[i] += " " + _adjusted_sentence(row, claim, e, judge_interval)
    out = card.assign(note=notes, **{c: np.asarray(v, dtype=float) for c, v in values.items()})
    out["adjusted_n"] = out["adjusted_n"].round().astype("Int64")
    return out


def _adjusted_sentence(
    row: Mapping[str, Any], claim: Claim, e: AdjustedEffect, judge: Callable[..., Any]
) -> str:
    """The adjusted result and whether it tells the same story as the crude one."""
    from katoutcomes.comparisons import COVARIATE_LABELS

    names = ", ".join(COVARIATE_LABELS.get(c, c) for c in e.covariates) or "nothing"
    text = (
        f"Adjusted for {names} ({fmt.integer(e.n)} patients with every covariate): a "
        f"difference of {fmt.percentage_points(e.risk_difference)} (95% CI "
        f"{fmt.interval(e.ci_low, e.ci_high, 'difference')}), odds ratio "
        f"{e.odds_ratio:.2f}."
    )
    if claim.rule not in ("difference_positive", "difference_nonzero"):
        return text
    adjusted, _ = judge(claim.rule, e.ci_low, e.ci_high, None)
    crude = str(row["verdict"])
    if adjusted == crude:
        return text + f" The adjustment does not change the conclusion ({adjusted})."
    return text + (
        f" The adjustment changes the conclusion: {adjusted} after adjustment, {crude} "
        "crude; differences in case mix account for part of the crude result."
    )
