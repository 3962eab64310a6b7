"""Cohort filters select whole patients by site, clinician, route, diagnosis and start date."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from katoutcomes.dataset import Dataset
from katoutcomes.filters import CohortFilter, filter_dataset, filter_options
from katoutcomes.ingest import validate_frames


def _cohort() -> Dataset:
    # P1: site S1, IV, first dose 2025-01-10, MDD. P2: site S2, IM, first dose 2025-02-10,
    # TRD. P3: site S1 on two rows and S2 on one (mostly S1), IM, first dose 2025-03-10.
    assessments = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P2", "P3", "P3", "P3"],
            "instrument": ["PHQ-9"] * 7,
            "assessed_at": [
                "2025-01-10",
                "2025-01-20",
                "2025-02-10",
                "2025-02-20",
                "2025-03-10",
                "2025-03-20",
                "2025-03-27",
            ],
            "total": [20, 8, 18, 17, 22, 10, 9],
            "site_id": ["S1", "S1", "S2", "S2", "S1", "S1", "S2"],
        }
    )
    treatments = pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3"],
            "administered_at": ["2025-01-10", "2025-02-10", "2025-03-10"],
            "route": ["IV", "IM", "IM"],
            "dose_mg": [35, 60, 60],
        }
    )
    patients = pd.DataFrame(
        {"patient_id": ["P1", "P2", "P3"], "primary_diagnosis": ["MDD", "TRD", "MDD"]}
    )
    result = validate_frames(
        {"assessments": assessments, "treatments": treatments, "patients": patients}
    )
    return Dataset.from_result(result)


def _ids(ds: Dataset) -> list[str]:
    return sorted(ds.assessments["patient_id"].unique())


def test_empty_filter_keeps_everyone():
    ds = _cohort()
    assert filter_dataset(ds, CohortFilter()) is ds


def test_site_is_the_patients_most_frequent_site():
    assert _ids(filter_dataset(_cohort(), CohortFilter(site=("S1",)))) == ["P1", "P3"]


def test_filters_combine_and_keep_whole_patients():
    ds = filter_dataset(_cohort(), CohortFilter(route=("IM",), diagnosis=("MDD",)))
    assert _ids(ds) == ["P3"]
    assert len(ds.assessments) == 3 and len(ds.treatments) == 1 and len(ds.patients) == 1


def test_date_range_applies_to_the_first_dose():
    ds = filter_dataset(
        _cohort(), CohortFilter(start=dt.date(2025, 2, 1), end=dt.date(2025, 2, 28))
    )
    assert _ids(ds) == ["P2"]
    assert ds.provenance["filter"] == {
        "first_dose_from": "2025-02-01",
        "first_dose_to": "2025-02-28",
    }


def test_filter_options_list_the_levels_present():
    options = filter_options(_cohort())
    assert options["site"] == ["S1", "S2"]
    assert options["route"] == ["IM", "IV"]
    assert options["diagnosis"] == ["MDD", "TRD"]
