"""Tests for katoutcomes.claims: the claims file, each decision rule and each claim.

Small cohorts go through the real ingest (``validate_frames`` then ``Dataset.from_result``);
times are study days with the first dose at study day 100 (``t = 0``). PHQ-9 baseline 20;
response is a score <= 10 (a fall of at least 50%), caseness 10 (methods §4). Expected
values are counted by hand in comments; intervals are Wilson (checked against published
values in test_stats.py) unless a comment says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pytest

from conftest import CLAIM_IDS, Score, build
from katoutcomes.claims import (
    CLAIM_COLUMNS,
    QUANTITIES,
    VERDICTS,
    Claim,
    ClaimsFileError,
    claims_to_dict,
    describe_quantities,
    evaluate_claims,
    judge_interval,
    load_claims,
    patients_to_settle,
)
from katoutcomes.dataset import Dataset
from katoutcomes.settings import Settings
from katoutcomes.stats import proportion_ci


def patients_with_response(prefix: str, k: int, n: int) -> list[Score]:
    """``n`` PHQ-9 patients, baseline 20; the first ``k`` respond (8 at t = 28), the
    others do not (16 at t = 28)."""
    scores: list[Score] = []
    for i in range(n):
        pid = f"{prefix}{i:03d}"
        scores += [(pid, "PHQ-9", 0.0, 20.0), (pid, "PHQ-9", 28.0, 8.0 if i < k else 16.0)]
    return scores


def write_claims(folder: Path, text: str, name: str = "claims.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def one_claim(
    quantity: str,
    rule: str,
    *,
    claimed: float | None = None,
    params: str = "",
    min_n: int | None = None,
    margin: float | None = None,
) -> str:
    lines = [
        "[[claims]]",
        'id = "c1"',
        'claim = "test claim"',
        f'quantity = "{quantity}"',
        f'rule = "{rule}"',
    ]
    if claimed is not None:
        lines.append(f"claimed = {claimed}")
    if params:
        lines.append(f"params = {{ {params} }}")
    if min_n is not None:
        lines.append(f"min_n = {min_n}")
    if margin is not None:
        lines.append(f"margin = {margin}")
    return "\n".join(lines) + "\n"


def evaluate_one(data: Dataset, tmp_path: Path, text: str) -> pd.Series:
    card = evaluate_claims(data, claims=write_claims(tmp_path, text))
    assert len(card) == 1
    return card.iloc[0]


# --------------------------------------------------------------------------------------
# The packaged claims on the demo cohort
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return Dataset.demo(patients=400)


@pytest.fixture(scope="module")
def demo_card(demo: Dataset) -> pd.DataFrame:
    return evaluate_claims(demo)


def test_packaged_claims_file_holds_every_claim_of_design_section_6():
    assert [claim.id for claim in load_claims()] == list(CLAIM_IDS)


def test_every_claim_has_a_verdict_on_the_demo_cohort(demo_card):
    assert list(demo_card.columns) == [*CLAIM_COLUMNS, "unit", "direction", "news"]
    assert demo_card["id"].tolist() == list(CLAIM_IDS)
    assert demo_card["verdict"].isin(VERDICTS).all()
    assert demo_card["note"].str.len().gt(40).all()


def test_decided_claims_on_the_demo_cohort_carry_an_interval_around_the_estimate(demo_card):
    decided = demo_card[demo_card["verdict"].isin(["supported", "contradicted", "inconclusive"])]
    assert len(decided) >= 8
    for row in decided.itertuples():
        assert row.ci_low <= row.estimate <= row.ci_high, row.id
        assert row.n >= 10, row.id


def test_demo_response_rate_note_reads_in_plain_words(demo_card):
    note = demo_card.set_index("id").loc["response_rate_phq9", "note"]
    assert "eligible patients" in note and "responded" in note and "95% CI" in note


def test_claims_do_not_modify_the_dataset(demo):
    before = {name: getattr(demo, name).copy() for name in ("assessments", "treatments")}
    evaluate_claims(demo, claims=[c for c in load_claims() if c.id == "cost"])
    for name, frame in before.items():
        pd.testing.assert_frame_equal(getattr(demo, name), frame)


def test_claims_to_dict_gives_json_with_nulls_settings_and_provenance(demo, demo_card):
    out = claims_to_dict(demo_card, Settings(), demo.provenance)
    assert set(out) == {"claims", "settings", "data"}
    assert [c["id"] for c in out["claims"]] == list(CLAIM_IDS)
    assert set(out["claims"][0]) == set(CLAIM_COLUMNS)
    assert out["settings"]["min_n"] == 10
    assert out["data"]["source"] == demo.provenance["source"]
    # Descriptive claims without a claimed value give null, not NaN.
    monitoring = next(c for c in out["claims"] if c["id"] == "monitoring")
    assert monitoring["claimed"] is None
    assert isinstance(monitoring["n"], int)
    json.dumps(out, allow_nan=False)


def test_describe_quantities_lists_every_registered_quantity():
    table = describe_quantities()
    assert table["quantity"].tolist() == list(QUANTITIES)
    assert "time=84" in table.set_index("quantity").loc["event_probability", "params"]
    assert table.set_index("quantity")["unit"].to_dict() == {
        name: spec.unit for name, spec in QUANTITIES.items()
    }


def test_every_quantity_has_a_unit_that_matches_its_kind():
    # Shares and probabilities are shown as percentages, differences in percentage
    # points; the two "value" quantities are in mg/kg and US dollars.
    expected = {"share": {"share"}, "probability": {"share"}, "difference": {"difference"}}
    for name, spec in QUANTITIES.items():
        assert spec.unit in expected.get(spec.kind, {"mg/kg", "usd"}), name
    assert QUANTITIES["first_dose_mg_per_kg"].unit == "mg/kg"
    assert QUANTITIES["median_session_cost"].unit == "usd"


def test_the_scorecard_unit_is_the_quantity_unit_on_every_row(demo_card):
    units = {claim.id: QUANTITIES[claim.quantity].unit for claim in load_claims()}
    assert demo_card.set_index("id")["unit"].to_dict() == units


# --------------------------------------------------------------------------------------
# Decision rules on a response rate of 24/30
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rate_24_of_30() -> Dataset:
    # ITT PHQ-9 response 24/30 = 0.80, Wilson 95% CI 0.6269 to 0.9049.
    return build(patients_with_response("P", 24, 30))


@pytest.mark.parametrize(
    ("rule", "claimed", "margin", "verdict", "phrase"),
    # The interval is 62.7% to 90.5%.
    [
        # Band 60%-100% (0.8 ± 0.2): the interval lies inside it.
        ("two_sided", 0.8, 0.2, "supported", "lies inside 60% to 100%"),
        # Band 70%-90% (default margin 0.10): the interval reaches outside it on both sides
        # and merely contains 80%: not support. At 80%, N(0.9) = 3.841459 * 0.9 * 0.1 /
        # 0.01 = 34.57 and N(0.7) = 3.841459 * 0.21 / 0.01 = 80.67: 81 patients.
        ("two_sided", 0.8, None, "inconclusive", "about 81 eligible patients in all (now 30)"),
        # Band 40%-60%: 62.7% > 60%, wholly above.
        ("two_sided", 0.5, None, "contradicted", "the clinic does better than claimed"),
        # Band 93%-103%: 90.5% < 93%, wholly below.
        ("two_sided", 0.98, 0.05, "contradicted", "the clinic does worse than claimed"),
        ("above", 0.5, None, "supported", "wholly above 50%"),
        ("above", 0.95, None, "contradicted", "wholly below 95%"),
        ("above", 0.7, None, "inconclusive", "includes 70%"),
        ("below", 0.95, None, "supported", "wholly below the claimed 95%"),
        ("below", 0.6, None, "contradicted", "at or above the claimed 60%"),
        ("below", 0.7, None, "inconclusive", "includes the claimed 70%"),
        ("descriptive", None, None, "descriptive", "80.0%"),
    ],
)
def test_each_rule_decides_as_documented(
    rate_24_of_30, tmp_path, rule, claimed, margin, verdict, phrase
):
    text = one_claim("response_rate", rule, claimed=claimed, margin=margin)
    row = evaluate_one(rate_24_of_30, tmp_path, text)
    assert row["verdict"] == verdict
    assert phrase in row["note"]
    assert (row["estimate"], row["n"]) == (pytest.approx(0.8), 30)
    assert row["ci_low"] == pytest.approx(0.626943, abs=1e-6)
    assert row["ci_high"] == pytest.approx(0.904949, abs=1e-6)


def test_fewer_patients_than_min_n_is_inconclusive(tmp_path):
    # 3/4 responders; min_n defaults to 10.
    data = build(patients_with_response("P", 3, 4))
    row = evaluate_one(data, tmp_path, one_claim("response_rate", "two_sided", claimed=0.5))
    assert row["verdict"] == "inconclusive"
    assert row["n"] == 4
    assert "fewer patients than the minimum of 10" in row["note"]


def test_min_n_comes_from_the_claim_or_else_from_the_settings(rate_24_of_30, tmp_path):
    text = one_claim("response_rate", "two_sided", claimed=0.8, min_n=31)
    assert evaluate_one(rate_24_of_30, tmp_path, text)["verdict"] == "inconclusive"
    card = evaluate_claims(
        rate_24_of_30,
        Settings(min_n=31),
        write_claims(tmp_path, one_claim("response_rate", "two_sided", claimed=0.8)),
    )
    assert card["verdict"].iloc[0] == "inconclusive"


def test_a_custom_claims_file_with_another_p0_changes_the_verdict(demo, demo_card, tmp_path):
    # The packaged claim (p0 = 0.50, band 40%-60%) against the same claim with p0 = 0.60
    # (band 50%-70%), which holds the demo's interval (about 53% to 63%).
    packaged = demo_card.set_index("id").loc["response_rate_phq9"]
    assert packaged["ci_low"] > 0.5 and packaged["ci_high"] > 0.6
    assert packaged["verdict"] == "inconclusive"
    text = 'title = "Another article"\n' + one_claim(
        "response_rate", "two_sided", claimed=0.6, params='instrument = "phq9"'
    )
    row = evaluate_one(demo, tmp_path, text)
    assert row["verdict"] == "supported"
    assert row["estimate"] == pytest.approx(packaged["estimate"])
    assert row["quantity"] == "response_rate(instrument=PHQ-9, population=itt)"


# --------------------------------------------------------------------------------------
# Difference rules: psychotherapy and SSRI
# --------------------------------------------------------------------------------------


def split_cohort(k_yes: int, n_yes: int, k_no: int, n_no: int, by: str) -> Dataset:
    """Patients Y* (attribute yes) and N* (no); psychotherapy is given at every dose of Y*
    patients and none of N*, SSRI use is recorded in the patients table."""
    scores = patients_with_response("Y", k_yes, n_yes) + patients_with_response("N", k_no, n_no)
    ids = list(dict.fromkeys(p for p, *_ in scores))
    doses = [{"patient_id": p, "t": 0.0, "psychotherapy": p[0] == "Y"} for p in ids]
    patients = [{"patient_id": p, "concurrent_ssri": p[0] == "Y"} for p in ids]
    return build(scores, doses, patients=patients if by == "ssri" else None)


@pytest.mark.parametrize(
    ("by", "counts", "rule", "verdict"),
    # Newcombe 1998 (Stat Med 17:873, Table II, method 10): 56/70 - 48/80 = 0.2,
    # 95% CI 0.0524 to 0.3339; reversed, -0.3339 to -0.0524; 5/10 - 5/10 = 0, CI
    # -0.3725 to 0.3725 (hand: the two Wilson half-widths combined).
    [
        ("psychotherapy", (56, 70, 48, 80), "difference_positive", "supported"),
        ("psychotherapy", (48, 80, 56, 70), "difference_positive", "contradicted"),
        ("psychotherapy", (5, 10, 5, 10), "difference_positive", "inconclusive"),
        ("ssri", (56, 70, 48, 80), "difference_nonzero", "supported"),
        ("ssri", (48, 80, 56, 70), "difference_nonzero", "supported"),
        ("ssri", (5, 10, 5, 10), "difference_nonzero", "inconclusive"),
    ],
)
def test_difference_rules_use_the_newcombe_interval(tmp_path, by, counts, rule, verdict):
    k_yes, n_yes, k_no, n_no = counts
    data = split_cohort(*counts, by=by)
    text = one_claim("response_difference", rule, params=f'by = "{by}"')
    row = evaluate_one(data, tmp_path, text)
    assert row["verdict"] == verdict
    assert row["n"] == n_yes + n_no
    assert row["estimate"] == pytest.approx(k_yes / n_yes - k_no / n_no)
    if counts == (56, 70, 48, 80):
        assert row["ci_low"] == pytest.approx(0.0524, abs=5e-5)
        assert row["ci_high"] == pytest.approx(0.3339, abs=5e-5)


def test_packaged_psychotherapy_and_ssri_claims_read_their_columns(tmp_path):
    data = split_cohort(56, 70, 48, 80, by="ssri")
    claims = [c for c in load_claims() if c.id in ("psychotherapy_integration", "ssri_interaction")]
    card = evaluate_claims(data, claims=claims).set_index("id")
    assert card.loc["psychotherapy_integration", "verdict"] == "supported"
    assert card.loc["ssri_interaction", "verdict"] == "supported"
    assert "on an SSRI" in card.loc["ssri_interaction", "note"]


# --------------------------------------------------------------------------------------
# Claim by claim
# --------------------------------------------------------------------------------------


def packaged(data: Dataset, claim_id: str, settings: Settings | None = None) -> pd.Series:
    claims = [c for c in load_claims() if c.id == claim_id]
    return evaluate_claims(data, settings, claims=claims).iloc[0]


def test_response_rate_gad7_is_not_measurable_without_gad7_assessments(rate_24_of_30):
    row = packaged(rate_24_of_30, "response_rate_gad7")
    assert row["verdict"] == "not_measurable"
    assert "no GAD-7 assessments" in row["note"]
    assert pd.isna(row["n"]) and math.isnan(row["estimate"])


def onset_cohort(n_within_day: int, improved: int, n_within_week: int) -> Dataset:
    """Baseline 20. ``n_within_day`` patients assessed 6 hours after the first dose
    (t = 0.25), the first ``improved`` of them with 16 (a fall of 20%: 16 <= 0.8 * 20),
    the others 18. ``n_within_week`` more patients first assessed at t = 3 (15: improved)."""
    scores: list[Score] = []
    for i in range(n_within_day):
        pid = f"H{i:03d}"
        scores += [(pid, "PHQ-9", 0.0, 20.0), (pid, "PHQ-9", 0.25, 16.0 if i < improved else 18.0)]
    for i in range(n_within_week):
        pid = f"W{i:03d}"
        scores += [(pid, "PHQ-9", 0.0, 20.0), (pid, "PHQ-9", 3.0, 15.0)]
    return build(scores)


def test_rapid_onset_counts_patients_assessed_within_a_day():
    # 12 assessed at 6 hours, 9 improved by >= 20%: 9/12 = 0.75, Wilson 0.4677 to 0.9111.
    # It reaches outside the band 40%-60% but not wholly: inconclusive (containing 0.5
    # is not support). The 5 patients first seen at day 3 are not counted. At 75%, the
    # interval would clear 60% once n > N(0.6) = 3.841459 * 0.6 * 0.4 / 0.15^2 = 40.98:
    # 41 patients.
    row = packaged(onset_cohort(12, 9, 5), "rapid_onset")
    assert (row["estimate"], row["n"]) == (pytest.approx(0.75), 12)
    assert row["ci_low"] == pytest.approx(0.467695, abs=1e-6)
    assert row["verdict"] == "inconclusive"
    assert "about 41 eligible patients in all (now 12) would likely settle it" in row["note"]
    assert "widened" not in row["note"]


def test_rapid_onset_widens_to_a_week_when_too_few_were_assessed_within_a_day():
    # Only 3 assessed within a day (2 improved); within 7 days 3 + 9 = 12, improved
    # 2 + 9 = 11: 11/12.
    row = packaged(onset_cohort(3, 2, 9), "rapid_onset")
    assert (row["estimate"], row["n"]) == (pytest.approx(11 / 12), 12)
    assert "Only 3 patients (fewer than 10)" in row["note"]
    assert "widened to 7 days" in row["note"]


def test_rapid_onset_follows_the_early_improvement_setting():
    # With early_improvement = 0.25 a 20% fall (16 from 20) is not enough: 16 > 0.75 * 20
    # = 15. None of the 12 assessed within a day improved: 0/12.
    row = packaged(onset_cohort(12, 9, 5), "rapid_onset", Settings(early_improvement=0.25))
    assert (row["estimate"], row["n"]) == (0.0, 12)
    assert "at least 25%" in row["note"]


def test_rapid_onset_windows_include_their_last_day():
    # 10 patients assessed exactly at t = 1 (16: improved) are within (0, 1]: 10/10.
    scores: list[Score] = []
    for i in range(10):
        scores += [(f"D{i}", "PHQ-9", 0.0, 20.0), (f"D{i}", "PHQ-9", 1.0, 16.0)]
    row = packaged(build(scores), "rapid_onset")
    assert (row["estimate"], row["n"]) == (1.0, 10)
    # Nobody within a day: the week (0, 7] counts t = 7 (improved, 10 patients) but not
    # t = 7.25 (2 more patients, improved too, left out): 10/10.
    scores = []
    for i in range(10):
        scores += [(f"W{i}", "PHQ-9", 0.0, 20.0), (f"W{i}", "PHQ-9", 7.0, 16.0)]
    for i in range(2):
        scores += [(f"L{i}", "PHQ-9", 0.0, 20.0), (f"L{i}", "PHQ-9", 7.25, 16.0)]
    row = packaged(build(scores), "rapid_onset")
    assert (row["estimate"], row["n"]) == (1.0, 10)
    assert "widened to 7 days" in row["note"]


def test_rapid_onset_is_not_measurable_without_doses():
    data = build([("P001", "PHQ-9", 0.0, 20.0), ("P001", "PHQ-9", 0.25, 12.0)], doses=[])
    row = packaged(data, "rapid_onset")
    assert row["verdict"] == "not_measurable"
    assert "treatments table" in row["note"]


def relapse_cohort(n_relapse: int, n_durable: int, follow_up: float = 100.0) -> Dataset:
    """Responders at t = 7 (8 points); ``n_relapse`` relapse at t = 21 (15 and 16 at 21
    and 28: 14 days after the first response); ``n_durable`` are 8 at ``follow_up`` and
    ``follow_up + 7``, censored at the second-to-last assessment after the response,
    ``follow_up - 7`` days after it."""
    scores: list[Score] = []
    for i in range(n_relapse):
        pid = f"R{i:03d}"
        scores += [(pid, "PHQ-9", t, s) for t, s in ((0, 20), (7, 8), (21, 15), (28, 16))]
    for i in range(n_durable):
        pid = f"D{i:03d}"
        visits = ((0, 20), (7, 8), (follow_up, 8), (follow_up + 7, 8))
        scores += [(pid, "PHQ-9", t, s) for t, s in visits]
    return build(scores)


@pytest.mark.parametrize(
    ("n_relapse", "n_durable", "claim_id", "estimate", "low", "high", "verdict"),
    # By hand: 30 responders, 25 relapse at 14 days, 5 censored at 193:
    #   S(84) = 5/30 = 1/6; V = 25/(30*5) = 1/6, se(log S) = 0.4082483, z*se = 0.8001519,
    #   exp(0.8001519) = 2.2258791; S interval = (1/6) / 2.2258791 = 0.0748768 to
    #   (1/6) * 2.2258791 = 0.3709799; relapse by 84 days = 1 - S = 0.8333333 with
    #   CI 1 - 0.3709799 = 0.6290201 to 1 - 0.0748768 = 0.9251232: above 0.5.
    # 30 responders, 5 relapse, 25 censored: S = 25/30; V = 5/(30*25), se = 0.0816497,
    #   z*se = 0.1600304, exp = 1.1735465; S interval 0.7100982 to 0.9779554;
    #   1 - S = 0.1666667, CI 0.0220446 to 0.2899018: wholly below 0.5.
    [
        (25, 5, "transient_effects", 5 / 6, 0.6290201, 0.9251232, "supported"),
        (5, 25, "transient_effects", 1 / 6, 0.0220446, 0.2899018, "contradicted"),
        # No relapse 182 days after a first response: the same curves (last follow-up
        # 193 days).
        (5, 25, "durable_after_course", 5 / 6, 0.7100982, 0.9779554, "supported"),
        (25, 5, "durable_after_course", 1 / 6, 0.0748768, 0.3709799, "contradicted"),
    ],
)
def test_relapse_claims_read_the_kaplan_meier_curve(
    n_relapse, n_durable, claim_id, estimate, low, high, verdict
):
    row = packaged(relapse_cohort(n_relapse, n_durable, follow_up=200.0), claim_id)
    assert row["verdict"] == verdict
    assert row["n"] == 30
    assert row["estimate"] == pytest.approx(estimate)
    assert row["ci_low"] == pytest.approx(low, abs=1e-7)
    assert row["ci_high"] == pytest.approx(high, abs=1e-7)


def test_a_time_beyond_the_last_follow_up_is_not_estimated():
    # Last follow-up 60 - 7 = 53 days after the first response, short of 84.
    row = packaged(relapse_cohort(5, 25, follow_up=60.0), "transient_effects")
    assert row["verdict"] == "inconclusive"
    assert math.isnan(row["estimate"])
    assert "53 days, short of 84 days" in row["note"]


def test_when_every_responder_relapses_the_curve_is_zero_not_unknown():
    # 30 responders at t = 7, all relapse at t = 21 (14 days later) and are followed to
    # t = 28. S = 0 from 14 days on, so relapse by 84 days is 100% and no relapse at 182
    # days 0%, but the log-scale interval is not defined at S = 0: no verdict.
    for claim_id, estimate in (("transient_effects", 1.0), ("durable_after_course", 0.0)):
        row = packaged(relapse_cohort(30, 0), claim_id)
        assert (row["verdict"], row["n"], row["estimate"]) == ("inconclusive", 30, estimate)
        assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
        assert "every one had a relapse within 14 days of a first response" in row["note"]
        assert "short of" not in row["note"]


def test_a_contradicted_claim_says_which_way_the_data_lie(rate_24_of_30):
    # 24 of 30 responded (80%, CI 62.7% to 90.5%) against a claimed 50% (band 40%-60%):
    # contradicted, the clinic does better, which is good news for patients.
    card = evaluate_claims(rate_24_of_30).set_index("id")
    assert card.loc["response_rate_phq9", ["verdict", "direction", "news"]].tolist() == [
        "contradicted",
        "better than claimed",
        "good",
    ]
    assert card.loc["response_rate_gad7", "direction"] == ""  # not measurable: no side
    # Relapse by 84 days 1/6, wholly below the claimed "above 50%": fewer relapses than
    # claimed, which is better; no relapse at 182 days 1/6 below 50%: worse.
    assert packaged(relapse_cohort(5, 25, follow_up=200.0), "transient_effects")["direction"] == (
        "better than claimed"
    )
    assert packaged(relapse_cohort(25, 5, follow_up=200.0), "durable_after_course")[
        "direction"
    ] == ("worse than claimed")


def test_relapse_claims_with_too_few_responders_are_inconclusive():
    row = packaged(relapse_cohort(2, 3, follow_up=200.0), "durable_after_course")
    assert row["verdict"] == "inconclusive" and row["n"] == 5


def dosing_cohort(schedules: Mapping[str, Sequence[float]], **columns: Sequence[object]) -> Dataset:
    """PHQ-9 baseline 20 and 8 at t = 28 for every patient; doses on the given days, with
    per-dose ``columns`` in the order of the schedules."""
    scores: list[Score] = []
    doses: list[dict[str, object]] = []
    for pid, days in schedules.items():
        scores += [(pid, "PHQ-9", 0.0, 20.0), (pid, "PHQ-9", 28.0, 8.0)]
        doses += [{"patient_id": pid, "t": float(t)} for t in days]
    for name, values in columns.items():
        for dose, value in zip(doses, values, strict=True):
            dose[name] = value
    return build(scores, doses)


def test_induction_counts_the_sixth_dose_within_21_days_of_the_first():
    # P001: 6th dose on day 21 (counts, <= 21); P002: 6th on day 25; P003: 3 doses only.
    data = dosing_cohort(
        {
            "P001": [0, 3, 7, 10, 14, 21],
            "P002": [0, 5, 10, 15, 20, 25],
            "P003": [0, 3, 7],
        }
    )
    row = packaged(data, "induction_protocol", Settings(min_n=1))
    assert row["verdict"] == "descriptive"
    assert (row["estimate"], row["n"]) == (pytest.approx(1 / 3), 3)
    # Wilson 1/3: 0.0615 to 0.7923 (descriptive claims still carry the interval).
    assert row["ci_low"] == pytest.approx(0.061492, abs=1e-6)
    assert "1 had fewer than 6 doses" in row["note"]


@pytest.mark.parametrize(
    ("with_event", "n", "verdict"),
    # 12 patients, 6 with an event: 0.5, Wilson 0.2538 to 0.7462: ci_low >= 0.01 ->
    # contradicted. 1 of 600: p = 1/600, z^2/n = 3.841459/600 = 0.0064024; Wilson upper
    # (p + z^2/2n + z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    # = (0.0016667 + 0.0032012 + 1.959964 * 0.0023320) / 1.0064024 = 0.009380 < 0.01 ->
    # supported. 1 of 5 patients: fewer than 10 -> inconclusive.
    [(6, 12, "contradicted"), (1, 600, "supported"), (1, 5, "inconclusive")],
)
def test_side_effects_rule_is_ci_high_below_one_percent(with_event, n, verdict):
    codes = ["nausea", "vomiting", "dizziness", "dissociation", "headache", "sedation"]
    schedules = {f"P{i:03d}": [0.0] for i in range(n)}
    data = dosing_cohort(schedules, adverse_events=codes[:with_event] + [None] * (n - with_event))
    row = packaged(data, "side_effects")
    assert (row["verdict"], row["n"]) == (verdict, n)
    assert row["estimate"] == pytest.approx(with_event / n)


@pytest.mark.parametrize("column", ["absent", "blank"])
def test_side_effects_are_not_measurable_when_no_adverse_event_is_recorded(column):
    # 400 treated patients and not one adverse event recorded: 0/400 would give a Wilson
    # upper limit of 0.0095 and "supported", from silence. Absent and blank columns cannot
    # tell "none occurred" from "not recorded" (methods §10.2: data the claim lacks).
    schedules = {f"P{i:03d}": [0.0] for i in range(400)}
    columns = {} if column == "absent" else {"adverse_events": [""] * 400}
    row = packaged(dosing_cohort(schedules, **columns), "side_effects")
    assert row["verdict"] == "not_measurable"
    assert "no treatment row records an adverse event" in row["note"]


def test_repeated_adverse_event_codes_count_in_every_patient():
    data = dosing_cohort({f"P{i:03d}": [0.0] for i in range(12)}, adverse_events=["nausea"] * 12)
    assert packaged(data, "side_effects")["estimate"] == 1.0


def test_dose_is_the_median_first_dose_in_mg_per_kg():
    # Weights 80 kg; first doses 40, 40, 44, 48 mg -> 0.50, 0.50, 0.55, 0.60 mg/kg, and
    # the same patients' second doses 60 mg. Median (0.50 + 0.55)/2 = 0.525 mg/kg.
    # Doses within 50-100 mg: the four 60 mg doses of 8 -> 50%.
    schedules = {f"P{i:03d}": [0.0, 7.0] for i in range(4)}
    data = dosing_cohort(
        schedules,
        dose_mg=[40, 60, 40, 60, 44, 60, 48, 60],
        weight_kg=[80, None, 80, None, 80, None, 80, None],
    )
    row = packaged(data, "dose", Settings(min_n=1))
    assert row["verdict"] == "descriptive"
    assert (row["estimate"], row["n"], row["claimed"]) == (pytest.approx(0.525), 4, 0.507)
    assert "50.0% of 8 doses" in row["note"] and "0.507 mg/kg" in row["note"]


def test_dose_leaves_out_patients_whose_first_dose_has_no_mg():
    # P000's first dose (t = 0) has no dose_mg; its 100 mg dose at t = 7 is not a first
    # dose. Only P001's 40 mg / 80 kg = 0.5 mg/kg remains: median 0.5, n = 1.
    data = dosing_cohort(
        {"P000": [0.0, 7.0], "P001": [0.0]},
        dose_mg=[None, 100, 40],
        weight_kg=[80, 80, 80],
    )
    row = packaged(data, "dose", Settings(min_n=1))
    assert (row["estimate"], row["n"]) == (pytest.approx(0.5), 1)
    assert "left out: 1 patient whose first dose has no dose_mg" in row["note"]
    # Three decimals, as in the CLI table, the report and the dashboard.
    assert "Median first dose 0.500 mg/kg" in row["note"]


def test_dose_is_not_measurable_when_no_first_dose_has_mg():
    # Every first treatment lacks dose_mg (only the second doses have 100 mg): no first
    # dose is known, which is not a median of nothing.
    data = dosing_cohort(
        {f"P{i:03d}": [0.0, 7.0] for i in range(12)},
        dose_mg=[None, 100] * 12,
        weight_kg=[80, 80] * 12,
    )
    row = packaged(data, "dose")
    assert row["verdict"] == "not_measurable"
    assert "no first dose is known" in row["note"] and "nan" not in row["note"]


def test_dose_counts_the_safety_population_eligible_or_not():
    # P1 is eligible (20) but has no dose; the one dose belongs to P2, whose baseline 5 is
    # below caseness. The dose claim uses the safety population (every patient with a
    # recorded dose, methods §10.5), so P2 counts: 40 mg / 80 kg = 0.5 mg/kg, n = 1 (fewer
    # than 10: inconclusive). Restricted to intention to treat, nobody is left: n = 0.
    scores = [("P1", "PHQ-9", 0.0, 20.0), ("P1", "PHQ-9", 10.0, 8.0)]
    scores += [("P2", "PHQ-9", 0.0, 5.0), ("P2", "PHQ-9", 10.0, 3.0)]
    data = build(scores, [{"patient_id": "P2", "t": 0.0, "dose_mg": 40, "weight_kg": 80}])
    row = packaged(data, "dose")
    assert (row["verdict"], row["n"], row["estimate"]) == ("inconclusive", 1, 0.5)
    assert row["population"].startswith("safety population")
    (claim,) = [c for c in load_claims() if c.id == "dose"]
    itt = dataclasses.replace(claim, params={**claim.params, "population": "itt"})
    row = evaluate_claims(data, claims=[itt]).iloc[0]
    assert (row["verdict"], row["n"]) == ("inconclusive", 0)
    assert row["note"].startswith("No first dose in mg/kg: no eligible patients")


def test_dose_is_not_measurable_without_weights():
    data = dosing_cohort({"P001": [0.0]}, dose_mg=[50])
    row = packaged(data, "dose")
    assert row["verdict"] == "not_measurable"
    assert "weight_kg" in row["note"]
    # The claimed 0.507 is in mg/kg even though nothing could be measured: a display
    # must not show it as 50.7%.
    assert (row["unit"], row["claimed"]) == ("mg/kg", 0.507)


def test_not_measurable_rows_carry_the_unit_of_their_quantity():
    # No treatments table: six treatment claims and the GAD-7 rate are not measurable.
    card = evaluate_claims(build(patients_with_response("P", 6, 12), doses=[]))
    quantity = {claim.id: claim.quantity for claim in load_claims()}
    missing = card[card["verdict"] == "not_measurable"]
    assert len(missing) >= 7
    for row in missing.itertuples():
        assert row.unit == QUANTITIES[quantity[row.id]].unit, row.id
    assert missing.set_index("id").loc["cost", "unit"] == "usd"


def test_monitoring_n_counts_patients_so_two_patients_with_16_sessions_are_inconclusive():
    # P001: 8 sessions, all >= 120 minutes (120 counts); P002: 8 sessions, 4 of them.
    # Share of sessions 12/16 = 0.75, but n = 2 patients < min_n 10 -> inconclusive.
    # Interval clustered by patient: residuals k_i - p m_i = 8 - 6 = 2 and 4 - 6 = -2;
    # V = G/(G-1) * (4 + 4) / M^2 = 2 * 8 / 256 = 0.0625; binomial p(1-p)/M = 0.1875/16
    # = 0.01171875, deff = 5.3333, n_eff = 16 / 5.3333 = 3. Wilson with p = 0.75, n = 3,
    # z^2 = 3.8414588: shrink = 1 + z^2/3 = 2.2804863; centre = (0.75 + 0.6402431) /
    # 2.2804863 = 0.6096257; half = z / shrink * sqrt(0.0625 + z^2/36)
    # = 0.8594500 * sqrt(0.1692072) = 0.3535331: 0.2560927 to 0.9631588 (the Wilson
    # interval of 12/16 sessions taken as independent would be 0.5050 to 0.8983).
    p001 = [120, 150, 180, 121, 130, 125, 240, 200]
    p002 = [90, 60, 119, 150, 125, 130, 200, 10]
    minutes = [*p001, *p002]
    data = dosing_cohort({"P001": range(8), "P002": range(8)}, monitoring_minutes=minutes)
    row = packaged(data, "monitoring")
    assert (row["verdict"], row["n"]) == ("inconclusive", 2)
    assert row["estimate"] == pytest.approx(0.75)
    assert row["ci_low"] == pytest.approx(0.2560927, abs=1e-7)
    assert row["ci_high"] == pytest.approx(0.9631588, abs=1e-7)
    assert "of 16 sessions with a recorded monitoring time, from 2 " in row["note"]
    assert "fewer patients than the minimum of 10" in row["note"]


def test_monitoring_share_counts_sessions_with_a_recorded_time_and_explains_the_interval():
    # P001: 4 sessions, all >= 120 minutes; P002: 2 of 4 (and a fifth without a time);
    # P003: 0 of 2. 6 of 10 recorded sessions = 0.6 over 3 patients. By hand (as in
    # test_cohort.py): V = 1.5 * (1.6^2 + 0.4^2 + 1.2^2) / 10^2 = 0.0624, SE 25.0%,
    # deff 2.6, n_eff 3.85, Wilson interval 0.2001396 to 0.8999215.
    minutes = [*(120, 150, 180, 240), *(130, 125, 90, 60, None), *(100, 30)]
    data = dosing_cohort(
        {"P001": range(4), "P002": range(5), "P003": range(2)}, monitoring_minutes=minutes
    )
    row = packaged(data, "monitoring", Settings(min_n=3))
    assert (row["verdict"], row["n"]) == ("descriptive", 3)
    assert row["estimate"] == pytest.approx(0.6)
    assert row["ci_low"] == pytest.approx(0.2001396, abs=1e-7)
    assert row["ci_high"] == pytest.approx(0.8999215, abs=1e-7)
    note = row["note"]
    assert "60.0% (95% CI 20.0% to 90.0%) of 10 sessions" in note
    assert "1 session without a recorded time" in note
    assert "cluster-robust" in note and "design effect of 2.60" in note
    assert "effective 4 sessions" in note


def test_monitoring_is_not_measurable_without_monitoring_times():
    row = packaged(dosing_cohort({"P001": [0.0]}), "monitoring")
    assert row["verdict"] == "not_measurable"
    assert "monitoring_minutes" in row["note"]


def gad_cohort(resistant: int, not_resistant: int) -> Dataset:
    scores = patients_with_response("G", 0, resistant + not_resistant)
    scores += patients_with_response("M", 0, 3)
    ids = list(dict.fromkeys(p for p, *_ in scores))
    patients = [
        {
            "patient_id": p,
            "primary_diagnosis": "GAD" if p[0] == "G" else "MDD",
            "prior_treatment_failures": 2 if p[0] == "G" and int(p[1:]) < resistant else 0,
        }
        for p in ids
    ]
    return build(scores, patients=patients)


@pytest.mark.parametrize(
    ("resistant", "others", "verdict"),
    # 6/12 = 0.5 (CI 0.25 to 0.75): reaches outside the band 40%-60% -> inconclusive;
    # 12/12 (CI 0.7575 to 1) -> wholly above 60%, contradicted; 50/100 (CI 0.4038 to
    # 0.5962) -> inside, supported; 2/4 -> fewer than 10 -> inconclusive. The MDD patients
    # never count.
    [
        (6, 6, "inconclusive"),
        (12, 0, "contradicted"),
        (50, 50, "supported"),
        (2, 2, "inconclusive"),
    ],
)
def test_gad_treatment_resistance_against_one_half(resistant, others, verdict):
    row = packaged(gad_cohort(resistant, others), "gad_treatment_resistance")
    assert (row["verdict"], row["n"]) == (verdict, resistant + others)


def test_gad_treatment_resistance_is_not_measurable_without_gad_diagnoses():
    scores = patients_with_response("M", 0, 3)
    patients = [{"patient_id": f"M{i:03d}", "primary_diagnosis": "MDD"} for i in range(3)]
    row = packaged(build(scores, patients=patients), "gad_treatment_resistance")
    assert row["verdict"] == "not_measurable"
    assert "primary_diagnosis GAD" in row["note"]


def test_trd_response_is_the_response_rate_of_patients_with_two_failures():
    # 10 TRD patients (2 failures), 7 responders; 5 others with 1 failure, all responders.
    scores = patients_with_response("T", 7, 10) + patients_with_response("O", 5, 5)
    ids = list(dict.fromkeys(p for p, *_ in scores))
    patients = [{"patient_id": p, "prior_treatment_failures": 2 if p[0] == "T" else 1} for p in ids]
    row = packaged(build(scores, patients=patients), "trd_response")
    assert (row["verdict"], row["n"]) == ("descriptive", 10)
    assert row["estimate"] == pytest.approx(0.7)


def test_cost_reports_the_median_session_and_the_cost_per_responder():
    # 10 patients, two sessions each at $300 and $500: median (300 + 500)/2 = $400; the
    # 20 sessions total $8,000; 4 responders -> $2,000 per responder. n = 10 patients.
    # Every patient has the same two costs, so every resample of patients has median
    # $400: the cluster bootstrap interval is $400 to $400.
    scores = patients_with_response("P", 4, 10)
    ids = list(dict.fromkeys(p for p, *_ in scores))
    doses = [
        {"patient_id": p, "t": t, "cost_usd": cost} for p in ids for t, cost in ((0, 300), (7, 500))
    ]
    row = packaged(build(scores, doses), "cost")
    assert (row["verdict"], row["estimate"], row["n"]) == ("descriptive", 400.0, 10)
    assert (row["ci_low"], row["ci_high"]) == (400.0, 400.0)
    assert "over 20 sessions with a recorded cost, from 10 " in row["note"]
    assert "$2,000" in row["note"] and "$8,000" in row["note"]
    assert "bootstrap resampling patients" in row["note"] and "2,000 resamples" in row["note"]


def test_cost_interval_resamples_patients_and_n_counts_patients():
    # Three patients with 20 sessions each at $100, $200 and $300. n = 3 patients < 10 ->
    # inconclusive, although there are 60 sessions. A resample of three patients has as
    # median the cost of its middle patient: $100 with probability 7/27 (at least two
    # draws of the first), $300 likewise, so the 95% interval is $100 to $300. (The
    # order-statistic interval of 60 independent sessions would be $200 to $200.)
    schedules = {f"P{i:03d}": range(20) for i in range(3)}
    data = dosing_cohort(schedules, cost_usd=[100] * 20 + [200] * 20 + [300] * 20)
    row = packaged(data, "cost")
    assert (row["verdict"], row["n"], row["estimate"]) == ("inconclusive", 3, 200.0)
    assert (row["ci_low"], row["ci_high"]) == (100.0, 300.0)
    assert "over 60 sessions with a recorded cost, from 3 " in row["note"]


@pytest.mark.parametrize(
    "claim_id",
    ["induction_protocol", "side_effects", "dose", "monitoring", "cost", "rapid_onset"],
)
def test_treatment_claims_are_not_measurable_without_a_treatments_table(claim_id):
    data = build(patients_with_response("P", 6, 12), doses=[])
    row = packaged(data, claim_id)
    assert row["verdict"] == "not_measurable"
    assert "no treatments table" in row["note"]


@pytest.mark.parametrize(
    ("claim_id", "missing"),
    [
        ("gad_treatment_resistance", "no patients table"),
        ("ssri_interaction", "no patients table (needed for concurrent_ssri)"),
        ("trd_response", "no patients table (needed for prior_treatment_failures)"),
        ("psychotherapy_integration", "no treatment row has a psychotherapy value"),
    ],
)
def test_patient_claims_name_what_is_missing(claim_id, missing):
    row = packaged(build(patients_with_response("P", 6, 12)), claim_id)
    assert row["verdict"] == "not_measurable"
    assert missing in row["note"].lower()


def test_without_treatments_the_response_rate_uses_every_eligible_patient(tmp_path):
    data = build(patients_with_response("P", 6, 12), doses=[])
    row = packaged(data, "response_rate_phq9")
    assert (row["estimate"], row["n"]) == (pytest.approx(0.5), 12)
    assert "who started treatment" not in row["note"]


def test_a_claim_can_be_passed_as_loaded_claims_with_changed_parameters(rate_24_of_30):
    (claim,) = [c for c in load_claims() if c.id == "response_rate_phq9"]
    # 24/30, CI 62.7% to 90.5%: inside 0.8 ± 0.2, not inside 0.8 ± 0.1.
    changed = dataclasses.replace(claim, claimed=0.8, margin=0.2)
    assert evaluate_claims(rate_24_of_30, claims=[changed])["verdict"].iloc[0] == "supported"
    changed = dataclasses.replace(claim, claimed=0.8)
    assert evaluate_claims(rate_24_of_30, claims=[changed])["verdict"].iloc[0] == "inconclusive"


# --------------------------------------------------------------------------------------
# Malformed claims files
# --------------------------------------------------------------------------------------

VALID = one_claim("response_rate", "two_sided", claimed=0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VALID.replace("response_rate", "response_rat"), "unknown quantity 'response_rat'"),
        (VALID.replace("two_sided", "two-sided"), "unknown rule 'two-sided'"),
        (VALID.replace('claim = "test claim"\n', ""), "missing required key.s. claim"),
        (VALID + VALID, "duplicate id 'c1'"),
        (VALID.replace("claimed", "claimd"), "unknown key.s. claimd"),
        (VALID.replace("claimed = 0.5\n", ""), "rule two_sided needs a claimed value"),
        (VALID + 'params = { instrumnt = "PHQ-9" }\n', "unknown parameter 'instrumnt'"),
        (VALID + 'params = { instrument = "HADS" }\n', "instrument = 'HADS' is not one of"),
        (
            one_claim("event_probability", "above", claimed=0.5, params='time = "84"'),
            "parameter time must be a number",
        ),
        (
            one_claim("response_rate", "difference_positive"),
            "rule difference_positive applies to a difference",
        ),
        (
            one_claim("event_probability", "above", claimed=0.5, params="time = -5"),
            r"parameter time must be 0 or more, got -5\.0",
        ),
        (
            one_claim("nth_dose_within", "descriptive", params="doses = 0"),
            "parameter doses must be above 0, got 0",
        ),
        (
            one_claim("early_change_share", "descriptive", params="window = 0"),
            "parameter window must be above 0",
        ),
        (
            one_claim("first_dose_mg_per_kg", "descriptive", params="low_mg = 100, high_mg = 50"),
            "parameter low_mg = 100 is above high_mg = 50; give the lower bound first",
        ),
        (
            one_claim(
                "early_change_share", "descriptive", params="window = 3, fallback_window = 2"
            ),
            "parameter window = 3 is above fallback_window = 2",
        ),
        (
            one_claim("early_change_share", "descriptive", params="threshold = 0.25"),
            r"parameter threshold is now the early_improvement setting.*--set "
            r"early_improvement=0\.25",
        ),
        (VALID + "min_n = 0\n", "min_n must be a whole number >= 1"),
        (
            VALID.replace("claimed = 0.5", "claimed = 50"),
            r"claimed = 50 is out of range: quantity response_rate is a share, written as a "
            r"fraction between 0 and 1; for 50% write claimed = 0.50",
        ),
        (
            one_claim("event_probability", "above", claimed=-0.1),
            "claimed = -0.1 is out of range: quantity event_probability is a probability",
        ),
        (
            one_claim("event_free_probability", "above", claimed=150),
            r"between 0 and 1; 50% is claimed = 0.50\.",
        ),
        (
            one_claim("response_difference", "difference_positive", claimed=20),
            r"a difference of shares, written as a fraction between -1 and 1; for 20% "
            r"write claimed = 0.20",
        ),
        ('title = "nothing"\n', "no claims found"),
        ("[[claims]\n", "not valid TOML"),
    ],
)
def test_malformed_claims_files_raise_a_clear_error(tmp_path, text, message):
    with pytest.raises(ClaimsFileError, match=message):
        load_claims(write_claims(tmp_path, text))


@pytest.mark.parametrize(
    ("quantity", "claimed"),
    # Bounds are allowed; a value quantity (mg/kg, US dollars) has no range to check.
    [
        ("response_rate", 0.0),
        ("response_rate", 1.0),
        ("response_difference", -1.0),
        ("first_dose_mg_per_kg", 50.0),
        ("median_session_cost", 600.0),
    ],
)
def test_claimed_values_within_the_range_of_their_quantity_are_accepted(
    tmp_path, quantity, claimed
):
    rule = "difference_positive" if quantity == "response_difference" else "descriptive"
    (claim,) = load_claims(write_claims(tmp_path, one_claim(quantity, rule, claimed=claimed)))
    assert claim.claimed == claimed


def test_a_claim_built_in_code_with_a_percentage_for_a_share_is_rejected(rate_24_of_30):
    claim = Claim(id="c", claim="x", quantity="response_rate", rule="two_sided", claimed=50)
    with pytest.raises(ClaimsFileError, match=r"Claim c: claimed = 50 is out of range.*0\.50"):
        evaluate_claims(rate_24_of_30, claims=[claim])


def test_a_refused_bound_is_not_compared_with_the_other_bound(tmp_path):
    # high_mg = -1 is refused; low_mg = 120 must not then be reported as above the
    # default high_mg of 100.
    path = tmp_path / "c.toml"
    path.write_text(
        one_claim("first_dose_mg_per_kg", "descriptive", params="low_mg = 120, high_mg = -1")
    )
    with pytest.raises(ClaimsFileError) as caught:
        load_claims(path)
    assert "high_mg must be 0 or more" in str(caught.value)
    assert "is above" not in str(caught.value)


def test_every_problem_of_a_claims_file_is_listed_at_once(tmp_path):
    text = VALID.replace("two_sided", "sideways") + VALID.replace(
        "response_rate", "nothing"
    ).replace('"c1"', '"c2"')
    with pytest.raises(ClaimsFileError, match="2 problem") as caught:
        load_claims(write_claims(tmp_path, text))
    assert "sideways" in str(caught.value) and "nothing" in str(caught.value)


def test_claims_built_in_code_get_defaults_and_the_same_checks(rate_24_of_30):
    # No params given: instrument PHQ-9 and population itt by default.
    claim = Claim(id="c", claim="x", quantity="response_rate", rule="above", claimed=0.5)
    row = evaluate_claims(rate_24_of_30, claims=[claim]).iloc[0]
    assert (row["verdict"], row["quantity"]) == (
        "supported",
        "response_rate(instrument=PHQ-9, population=itt)",
    )
    with pytest.raises(ClaimsFileError, match="unknown rule 'sideways'"):
        evaluate_claims(rate_24_of_30, claims=[dataclasses.replace(claim, rule="sideways")])


def test_a_missing_claims_file_raises_a_clear_error(tmp_path):
    with pytest.raises(ClaimsFileError, match="Cannot read claims file"):
        load_claims(tmp_path / "absent.toml")


# --------------------------------------------------------------------------------------
# Equivalence margins, bounds and their boundaries (methods §10.3)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "low", "high", "claimed", "margin", "expected"),
    [
        # two_sided, p0 = 0.5, δ = 0.1: band [0.4, 0.6], closed.
        pytest.param("two_sided", 0.45, 0.55, 0.5, 0.1, ("supported", None), id="inside"),
        # Touching an edge from inside: 0.4 and 0.6 are themselves "about 0.5".
        pytest.param("two_sided", 0.4, 0.6, 0.5, 0.1, ("supported", None), id="fills-band"),
        # 0.3 + 0.1 = 0.4000000000000001 in binary: still touching, still supported.
        pytest.param("two_sided", 0.2, 0.4, 0.3, 0.1, ("supported", None), id="binary-edge"),
        # A hair outside the band: reaches outside without being wholly outside.
        pytest.param("two_sided", 0.4 - 1e-9, 0.6, 0.5, 0.1, ("inconclusive", None), id="hair-out"),
        # Touching the upper edge from outside: 0.6 is still plausible and about 0.5.
        pytest.param("two_sided", 0.6, 0.75, 0.5, 0.1, ("inconclusive", None), id="touch-above"),
        pytest.param("two_sided", 0.6 + 1e-9, 0.75, 0.5, 0.1, ("contradicted", True), id="above"),
        pytest.param("two_sided", 0.25, 0.4, 0.5, 0.1, ("inconclusive", None), id="touch-below"),
        pytest.param("two_sided", 0.25, 0.4 - 1e-9, 0.5, 0.1, ("contradicted", False), id="below"),
        # Wider than the band on both sides: it contains 0.5 but is no support.
        pytest.param("two_sided", 0.2, 0.8, 0.5, 0.1, ("inconclusive", None), id="wide"),
        # above ("usually": more than 0.5): strict, the bound is on the losing side.
        pytest.param("above", 0.5 + 1e-9, 0.7, 0.5, None, ("supported", True), id="gt"),
        pytest.param("above", 0.5, 0.7, 0.5, None, ("inconclusive", None), id="at-low"),
        pytest.param("above", 0.3, 0.5, 0.5, None, ("contradicted", False), id="at-high"),
        pytest.param("above", 0.3, 0.5 + 1e-9, 0.5, None, ("inconclusive", None), id="over"),
        # below ("less than 1%"): supported only strictly below, contradicted at the bound.
        pytest.param("below", 0.0, 0.01 - 1e-9, 0.01, None, ("supported", False), id="lt"),
        pytest.param("below", 0.0, 0.01, 0.01, None, ("inconclusive", None), id="to-bound"),
        pytest.param("below", 0.01, 0.05, 0.01, None, ("contradicted", True), id="from-bound"),
        # The difference rules against 0.
        pytest.param(
            "difference_positive", 0.0, 0.2, None, None, ("inconclusive", None), id="d-at-0"
        ),
        pytest.param(
            "difference_positive", -0.2, 0.0, None, None, ("contradicted", False), id="d-le-0"
        ),
        pytest.param(
            "difference_nonzero", -0.3, -0.01, None, None, ("supported", False), id="d-neg"
        ),
        pytest.param(
            "difference_nonzero", -0.3, 0.0, None, None, ("inconclusive", None), id="d-to-0"
        ),
    ],
)
def test_each_verdict_branch_at_its_boundaries(rule, low, high, claimed, margin, expected):
    assert judge_interval(rule, low, high, claimed, margin) == expected


def test_a_two_sided_claim_needs_a_margin_to_be_judged():
    with pytest.raises(ValueError, match="needs a margin"):
        judge_interval("two_sided", 0.4, 0.6, 0.5)


@pytest.mark.parametrize(
    ("estimate", "claimed", "margin", "needed"),
    [
        # Inside the band, p̂ = 0.5, band 0.4-0.6. The Wilson limits solve
        # n (p̂ - p)^2 = z^2 p (1 - p), z^2 = 1.959964^2 = 3.841459. The lower limit reaches
        # 0.4 when n = 3.841459 * 0.4 * 0.6 / 0.1^2 = 3.841459 * 24 = 92.195, and by
        # symmetry the upper one 0.6: the interval fits inside from n = 93.
        (0.5, 0.5, 0.1, 93),
        # Above the band, p̂ = 0.75, upper edge 0.6: the lower limit clears 0.6 when
        # n > 3.841459 * 0.6 * 0.4 / 0.15^2 = 0.921950 / 0.0225 = 40.976: n = 41.
        (0.75, 0.5, 0.1, 41),
        # Below, p̂ = 0.2, lower edge 0.4: n > 3.841459 * 0.24 / 0.04 = 23.049: n = 24.
        (0.2, 0.5, 0.1, 24),
        # Inside but off-centre, p̂ = 0.58: N(0.6) = 0.921950 / 0.02^2 = 2304.9 and
        # N(0.4) = 0.921950 / 0.18^2 = 28.5: the upper edge decides, n = 2305.
        (0.58, 0.5, 0.1, 2305),
        # Band 0-0.1 around p0 = 0.05 with δ = 0.05: below 0 is no constraint (a Wilson
        # interval never goes below 0); p̂ = 0.02 needs N(0.1) = 3.841459 * 0.09 / 0.08^2
        # = 54.02: n = 55.
        (0.02, 0.05, 0.05, 55),
        # Exactly on an edge: no number of patients settles it at this estimate.
        (0.6, 0.5, 0.1, None),
    ],
)
def test_patients_to_settle_on_worked_examples(estimate, claimed, margin, needed):
    assert patients_to_settle(estimate, claimed, margin) == needed


def test_patients_to_settle_agrees_with_the_wilson_interval_either_side_of_the_answer():
    # p̂ = 0.5 (93 needed): 46/92 is not yet inside 0.4-0.6, 47/94 is.
    def verdict(k: int, n: int) -> str:
        ci = proportion_ci(k, n).iloc[0]
        return judge_interval("two_sided", ci["ci_low"], ci["ci_high"], 0.5, 0.1)[0]

    assert verdict(46, 92) == "inconclusive"
    assert verdict(47, 94) == "supported"
    # p̂ = 0.75 (41 needed): 30/40 does not yet clear 0.6, 33/44 does.
    assert verdict(30, 40) == "inconclusive"
    assert verdict(33, 44) == "contradicted"


def test_the_margin_comes_from_the_claims_file_and_appears_in_every_output(rate_24_of_30, tmp_path):
    # 24/30 (CI 62.7% to 90.5%) about 0.75: inside 0.75 ± 0.2, not inside 0.75 ± 0.1.
    wide = evaluate_one(
        rate_24_of_30, tmp_path, one_claim("response_rate", "two_sided", claimed=0.75, margin=0.2)
    )
    assert (wide["verdict"], wide["margin"]) == ("supported", 0.2)
    assert "55% to 95% (the claimed 75% ± 20 percentage points)" in wide["note"]
    default = evaluate_one(
        rate_24_of_30, tmp_path, one_claim("response_rate", "two_sided", claimed=0.75)
    )
    assert (default["verdict"], default["margin"]) == ("inconclusive", 0.1)
    bound = evaluate_one(rate_24_of_30, tmp_path, one_claim("response_rate", "above", claimed=0.5))
    assert math.isnan(bound["margin"])


def test_claims_json_keeps_its_keys_and_adds_margin_and_population(rate_24_of_30):
    out = claims_to_dict(evaluate_claims(rate_24_of_30))
    first = out["claims"][0]
    assert list(first) == [
        "id", "claim", "quantity", "estimate", "ci_low", "ci_high", "n", "claimed",
        "verdict", "note", "margin", "population",
    ]  # fmt: skip
    assert first["margin"] == 0.1
    assert first["population"].startswith("intention to treat: eligible patients")
    by_id = {c["id"]: c for c in out["claims"]}
    assert by_id["transient_effects"]["margin"] is None
    assert by_id["side_effects"]["population"].startswith("safety population")
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            one_claim("event_probability", "above", claimed=0.5, margin=0.1),
            "margin applies to a claim of about a value",
        ),
        (
            one_claim("first_dose_mg_per_kg", "two_sided", claimed=0.507),
            "needs a margin in its unit .mg/kg.",
        ),
        (one_claim("response_rate", "two_sided", claimed=0.5, margin=10), "is not a fraction"),
        (one_claim("response_rate", "two_sided", claimed=0.5, margin=0), "above 0"),
    ],
)
def test_malformed_margins_raise_a_clear_error(tmp_path, text, message):
    with pytest.raises(ClaimsFileError, match=message):
        load_claims(write_claims(tmp_path, text))


def test_a_two_sided_claim_of_a_value_takes_a_margin_in_its_unit(tmp_path):
    # Median first dose 0.5 mg/kg for 10 patients (40 mg / 80 kg each); the interval is
    # the point 0.5 (all equal), inside 0.507 ± 0.05.
    data = dosing_cohort(
        {f"P{i:03d}": [0.0] for i in range(10)}, dose_mg=[40] * 10, weight_kg=[80] * 10
    )
    text = one_claim("first_dose_mg_per_kg", "two_sided", claimed=0.507, margin=0.05)
    row = evaluate_one(data, tmp_path, text)
    assert (row["verdict"], row["margin"]) == ("supported", 0.05)
    assert "0.457 mg/kg to 0.557 mg/kg" in row["note"]


# --------------------------------------------------------------------------------------
# Good or bad news for patients
# --------------------------------------------------------------------------------------


def test_news_follows_the_patients_not_the_verdict():
    # 5 of 30 responders relapse by 84 days (1/6, CI 2.2% to 29.0%): "effects are usually
    # transient" is contradicted, which is good news; 25 of 30 relapse (CI 62.9% to
    # 92.5%): supported, bad news. No relapse at 182 days 1/6: contradicted, bad news.
    few = packaged(relapse_cohort(5, 25, follow_up=200.0), "transient_effects")
    many = packaged(relapse_cohort(25, 5, follow_up=200.0), "transient_effects")
    durable = packaged(relapse_cohort(25, 5, follow_up=200.0), "durable_after_course")
    assert (few["verdict"], few["news"]) == ("contradicted", "good")
    assert (many["verdict"], many["news"]) == ("supported", "bad")
    assert (durable["verdict"], durable["news"]) == ("contradicted", "bad")


def test_news_of_the_demo_scorecard(demo_card):
    news = demo_card.set_index("id")["news"]
    assert set(news) <= {"good", "bad", "neutral", "unclear"}
    card = demo_card.set_index("id")
    for claim_id in card.index:
        verdict, direction = card.loc[claim_id, ["verdict", "direction"]]
        if direction == "better than claimed":
            assert news[claim_id] == "good", claim_id
        if direction == "worse than claimed":
            assert news[claim_id] == "bad", claim_id
        if verdict in ("inconclusive", "not_measurable"):
            assert news[claim_id] == "unclear", claim_id
        if verdict == "descriptive":
            assert news[claim_id] == "neutral", claim_id


# --------------------------------------------------------------------------------------
# Populations (methods §10.5)
# --------------------------------------------------------------------------------------


def test_side_effects_count_every_treated_patient_eligible_or_not():
    # 10 eligible patients (baseline 20), none with an adverse event; 2 patients with a
    # baseline of 5 (not eligible) given ketamine, both with nausea. The safety population
    # is all 12 treated patients: 2/12 had an adverse event (intention to treat would
    # count 0/10 and hide them).
    scores = patients_with_response("E", 5, 10)
    scores += [(f"L{i}", "PHQ-9", t, s) for i in range(2) for t, s in ((0.0, 5.0), (28.0, 3.0))]
    ids = list(dict.fromkeys(p for p, *_ in scores))
    doses = [
        {"patient_id": p, "t": 0.0, "adverse_events": "nausea" if p[0] == "L" else ""} for p in ids
    ]
    row = packaged(build(scores, doses), "side_effects")
    assert (row["n"], row["estimate"]) == (12, pytest.approx(2 / 12))
    assert row["population"].startswith("safety population")
    assert "of 12 patients with at least one recorded dose" in row["note"]


def test_gad_treatment_resistance_counts_gad_patients_measured_only_on_the_gad7():
    # 6 GAD patients with a PHQ-9 baseline and 6 with only GAD-7 scores, all treated;
    # 3 + 3 have 2 prior failures. All 12 count (6/12), not only the 6 with a PHQ-9.
    scores = patients_with_response("P", 0, 6)
    for i in range(6):
        scores += [(f"G{i:03d}", "GAD-7", 0.0, 15.0), (f"G{i:03d}", "GAD-7", 28.0, 6.0)]
    ids = list(dict.fromkeys(p for p, *_ in scores))
    patients = [
        {
            "patient_id": p,
            "primary_diagnosis": "GAD",
            "prior_treatment_failures": 2 if int(p[1:]) < 3 else 0,
        }
        for p in ids
    ]
    row = packaged(build(scores, patients=patients), "gad_treatment_resistance")
    assert (row["n"], row["estimate"]) == (12, pytest.approx(0.5))
    assert row["population"] == "every GAD-diagnosed patient who started treatment"


def test_gad_treatment_resistance_counts_untreated_patients_only_without_a_treatments_table():
    # Ten GAD patients, five of them with a dose: 5 count (3 resistant). Without any
    # treatments table all 10 count (6 resistant).
    scores: list[Score] = []
    for i in range(10):
        scores += [(f"G{i:03d}", "GAD-7", 0.0, 15.0), (f"G{i:03d}", "GAD-7", 28.0, 6.0)]
    patients = [
        {"patient_id": f"G{i:03d}", "primary_diagnosis": "GAD", "prior_treatment_failures": f}
        for i, f in enumerate([2, 2, 2, 0, 0, 2, 2, 2, 0, 0])
    ]
    treated = [{"patient_id": f"G{i:03d}", "t": 0.0} for i in range(5)]
    row = packaged(build(scores, treated, patients=patients), "gad_treatment_resistance")
    assert (row["n"], row["estimate"]) == (5, pytest.approx(3 / 5))
    row = packaged(build(scores, [], patients=patients), "gad_treatment_resistance")
    assert (row["n"], row["estimate"]) == (10, pytest.approx(6 / 10))
    assert row["population"] == "every GAD-diagnosed patient"


def test_a_site_filter_cannot_turn_a_contradicted_claim_into_a_supported_one(demo, tmp_path):
    # "A 40% response rate" (band 30%-50%): the demo's interval (about 53% to 63%) lies
    # wholly above it. Each site alone has fewer patients and a wider interval, which
    # under the old rule ("the interval contains p0") could come to contain 40% and read
    # "supported"; a wider interval now reaches outside the band: never supported.
    from katoutcomes.filters import CohortFilter, filter_dataset, filter_options

    path = write_claims(tmp_path, one_claim("response_rate", "two_sided", claimed=0.4))
    whole = evaluate_claims(demo, claims=path).iloc[0]
    assert whole["verdict"] == "contradicted"
    for site in filter_options(demo)["site"]:
        part = filter_dataset(demo, CohortFilter(site=(site,)))
        row = evaluate_claims(part, claims=path).iloc[0]
        assert row["verdict"] in ("contradicted", "inconclusive"), (site, row["note"])
        assert row["ci_high"] - row["ci_low"] > whole["ci_high"] - whole["ci_low"]


# --------------------------------------------------------------------------------------
# Durability without any relapse (methods §4.12 censoring, §6.4 exact interval)
# --------------------------------------------------------------------------------------


def responders(n: int, later: Sequence[tuple[float, float]]) -> Dataset:
    """``n`` PHQ-9 patients, baseline 20, responding at t = 7 (8 points), then ``later``."""
    scores: list[Score] = []
    for i in range(n):
        visits = ((0.0, 20.0), (7.0, 8.0), *later)
        scores += [(f"R{i:03d}", "PHQ-9", t, s) for t, s in visits]
    return build(scores)


def test_no_relapse_among_35_followed_past_84_days_has_the_exact_interval():
    # 35 responders, still responding at t = 50, 100 and 120: no relapse; each is censored
    # at the second-to-last assessment after the response, 100 - 7 = 93 days. At 84 days
    # all 35 are still followed and none relapsed: S(84) = 1 with the Clopper-Pearson
    # interval for 0 events in 35, [0.025^(1/35), 1] = [0.89997, 1]; relapse by 84 days
    # 0% (0% to 1 - 0.89997 = 10.003%), wholly below the claimed "more than 50%":
    # contradicted, better than claimed (not a 0%-0% interval).
    row = packaged(responders(35, [(50, 8), (100, 7), (120, 8)]), "transient_effects")
    assert (row["verdict"], row["n"], row["estimate"]) == ("contradicted", 35, 0.0)
    assert row["ci_low"] == 0.0
    assert row["ci_high"] == pytest.approx(1 - 0.025 ** (1 / 35), rel=1e-12)
    assert row["ci_high"] == pytest.approx(0.10003, abs=5e-6)
    assert (row["direction"], row["news"]) == ("better than claimed", "good")


def test_responders_with_a_single_later_assessment_are_not_counted_as_relapse_free():
    # 35 responders with one later assessment (day 99, 92 days after the response): a
    # relapse (two failing assessments) could never have been seen, so each is censored
    # at 0 days. The curve ends at 0: relapse by 84 days is not estimated (inconclusive),
    # where censoring at 92 days would have read 0% relapse and contradicted the claim.
    row = packaged(responders(35, [(99, 8)]), "transient_effects")
    assert (row["verdict"], row["n"]) == ("inconclusive", 35)
    assert math.isnan(row["estimate"])
    assert "the longest follow-up after a first response is 0 days" in row["note"]


def test_scorecard_does_not_depend_on_the_order_of_the_treatment_rows():
    # The dose quantities sort each patient's treatments by patient code and time; rows
    # given in any order (here shuffled, with the index renumbered) must give the same
    # scorecard, the session bootstrap included.
    import dataclasses

    data = Dataset.demo(patients=150)
    shuffled = data.treatments.sample(frac=1.0, random_state=7).reset_index(drop=True)
    again = dataclasses.replace(data, treatments=shuffled)
    pd.testing.assert_frame_equal(evaluate_claims(again), evaluate_claims(data))
