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
    pd.testing.assert_frame_equal(analysis.scorecard, evaluate_claims(demo, Settings()))


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
