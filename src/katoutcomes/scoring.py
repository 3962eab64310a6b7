"""Scoring questionnaire rows: totals from items, prorating, and the item-9 safety flag.

Rules (methods §2.4):

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
import pyarrow as pa

from katoutcomes.instruments import (
    INSTRUMENTS,
    ITEM_COLUMNS,
    ITEM_MAX,
    PHQ9,
    SELF_HARM_FLAG,
    SELF_HARM_HIGH,
    SELF_HARM_ITEM,
)
from katoutcomes.settings import Settings
from katoutcomes.validation import PROBLEM_COLUMNS, problems_frame

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


def _per_instrument(codes: np.ndarray, names: pd.Index, fact: dict[str, float]) -> np.ndarray:
    """``fact[name]`` for each row's instrument code; NaN for a missing or unknown one."""
    table = np.array([fact.get(name, np.nan) for name in names] + [np.nan], dtype="float64")
    return table[codes]  # code -1 (missing) picks the trailing NaN


def _whole(values: np.ndarray) -> pd.Series:
    return pd.Series(values).map(lambda v: str(int(v)))


def score_assessments(parsed: pd.DataFrame, settings: Settings) -> Scored:
    """Totals, prorating and item-9 flags for typed assessment rows.

    ``parsed`` holds ``instrument``, ``total`` and any of ``item_1..item_9`` as floats
    (missing as NaN), and ``line``. Rows whose instrument is missing are passed through
    untouched (they are already rejected).
    """
    frame = parsed.copy(deep=False)
    for item in ITEM_COLUMNS:
        if item not in frame.columns:
            frame[item] = np.nan
    if "total" not in frame.columns:
        frame["total"] = np.nan
    lines = frame["line"]
    problems: list[pd.DataFrame] = []

    codes, names = pd.factorize(frame["instrument"])
    n_items = _per_instrument(codes, names, {k: v.n_items for k, v in INSTRUMENTS.items()})
    max_score = _per_instrument(codes, names, {k: v.max_score for k, v in INSTRUMENTS.items()})
    limit = _per_instrument(codes, names, {k: settings.max_missing_items(k) for k in INSTRUMENTS})
    known = ~np.isnan(n_items)

    # Item by item over 1-D columns: a row-major (rows x 9) copy of the items costs more
    # than all the arithmetic.
    n = len(frame)
    answered = np.zeros(n)
    item_sum = np.zeros(n)
    for position, item in enumerate(ITEM_COLUMNS, start=1):
        values = frame[item].to_numpy(dtype="float64", na_value=np.nan)
        given = ~np.isnan(values)
        if not given.any():
            continue
        uses = n_items >= position
        # GAD-7 has seven items: a value in item_8 or item_9 is a mistake, not data.
        extra = given & ~uses & known
        if extra.any():
            name = names[codes[extra][0]]
            problems.append(
                problems_frame(
                    lines[extra],
                    item,
                    f"{name} has {INSTRUMENTS[name].n_items} items; {item} must be blank",
                    _whole(values[extra]).set_axis(lines.index[extra]),
                )
            )
        own = given & uses
        answered += own
        item_sum += np.where(own, values, 0.0)
    item_sum[answered == 0] = np.nan
    n_missing = n_items - answered
    recorded = frame["total"].to_numpy(dtype="float64", na_value=np.nan)
    has_recorded = ~np.isnan(recorded)

    with np.errstate(invalid="ignore"):
        over_max = has_recorded & (recorded > max_score)
    for code in np.unique(codes[over_max]):
        name = names[code]
        rows = over_max & (codes == code)
        problems.append(
            problems_frame(
                lines[rows],
                "total",
                f"out of range (a {name} total is 0-{INSTRUMENTS[name].max_score})",
                _whole(recorded[rows]).set_axis(lines.index[rows]),
            )
        )

    has_items = answered > 0
    complete_items = has_items & (n_missing == 0)
    disagree = complete_items & has_recorded & (recorded != item_sum)
    if disagree.any():
        problems.append(
            problems_frame(
                lines[disagree],
                "total",
                "the recorded total disagrees with the sum of the items; "
                "correct the total or the items",
                (
                    "total "
                    + _whole(recorded[disagree])
                    + ", items sum to "
                    + _whole(item_sum[disagree])
                ).set_axis(lines.index[disagree]),
            )
        )
    partial = has_items & (n_missing > 0)
    with np.errstate(invalid="ignore"):
        unreachable = (
            partial
            & has_recorded
            & ((recorded < item_sum) | (recorded > item_sum + ITEM_MAX * n_missing))
        )
    if unreachable.any():
        problems.append(
            problems_frame(
                lines[unreachable],
                "total",
                "the recorded total cannot come from the answered items "
                "(it must lie between their sum and the sum plus 3 per missing item)",
                (
                    "total "
                    + _whole(recorded[unreachable])
                    + ", answered items sum to "
                    + _whole(item_sum[unreachable])
                ).set_axis(lines.index[unreachable]),
            )
        )
    nothing = ~has_items & ~has_recorded & (codes >= 0)
    if nothing.any():
        problems.append(
            problems_frame(
                lines[nothing], "total", "no total and no item scores; give the total or the items"
            )
        )

    proratable = partial & ~has_recorded & (n_missing <= limit)
    total = np.where(has_recorded, recorded, np.where(complete_items, item_sum, np.nan))
    total[proratable] = round_half_up(
        item_sum[proratable] * n_items[proratable] / answered[proratable]
    )
    frame["total"] = total
    conditions = [has_recorded, complete_items, proratable]
    source = np.select([*conditions, partial], [0, 1, 2, 3], default=-1)
    frame["total_source"] = _labels(source, TOTAL_SOURCES, frame.index)

    phq9_rows = np.append(np.asarray(names == PHQ9.name), False)[codes]
    item9 = np.where(phq9_rows, frame[SELF_HARM_ITEM].to_numpy("float64", na_value=np.nan), np.nan)
    unknown9 = np.isnan(item9)
    with np.errstate(invalid="ignore"):
        frame["item9_flag"] = pd.arrays.BooleanArray(item9 >= SELF_HARM_FLAG, unknown9)
        frame["item9_high"] = pd.arrays.BooleanArray(item9 >= SELF_HARM_HIGH, unknown9)
    out = pd.concat(problems) if problems else pd.DataFrame(columns=PROBLEM_COLUMNS)
    return Scored(frame=frame, problems=out[PROBLEM_COLUMNS])


def _labels(codes: np.ndarray, labels: tuple[str, ...], index: pd.Index) -> pd.Series:
    """Codes into ``labels`` as a ``str`` column (code -1 is missing)."""
    table = pa.array(labels, type=pa.large_string())
    taken = table.take(pa.array(codes, mask=codes < 0))
    return pd.Series(pd.array(taken, dtype=pd.StringDtype("pyarrow", na_value=np.nan)), index=index)
