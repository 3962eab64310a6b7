"""The command line: demo, validate and ingest, with their exit codes and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, run_cli
from katoutcomes.cli import main


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", str(out), "--patients", "60", "--seed", "3"]) == 0
    return out


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "validate", "ingest"):
        assert command in result.stdout


def test_demo_cohort_validates_cleanly(demo_dir: Path):
    result = run_cli("validate", str(demo_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rejected 0" in result.stdout


def test_json_output_has_integer_counts_per_table_and_rejected_rows(demo_dir: Path):
    result = run_cli("validate", str(demo_dir), "--format", "json")
    payload = json.loads(result.stdout)
    for key in ("rows_read", "accepted", "rejected", "duplicates"):
        assert isinstance(payload[key], int)
    assert payload["rows_read"] == payload["accepted"] + payload["rejected"] + payload["duplicates"]
    assert set(payload["tables"]) == {"assessments", "treatments", "patients"}
    assert payload["rejected_rows"] == []
    lines = {
        name: len((demo_dir / f"{name}.csv").read_text().splitlines()) - 1
        for name in ("assessments", "treatments", "patients")
    }
    assert {t: v["rows_read"] for t, v in payload["tables"].items()} == lines


def _plant_bad_rows(src: Path, dst: Path) -> list[tuple[str, int, str]]:
    """Copy the demo cohort and append one bad row of each kind; return (file, line, field)."""
    dst.mkdir()
    planted = []
    for name in ("assessments", "treatments", "patients"):
        frame = pd.read_csv(src / f"{name}.csv", dtype=str, keep_default_na=False)
        good = frame.iloc[0].to_dict()
        bad_rows: list[tuple[dict, str]] = []
        if name == "assessments":
            phq = frame[(frame["instrument"] == "PHQ-9") & (frame["total"] != "")].iloc[0]
            gad = frame[frame["instrument"] == "GAD-7"].iloc[0].to_dict()
            base = {**phq.to_dict(), "assessed_at": "2030-01-01T09:00:00"}
            bad_rows = [
                ({**base, "patient_id": ""}, "patient_id"),
                ({**base, "instrument": "HADS"}, "instrument"),
                ({**base, "assessed_at": "next Tuesday"}, "assessed_at"),
                ({**base, "total": "28"}, "total"),
                ({**base, "total": "ten"}, "total"),
                ({**base, "item_3": "7", "total": ""}, "item_3"),
                ({**base, "total": "5", **{f"item_{i}": "1" for i in range(1, 10)}}, "total"),
                ({**gad, "assessed_at": "2030-01-02T09:00:00", "item_8": "1"}, "item_8"),
                ({**base, "patient_id": "john.smith@example.org"}, "patient_id"),
                ({**base, "patient_id": "1979-04-02"}, "patient_id"),
                ({**phq.to_dict(), "total": str((int(phq["total"]) + 1) % 27)}, "assessed_at"),
            ]
        elif name == "treatments":
            bad_rows = [
                ({**good, "administered_at": "2030-02-01T09:00:00", "route": "rectal"}, "route"),
                ({**good, "administered_at": "2030-02-02T09:00:00", "dose_mg": "-1"}, "dose_mg"),
                (
                    {**good, "administered_at": "2030-02-03T09:00:00", "psychotherapy": "often"},
                    "psychotherapy",
                ),
                (
                    {**good, "administered_at": "2030-02-04T09:00:00", "adverse_events": "hiccups"},
                    "adverse_events",
                ),
            ]
        else:
            bad_rows = [
                ({**good, "patient_id": "P99998", "primary_diagnosis": "flu"}, "primary_diagnosis"),
                (
                    {**good, "patient_id": "P99999", "prior_treatment_failures": "-2"},
                    "prior_treatment_failures",
                ),
            ]
        n = len(frame)
        extra = pd.DataFrame([row for row, _ in bad_rows], columns=frame.columns)
        pd.concat([frame, extra]).to_csv(dst / f"{name}.csv", index=False)
        for i, (_, field) in enumerate(bad_rows):
            planted.append((f"{name}.csv", n + 2 + i, field))
    return planted


def test_planted_bad_rows_exit_1_and_each_is_reported_and_counted(demo_dir: Path, tmp_path: Path):
    planted = _plant_bad_rows(demo_dir, tmp_path / "bad")
    result = run_cli(
        "validate",
        str(tmp_path / "bad"),
        "--format",
        "json",
        "--rejected",
        str(tmp_path / "rejected.csv"),
    )
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    reported = {(r["file"], r["line"], r["field"]) for r in payload["rejected_rows"]}
    for item in planted:
        assert item in reported, item
    # the conflicting copy rejects its original too (same key, other values): +1 row
    assert payload["rejected"] == len(planted) + 1
    assert payload["rows_read"] == payload["accepted"] + payload["rejected"] + payload["duplicates"]
    written = pd.read_csv(tmp_path / "rejected.csv")
    assert list(written.columns) == ["table", "file", "line", "field", "reason", "value"]
    assert len(written) == len(payload["rejected_rows"])


def test_email_column_exits_2_naming_it(tmp_path: Path):
    path = tmp_path / "assessments.csv"
    path.write_text("patient_id,instrument,assessed_at,total,email\nP001,PHQ-9,2025-01-01,12,\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "column 'email'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("patient_id,assessed_at,total\nP001,2025-01-01,12\n", "unknown layout"),
        ("patient_id,instrument,total\nP001,PHQ-9,12\n", "missing required column assessed_at"),
        (
            "patient_id,instrument,assessed_at,study_day,total\nP001,PHQ-9,2025-01-01,,12\n"
            "P001,PHQ-9,,3,12\n",
            "mixes time representations",
        ),
    ],
)
def test_file_level_problems_exit_2_with_one_clear_message(tmp_path: Path, content, message):
    path = tmp_path / "assessments.csv"
    path.write_text(content)
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert message in result.stderr


def test_missing_path_exits_2(tmp_path: Path):
    result = run_cli("validate", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no such file or folder" in result.stderr


def test_ingest_persists_and_a_second_run_adds_nothing(demo_dir: Path, tmp_path: Path):
    db = tmp_path / "clinic.duckdb"
    first = run_cli("ingest", str(demo_dir), "--db", str(db), "--format", "json")
    assert first.returncode == 0, first.stderr
    again = run_cli("ingest", str(demo_dir), "--db", str(db), "--format", "json")
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert b["accepted"] == 0 and b["duplicates"] == a["accepted"]
    assert "nothing new" in b["stored"]


def test_worked_mapping_examples_validate_cleanly():
    ehr = run_cli(
        "validate",
        str(ROOT / "examples/ehr_export"),
        "--mapping",
        str(ROOT / "examples/mappings/ehr_flowsheet.toml"),
        "--format",
        "json",
    )
    assert ehr.returncode == 0, ehr.stderr
    assert json.loads(ehr.stdout)["accepted"] == 15
    visits = run_cli(
        "validate",
        str(ROOT / "examples/visit_wide/visits.csv"),
        "--mapping",
        str(ROOT / "examples/mappings/visit_wide_clinic.toml"),
        "--format",
        "json",
    )
    assert visits.returncode == 0, visits.stderr
    payload = json.loads(visits.stdout)
    # 8 visits: 8 PHQ-9 + 6 GAD-7 scores, 5 visits with a dose
    assert payload["tables"]["assessments"]["accepted"] == 14
    assert payload["tables"]["treatments"]["accepted"] == 5


def test_python_dash_m_runs_the_same_command_line():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "katoutcomes", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "outcomes" in done.stdout and "claims" in done.stdout
