"""Scoring: totals from items, prorating, disagreement, item ranges, item-9 flags.

Every expected total is worked out by hand in the comment beside the case.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from katoutcomes.ingest import validate_frames
from katoutcomes.scoring import round_half_up
from katoutcomes.settings import Settings

ITEMS = [f"item_{i}" for i in range(1, 10)]


def _row(instrument: str, items: list[float | None], total: float | None = None) -> dict:
    row: dict = {"patient_id": "P001", "instrument": instrument, "study_day": 1.0, "total": total}
    for name, value in zip(ITEMS, items + [None] * (9 - len(items)), strict=True):
        row[name] = value
    return row


def _score(rows: list[dict], settings: Settings | None = None):
    frame = pd.DataFrame(rows)
    frame["study_day"] = np.arange(len(frame), dtype=float)
    result = validate_frames({"assessments": frame}, settings=settings)
    return result


@pytest.mark.parametrize(
    ("instrument", "items", "expected_total", "expected_source"),
    [
        # PHQ-9 complete: 0+1+2+3+0+1+2+3+0 = 12
        ("PHQ-9", [0, 1, 2, 3, 0, 1, 2, 3, 0], 12, "items"),
        # PHQ-9 one missing: 8 answered sum 1*8 = 8; 8 * 9/8 = 9.0 -> 9
        ("PHQ-9", [1, 1, 1, 1, 1, 1, 1, 1, None], 9, "prorated"),
        # PHQ-9 two missing: answered 3,3,3,3,3,3,2 = 20; 20 * 9/7 = 25.714 -> 26
        ("PHQ-9", [3, 3, 3, 3, 3, 3, 2, None, None], 26, "prorated"),
        # PHQ-9 two missing, half: answered 1,1,1,1,1,1,0.. sum 6 over 7 -> 6*9/7=7.714 -> 8
        ("PHQ-9", [1, 1, 1, 1, 1, 1, 0, None, None], 8, "prorated"),
        # GAD-7 complete: 3*7 = 21
        ("GAD-7", [3, 3, 3, 3, 3, 3, 3], 21, "items"),
        # GAD-7 one missing: 6 answered sum 1+1+1+1+1+2 = 7; 7 * 7/6 = 8.1667 -> 8
        ("GAD-7", [1, 1, 1, 1, 1, 2, None], 8, "prorated"),
        # GAD-7 one missing, exactly half: sum 3 over 6 answered -> 3*7/6 = 3.5 -> 4 (half up)
        ("GAD-7", [1, 1, 1, 0, 0, 0, None], 4, "prorated"),
    ],
)
def test_total_is_computed_or_prorated_from_items(
    instrument, items, expected_total, expected_source
):
    result = _score([_row(instrument, items)])
    accepted = result.accepted["assessments"]
    assert result.n_rejected == 0
    assert accepted.loc[0, "total"] == expected_total
    assert accepted.loc[0, "total_source"] == expected_source


@pytest.mark.parametrize(
    ("instrument", "items"),
    [
        ("PHQ-9", [1, 1, 1, 1, 1, 1, None, None, None]),  # 3 of 9 missing > limit 2
        ("GAD-7", [1, 1, 1, 1, 1, None, None]),  # 2 of 7 missing > limit 1
    ],
)
def test_too_many_missing_items_without_total_keeps_the_row_as_incomplete(instrument, items):
    result = _score([_row(instrument, items)])
    row = result.accepted["assessments"].iloc[0]
    assert result.n_accepted == 1 and result.n_rejected == 0
    assert np.isnan(row["total"])
    assert row["total_source"] == "incomplete"


def test_prorating_limit_is_a_setting():
    # With gad7_max_missing_items = 0, one missing GAD-7 item leaves the row incomplete.
    result = _score([_row("GAD-7", [1, 1, 1, 1, 1, 2, None])], Settings(gad7_max_missing_items=0))
    assert result.accepted["assessments"].iloc[0]["total_source"] == "incomplete"


def test_recorded_total_that_disagrees_with_complete_items_is_rejected():
    # items sum 9 (all ones) but the total says 10
    result = _score([_row("PHQ-9", [1] * 9, total=10)])
    assert result.n_rejected == 1
    problem = result.rejected.iloc[0]
    assert problem["field"] == "total"
    assert "disagrees with the sum of the items" in problem["reason"]
    assert problem["value"] == "total 10, items sum to 9"
    assert problem["line"] == 2


def test_recorded_total_that_agrees_with_items_is_accepted():
    result = _score([_row("PHQ-9", [1] * 9, total=9)])
    assert result.n_accepted == 1
    assert result.accepted["assessments"].iloc[0]["total_source"] == "recorded"


def test_recorded_total_beside_partial_items_must_be_reachable():
    # 8 answered ones (sum 8), one missing: a total can be 8..11; 12 cannot be reached.
    bad = _score([_row("PHQ-9", [1] * 8 + [None], total=12)])
    assert bad.n_rejected == 1
    assert "cannot come from the answered items" in bad.rejected.iloc[0]["reason"]
    good = _score([_row("PHQ-9", [1] * 8 + [None], total=11)])
    assert good.n_accepted == 1


@pytest.mark.parametrize("value", [4, -1, 1.5, "x"])
def test_item_outside_0_to_3_is_rejected(value):
    result = _score([_row("PHQ-9", [value, 1, 1, 1, 1, 1, 1, 1, 1])])
    assert result.n_rejected == 1
    problem = result.rejected.iloc[0]
    assert problem["field"] == "item_1"
    assert "0-3" in problem["reason"]


@pytest.mark.parametrize(("total", "ok"), [(27, True), (28, False)])
def test_phq9_total_range_is_0_to_27(total, ok):
    result = _score([_row("PHQ-9", [], total=total)])
    assert (result.n_rejected == 0) is ok


@pytest.mark.parametrize(("total", "ok"), [(21, True), (22, False)])
def test_gad7_total_range_is_0_to_21(total, ok):
    result = _score([_row("GAD-7", [], total=total)])
    assert (result.n_rejected == 0) is ok
    if not ok:
        assert "a GAD-7 total is 0-21" in result.rejected.iloc[0]["reason"]


@pytest.mark.parametrize("item", ["item_8", "item_9"])
def test_gad7_row_carrying_item_8_or_9_is_rejected(item):
    row = _row("GAD-7", [1] * 7)
    row[item] = 1
    result = _score([row])
    assert result.n_rejected == 1
    problem = result.rejected.iloc[0]
    assert problem["field"] == item
    assert problem["reason"] == f"GAD-7 has 7 items; {item} must be blank"


def test_row_with_neither_total_nor_items_is_rejected():
    result = _score([_row("PHQ-9", [])])
    assert result.n_rejected == 1
    assert result.rejected.iloc[0]["reason"].startswith("no total and no item scores")


@pytest.mark.parametrize(
    ("item9", "flag", "high"),
    [(0, False, False), (1, True, False), (2, True, True), (3, True, True)],
)
def test_item_9_raises_the_safety_flag(item9, flag, high):
    result = _score([_row("PHQ-9", [1] * 8 + [item9])])
    row = result.accepted["assessments"].iloc[0]
    assert bool(row["item9_flag"]) is flag
    assert bool(row["item9_high"]) is high


def test_missing_item_9_is_never_imputed_and_leaves_the_flag_unknown():
    result = _score([_row("PHQ-9", [2] * 8 + [None])])
    row = result.accepted["assessments"].iloc[0]
    # prorated: 16 * 9/8 = 18, but item 9 itself stays blank and the flag unknown
    assert row["total"] == 18
    assert np.isnan(row["item_9"])
    assert pd.isna(row["item9_flag"])


@pytest.mark.parametrize(("x", "expected"), [(0.5, 1), (1.5, 2), (2.5, 3), (2.4999, 2)])
def test_round_half_up_rounds_halves_up_not_to_even(x, expected):
    assert round_half_up(np.array([x]))[0] == expected
