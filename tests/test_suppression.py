"""Tests for katoutcomes.suppression: small cells hidden, zero shown, complements added.

Expected results are worked out by hand from the rule in the module docstring (the CMS cell
size suppression policy with k = 11: counts 1-10 are hidden, zero is shown, and no hidden
count may be recoverable from a shown total).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from katoutcomes.settings import Settings
from katoutcomes.suppression import (
    SUPPRESSION_NOTE,
    small_cell_mask,
    suppress_small_cells,
    suppress_subgroup_rates,
    suppression_note,
)


def _rates(*counts: int) -> pd.DataFrame:
    n = np.array(counts, dtype=np.int64)
    return pd.DataFrame(
        {
            "label": [f"row {i}" for i in range(len(n))],
            "k": n // 2,
            "n": n,
            "estimate": np.where(n > 0, 0.5, np.nan),
            "ci_low": np.where(n > 0, 0.3, np.nan),
            "ci_high": np.where(n > 0, 0.7, np.nan),
        }
    )


def _subgroups(levels: dict[str, int], group: str = "route") -> pd.DataFrame:
    n = np.array(list(levels.values()), dtype=np.int64)
    return pd.DataFrame(
        {
            "group": group,
            "level": list(levels),
            "k": n // 2,
            "n": n,
            "estimate": 0.5,
            "ci_low": 0.3,
            "ci_high": 0.7,
            "diff": 0.01,
            "diff_ci_low": -0.2,
            "diff_ci_high": 0.2,
            "compared_with": "all other patients",
        }
    )


# --------------------------------------------------------------------------------------
# The basic rule
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "hidden"),
    [
        (10, True),  # 1-10 are small cells (CMS)
        (1, True),
        (11, False),  # 11 is the first count shown
        (0, False),  # zero describes nobody: shown (CMS: "a value of zero does not violate")
        (250, False),
    ],
)
def test_counts_from_1_to_k_minus_1_are_suppressed_and_zero_is_shown(count, hidden):
    out = suppress_small_cells(_rates(count), k=11)
    assert bool(out.loc[0, "suppressed"]) is hidden
    if hidden:
        assert out.loc[0, ["k", "n", "estimate", "ci_low", "ci_high"]].isna().all()
    else:
        assert out.loc[0, "n"] == count


def test_suppressed_rows_keep_their_labels_and_integer_columns_become_nullable():
    out = suppress_small_cells(_rates(10, 11), k=11)
    assert out["label"].tolist() == ["row 0", "row 1"]
    assert str(out["n"].dtype) == "Int64"
    assert out["n"].tolist()[1] == 11
    assert out["n"].isna().tolist() == [True, False]
    assert math.isnan(out.loc[0, "estimate"])
    assert out.loc[1, "estimate"] == 0.5


def test_missing_counts_are_not_small_cells():
    assert small_cell_mask([np.nan, None, pd.NA, 3], 11).tolist() == [False, False, False, True]


def test_k_zero_turns_suppression_off():
    frame = _rates(1, 5, 10, 11)
    out = suppress_small_cells(frame, k=0)
    assert not out["suppressed"].any()
    pd.testing.assert_frame_equal(out.drop(columns="suppressed"), frame)


def test_the_default_threshold_is_the_settings_default_of_11():
    assert Settings().suppression_k == 11
    assert suppression_note(11) == SUPPRESSION_NOTE
    assert SUPPRESSION_NOTE.startswith("Counts of 1 to 10 patients are suppressed")
    assert SUPPRESSION_NOTE.endswith("k = 11.")


def test_the_note_says_when_suppression_is_off():
    assert "off" in suppression_note(0)
    assert suppression_note(2).startswith("A count of 1 patient is suppressed")


def test_input_data_not_modified():
    frame = _rates(3, 40)
    before = frame.copy()
    suppress_small_cells(frame, k=11)
    suppress_subgroup_rates(_subgroups({"IV": 40, "oral": 3}), k=11)
    pd.testing.assert_frame_equal(frame, before)
    assert "suppressed" not in frame.columns


def test_suppressing_twice_changes_nothing():
    once = suppress_subgroup_rates(_subgroups({"IM": 36, "IV": 63, "oral": 6}), k=11)
    twice = suppress_subgroup_rates(once, k=11)
    pd.testing.assert_frame_equal(once, twice)


def test_numerators_are_checked_when_named_as_counts():
    # 3 of 137 patients deteriorated: shown under "cells based on fewer than k patients"
    # (the rate is based on 137), hidden under the strict CMS reading (3 is a count of 1-10).
    frame = pd.DataFrame({"k": [3], "n": [137], "estimate": [3 / 137]})
    assert not suppress_small_cells(frame, k=11)["suppressed"].any()
    assert suppress_small_cells(frame, k=11, count_columns=("k", "n"))["suppressed"].all()


def test_value_columns_limit_what_is_blanked():
    frame = pd.DataFrame({"week": [1, 2], "n": [5, 20], "mean": [10.0, 9.0]})
    out = suppress_small_cells(frame, k=11, value_columns=("mean",))
    assert out["week"].tolist() == [1, 2]
    assert out["n"].isna().tolist() == [True, False]
    assert out["mean"].isna().tolist() == [True, False]


@pytest.mark.parametrize("k", [-1, 2.5, True])
def test_a_bad_threshold_raises_a_clear_error(k):
    with pytest.raises(ValueError, match="k must be a whole number >= 0"):
        suppress_small_cells(_rates(5), k=k)


def test_a_missing_count_column_is_named_in_the_error():
    with pytest.raises(ValueError, match="count_columns names column\\(s\\) patients"):
        suppress_small_cells(_rates(5), k=11, count_columns=("patients",))


# --------------------------------------------------------------------------------------
# Complementary suppression
# --------------------------------------------------------------------------------------


def test_two_level_group_with_one_small_level_hides_both():
    # Shown total 105 - shown "no" 100 would give "yes" = 5 back: "no" must go too.
    out = suppress_subgroup_rates(_subgroups({"yes": 5, "no": 100}, "ssri"), k=11)
    assert out["suppressed"].tolist() == [True, True]


def test_one_small_level_hides_the_next_smallest_level_too():
    # IM 36, IV 63, oral 6: oral is small; hiding IM too makes 2 hidden cells holding 42.
    out = suppress_subgroup_rates(_subgroups({"IM": 36, "IV": 63, "oral": 6}), k=11)
    assert out.set_index("level")["suppressed"].to_dict() == {
        "IM": True,
        "IV": False,
        "oral": True,
    }


def test_two_small_levels_holding_k_together_need_no_complement():
    # oral 6 + other 5 = 11 >= k patients, all 11 responders and 0 non-responders: the
    # sums a reader can work out (11 and 0) are not small cells, so nothing else is hidden.
    table = _subgroups({"IM": 36, "IV": 63, "oral": 6, "other": 5}).assign(k=[18, 31, 6, 5])
    out = suppress_subgroup_rates(table, k=11)
    assert out["suppressed"].tolist() == [False, False, True, True]


def test_hidden_levels_whose_responders_add_to_a_small_cell_hide_one_more():
    # oral 6 (3 responders) + other 5 (2) = 11 patients, but total responders minus the
    # shown ones would give 3 + 2 = 5, a small cell: IM (36, 18) is hidden too, making
    # 23 responders and 24 non-responders hidden together.
    out = suppress_subgroup_rates(_subgroups({"IM": 36, "IV": 63, "oral": 6, "other": 5}), k=11)
    assert out["suppressed"].tolist() == [True, False, True, True]


def test_a_level_with_few_non_responders_is_a_small_cell():
    # 60 of 63 responded: the 3 non-responders (63 - 60) are a small cell, so IV is hidden
    # and, with it, the next smallest level (IM 36) as its complement.
    table = _subgroups({"IM": 36, "IV": 63, "S": 40}).assign(k=[18, 60, 20])
    out = suppress_subgroup_rates(table, k=11)
    assert out.set_index("level")["suppressed"].to_dict() == {"IM": True, "IV": True, "S": False}


def test_small_levels_holding_fewer_than_k_together_hide_one_more():
    # oral 6 + other 3 = 9 < 11: their sum would be a small cell; IM (36) is hidden too.
    out = suppress_subgroup_rates(_subgroups({"IM": 36, "IV": 63, "oral": 6, "other": 3}), k=11)
    assert out["suppressed"].tolist() == [True, False, True, True]


def test_zero_levels_are_not_used_as_complements():
    # A zero cell protects nobody: the complement of 5 is the smallest positive level, 40.
    out = suppress_subgroup_rates(_subgroups({"a": 5, "b": 0, "c": 40, "d": 50}), k=11)
    assert out["suppressed"].tolist() == [True, False, True, False]


def test_differences_are_blanked_only_in_groups_with_a_hidden_level():
    frame = pd.concat(
        [_subgroups({"IM": 36, "IV": 63, "oral": 6}), _subgroups({"S1": 50, "S2": 60}, "site")],
        ignore_index=True,
    )
    out = suppress_subgroup_rates(frame, k=11)
    route = out["group"] == "route"
    assert out.loc[route, ["diff", "diff_ci_low", "diff_ci_high"]].isna().all().all()
    assert out.loc[route, "compared_with"].isna().all()
    # IV is shown, with its own rate, but without a difference.
    iv = out[out["level"] == "IV"].iloc[0]
    assert iv["n"] == 63 and iv["estimate"] == 0.5
    site = out[~route]
    assert not site["suppressed"].any()
    assert site["diff"].tolist() == [0.01, 0.01]


def test_groups_without_small_levels_are_untouched():
    # 11 of 22 and 12 of 24: numerators, totals and complements all 11 or more.
    frame = _subgroups({"S1": 22, "S2": 24})
    out = suppress_subgroup_rates(frame, k=11)
    pd.testing.assert_frame_equal(out.drop(columns="suppressed"), frame)
