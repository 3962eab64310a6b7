"""The example exports under examples/ (issue 9): read as the README walks through them."""

from __future__ import annotations

import importlib.util
import tomllib

import openpyxl
import pandas as pd
import pytest

from conftest import ROOT, run_cli
from katoutcomes.dataset import Dataset
from katoutcomes.demo import generate_demo
from katoutcomes.ingest import rejected_summary, validate_path
from katoutcomes.mapping import load_mapping
from katoutcomes.store import Store

MESSY = ROOT / "examples" / "messy_export"
MAPPING = ROOT / "examples" / "mappings" / "messy_export.toml"


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_messy_export", MESSY / "make_messy_export.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def without_mapping():
    return validate_path(MESSY)


@pytest.fixture(scope="module")
def with_mapping():
    return validate_path(MESSY, mapping=load_mapping(MAPPING))


def test_the_messy_export_is_read_without_a_mapping_except_its_diagnoses(without_mapping):
    result = without_mapping
    reports = {r.table: r for r in result.reports}
    assert reports["assessments"].file == "assessments.xlsx"
    assert reports["assessments"].skipped_rows == (1, 2)  # merged title and note
    assert result.rows_read == result.n_accepted + result.n_rejected + result.n_duplicates
    problems = result.rejected.groupby(["file", "field"]).size().to_dict()
    # Only the three unscored questionnaires and the diagnoses written in words are refused.
    assert problems[("assessments.xlsx", "total")] == 3
    assert set(problems) == {("assessments.xlsx", "total"), ("patients.csv", "primary_diagnosis")}
    groups = rejected_summary(result.rejected)
    diagnosis = groups[groups["field"] == "primary_diagnosis"].iloc[0]
    printed = tomllib.loads(diagnosis["mapping_lines"])["values"]["primary_diagnosis"]
    shipped = tomllib.loads(MAPPING.read_text())["values"]["primary_diagnosis"]
    # The shipped mapping is the printed lines with each right-hand side filled in.
    assert set(printed) == set(shipped)


def test_with_the_mapping_only_the_unscored_questionnaires_are_rejected(with_mapping):
    result = with_mapping
    assert result.n_rejected == 3
    rejected = result.rejected
    assert (rejected["file"] == "assessments.xlsx").all() and (rejected["field"] == "total").all()
    assert (rejected["value"] == "not done").all()
    # Lines are spreadsheet rows: header on row 3, so data rows start at 4.
    assert rejected["line"].min() >= 4
    sheet = openpyxl.load_workbook(MESSY / "assessments.xlsx").active
    for line in rejected["line"]:
        assert sheet.cell(row=int(line), column=4).value == "not done"


def test_demographics_ids_and_day_first_dates_are_read_as_the_cohort_was_made(with_mapping):
    made = _generator()
    cohort = generate_demo(patients=made.PATIENTS, seed=made.SEED)
    patients = with_mapping.accepted["patients"]
    assert set(patients["sex"]) <= {"female", "male", "other", "unknown"}
    assert (
        patients["sex"].value_counts().sort_index()
        == cohort.patients["sex"].value_counts().sort_index()
    ).all()
    assert set(patients["age_band"]) <= {band for _, band in made.CLINIC_BANDS}
    assert "20671021" in set(patients["patient_id"])
    # Day-first dates read back as the generator's timestamps (written to the minute).
    accepted = with_mapping.accepted["assessments"]["assessed_at"]
    expected = cohort.assessments["assessed_at"].dt.floor("min")
    assert set(accepted) <= set(expected) and len(accepted) == len(expected) - 3
    treated = with_mapping.accepted["treatments"]["administered_at"]
    assert treated.tolist() == cohort.treatments["administered_at"].dt.floor("min").tolist()


def test_the_generator_writes_the_same_files_again(tmp_path):
    _generator().write_messy_export(tmp_path)
    for name in ("treatments.csv", "patients.csv"):
        assert (tmp_path / name).read_bytes() == (MESSY / name).read_bytes(), name
    again = pd.read_excel(tmp_path / "assessments.xlsx", header=None, engine="calamine")
    shipped = pd.read_excel(MESSY / "assessments.xlsx", header=None, engine="calamine")
    pd.testing.assert_frame_equal(again, shipped)


def test_the_readme_walkthrough_runs_from_validate_to_a_store(tmp_path):
    first = run_cli("validate", str(MESSY))
    assert first.returncode == 1
    assert "header on row 3; rows 1-2 above it skipped" in first.stdout
    assert '"Major depressive disorder" = "MDD"' in first.stdout
    second = run_cli("validate", str(MESSY), "--mapping", str(MAPPING))
    assert second.returncode == 1 and "3 rows: column total: not a number" in second.stdout
    db = tmp_path / "clinic.duckdb"
    stored = run_cli("ingest", str(MESSY), "--mapping", str(MAPPING), "--db", str(db))
    assert stored.returncode == 1 and f"stored in {db} as ingest 1" in stored.stdout
    with Store(db, read_only=True) as store:
        dataset = Dataset.from_store(store)
    assert dataset.patients["primary_diagnosis"].notna().all()
    assert dataset.assessments["patient_id"].nunique() == 80
