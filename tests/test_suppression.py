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
    hidden_rate_counts,
    protect_nested_counts,
    rate_cell_mask,
    small_cell_mask,
    suppress_claims,
    suppress_linked_claims,
    suppress_outcome_rates,
    suppress_rates,
    suppress_small_cells,
    suppress_subgroup_rates,
    suppression_note,
    text_discloses_small_count,
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


# --------------------------------------------------------------------------------------
# Numerators, complements and nested groups (methods §12.2–§12.4)
# --------------------------------------------------------------------------------------


def test_a_rate_is_hidden_when_its_numerator_or_its_complement_is_small():
    # 5 of 379 responders: the 5 are a small cell. 374 of 379: the 379 - 374 = 5
    # non-responders are. 200 of 379 (179 without) and 0 of 379 show nothing small.
    rates = pd.DataFrame(
        {"k": [5, 374, 200, 0], "n": [379, 379, 379, 379], "estimate": [0.01, 0.99, 0.53, 0.0]}
    )
    out = suppress_rates(rates, k=11)
    assert out["suppressed"].tolist() == [True, True, False, False]
    assert out["k"].isna().tolist() == [True, True, False, False]
    assert out["estimate"].isna().tolist() == [True, True, False, False]
    assert rate_cell_mask([5, 374, 200, 0], [379, 379, 379, 379], 11).tolist() == [
        True,
        True,
        False,
        False,
    ]


def test_a_contained_group_differing_by_a_small_count_is_hidden():
    # 15 recovered, 14 of them reliably: 15 - 14 = 1 patient recovered without reliable
    # improvement, so the contained group (reliable recovery) is hidden. 20 responders
    # within 27 patients differ by 7: the responders go too. The 27 stay.
    everyone = np.ones(27, dtype=bool)
    recovered = np.arange(27) < 15
    reliably = np.arange(27) < 14
    responders = np.arange(27) < 20
    hidden = protect_nested_counts(
        {"all": everyone, "recovery": recovered, "reliable": reliably, "response": responders},
        k=11,
    )
    assert hidden == {"reliable", "response"}


def test_groups_that_do_not_nest_are_not_compared():
    # 15 and 14 patients with only 10 in common: 15 - 14 counts nobody in particular.
    first = np.arange(30) < 15
    second = (np.arange(30) >= 5) & (np.arange(30) < 19)
    assert protect_nested_counts({"a": first, "b": second}, k=11) == set()


def test_an_expendable_total_is_hidden_rather_than_the_population_it_contains():
    # 30 patients in the header, 27 in the intention-to-treat population: 3 left out.
    everyone = np.ones(30, dtype=bool)
    itt = np.arange(30) < 27
    assert protect_nested_counts({"header": everyone, "itt": itt}, k=11) == {"itt"}
    assert protect_nested_counts({"header": everyone, "itt": itt}, k=11, expendable={"header"}) == {
        "header"
    }


def test_groups_shown_together_are_hidden_together():
    # A hidden rate hides both its "with" and "without" groups: the 12 without the
    # outcome then constrain nothing (hidden), so the 21 without remission stay shown.
    without_response = np.arange(27) < 12
    without_remission = np.arange(27) < 21
    hidden = protect_nested_counts(
        {
            "response|with": ~without_response,
            "response|without": without_response,
            "remission|without": without_remission,
        },
        k=11,
        hidden={"response|with"},
        together={"response|with": "response", "response|without": "response"},
    )
    assert hidden == {"response|with", "response|without"}


def test_outcome_rates_hide_completers_when_few_patients_lack_an_endpoint():
    # Hand-built: 30 eligible, treated patients; 25 have an endpoint, so intention to treat
    # (30) minus completers (25) counts 5 patients without one: the completers rows go.
    # 20 responded: 20 of 30 leaves 10 non-responders, a small cell, so the ITT response
    # row goes too. 0 of 30 deteriorated: shown.
    n = 30
    outcomes = pd.DataFrame(
        {
            "patient_id": [f"P{i:02d}" for i in range(n)],
            "instrument": "PHQ-9",
            "eligible": pd.array([True] * n, dtype="boolean"),
            "completer": pd.array([i < 25 for i in range(n)], dtype="boolean"),
            "n_doses": pd.array([3] * n, dtype="Int64"),
            "response": pd.array([i < 20 for i in range(n)], dtype="boolean"),
            "reliable_deterioration": pd.array([False] * n, dtype="boolean"),
        }
    )
    rates = pd.DataFrame(
        {
            "instrument": "PHQ-9",
            "outcome": ["response", "response", "reliable_deterioration", "reliable_deterioration"],
            "population": ["itt", "completers", "itt", "completers"],
            "k": [20, 20, 0, 0],
            "n": [30, 25, 30, 25],
            "estimate": [20 / 30, 20 / 25, 0.0, 0.0],
            "ci_low": 0.1,
            "ci_high": 0.9,
        }
    )
    out = suppress_outcome_rates(rates, outcomes, k=11)
    assert out["suppressed"].tolist() == [True, True, False, True]
    assert out.attrs["hidden_populations"] == [("PHQ-9", "completers")]


