"""The analysis object: each result computed once, shared by every surface."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

import katoutcomes.claims
from katoutcomes import formatting as fmt
from katoutcomes.analysis import Analysis, adherence_table
from katoutcomes.dataset import Dataset
from katoutcomes.filters import CohortFilter, filter_dataset
from katoutcomes.settings import Settings


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return Dataset.demo(patients=120, seed=5)


def test_results_are_computed_once_and_shared(demo: Dataset) -> None:
    analysis = Analysis(demo)
    assert analysis.computed() == []
    first = analysis.scorecard
    assert analysis.scorecard is first
    assert analysis.outcomes is analysis.outcomes
    assert analysis.curves("response") is analysis.curves("response")
    assert "scorecard" in analysis.computed()


def test_concurrent_sessions_compute_a_result_once(
    demo: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = katoutcomes.claims.evaluate_claims

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(katoutcomes.claims, "evaluate_claims", slow)
    analysis = Analysis(demo)
    results: list[pd.DataFrame] = []
    threads = [
        threading.Thread(target=lambda: results.append(analysis.scorecard)) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)


def test_key_changes_with_settings_filter_and_claims(demo: Dataset) -> None:
    base = Analysis(demo)
    assert base.key == Analysis(demo).key
    assert base.key != Analysis(demo, Settings(acute_days=28)).key
    site = filter_dataset(demo, CohortFilter().with_levels("site", ["S01"]))
    assert base.key != Analysis(site).key
    assert base.key != Analysis(demo, claims=base.claims[:3]).key


def test_the_same_numbers_as_the_functions_it_wraps(demo: Dataset) -> None:
    from katoutcomes.claims import evaluate_claims
    from katoutcomes.cohort import outcome_rates
    from katoutcomes.outcomes import patient_outcomes

    analysis = Analysis(demo)
    outcomes = patient_outcomes(demo, Settings())
    pd.testing.assert_frame_equal(analysis.outcomes, outcomes)
    pd.testing.assert_frame_equal(analysis.rates, outcome_rates(outcomes))
    plain = evaluate_claims(demo, Settings())
    card = analysis.scorecard
    # The scorecard is the claims engine's, plus the adjusted columns and notes.
    pd.testing.assert_frame_equal(
        card[plain.columns].drop(columns="note"), plain.drop(columns="note")
    )
    assert all(n.startswith(p) for n, p in zip(card["note"], plain["note"], strict=True))


def test_adherence_table_hand_checked() -> None:
    """Two patients, doses by hand: patient A has 6 doses in 14 days, patient B 3 doses
    in 30 days (2 of them within 21 days). Sixth dose within 21 days: 1 of 2 patients."""
    rows = []
    for day in (0, 2, 5, 8, 11, 14):
        rows.append(("A", day, 120.0, 35.0, 70.0))
    for day in (0, 10, 30):
        rows.append(("B", day, 60.0, 40.0, 80.0))
    treatments = pd.DataFrame(
        rows, columns=["patient_id", "study_day", "monitoring_minutes", "dose_mg", "weight_kg"]
    ).assign(route="IV")
    assessments = pd.DataFrame(
        {
            "patient_id": ["A", "B"],
            "instrument": "PHQ-9",
            "study_day": [0.0, 0.0],
            "total": [15, 15],
        }
    )
    from katoutcomes.ingest import validate_frames

    data = Dataset.from_result(
        validate_frames({"assessments": assessments, "treatments": treatments})
    )
    table = adherence_table(data).set_index("measure")
    sixth = table.loc["Patients whose 6th dose came within 21 days of the first"]
    assert sixth["estimate"] == pytest.approx(0.5)
    assert sixth["patients"] == 2
    early = table.loc["Doses in the first 21 days (median per patient)"]
    # Patient A: 6 doses on days 0-21; patient B: 2 (days 0 and 10). Median of (6, 2) = 4.
    assert early["estimate"] == pytest.approx(4.0)
    assert early["unit"] == "doses"
    dose = table.loc["Dose per session, mg/kg (median)"]
    # 6 sessions at 35/70 = 0.5 and 3 at 40/80 = 0.5 mg/kg: median 0.5.
    assert dose["estimate"] == pytest.approx(0.5)
    assert fmt.value(dose["estimate"], dose["unit"]) == "0.500 mg/kg"


def test_formatting_reads_one_way() -> None:
    assert fmt.pct(0.575) == "57.5%"
    assert fmt.value(0.5, "share", claimed=True) == "50%"
    assert fmt.interval(0.521, 0.613, "share") == "52.1% to 61.3%"
    assert fmt.interval(-0.032, 0.041, "difference") == "\u22123.2 to +4.1 percentage points"
    assert fmt.percentage_points(-0.032) == "\u22123.2 percentage points"
    assert fmt.score_points(-5) == "\u22125 points"
    assert fmt.score_points(1) == "+1 point"
    assert fmt.days(1) == "1 day"
    assert fmt.days(2.5) == "2.5 days"
    assert fmt.money(1250) == "$1,250"
    assert fmt.mg_per_kg(0.5124) == "0.512 mg/kg"
    assert fmt.estimate(0.575, 0.521, 0.613, "share") == "57.5% (52.1% to 61.3%)"
    assert fmt.margin(0.1, "share") == "10 percentage points"
    assert fmt.verdict("contradicted", "better than claimed") == (
        "Contradicted (better than claimed)"
    )
    assert fmt.pct(float("nan")) == fmt.MISSING
    assert fmt.value(None, "share") == fmt.MISSING
    assert fmt.count(1, "patients") == "1 patient"


# ------------------------------------------------------------------ crude beside adjusted


def _card(verdict: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["psychotherapy_integration", "response_rate_phq9"],
            "note": ["Crude note.", "Rate note."],
            "verdict": [verdict, "supported"],
        }
    )


def _effect(low: float, high: float):
    from katoutcomes.comparisons import AdjustedEffect

    return AdjustedEffect(
        exposure="psychotherapy",
        level="yes",
        reference="no",
        instrument="PHQ-9",
        risk_difference=(low + high) / 2,
        ci_low=low,
        ci_high=high,
        odds_ratio=1.4,
        n=300,
        covariates=("baseline", "sex"),
    )


def _claims():
    from katoutcomes.claims import load_claims

    return [c for c in load_claims() if c.id in ("psychotherapy_integration", "response_rate_phq9")]


def test_adjustment_that_keeps_the_interval_above_zero_keeps_the_conclusion() -> None:
    from katoutcomes.adjusted_claims import add_adjusted

    out = add_adjusted(_card("supported"), _claims(), lambda by, inst: [_effect(0.02, 0.12)])
    row = out.iloc[0]
    assert row["adjusted_estimate"] == pytest.approx(0.07)
    assert (row["adjusted_ci_low"], row["adjusted_ci_high"]) == (0.02, 0.12)
    assert row["adjusted_n"] == 300 and row["adjusted_or"] == 1.4
    assert "does not change the conclusion (supported)" in row["note"]
    assert row["note"].startswith("Crude note.")
    # A claim that compares nothing gets no adjusted numbers.
    assert out["adjusted_estimate"].isna().iloc[1] and out["note"].iloc[1] == "Rate note."


def test_adjustment_that_brings_zero_into_the_interval_changes_the_conclusion() -> None:
    """Crude: supported ("integration enhances outcomes", interval above 0); adjusted
    interval -0.04 to 0.10 contains 0, so by the same rule it is inconclusive."""
    from katoutcomes.adjusted_claims import add_adjusted

    out = add_adjusted(_card("supported"), _claims(), lambda by, inst: [_effect(-0.04, 0.10)])
    note = out["note"].iloc[0]
    assert "changes the conclusion: inconclusive after adjustment, supported crude" in note
    assert "baseline score, sex" in note


def test_demo_scorecard_shows_the_adjusted_effect_of_the_comparisons(demo: Dataset) -> None:
    from katoutcomes.comparisons import adjusted_effect, comparison_frame
    from katoutcomes.outcomes import patient_outcomes

    card = Analysis(demo).scorecard.set_index("id")
    frame = comparison_frame(patient_outcomes(demo), demo, "PHQ-9", attributes=("ssri",))
    effect = adjusted_effect(frame, "ssri", instrument="PHQ-9")[0]
    row = card.loc["ssri_interaction"]
    assert row["adjusted_estimate"] == pytest.approx(effect.risk_difference)
    assert row["adjusted_ci_low"] == pytest.approx(effect.ci_low)
    assert row["adjusted_or"] == pytest.approx(effect.odds_ratio)
    # The crude estimate stays the claim's estimate (Newcombe difference).
    assert row["estimate"] == pytest.approx(effect.crude_estimate)


# ------------------------------------------------------------------ one analysis, three surfaces


def test_report_cli_and_dashboard_show_the_same_numbers_from_one_analysis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The report, the CLI's claims table and the dashboard's scorecard render the same
    analysis: the claims are evaluated once, and every claim's estimate and interval read
    the same on all three."""
    import html as html_lib
    import sys
    from datetime import UTC, datetime

    from conftest import ROOT
    from katoutcomes.cli.analysis_commands import format_claims_text
    from katoutcomes.report import build_report

    sys.path.insert(0, str(ROOT))
    from views.common import scorecard_table

    calls: list[int] = []
    real = katoutcomes.claims.evaluate_claims

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(katoutcomes.claims, "evaluate_claims", counted)
    analysis = Analysis(Dataset.demo(patients=400))
    page = html_lib.unescape(build_report(analysis, generated_at=datetime(2026, 1, 1, tzinfo=UTC)))
    cli = format_claims_text(analysis)
    dashboard = scorecard_table(analysis.scorecard, analysis.claims).data
    assert len(calls) == 1  # one evaluation behind all three surfaces

    shared = analysis.shared_scorecard.set_index("id")
    checked = 0
    for row, cell in zip(
        analysis.scorecard.itertuples(index=False),
        dashboard["Clinic's data (95% CI)"],
        strict=True,
    ):
        if fmt.is_missing(row.estimate):
            continue
        estimate = fmt.value(row.estimate, row.unit)
        interval = fmt.interval(row.ci_low, row.ci_high, row.unit)
        cli_line = next(line for line in cli.splitlines() if line.startswith(row.id + " "))
        assert estimate in cli_line and interval in cli_line, row.id
        assert cell.startswith(fmt.estimate(row.estimate, row.ci_low, row.ci_high, row.unit))
        if not bool(shared.loc[row.id, "suppressed"]):
            assert estimate in page and interval in page, row.id
            checked += 1
    assert checked >= 10
