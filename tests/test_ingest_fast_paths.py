"""The ingest fast paths (Arrow validation, number columns read by the CSV reader, RE2
identifier checks, row hashes only where rows are compared) give the results of the plain
text path: same accepted rows, same rejections, identifiers still refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli, write_csv
from katoutcomes.dataset import Dataset
from katoutcomes.errors import IngestError
from katoutcomes.ingest import (
    PROVENANCE,
    SELF_HARM_IN_REJECTED_ROW,
    WITHHELD,
    row_hashes,
    stored_columns,
    validate_frames,
    validate_path,
)
from katoutcomes.mapping import load_mapping
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.privacy import patient_id_problems
from katoutcomes.store import Store

ROOT = Path(__file__).resolve().parents[1]
HEADER = "patient_id,instrument,assessed_at,total,item_9,site_id"


# ----------------------------------------------------------------- patient_id privacy rule

# Identifiers written with non-ASCII digits (full-width, Arabic-Indic). Python's ``\d``
# (the old pandas ``str.match``) matches them; RE2's ``\d`` (pyarrow) does not.
NON_ASCII_DIGIT_IDS = {
    "\uff11\uff12\uff13-\uff14\uff15-\uff16\uff17\uff18\uff19": "Social Security number",
    "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0661\u0665": "date",
    "(\uff15\uff15\uff15) \uff11\uff12\uff13-\uff14\uff15\uff16\uff17": "phone number",
}


@pytest.mark.parametrize(("patient_id", "kind"), NON_ASCII_DIGIT_IDS.items())
def test_identifying_ids_written_with_non_ascii_digits_are_still_recognised(
    patient_id: str, kind: str
):
    # RE2's \d knows only 0-9: ids written with other digits are still recognised as
    # SSN, date or phone number, as Python's re does.
    reason = patient_id_problems(pd.Series([patient_id, "P0001"]))
    assert kind in str(reason.iloc[0])
    assert pd.isna(reason.iloc[1])


@pytest.mark.parametrize("patient_id", NON_ASCII_DIGIT_IDS)
def test_identifying_id_with_non_ascii_digits_is_withheld_from_reports_and_store(
    tmp_path: Path, patient_id: str
):
    # ...and withheld: not rejected by the generic pattern rule with the identifier shown
    # in the rejected rows and the store's rejected table.
    write_csv(
        tmp_path / "data",
        "assessments.csv",
        f"""
        {HEADER}
        {patient_id},PHQ-9,2025-01-01,5,0,S1
        P0002,PHQ-9,2025-01-01,6,0,S1
    """,
    )
    with Store(tmp_path / "s.duckdb") as store:
        result = store.ingest(tmp_path / "data")
        stored = store.rejected()
    row = result.rejected.loc[result.rejected["field"] == "patient_id"].iloc[0]
    assert row["value"] == WITHHELD
    assert "looks like" in row["reason"]
    assert patient_id not in stored["value"].tolist()


@pytest.mark.parametrize(
    "patient_id",
    ["john.doe@example.com", "555-123-4567", "123-45-6789", "1980-01-15", "JaneDoe", "Jos\u00e9x"],
)
def test_ascii_identifying_ids_are_withheld(tmp_path: Path, patient_id: str):
    path = write_csv(
        tmp_path,
        "assessments.csv",
        f"""
        {HEADER}
        {patient_id},PHQ-9,2025-01-01,5,0,S1
    """,
    )
    result = validate_path(path)
    assert result.rejected["value"].tolist() == [WITHHELD]


def test_ids_that_are_fine_or_only_malformed_are_not_called_identifying():
    ids = pd.Series(["P0001", "Zo\u00eb", "ab", "A" * 70 + "1", None])
    assert patient_id_problems(ids).isna().all()


# ------------------------------------------- identifiers in number columns (CSV fast path)


def test_phone_number_in_a_number_column_of_a_clean_csv_fails_the_ingest(tmp_path: Path):
    # Read as a number, "+15551234567" would lose the '+' that marks a phone number and be
    # reported as out of range; a value out of range sends the file down the text path,
    # where the cell fails the whole ingest (check_problem_values).
    path = write_csv(
        tmp_path,
        "assessments.csv",
        f"""
        {HEADER}
        P0001,PHQ-9,2025-01-01,+15551234567,0,S1
        P0002,PHQ-9,2025-01-01,5,0,S1
    """,
    )
    with pytest.raises(IngestError, match="phone number"):
        validate_path(path)


def test_phone_number_in_a_treatment_number_column_fails_the_ingest(tmp_path: Path):
    # The same for dose_mg.
    write_csv(tmp_path, "assessments.csv", f"{HEADER}\nP0001,PHQ-9,2025-01-01,5,0,S1")
    write_csv(
        tmp_path,
        "treatments.csv",
        """
        patient_id,administered_at,dose_mg
        P0001,2025-01-02,+447946095800
    """,
    )
    with pytest.raises(IngestError, match="phone number"):
        validate_path(tmp_path)


def test_phone_number_in_a_number_column_of_a_text_path_csv_fails_the_ingest(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "assessments.csv",
        f"""
        {HEADER}
        P0001,PHQ-9,2025-01-01,+15551234567,0,S1
        P0002,PHQ-9,2025-01-01,five,0,S1
    """,
    )
    with pytest.raises(IngestError, match="phone number"):
        validate_path(path)


# ---------------------------------------------------- blank rows (CSV number fast path)


def test_a_row_holding_only_missing_markers_is_reported_not_skipped(tmp_path: Path):
    # A marker ("NA", "-", ...) read as null in a number column must not turn a row of
    # markers and blanks into spacing: it is a row, counted and rejected.
    path = write_csv(
        tmp_path,
        "assessments.csv",
        f"""
        {HEADER}
        P0001,PHQ-9,2025-01-01,5,0,S1
        ,,,NA,,
        ,,,-,0,
    """,
    )
    result = validate_path(path)
    assert result.rows_read == 3
    assert result.n_rejected == 2
    assert set(result.rejected["line"]) == {3, 4}


def test_a_number_first_row_of_markers_is_reported_not_skipped(tmp_path: Path):
    # As above, with the number column first.
    path = write_csv(
        tmp_path,
        "assessments.csv",
        """
        total,patient_id,instrument,assessed_at
        5,P0001,PHQ-9,2025-01-01
        N/A,,,
    """,
    )
    result = validate_path(path)
    assert result.rows_read == 2
    assert result.rejected["line"].unique().tolist() == [3]


def test_truly_blank_rows_are_still_skipped_on_the_number_path(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "assessments.csv",
        """
        total,patient_id,instrument,assessed_at
        ,,,
        5,P0001,PHQ-9,2025-01-01
        ,,,
        6,P0002,PHQ-9,2025-01-01
    """,
    )
    result = validate_path(path)
    assert (result.rows_read, result.n_accepted, result.n_rejected) == (2, 2, 0)
    assert result.accepted["assessments"]["source_line"].tolist() == [3, 5]


# ------------------------------------------------------ number path == text path (values)


def test_number_cells_read_the_same_on_the_number_and_text_paths(tmp_path: Path):
    rows = [
        'P01,PHQ-9,2025-01-01,"5",0,S1',
        "P02,PHQ-9,2025-01-01,+5,0,S1",
        "P03,PHQ-9,2025-01-01,1e1,0,S1",
        "P04,PHQ-9,2025-01-01,-0,0,S1",
        "P05,PHQ-9,2025-01-01,5.0,NA,S1",
        "P06,PHQ-9,2025-01-01,NA,1,S1",
        "P07,PHQ-9,2025-01-01,N/A,-,S1",
        "P08,PHQ-9,2025-01-01,None,None,S1",
        "P09,PHQ-9,2025-01-01,NaN,nan,S1",
        "P10,PHQ-9,2025-01-01,27,3,S1",
    ]
    clean = write_csv(tmp_path / "a", "assessments.csv", "\n".join([HEADER, *rows]))
    # One cell that is not a number sends the whole file down the text path.
    texty = write_csv(
        tmp_path / "b",
        "assessments.csv",
        "\n".join([HEADER, *rows, "P11,PHQ-9,2025-01-01,five,0,S1"]),
    )
    fast, slow = validate_path(clean), validate_path(texty)
    pd.testing.assert_frame_equal(
        fast.accepted["assessments"].drop(columns="source_file"),
        slow.accepted["assessments"].drop(columns="source_file"),
    )
    # Rows 8-10 hold no score at all (markers only); line 12 is the word "five".
    assert fast.rejected["line"].unique().tolist() == [8, 9, 10]
    pd.testing.assert_frame_equal(
        fast.rejected.drop(columns="file"),
        slow.rejected[slow.rejected["line"] != 12].drop(columns="file"),
    )


def test_decimal_commas_in_a_semicolon_file_take_the_text_path(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "treatments.csv",
        """
        patient_id;administered_at;dose_mg;weight_kg
        P0001;2025-01-02;35,5;80
        P0002;2025-01-02;40;NA
    """,
    )
    write_csv(tmp_path, "assessments.csv", f"{HEADER}\nP0001,PHQ-9,2025-01-01,5,0,S1")
    result = validate_path(path.parent)
    assert result.n_rejected == 0
    assert result.accepted["treatments"]["dose_mg"].tolist() == [35.5, 40.0]


# ------------------------------------------------------ duplicates, conflicts and the store


def _visit_wide_with_treatments(folder: Path) -> Path:
    visits = (ROOT / "examples" / "visit_wide" / "visits.csv").read_text()
    write_csv(folder, "assessments.csv", visits)
    write_csv(
        folder,
        "treatments.csv",
        """
        Client #,Visit date,Ketamine (mg),Route,KAP session?,Side effects,Fee
        C0101,2025-02-10,70,IM injection,yes,nausea,550
        C0101,2025-02-17,90,IM injection,no,dissociation,550
        C0102,2025-03-01,200,lozenge,no,,300
        C0102,2025-03-01,200,lozenge,no,,300
    """,
    )
    return folder


def test_two_treatment_units_in_one_ingest_and_a_second_ingest(tmp_path: Path):
    folder = _visit_wide_with_treatments(tmp_path / "data")
    mapping = load_mapping(ROOT / "examples" / "mappings" / "visit_wide_clinic.toml")
    result = validate_path(folder, mapping=mapping)
    treatments = result.rejected[result.rejected["table"] == "treatments"]
    # 02-10 repeats the visit-wide dose (duplicate), 02-17 conflicts with it (90 vs 80 mg),
    # 03-01 appears twice in the treatments file (one duplicate).
    assert treatments["line"].tolist() == [3]
    assert "conflicts with an earlier row" in treatments["reason"].iloc[0]
    by_file = {(r.table, r.file): r for r in result.reports}
    assert by_file[("treatments", "treatments.csv")].duplicates == 2
    assert "row_hash" not in result.accepted["treatments"].columns

    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        first = store.ingest(folder, mapping=mapping)
    with Store(db) as store:
        again = store.ingest(folder, mapping=mapping)
        stored = store.table("treatments")
    assert first.n_accepted == result.n_accepted
    assert again.n_accepted == 0
    assert again.n_duplicates == first.n_accepted + first.n_duplicates
    expected = row_hashes(stored, "treatments")
    assert stored["row_hash"].to_numpy(dtype="uint64").tolist() == expected.tolist()


def test_row_hashes_equal_pandas_row_hashes():
    mapping = load_mapping(ROOT / "examples" / "mappings" / "visit_wide_clinic.toml")
    result = validate_path(ROOT / "examples" / "visit_wide" / "visits.csv", mapping=mapping)
    for table, frame in result.accepted.items():
        columns = [c for c in stored_columns(table) if c not in PROVENANCE]
        pandas = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()
        assert row_hashes(frame, table).tolist() == pandas.tolist()


def test_conflict_with_a_stored_row_and_validate_json_counts(tmp_path: Path):
    write_csv(
        tmp_path / "one",
        "assessments.csv",
        f"""
        {HEADER}
        P0001,PHQ-9,2025-01-01,5,0,S1
        P0001,PHQ-9,2025-01-08,6,0,S1
    """,
    )
    write_csv(
        tmp_path / "two",
        "assessments.csv",
        f"""
        {HEADER}
        P0001,PHQ-9,2025-01-01,5,0,S1
        P0001,PHQ-9,2025-01-08,7,0,S1
        P0002,GAD-7,2025-01-01,4,,S1
        P0002,GAD-7,2025-01-01,4,,S1
        P0003,PHQ-9,2025-01-01,9,1,S2
        P0003,PHQ-9,2025-01-01,8,1,S2
    """,
    )
    db = tmp_path / "s.duckdb"
    assert run_cli("ingest", str(tmp_path / "one"), "--db", str(db)).returncode == 0
    done = run_cli("ingest", str(tmp_path / "two"), "--db", str(db), "--format", "json")
    report = json.loads(done.stdout)
    assert (report["accepted"], report["rejected"], report["duplicates"]) == (1, 3, 2)
    self_harm = [r for r in report["rejected_rows"] if r["reason"] == SELF_HARM_IN_REJECTED_ROW]
    others = [r for r in report["rejected_rows"] if r["reason"] != SELF_HARM_IN_REJECTED_ROW]
    assert sorted(r["line"] for r in others) == [3, 6, 7]
    # P0003's two conflicting rows both answer item 9 with 1: each says so.
    assert sorted(r["line"] for r in self_harm) == [6, 7]
    checked = run_cli("validate", str(tmp_path / "two"), "--format", "json")
    counts = json.loads(checked.stdout)
    assert (counts["accepted"], counts["rejected"], counts["duplicates"]) == (3, 2, 1)


# ------------------------------------------------------------------- other inputs, outcomes


def test_validate_frames_with_typed_columns():
    frames = {
        "assessments": pd.DataFrame(
            {
                "patient_id": pd.Series(["P1", "P2", "P3", "P4"], dtype="string"),
                "instrument": pd.Categorical(["PHQ-9", "gad7", "PHQ-9", "GAD-7"]),
                "assessed_at": pd.to_datetime(
                    ["2025-01-01 09:00", "2025-01-01", "2025-01-02", "2025-01-02"],
                    format="ISO8601",
                ),
                "total": pd.Series([5, 6, None, 7], dtype="Int64"),
                "item_9": [0.0, np.nan, 1.0, 4.0],
            }
        ),
        "treatments": pd.DataFrame(
            {
                "patient_id": ["P1", "P2"],
                "administered_at": pd.to_datetime(["2025-01-03", "2025-01-04"]),
                "dose_mg": pd.Series([50, 60], dtype="int32"),
                "psychotherapy": pd.Series([True, None], dtype="boolean"),
            }
        ),
    }
    result = validate_frames(frames)
    # Row 5's item 9 is out of range; row 4 (no total, item 9 only) is kept unscored.
    assert result.rejected[["line", "field"]].values.tolist() == [[5, "item_9"]]
    accepted = result.accepted["assessments"]
    assert accepted["instrument"].tolist() == ["PHQ-9", "GAD-7", "PHQ-9"]
    assert accepted["total"].tolist()[:2] == [5.0, 6.0]
    assert np.isnan(accepted["total"].iloc[2])
    assert result.accepted["treatments"]["psychotherapy"].tolist()[0] is True


@pytest.mark.parametrize("time", ["datetime", "study_day"])
def test_outcomes_from_store_equal_outcomes_from_result(tmp_path: Path, time: str):
    done = run_cli("demo", str(tmp_path / "demo"), "--time", time)
    assert done.returncode == 0, done.stderr
    result = validate_path(tmp_path / "demo")
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(tmp_path / "demo")
        from_store = Dataset.from_store(store)
    from_result = Dataset.from_result(result)
    pd.testing.assert_frame_equal(patient_outcomes(from_result), patient_outcomes(from_store))
