"""Time since origin (methods §2.3): datetimes, dates and study days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from katoutcomes.dataset import Dataset
from katoutcomes.ingest import validate_frames


def _dataset(assessments: dict, treatments: dict | None = None) -> Dataset:
    frames = {"assessments": pd.DataFrame(assessments)}
    if treatments is not None:
        frames["treatments"] = pd.DataFrame(treatments)
    result = validate_frames(frames)
    assert result.n_rejected == 0, result.rejected
    return Dataset.from_result(result)


def test_same_day_assessment_counts_as_before_the_dose_with_dates():
    # Dose on 2025-03-10; an assessment dated the same day has t = 0 (baseline side),
    # one dated 2025-03-13 has t = 3.
    ds = _dataset(
        {
            "patient_id": ["P1", "P1", "P1"],
            "instrument": ["PHQ-9"] * 3,
            "assessed_at": ["2025-03-03", "2025-03-10", "2025-03-13"],
            "total": [20, 19, 9],
        },
        {"patient_id": ["P1"], "administered_at": ["2025-03-10"], "dose_mg": [35]},
    )
    assert ds.assessments["t"].tolist() == [-7.0, 0.0, 3.0]
    assert ds.treatments["t"].tolist() == [0.0]


def test_date_only_assessment_on_a_timed_dose_day_is_t_zero():
    # Dose at 2025-03-10 14:00 (datetime); the assessment has a date only: t = 0 by date.
    ds = _dataset(
        {
            "patient_id": ["P1"],
            "instrument": ["PHQ-9"],
            "assessed_at": ["2025-03-10"],
            "total": [20],
        },
        {"patient_id": ["P1"], "administered_at": ["2025-03-10T14:00"], "dose_mg": [35]},
    )
    assert ds.assessments["t"].tolist() == [0.0]


def test_datetimes_give_exact_fractions_of_a_day():
    # Dose 2025-03-10 09:00; assessment 15:00 the same day = 0.25 days later;
    # one at 08:00 the day before = -1 day - 1 hour = -25/24 days.
    ds = _dataset(
        {
            "patient_id": ["P1", "P1"],
            "instrument": ["PHQ-9"] * 2,
            "assessed_at": ["2025-03-09T08:00", "2025-03-10T15:00"],
            "total": [20, 15],
        },
        {"patient_id": ["P1"], "administered_at": ["2025-03-10T09:00"], "dose_mg": [35]},
    )
    np.testing.assert_allclose(ds.assessments["t"], [-25 / 24, 0.25])


def test_without_treatments_the_origin_is_the_first_valid_assessment():
    # The first row has too many missing items (incomplete) so it cannot be the origin;
    # the origin is 2025-01-05 and 2025-01-12 is t = 7.
    ds = _dataset(
        {
            "patient_id": ["P1"] * 3,
            "instrument": ["PHQ-9"] * 3,
            "assessed_at": ["2025-01-01", "2025-01-05", "2025-01-12"],
            "total": [None, 18, 9],
            "item_1": [1, None, None],
            "item_2": [1, None, None],
        }
    )
    assert ds.assessments["t"].tolist() == [-4.0, 0.0, 7.0]


def test_study_days_subtract_the_origin_study_day():
    ds = _dataset(
        {
            "patient_id": ["P1", "P1"],
            "instrument": ["PHQ-9"] * 2,
            "study_day": [10.0, 13.5],
            "total": [20, 12],
        },
        {"patient_id": ["P1"], "study_day": [12.0], "dose_mg": [35]},
    )
    assert ds.assessments["t"].tolist() == [-2.0, 1.5]


def test_datetimes_and_study_days_give_the_same_t_for_the_same_cohort():
    from katoutcomes.demo import generate_demo

    by_date = generate_demo(patients=60, seed=7, time="datetime")
    by_day = generate_demo(patients=60, seed=7, time="study_day")
    a = Dataset.from_result(validate_frames(by_date.tables()))
    b = Dataset.from_result(validate_frames(by_day.tables()))
    key = ["patient_id", "instrument", "t"]
    left = a.assessments[[*key, "total"]].reset_index(drop=True)
    right = b.assessments[[*key, "total"]].reset_index(drop=True)
    assert len(left) == len(right) > 0
    np.testing.assert_allclose(left["t"], right["t"], atol=1e-6)
    assert left["total"].equals(right["total"])
    np.testing.assert_allclose(a.treatments["t"], b.treatments["t"], atol=1e-6)


def test_patient_origins_are_the_first_dose_or_else_the_first_valid_assessment():
    from katoutcomes.timebase import patient_origins

    # P1 has doses on 03-10 09:00 and 03-13; P2 has none, so its first valid assessment
    # (2025-04-02) is its origin.
    ds = _dataset(
        {
            "patient_id": ["P1", "P1", "P2", "P2"],
            "instrument": ["PHQ-9"] * 4,
            "assessed_at": ["2025-03-03", "2025-03-17", "2025-04-02", "2025-04-09"],
            "total": [20, 9, 15, 12],
        },
        {
            "patient_id": ["P1", "P1"],
            "administered_at": ["2025-03-13", "2025-03-10T09:00"],
            "dose_mg": [35, 35],
        },
    )
    origins = patient_origins(ds.assessments, ds.treatments, "datetime")
    assert origins.loc["P1", "origin"] == pd.Timestamp("2025-03-10 09:00")
    assert origins.loc["P1", "origin_source"] == "treatment"
    assert not origins.loc["P1", "origin_date_only"]
    assert origins.loc["P2", "origin"] == pd.Timestamp("2025-04-02")
    assert origins.loc["P2", "origin_source"] == "assessment"
    assert origins.loc["P2", "origin_date_only"]


def test_the_first_of_tied_earliest_doses_gives_the_origin_its_date_only_flag():
    # Two doses at the same instant, midnight of 2025-03-10, one recorded as a date only.
    # Ingest rejects such duplicates, so the tables are built by hand here. The first in
    # input order is the origin row, so its flag is the origin's.
    from katoutcomes.timebase import add_relative_time

    assessments = pd.DataFrame(
        {
            "patient_id": ["P1"],
            "instrument": ["PHQ-9"],
            "assessed_at": pd.to_datetime(["2025-03-03 10:00"]).astype("datetime64[us]"),
            "total": [20.0],
            "date_only": [False],
        }
    )

    def origin_date_only(date_only: list[bool]) -> bool:
        treatments = pd.DataFrame(
            {
                "patient_id": ["P1", "P1"],
                "administered_at": pd.to_datetime(["2025-03-10"] * 2).astype("datetime64[us]"),
                "date_only": date_only,
            }
        )
        origins = add_relative_time(assessments, treatments, "datetime").origins
        return bool(origins.loc["P1", "origin_date_only"])

    assert origin_date_only([True, False])
    assert not origin_date_only([False, True])


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("seed", [1, 2])
def test_time_order_is_a_stable_sort_by_group_then_time(grouped: bool, seed: int):
    # Reference: numpy's stable lexsort. Few distinct times, so there are many ties.
    from katoutcomes.timebase import time_order

    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 50, size=2_000)
    t = rng.integers(0, 5, size=2_000).astype(float)
    if grouped:
        groups = np.sort(groups)
    expected = np.lexsort((t, groups))
    order = time_order(groups, t)
    np.testing.assert_array_equal(np.arange(groups.size) if order is None else order, expected)
    # Already in order: nothing to do.
    assert time_order(groups[expected], t[expected]) is None


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("seed", [3, 4])
def test_time_order_breaks_ties_of_t_by_the_second_time(grouped: bool, seed: int):
    # Reference: numpy's stable lexsort on three keys.
    from katoutcomes.timebase import time_order

    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 50, size=2_000)
    t = rng.integers(0, 3, size=2_000).astype(float)
    then = rng.integers(0, 3, size=2_000).astype(float)
    if grouped:
        groups = np.sort(groups)
    expected = np.lexsort((then, t, groups))
    order = time_order(groups, t, then)
    np.testing.assert_array_equal(np.arange(groups.size) if order is None else order, expected)
    assert time_order(groups[expected], t[expected], then[expected]) is None


def test_same_day_assessments_with_a_date_only_dose_are_ordered_by_their_time():
    # The dose has a date only, so t counts whole days (methods §2.3): both assessments on
    # 2025-03-10 have t = 0. The file lists 20:00 before 08:00; the 08:00 one comes first.
    ds = _dataset(
        {
            "patient_id": ["P1", "P1", "P1"],
            "instrument": ["PHQ-9"] * 3,
            "assessed_at": ["2025-03-10T20:00", "2025-03-10T08:00", "2025-03-29T09:00"],
            "total": [12, 20, 9],
        },
        {"patient_id": ["P1"], "administered_at": ["2025-03-10"], "dose_mg": [35]},
    )
    assert ds.assessments["t"].tolist() == [0.0, 0.0, 19.0]
    assert ds.assessments["total"].tolist() == [20.0, 12.0, 9.0]


def test_rows_of_a_patient_without_an_origin_keep_their_input_order():
    # P2 has no treatment and no valid assessment (two incomplete questionnaires: one item
    # each, no total), so no origin and t = NaN: its rows stay in file order (day 5, then
    # day 3), after P1's.
    ds = _dataset(
        {
            "patient_id": ["P2", "P2", "P1"],
            "instrument": ["PHQ-9"] * 3,
            "study_day": [5, 3, 0],
            "total": [None, None, 20],
            "item_1": [1, 2, None],
        }
    )
    assert ds.assessments["patient_id"].tolist() == ["P1", "P2", "P2"]
    assert ds.assessments["study_day"].tolist() == [0.0, 5.0, 3.0]
    assert ds.assessments["t"].isna().tolist() == [False, True, True]


@pytest.mark.parametrize("grouped", [True, False])
def test_sorted_codes_match_a_sorted_factorize(grouped: bool):
    from katoutcomes.timebase import sorted_codes

    rng = np.random.default_rng(5)
    values = pd.Series(rng.choice(["P10", "P2", "P33", None], size=500), dtype="str")
    if grouped:
        values = values.sort_values(kind="stable", na_position="first").reset_index(drop=True)
    codes, uniques = sorted_codes(values)
    expected_codes, expected_uniques = pd.factorize(values, sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    pd.testing.assert_index_equal(uniques, expected_uniques)
