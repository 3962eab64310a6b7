"""Rejected rows grouped into one message per file, column and problem (issue 9, item 6)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd

from conftest import run_cli
from katoutcomes.ingest import (
    SELF_HARM_IN_REJECTED_ROW,
    next_step,
    rejected_summary,
    validate_frames,
    validate_path,
)


def _bad_dates(tmp_path: Path, n: int) -> Path:
    rows = ["patient_id,instrument,assessed_at,total,item_9"]
    rows += [f"P{i:05d},PHQ-9,2025/13/{i % 28 + 1:02d},{i % 20}," for i in range(n)]
    rows.append("P99999,PHQ-9,2025-01-01,x,2")  # a bad total and item 9 answered 2
    path = tmp_path / "assessments.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_problem_shared_by_5000_rows_is_one_line_with_the_first_ten_lines(tmp_path):
    path = _bad_dates(tmp_path, 5000)
    out = run_cli("validate", str(path), "--rejected", str(tmp_path / "rejected.csv"))
    assert out.returncode == 1, out.stderr
    lines = [line for line in out.stdout.splitlines() if "column assessed_at" in line]
    assert len(lines) == 1
    assert (
        lines[0]
        .strip()
        .startswith(
            "assessments.csv: 5,000 rows: column assessed_at: not a date (expected a date such as"
        )
    )
    assert "(lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, \u2026). Fix: write dates as" in lines[0]
    # --rejected still lists every row: 5,000 dates, the bad total and its safety line.
    written = pd.read_csv(tmp_path / "rejected.csv")
    assert len(written) == 5002
    assert written["line"].nunique() == 5001


def test_the_safety_lines_still_come_first(tmp_path):
    out = run_cli("validate", str(_bad_dates(tmp_path, 30)))
    text = out.stdout
    assert text.index("Safety: 1 rejected PHQ-9 row(s)") < text.index("Rejected rows, grouped")
    assert "assessments.csv line 32" in text
    assert "ingest them again" in text


def test_every_group_says_what_to_do_next_and_counts_add_up(tmp_path):
    assessments = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P3", "P4", "Jane_Doe", "P 6"],
            "instrument": ["PHQ-9", "PHQ-9", "PHQ-9", "HADS", "GAD-7", "PHQ-9", "PHQ-9"],
            "study_day": ["0", "0", "1", "2", "3", "4", "5"],
            "total": ["5", "6", "x", "7", "12.5", "3", "4"],
            "item_9": ["", "", "", "", "", "", ""],
        }
    )
    patients = pd.DataFrame(
        {"patient_id": ["P1", "P2", "P3"], "sex": ["Frau", "Herr", "M"], "age": ["42", "130", ""]}
    )
    result = validate_frames({"assessments": assessments, "patients": patients})
    summary = rejected_summary(result.rejected)
    assert summary["rows"].sum() == len(result.rejected)
    assert summary["message"].str.contains(r"\. Fix: ").all()
    assert (summary["fix"] != "").all()
    # Conflicting rows name each other; grouped, the reference to other rows is left out.
    conflict = summary[summary["problem"].str.startswith("conflicting rows")]
    assert conflict["rows"].tolist() == [2] and "(lines 2, 3)" in conflict["message"].iloc[0]


def test_unknown_values_are_grouped_with_the_mapping_lines_for_each_value():
    patients = pd.DataFrame(
        {"patient_id": ["P1", "P2", "P3", "P4"], "sex": ["Frau", "Herr", "Frau", "M"]}
    )
    assessments = pd.DataFrame(
        {"patient_id": ["P1"], "instrument": ["PHQ-9"], "study_day": [0], "total": [3]}
    )
    result = validate_frames({"assessments": assessments, "patients": patients})
    (group,) = rejected_summary(result.rejected).itertuples(index=False)
    assert (group.rows, group.lines) == (3, "2, 3, 4")
    assert group.problem.startswith("not an allowed value (expected one of female, male")
    assert tomllib.loads(group.mapping_lines) == {
        "values": {"sex": {"Frau": "female", "Herr": "female"}}
    }
    assert group.message.endswith(group.mapping_lines)


def test_an_unknown_reason_still_gets_a_next_step():
    assert (
        next_step("total", "something new") == "correct these rows in the export and validate again"
    )
    assert next_step("", SELF_HARM_IN_REJECTED_ROW).startswith("correct the other problems")


def test_every_rejected_row_has_file_line_field_and_reason(tmp_path):
    result = validate_path(_bad_dates(tmp_path, 50))
    rejected = result.rejected
    assert rejected[["file", "line", "reason"]].notna().all().all()
    assert (rejected["file"] == "assessments.csv").all()
    assert (rejected["reason"] != "").all() and (rejected["field"] != "").all()
    assert result.rows_read == result.n_accepted + result.n_rejected + result.n_duplicates