@pytest.mark.parametrize(
    ("note", "discloses"),
    [
        ("61% (95% CI 56% to 66%) of 379 eligible patients (baseline PHQ-9 ≥ 10)", False),
        ("25% of 8 eligible patients", True),  # 8 patients
        ("68% of 19 with less psychotherapy", True),  # 13 of 19: 6 without
        ("19% (95% CI 8.2% to 37%) of 27 patients", True),  # 5 of 27
        ("from 252 patients who responded (PHQ-9; 7 relapses by then)", True),
        ("had at least 2 prior treatment failures (8 had fewer than 6 doses)", True),
        ("a difference of +5 percentage points (95% CI -5 to +15)", False),
        ("Median cost per session $495 over 168 sessions, seed 20240601", False),
        ("cost per PHQ-9 responder $5,646 ($84,690 / 15 responders)", False),
        ("374 of 379 patients", True),  # 5 without
    ],
)
def test_notes_that_state_or_imply_a_small_count_are_found(note: str, discloses: bool):
    assert text_discloses_small_count(note, 11) is discloses


def test_a_note_naming_a_count_hidden_elsewhere_is_found():
    note = "cost per PHQ-9 responder $5,646 ($84,690 / 15 responders)"
    assert text_discloses_small_count(note, 11, hidden_counts={15})
    # 60.9% of 379 allows only 231 (230.6 to 231.0); 61% of 379 allows 230 to 233, so it
    # does not pin a hidden complement of 147.
    assert text_discloses_small_count("60.9% of 379", 11, hidden_counts={231})
    assert not text_discloses_small_count("61% of 379", 11, hidden_counts={147})
    # Responders 15 of 27, hidden because 18 reliably improved contain them (18 - 15 = 3);
    # 14 of 27 shown. 15 (and its 12 without) are not shown anywhere: free text must not
    # state 15. A row hidden for its small numerator (3 of 27) adds nothing: 3 is small.
    rates = pd.DataFrame({"k": [15, 14, 3], "n": [27, 27, 27]})
    assert hidden_rate_counts(rates, rates.assign(suppressed=[True, False, True])) == {15}


def test_claims_are_suppressed_from_their_counts_and_notes_but_keep_the_verdict():
    card = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "quantity": ["response_rate(instrument=PHQ-9, population=itt)", "x", "y", "z"],
            "estimate": [15 / 27, 0.5, 0.2, 5 / 27],
            "ci_low": 0.1,
            "ci_high": 0.9,
            "n": [27, 8, 40, 27],
            "claimed": 0.5,
            "verdict": "supported",
            "note": ["56% of 27", "50% of 8", "20% of 40 (3 relapses)", "19% of 27"],
            "unit": "share",
        }
    )
    out = suppress_claims(card, k=11)
    # a: 15 of 27 (12 without): shown. b: n = 8. c: "3 relapses". d: 5 of 27 implied.
    assert out["suppressed"].tolist() == [False, True, True, True]
    assert out["estimate"].isna().tolist() == [False, True, True, True]
    assert out["n"].tolist()[1] is pd.NA and out["n"].tolist()[2] == 40
    assert out["verdict"].eq("supported").all()
    assert out.loc[1, "note"].startswith("Suppressed under the small-cell rule")
    # The response-rate claim restates the ITT response row: hidden with it.
    rates = pd.DataFrame(
        {
            "instrument": ["PHQ-9"],
            "outcome": ["response"],
            "population": ["itt"],
            "suppressed": [True],
        }
    )
    linked = suppress_linked_claims(out, rates, {}, k=11)
    assert linked["suppressed"].tolist() == [True, True, True, True]
