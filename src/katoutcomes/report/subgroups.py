"""The subgroups section: PHQ-9 response by route and by site, small groups suppressed
with complementary suppression (:func:`katoutcomes.suppression.suppress_subgroup_rates`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from katoutcomes import formatting as fmt
from katoutcomes.cohort import NotMeasurableError
from katoutcomes.instruments import PHQ9
from katoutcomes.report import figures as figs
from katoutcomes.report.blocks import level_name, note, rule, section, table
from katoutcomes.suppression import SUPPRESSED_COLUMN, rate_cell_mask, suppress_subgroup_rates

if TYPE_CHECKING:
    from katoutcomes.analysis import Analysis

__all__ = ["subgroups_section"]

SUBGROUP_NAMES: Final = {"route": "Route of administration", "site": "Site"}
#: Subgroups drawn in the report. Clinicians are not ranked in a report that leaves the
#: clinic; sites are also compared in the funnel plot.
REPORT_SUBGROUPS: Final = ("route", "site")


def subgroups_section(analysis: Analysis, figures: figs.Figures, k: int) -> dict[str, Any]:
    blocks = [
        note(
            f"{PHQ9.name} response (intention to treat) by route of administration and by site "
            "(a patient's most frequent one). Small groups have wide intervals: compare "
            "intervals, not ranks. The difference compares a group with all other patients "
            "whose route or site is recorded (Newcombe interval)."
        )
    ]
    rates = analysis.shared_rates
    itt = rates[
        (rates["instrument"] == PHQ9.name)
        & (rates["outcome"] == "response")
        & (rates["population"] == "itt")
    ]
    overall_shown = not itt.empty and not bool(itt[SUPPRESSED_COLUMN].iloc[0])
    for by in REPORT_SUBGROUPS:
        name = SUBGROUP_NAMES.get(by, by)
        try:
            frame = analysis.subgroups(by, "response", PHQ9.name)
        except NotMeasurableError as exc:
            blocks.append(note(f"{name}: not available. {exc}"))
            continue
        # With the overall rate hidden, the levels must not add up to it.
        marked = frame if overall_shown else frame.assign(**{SUPPRESSED_COLUMN: True})
        shown = suppress_subgroup_rates(marked, k=k)
        hidden = shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
        primary = rate_cell_mask(frame["k"], frame["n"], k)
        if hidden.all():
            levels = ", ".join(level_name(v) for v in frame["level"])
            blocks.append(
                rule(
                    f"{name}: every group ({levels}) is suppressed: each has, or would let a "
                    f"reader work out, 1 to {k - 1} patients, responders or non-responders."
                )
            )
            continue
        fig = figs.subgroup_figure(frame, shown, overall_shown)
        blocks.append(figures.render(fig, f"fig-subgroup-{by}"))
        if hidden.any():
            blocks.append(rule(_subgroup_rule(frame, hidden, primary, k)))
        blocks.append(_subgroup_table(shown, primary, by))
    return section("subgroups", "Subgroups", blocks)


def _subgroup_rule(frame: pd.DataFrame, hidden: np.ndarray, primary: np.ndarray, k: int) -> str:
    small = [level_name(v) for v in frame.loc[primary, "level"]]
    extra = [level_name(v) for v in frame.loc[hidden & ~primary, "level"]]
    text = f"Not shown: {', '.join(small)} (1 to {k - 1} patients, responders or non-responders)"
    if extra:
        text += (
            f"; {', '.join(extra)} also hidden, so that the small group"
            f"{'s' if len(small) > 1 else ''} cannot be worked out from the total"
        )
    return text + (
        ". Differences between groups are not shown for this attribute: a group compared "
        "with all the others would give the hidden groups' rate away."
    )


def _subgroup_table(shown: pd.DataFrame, primary: np.ndarray, by: str) -> dict[str, Any]:
    """The numbers of one attribute's forest, suppressed levels marked."""
    compared = shown["compared_with"].dropna().astype(str).unique()
    against = level_name(compared[0]) if len(compared) == 1 else ""
    rows = []
    for i, (_, r) in enumerate(shown.iterrows()):
        level = level_name(r["level"])
        if bool(r[SUPPRESSED_COLUMN]):
            why = "suppressed" if primary[i] else "hidden (protects a small group)"
            rows.append({"level": level, "suppressed": why})
            continue
        diff = fmt.estimate(r["diff"], r["diff_ci_low"], r["diff_ci_high"], "difference")
        if not against and not fmt.is_missing(r["diff"]):
            diff += f" vs {level_name(r['compared_with'])}"
        rows.append(
            {
                "level": level,
                "suppressed": "",
                "n": fmt.integer(r["n"]),
                "k": fmt.integer(r["k"]),
                "rate": fmt.estimate(r["estimate"], r["ci_low"], r["ci_high"], "share"),
                "diff": diff,
            }
        )
    difference = f"Difference vs {against}" if against else "Difference"
    return table(
        "subgroup",
        table_id=f"subgroup-table-{by}",
        headers=[
            SUBGROUP_NAMES.get(by, by),
            "Patients",
            "Responders",
            "Response (95% CI)",
            f"{difference} (95% CI)",
        ],
        rows=rows,
    )
