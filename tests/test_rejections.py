"""One test per rejection reason: the reason text and the line number reported.

Line numbers are spreadsheet row numbers: the header is line 1, the first data row line 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli, write_csv
from katoutcomes.ingest import SELF_HARM_IN_REJECTED_ROW, validate_path
from katoutcomes.store import Store

HEADER = "patient_id,instrument,assessed_at,total"
GOOD = "P001,PHQ-9,2025-01-01,15"


@pytest.mark.parametrize(
    ("bad_row", "field", "reason_start"),
    [
        (",PHQ-9,2025-01-02,15", "patient_id", "required value is missing"),
        ("P001,,2025-01-02,15", "instrument", "required value is missing"),
        ("P001,PHQ-9,,15", "assessed_at", "required value is missing"),
        ("P001,PHQ-9,2025-01-02,abc", "total", "not a number (expected a whole number 0-27)"),
        ("P001,PHQ-9,2025-01-02,12.5", "total", "not a whole number"),
        ("P001,PHQ-9,2025-01-02,-1", "total", "out of range (expected a whole number 0-27)"),
        ("P001,PHQ-9,2025-01-02,28", "total", "out of range"),
        ("P001,GAD-7,2025-01-02,22", "total", "out of range (a GAD-7 total is 0-21)"),
        ("P001,HADS,2025-01-02,12", "instrument", "not an allowed value (expected one of PHQ-9"),
        ("P 001,PHQ-9,2025-01-02,12", "patient_id", "contains characters other than"),
        ("P001,PHQ-9,2 Jan 2025,12", "assessed_at", "not a date (expected a date such as"),
        ("P001,PHQ-9,2025-02-30,12", "assessed_at", "not a date"),
        (
            "jane.doe@example.org,PHQ-9,2025-01-02,12",
            "patient_id",
            "patient_id looks like an e-mail address",
        ),
        (
            "123-45-6789,PHQ-9,2025-01-02,12",
            "patient_id",
            "patient_id looks like a US Social Security number",
        ),
        ("555-123-4567,PHQ-9,2025-01-02,12", "patient_id", "patient_id looks like a phone number"),
        ("1980-05-17,PHQ-9,2025-01-02,12", "patient_id", "patient_id looks like a date"),
        ("19800517,PHQ-9,2025-01-02,12", "patient_id", "patient_id looks like a date"),
        ("Jane_Doe,PHQ-9,2025-01-02,12", "patient_id", "patient_id looks like a name"),
        ("P001,PHQ-9,2025-01-02,12,S1", "", "row has 5 fields but the header has 4"),
    ],
)
def test_bad_row_is_rejected_with_its_reason_and_line(tmp_path: Path, bad_row, field, reason_start):
    path = write_csv(tmp_path, "assessments.csv", f"{HEADER}\n{GOOD}\n{bad_row}\n{GOOD[:-2]}9")
    # line 2 good, line 3 bad, line 4 good (a later date keeps it a distinct key)
    path.write_text(path.read_text().replace("2025-01-01,9", "2025-01-03,9"))
    result = validate_path(path)
    assert (result.rows_read, result.n_accepted, result.n_rejected) == (3, 2, 1)
    problem = result.rejected.iloc[0]
    assert problem["line"] == 3
    assert problem["field"] == field
    assert problem["reason"].startswith(reason_start), problem["reason"]


ITEM_HEADER = "patient_id,instrument,study_day,total," + ",".join(f"item_{i}" for i in range(1, 10))


@pytest.mark.parametrize(
    ("bad_row", "field", "reason_start"),
    [
        (
            "P001,PHQ-9,1,10,1,1,1,1,1,1,1,1,1",
            "total",
            "the recorded total disagrees with the sum of the items",
        ),
        (
            "P001,PHQ-9,1,20,1,1,1,1,1,1,1,1,",
            "total",
            "the recorded total cannot come from the answered items",
        ),
        ("P001,PHQ-9,1,,,,,,,,,,", "total", "no total and no item scores"),
        ("P001,GAD-7,1,,1,1,1,1,1,1,1,1,", "item_8", "GAD-7 has 7 items; item_8 must be blank"),
        ("P001,PHQ-9,1,,1,1,1,1,1,1,1,1,4", "item_9", "out of range (expected a whole number 0-3)"),
    ],
)
def test_item_level_problems_are_rejected_with_reason_and_line(
    tmp_path: Path, bad_row, field, reason_start
):
    path = write_csv(
        tmp_path, "assessments.csv", f"{ITEM_HEADER}\nP001,PHQ-9,0,15,,,,,,,,,\n{bad_row}"
    )
    result = validate_path(path)
    assert (result.n_accepted, result.n_rejected) == (1, 1)
    problem = result.rejected.iloc[0]
    assert (problem["line"], problem["field"]) == (3, field)
    assert problem["reason"].startswith(reason_start), problem["reason"]


def test_a_rejected_phq9_row_that_answers_item_9_says_so(tmp_path: Path):
    # Line 2: items sum to 23 but the total says 20 (rejected) and item 9 = 1: one extra
    # problem line on item_9. Line 3: item 9 = 2 with a consistent total (1 * 8 + 2 = 10):
    # accepted, flagged as usual. Line 4: a GAD-7 out of range: no item 9, no extra line.
    path = write_csv(
        tmp_path,
        "assessments.csv",
        f"""{ITEM_HEADER}
        P001,PHQ-9,0,20,3,3,3,3,3,3,2,2,1
        P002,PHQ-9,0,10,1,1,1,1,1,1,1,1,2
        P003,GAD-7,0,30,,,,,,,,,""",
    )
    result = validate_path(path)
    assert (result.n_accepted, result.n_rejected) == (1, 2)  # rows counted once
    lines = result.rejected[["line", "field", "value"]].values.tolist()
    assert lines == [
        [2, "total", "total 20, items sum to 23"],
        [2, "item_9", "1"],
        [4, "total", "30"],
    ]
    assert result.rejected["reason"].tolist()[1] == SELF_HARM_IN_REJECTED_ROW
    assert result.accepted["assessments"]["item9_high"].tolist() == [True]


def test_conflicting_phq9_rows_that_answer_item_9_say_so(tmp_path: Path):
    # Two versions of one key (P001, PHQ-9, day 0) that differ in item 9 (3 and 0): both
    # are rejected as a conflict; the one answering 3 gets the self-harm line.
    items = "1,1,1,1,1,1,1,1"
    path = write_csv(
        tmp_path,
        "assessments.csv",
        f"""{ITEM_HEADER}
        P001,PHQ-9,0,11,{items},3
        P001,PHQ-9,0,8,{items},0""",
    )
    result = validate_path(path)
    assert (result.n_accepted, result.n_rejected) == (0, 2)
    self_harm = result.rejected[result.rejected["reason"] == SELF_HARM_IN_REJECTED_ROW]
    assert self_harm[["line", "value"]].values.tolist() == [[2, "3"]]


def test_a_row_conflicting_with_a_stored_one_says_it_answers_item_9(tmp_path: Path):
    items = "1,1,1,1,1,1,1,1"
    first = write_csv(tmp_path / "a", "assessments.csv", f"{ITEM_HEADER}\nP001,PHQ-9,0,8,{items},0")
    second = write_csv(
        tmp_path / "b", "assessments.csv", f"{ITEM_HEADER}\nP001,PHQ-9,0,10,{items},2"
    )
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(first)
        result = store.validate(second)
    assert result.n_rejected == 1
    self_harm = result.rejected[result.rejected["reason"] == SELF_HARM_IN_REJECTED_ROW]
    assert self_harm[["line", "value"]].values.tolist() == [[2, "2"]]


def test_validate_names_rejected_rows_with_a_self_harm_answer_first(tmp_path: Path):
    write_csv(
        tmp_path,
        "assessments.csv",
        f"""{ITEM_HEADER}
        P001,PHQ-9,0,20,3,3,3,3,3,3,2,2,1
        P002,PHQ-9,0,10,1,1,1,1,1,1,1,1,2""",
    )
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 1
    safety = result.stdout.index("Safety: 1 rejected PHQ-9 row(s) answer item 9")
    assert "assessments.csv line 2." in result.stdout[safety:]
    assert safety < result.stdout.index("Rejected rows")
    # The analysis commands' warning about rejected rows counts them too.
    analysis = run_cli("outcomes", str(tmp_path), "--format", "json")
    assert analysis.returncode == 0
    assert "1 row(s) of" in analysis.stderr
    assert "1 of them answer PHQ-9 item 9 (self-harm) with 1 or more" in analysis.stderr


TREAT_HEADER = "patient_id,administered_at,route,dose_mg,weight_kg,psychotherapy,adverse_events"


@pytest.mark.parametrize(
    ("bad_row", "field", "reason_start"),
    [
        ("P001,2025-01-04,IVX,35,70,yes,", "route", "not an allowed value (expected one of IV"),
        ("P001,2025-01-04,IV,-5,70,yes,", "dose_mg", "out of range"),
        ("P001,2025-01-04,IV,35,0,yes,", "weight_kg", "out of range (expected a number above 0"),
        ("P001,2025-01-04,IV,35,70,maybe,", "psychotherapy", "not a yes/no value"),
        ("P001,2025-01-04,IV,35,70,yes,nausea;sneezing", "adverse_events", "unknown code"),
    ],
)
def test_treatment_problems_are_rejected_with_reason_and_line(
    tmp_path: Path, bad_row, field, reason_start
):
    write_csv(tmp_path, "assessments.csv", f"{HEADER}\n{GOOD}")
    write_csv(
        tmp_path, "treatments.csv", f"{TREAT_HEADER}\nP001,2025-01-01,IV,35,70,yes,\n{bad_row}"
    )
    result = validate_path(tmp_path)
    treat = result.rejected[result.rejected["table"] == "treatments"]
    assert len(treat) == 1
    problem = treat.iloc[0]
    assert (problem["file"], problem["line"], problem["field"]) == ("treatments.csv", 3, field)
    assert problem["reason"].startswith(reason_start), problem["reason"]


def test_adverse_event_codes_are_normalised_and_accepted(tmp_path: Path):
    write_csv(tmp_path, "assessments.csv", f"{HEADER}\n{GOOD}")
    write_csv(
        tmp_path,
        "treatments.csv",
        f"{TREAT_HEADER}\nP001,2025-01-01,iv,35,70,Yes,Dissociation; NAUSEA;nausea",
    )
    result = validate_path(tmp_path)
    row = result.accepted["treatments"].iloc[0]
    # schema order (nausea before dissociation), each code once; route canonicalised
    assert row["adverse_events"] == "nausea;dissociation"
    assert row["route"] == "IV"
    assert bool(row["psychotherapy"]) is True


def test_the_same_adverse_event_code_is_kept_on_every_row(tmp_path: Path):
    write_csv(tmp_path, "assessments.csv", f"{HEADER}\n{GOOD}")
    write_csv(
        tmp_path,
        "treatments.csv",
        f"{TREAT_HEADER}\nP001,2025-01-01,IV,35,70,yes,nausea\n"
        "P001,2025-01-04,IV,35,70,yes,nausea;nausea\nP001,2025-01-08,IV,35,70,yes,headache;nausea",
    )
    result = validate_path(tmp_path)
    assert result.accepted["treatments"]["adverse_events"].tolist() == [
        "nausea",
        "nausea",
        "nausea;headache",
    ]


def test_patient_age_outside_0_to_120_is_rejected(tmp_path: Path):
    write_csv(tmp_path, "assessments.csv", f"{HEADER}\n{GOOD}")
    write_csv(tmp_path, "patients.csv", "patient_id,age,sex\nP001,42,female\nP002,130,male")
    result = validate_path(tmp_path)
    problem = result.rejected.iloc[0]
    assert (problem["table"], problem["line"], problem["field"]) == ("patients", 3, "age")
    assert problem["reason"] == "not an age in years (expected 0-120)"


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (17, "<18"),
        (18, "18-24"),
        (24, "18-24"),
        (25, "25-29"),
        (89, "85-89"),
        (90, "90+"),
        (104, "90+"),
        (42.9, "40-44"),
    ],
)
def test_raw_age_is_banded_and_ages_above_89_become_90_plus(tmp_path: Path, age, band):
    write_csv(tmp_path, "assessments.csv", f"{HEADER}\n{GOOD}")
    write_csv(tmp_path, "patients.csv", f"patient_id,age\nP001,{age}")
    result = validate_path(tmp_path)
    assert result.accepted["patients"].iloc[0]["age_band"] == band
    assert "age" not in result.accepted["patients"].columns


def test_same_key_with_other_values_in_one_file_rejects_every_version(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "assessments.csv",
        f"{HEADER}\n{GOOD}\nP001,PHQ-9,2025-01-01,16\nP002,PHQ-9,2025-01-01,9",
    )
    result = validate_path(path)
    assert (result.n_accepted, result.n_rejected, result.n_duplicates) == (1, 2, 0)
    assert list(result.rejected["line"]) == [2, 3]
    assert result.rejected.iloc[0]["reason"].startswith(
        "conflicting rows for the same patient, instrument and time with different values "
        "(lines 2, 3)"
    )


def test_exact_duplicate_in_one_file_is_counted_not_rejected(tmp_path: Path):
    path = write_csv(
        tmp_path, "assessments.csv", f"{HEADER}\n{GOOD}\n{GOOD}\nP001,phq9,2025-01-01,15"
    )
    result = validate_path(path)
    # the alias spelling phq9 normalises to PHQ-9, so line 4 is the same row again
    assert (result.rows_read, result.n_accepted, result.n_duplicates) == (3, 1, 2)


def test_conflict_with_a_stored_row_is_rejected_and_the_stored_row_kept(tmp_path: Path):
    first = write_csv(tmp_path / "a", "assessments.csv", f"{HEADER}\n{GOOD}")
    second = write_csv(tmp_path / "b", "assessments.csv", f"{HEADER}\nP001,PHQ-9,2025-01-01,3")
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(first)
        result = store.ingest(second)
        assert (result.n_accepted, result.n_rejected) == (0, 1)
        problem = result.rejected.iloc[0]
        assert problem["line"] == 2
        assert problem["reason"].startswith(
            "conflicts with an earlier row with the same key and other values (assessments.csv "
            "line 2), which is kept"
        )
        assert store.table("assessments")["total"].tolist() == [15.0]


def test_visit_row_with_no_score_and_no_dose_is_rejected(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "visits.csv",
        "patient_id,date,phq9,gad7,dose_mg\nP001,2025-01-01,15,9,35\nP001,2025-01-04,,,",
    )
    result = validate_path(path)
    problem = result.rejected.iloc[0]
    assert problem["line"] == 3
    assert problem["reason"] == "visit row has no PHQ-9 or GAD-7 score and no dose"
