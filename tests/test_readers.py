"""Reading files: delimiters, BOM, XLSX, Parquet, line numbers and file-level errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from katoutcomes.errors import IngestError
from katoutcomes.ingest import validate_frames, validate_path
from katoutcomes.readers import read_table

ROWS = [["P001", "PHQ-9", "2025-01-01", "15"], ["P001", "GAD-7", "2025-01-01", "11"]]
HEADER = ["patient_id", "instrument", "assessed_at", "total"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_csv_delimiter_is_sniffed_with_or_without_bom(tmp_path: Path, delimiter, bom):
    text = "\n".join(delimiter.join(r) for r in [HEADER, *ROWS]) + "\n"
    path = tmp_path / "assessments.csv"
    path.write_bytes(bom + text.encode("utf-8"))
    result = validate_path(path)
    assert (result.n_accepted, result.n_rejected) == (2, 0)
    assert list(result.accepted["assessments"]["patient_id"]) == ["P001", "P001"]


def test_xlsx_with_date_cells_is_read(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "patient_id": ["P001", "P001"],
            "instrument": ["PHQ-9", "PHQ-9"],
            "assessed_at": pd.to_datetime(["2025-01-01", "2025-01-08"]),
            "total": [15, 7],
        }
    )
    path = tmp_path / "assessments.xlsx"
    frame.to_excel(path, index=False)
    result = validate_path(path)
    accepted = result.accepted["assessments"]
    assert result.n_accepted == 2
    # a column of midnight timestamps is a column of dates (date-only)
    assert accepted["date_only"].tolist() == [True, True]
    assert accepted["total"].tolist() == [15.0, 7.0]
    assert result.reports[0].layout == "long"


def test_parquet_is_read(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "patient_id": ["P001", "P001"],
            "instrument": ["PHQ-9", "PHQ-9"],
            "study_day": [0.0, 3.25],
            "total": [15, 7],
        }
    )
    path = tmp_path / "assessments.parquet"
    frame.to_parquet(path)
    result = validate_path(path)
    assert result.n_accepted == 2
    assert result.time_representation == "study_day"
    assert result.accepted["assessments"]["study_day"].tolist() == [0.0, 3.25]


def test_line_numbers_skip_malformed_rows_and_keep_good_ones(tmp_path: Path):
    path = tmp_path / "assessments.csv"
    path.write_text(
        "patient_id,instrument,assessed_at,total\nP001,PHQ-9,2025-01-01,15\n"
        "P001,PHQ-9,2025-01-02\nP001,PHQ-9,2025-01-03,99\n"
    )
    result = validate_path(path)
    assert sorted(result.rejected["line"]) == [3, 4]
    assert result.n_accepted == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("assessments.csv", b"", "the file is empty"),
        ("assessments.csv", "patient_id,total\nP\xe9,1\n".encode("latin-1"), "not UTF-8"),
        ("assessments.json", b"{}", "unsupported file type .json"),
        ("assessments.csv", b"patient_id,total,total\nP1,1,2\n", "appears twice in the header"),
        ("assessments.xlsx", b"not really a spreadsheet", "cannot read the file as XLSX"),
    ],
)
def test_unreadable_files_fail_with_a_clear_message(tmp_path: Path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        read_table(path)


def test_dataset_folder_without_assessments_is_refused(tmp_path: Path):
    (tmp_path / "treatments.csv").write_text("patient_id,administered_at\nP1,2025-01-01\n")
    with pytest.raises(IngestError, match="no assessments file"):
        validate_path(tmp_path)


def test_input_dataframes_are_not_modified():
    assessments = pd.DataFrame(
        {
            "patient_id": ["P001", "bad id"],
            "instrument": ["phq9"] * 2,
            "study_day": [0, 1],
            "total": [15, 3],
        }
    )
    treatments = pd.DataFrame({"patient_id": ["P001"], "study_day": [0], "route": ["iv"]})
    before_a, before_t = assessments.copy(deep=True), treatments.copy(deep=True)
    validate_frames({"assessments": assessments, "treatments": treatments})
    pd.testing.assert_frame_equal(assessments, before_a)
    pd.testing.assert_frame_equal(treatments, before_t)


def test_column_names_are_matched_case_insensitively_with_common_aliases():
    frame = pd.DataFrame(
        {
            "Patient ID": ["P001"],
            "Questionnaire": ["PHQ9"],
            "Date": ["2025-01-01"],
            "Score": [12],
            "Site": ["S1"],
        }
    )
    result = validate_frames({"assessments": frame})
    row = result.accepted["assessments"].iloc[0]
    assert (row["instrument"], row["total"], row["site_id"]) == ("PHQ-9", 12.0, "S1")
