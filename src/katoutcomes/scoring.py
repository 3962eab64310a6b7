"""Scoring questionnaire rows: totals from items, prorating, and the item-9 safety flag.

Rules (DESIGN 3.6):

- A total is computed from items when items are given. A recorded total that disagrees with
  a complete set of items rejects the row.
- With some items missing, the total is prorated, ``round_half_up(sum * n_items /
  n_answered)``, when at most ``phq9_max_missing_items`` (default 2, Kroenke 2001 scoring
  guidance) or ``gad7_max_missing_items`` (default 1) items are missing. With more missing
  and no recorded total, the row is kept as ``incomplete`` and left out of outcomes.
- A recorded total beside incomplete items must be reachable from them:
  ``sum <= total <= sum + 3 * n_missing``.
- PHQ-9 item 9 is never imputed. ``item_9 >= 1`` raises a safety flag; ``>= 2`` ("more than
  half the days") is high.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from katoutcomes.instruments import (
    INSTRUMENTS,
    ITEM_COLUMNS,
    ITEM_MAX,
    SELF_HARM_HIGH,
    SELF_HARM_ITEM,
)
from katoutcomes.settings import Settings
from katoutcomes.validation import PROBLEM_COLUMNS, map_distinct, problems_frame

__all__ = ["TOTAL_SOURCES", "Scored", "round_half_up", "score_assessments"]

#: Where a row's total came from.
TOTAL_SOURCES: Final = ("recorded", "items", "prorated", "incomplete")


@dataclass(frozen=True, slots=True)
class Scored:
    """Scored rows (a copy of the input with ``total``, ``total_source``, ``item9_flag``,
    ``item9_high``) and the problems that reject rows."""

    frame: pd.DataFrame
    problems: pd.DataFrame


def round_half_up(x: pd.Series | np.ndarray) -> np.ndarray:
    """Round halves up (``12.5 -> 13``), unlike numpy's round-half-to-even."""
    return np.floor(np.asarray(x, dtype="float64") + 0.5)


def score_assessments(parsed: pd.DataFrame, settings: Settings) -> Scored:
    """Totals, prorating and item-9 flags for typed assessment rows.

    ``parsed`` holds ``instrument``, ``total`` and any of ``item_1..item_9`` as floats
    (missing as NaN), and ``line``. Rows whose instrument is missing are passed through
    untouched (they are already rejected).
    """
    frame = parsed.copy()
    for item in ITEM_COLUMNS:
        if item not in frame.columns:
            frame[item] = np.nan
    if "total" not in frame.columns:
        frame["total"] = np.nan
    lines = frame["line"]
    problems: list[pd.DataFrame] = []

    instrument = frame["instrument"]
    n_items = map_distinct(instrument, {k: v.n_items for k, v in INSTRUMENTS.items()}, "float64")
    max_score = map_distinct(
        instrument, {k: v.max_score for k, v in INSTRUMENTS.items()}, "float64"
    )
    limit = map_distinct(
        instrument, {k: settings.max_missing_items(k) for k in INSTRUMENTS}, "float64"
    )

    items_np = frame[list(ITEM_COLUMNS)].to_numpy(dtype="float64", na_value=np.nan)
    items = pd.DataFrame(items_np, columns=list(ITEM_COLUMNS), index=frame.index)
    uses = n_items.to_numpy()[:, None] >= np.arange(1, len(ITEM_COLUMNS) + 1)
    given = ~np.isnan(items_np)
    # GAD-7 has seven items: a value in item_8 or item_9 is a mistake, not data.
    extra = given & ~uses & n_items.notna().to_numpy()[:, None]
    for col, item in enumerate(ITEM_COLUMNS):
        bad = pd.Series(extra[:, col], index=frame.index)
        if bad.any():
            problems.append(
                problems_frame(
                    lines[bad],
                    item,
                    f"{instrument[bad].iloc[0]} has 7 items; {item} must be blank",
                    items.loc[bad, item].map(lambda v: str(int(v))),
                )
            )
    own = given & uses
    answered_np = own.sum(axis=1).astype("float64")
    sum_np = np.where(own, items_np, 0.0).sum(axis=1)
    sum_np[answered_np == 0] = np.nan
    answered = pd.Series(answered_np, index=frame.index)
    item_sum = pd.Series(sum_np, index=frame.index)
    n_missing = n_items - answered
    recorded = frame["total"].astype("float64")

    over_max = recorded.notna() & (recorded > max_score)
    if over_max.any():
        for name in instrument[over_max].unique():
            rows = over_max & (instrument == name)
            problems.append(
                problems_frame(
                    lines[rows],
                    "total",
                    f"out of range (a {name} total is 0-{INSTRUMENTS[name].max_score})",
                    recorded[rows].map(lambda v: str(int(v))),
                )
            )

    has_items = answered > 0
    complete_items = has_items & (n_missing == 0)
    disagree = complete_items & recorded.notna() & (recorded != item_sum)
    if disagree.any():
        problems.append(
            problems_frame(
                lines[disagree],
                "total",
                "the recorded total disagrees with the sum of the items; "
                "correct the total or the items",
                "total "
                + recorded[disagree].astype("int64").astype("str")
                + ", items sum to "
                + item_sum[disagree].astype("int64").astype("str"),
            )
        )
    partial = has_items & (n_missing > 0)
    unreachable = (
        partial
        & recorded.notna()
        & ((recorded < item_sum) | (recorded > item_sum + ITEM_MAX * n_missing))
    )
    if unreachable.any():
        problems.append(
            problems_frame(
                lines[unreachable],
                "total",
                "the recorded total cannot come from the answered items "
                "(it must lie between their sum and the sum plus 3 per missing item)",
                "total "
                + recorded[unreachable].astype("int64").astype("str")
                + ", answered items sum to "
                + item_sum[unreachable].astype("int64").astype("str"),
            )
        )
    nothing = ~has_items & recorded.isna() & instrument.notna()
    if nothing.any():
        problems.append(
            problems_frame(
                lines[nothing], "total", "no total and no item scores; give the total or the items"
            )
        )

    proratable = partial & recorded.isna() & (n_missing <= limit)
    prorated = round_half_up(item_sum * n_items / answered)
    total = np.select(
        [recorded.notna(), complete_items, proratable],
        [recorded, item_sum, prorated],
        default=np.nan,
    )
    source_code = np.select(
        [recorded.notna(), complete_items, proratable, partial], [0, 1, 2, 3], default=-1
    )
    frame["total"] = total
    frame["total_source"] = pd.Series(
        pd.Categorical.from_codes(source_code, categories=list(TOTAL_SOURCES)), index=frame.index
    ).astype("str")

    is_phq9 = instrument == "PHQ-9"
    item9 = items[SELF_HARM_ITEM].where(is_phq9)
    frame["item9_flag"] = (item9 >= 1).astype("boolean").mask(item9.isna())
    frame["item9_high"] = (item9 >= SELF_HARM_HIGH).astype("boolean").mask(item9.isna())
    out = pd.concat(problems) if problems else pd.DataFrame(columns=PROBLEM_COLUMNS)
    return Scored(frame=frame, problems=out[PROBLEM_COLUMNS])
