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


# --- Number columns read as numbers at once (large clean files) -------------------------

NUMBER_HEADER = (
    "patient_id,instrument,assessed_at,total,item_1,item_2,item_3,item_4,item_5,item_6,item_7"
)


def _read_both_ways(tmp_path: Path, rows: list[str]):
    """The same rows through the CSV reader and, as text, through validate_frames."""
    path = tmp_path / "assessments.csv"
    path.write_text("\n".join([NUMBER_HEADER, *rows]) + "\n", encoding="utf-8")
    from_csv = validate_path(path)
    cells = [r.split(",") for r in rows]
    frame = pd.DataFrame(cells, columns=NUMBER_HEADER.split(","), dtype="str")
    from_text = validate_frames({"assessments": frame}, file_names={"assessments": path.name})
    return path, from_csv, from_text


def test_clean_number_columns_are_read_as_numbers_with_the_same_results_as_text(tmp_path):
    rows = [
        "P001,GAD-7,2025-01-01T09:00:00,12,,,,,,,",  # total only
        "P001,GAD-7,2025-01-08T09:00:00,,1,1,1,1,1,1,1",  # items: 7
        "P001,GAD-7,2025-01-15T09:00:00,NA,1,2,NA,1,1,1,1",  # one missing: 7*7/6 = 8.17 -> 8
        "P002,GAD-7,2025-01-01T09:00:00, 15 ,,,,,,,",  # spaces around a number
        "P002,GAD-7,2025-01-08T09:00:00,22,,,,,,,",  # above the GAD-7 maximum 21
        "P002,GAD-7,2025-01-15T09:00:00,12.5,,,,,,,",  # not whole
        "P003,GAD-7,2025-01-15T09:00:00,-1,,,,,,,",  # below 0
    ]
    path, from_csv, from_text = _read_both_ways(tmp_path, rows)
    # Out-of-range values send the file down the text path, where they are shown as written.
    assert str(read_table(path).frame["total"].dtype) == "str"
    passes = read_table(
        path, numbers=lambda header: {"total": lambda values: True}, missing_values=["", "NA"]
    )
    assert str(passes.frame["total"].dtype) == "double[pyarrow]"  # taken when values pass
    assert str(passes.frame["item_2"].dtype) == "str"
    accepted = from_csv.accepted["assessments"]
    pd.testing.assert_series_equal(
        accepted["total"], from_text.accepted["assessments"]["total"], check_names=False
    )
    assert list(accepted["total"]) == [12.0, 7.0, 8.0, 15.0]
    pd.testing.assert_frame_equal(from_csv.rejected, from_text.rejected)
    assert list(from_csv.rejected["line"]) == [6, 7, 8]
    assert list(from_csv.rejected["value"]) == ["22", "12.5", "-1"]


def test_a_text_cell_in_a_number_column_sends_the_file_down_the_text_path(tmp_path):
    rows = [
        "P001,GAD-7,2025-01-01T09:00:00,12,,,,,,,",
        "P001,GAD-7,2025-01-08T09:00:00,ten,,,,,,,",
        'P001,GAD-7,2025-01-15T09:00:00,"9,5",,,,,,,',  # a decimal comma, read as 9.5
    ]
    path, from_csv, from_text = _read_both_ways(tmp_path, rows[:2])
    assert list(from_csv.rejected["value"]) == ["ten"]  # shown as written
    pd.testing.assert_frame_equal(from_csv.rejected, from_text.rejected)
    path.write_text("\n".join([NUMBER_HEADER, rows[0], rows[2]]) + "\n", encoding="utf-8")
    result = validate_path(path)
    assert list(result.rejected["reason"].str[:18]) == ["not a whole number"]
    assert list(result.rejected["value"]) == ["9,5"]


def test_infinity_is_not_a_number_even_when_the_column_reads_as_numbers(tmp_path):
    # "nan" is a missing-value marker of the schema; "inf" parses as a float.
    rows = ["P001,GAD-7,2025-01-01T09:00:00,12,,,,,,,", "P001,GAD-7,2025-01-08T09:00:00,inf,,,,,,,"]
    _, from_csv, from_text = _read_both_ways(tmp_path, rows)
    assert list(from_csv.rejected["reason"].str[:12]) == ["not a number"]
    assert list(from_csv.rejected["line"]) == [3]
    assert list(from_csv.rejected["value"]) == ["inf"]
    pd.testing.assert_frame_equal(from_csv.rejected, from_text.rejected)


def test_a_clean_long_csv_reads_its_number_columns_as_numbers(tmp_path):
    from functools import partial

    from katoutcomes.ingest import _number_columns
    from katoutcomes.mapping import ColumnMapping

    rows = [
        "P001,GAD-7,2025-01-01T09:00:00,12,,,,,,,",
        "P001,GAD-7,2025-01-08T09:00:00,NA,1,1,1,1,1,1,1",
    ]
    path = tmp_path / "assessments.csv"
    path.write_text("\n".join([NUMBER_HEADER, *rows]) + "\n", encoding="utf-8")
    numbers = partial(_number_columns, role="assessments", mapping=ColumnMapping())
    frame = read_table(path, numbers=numbers, missing_values=["", "NA"]).frame
    assert str(frame["total"].dtype) == "double[pyarrow]"
    assert str(frame["item_7"].dtype) == "double[pyarrow]"
    assert str(frame["assessed_at"].dtype) == "str"  # times stay text
    assert frame["total"].isna().tolist() == [False, True]


def test_cells_are_trimmed_of_whitespace_in_any_column_that_has_some(tmp_path):
    # Only columns with a cell starting or ending in whitespace (or a non-ASCII byte,
    # which may be Unicode whitespace) are trimmed; the result is the same as trimming all.
    path = tmp_path / "assessments.csv"
    path.write_text(
        "patient_id,instrument,assessed_at,total,site_id\n"
        " P001 ,PHQ-9\t,2025-01-01,12,\u00a0S1\n"
        "P002,PHQ-9,2025-01-01,12,S\u00e9\n",
        encoding="utf-8",
    )
    frame = read_table(path).frame
    assert frame["patient_id"].tolist() == ["P001", "P002"]
    assert frame["instrument"].tolist() == ["PHQ-9", "PHQ-9"]
    assert frame["site_id"].tolist() == ["S1", "S\u00e9"]
    assert frame["assessed_at"].tolist() == ["2025-01-01", "2025-01-01"]
