"""Title and note rows above the header (methods §2.2): found, skipped, reported, never data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from conftest import run_cli
from katoutcomes.errors import IngestError
from katoutcomes.ingest import validate_path
from katoutcomes.mapping import ColumnMapping, load_mapping

HEADER = "patient_id,instrument,assessed_at,total"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_title_and_note_rows_above_a_csv_header_are_skipped_and_lines_stay_real(tmp_path):
    path = _write(
        tmp_path / "assessments.csv",
        "Ketamine clinic, PHQ-9 export\n"  # row 1: a title with a comma
        "Exported 2025-12-02; de-identified\n"  # row 2: a note
        "\n"  # row 3: blank
        f"{HEADER}\n"  # row 4: the header
        "P1,PHQ-9,2025-01-01,3\n"  # row 5
        "P2,PHQ-9,2025-01-02,x\n"  # row 6: rejected
        "P3,GAD-7,2025-01-02,4\n",  # row 7
    )
    result = validate_path(path)
    (report,) = result.reports
    assert report.header_row == 4 and report.skipped_rows == (1, 2, 3)
    # The rows above the header are not data: 3 rows read, not 6.
    assert (result.rows_read, result.n_accepted, result.n_rejected) == (3, 2, 1)
    assert result.rows_read == result.n_accepted + result.n_rejected + result.n_duplicates
    assert result.rejected["line"].tolist() == [6]
    assert result.accepted["assessments"]["source_line"].tolist() == [5, 7]
    assert result.to_dict()["files"][0]["skipped_rows"] == [1, 2, 3]


def test_a_mapped_patient_id_column_marks_the_header_row(tmp_path):
    path = _write(
        tmp_path / "assessments.csv",
        "Export of 2025-12-02\nClient #;Questionnaire;Date;Score\nC-17;PHQ-9;2025-01-01;12\n",
    )
    result = validate_path(path, mapping=ColumnMapping(columns={"Client #": "patient_id"}))
    assert (result.reports[0].header_row, result.n_accepted) == (2, 1)
    assert result.accepted["assessments"]["source_line"].tolist() == [3]


def test_malformed_rows_below_a_title_keep_their_real_line_numbers(tmp_path):
    path = _write(
        tmp_path / "assessments.csv",
        f"Title\n{HEADER}\nP1,PHQ-9,2025-01-01,3\nP2,PHQ-9,2025-01-02,4,extra\nP3,PHQ-9,2025-01-02,5\n",
    )
    result = validate_path(path)
    assert result.rejected["line"].tolist() == [4]
    assert result.accepted["assessments"]["source_line"].tolist() == [3, 5]
    assert result.rows_read == 3


def test_header_row_in_the_mapping_is_the_spreadsheet_row_number(tmp_path):
    # Row 1 names a patient column in a note, so only header_row can say where the header is.
    path = _write(
        tmp_path / "assessments.csv",
        f"Patient ID list follows\nsecond note\n{HEADER}\nP1,PHQ-9,2025-01-01,3\n",
    )
    mapping_file = _write(tmp_path / "m.toml", "header_row = 3\n")
    result = validate_path(path, mapping=load_mapping(mapping_file))
    assert (result.reports[0].header_row, result.n_accepted) == (3, 1)
    assert result.accepted["assessments"]["source_line"].tolist() == [4]
    per_table = _write(tmp_path / "t.toml", "header_row = { assessments = 3 }\n")
    assert validate_path(path, mapping=load_mapping(per_table)).n_accepted == 1


@pytest.mark.parametrize(
    "text", ["header_row = 0\n", 'header_row = "3"\n', "header_row = {x = 2}\n"]
)
def test_a_header_row_that_is_not_a_row_number_is_refused(tmp_path, text):
    with pytest.raises(IngestError, match="header_row must be the row number"):
        load_mapping(_write(tmp_path / "m.toml", text))


def test_a_header_row_beyond_the_end_of_the_file_is_refused(tmp_path):
    path = _write(tmp_path / "assessments.csv", f"{HEADER}\nP1,PHQ-9,2025-01-01,3\n")
    with pytest.raises(IngestError, match="header_row = 9, but the file has only 2 rows"):
        validate_path(path, mapping=ColumnMapping(header_row=9))


def test_without_a_recognised_header_the_message_says_how_to_set_it(tmp_path):
    path = _write(tmp_path / "assessments.csv", "Title\nwho,instrument,assessed_at,total\n")
    with pytest.raises(
        IngestError, match=r"no patient-id column.*set header_row = N in the mapping file"
    ):
        validate_path(path)


def test_the_header_is_only_searched_for_in_the_first_20_rows(tmp_path):
    notes = "".join(f"note {i}\n" for i in range(20))
    path = _write(tmp_path / "assessments.csv", f"{notes}{HEADER}\nP1,PHQ-9,2025-01-01,3\n")
    with pytest.raises(IngestError, match="no patient-id column"):
        validate_path(path)
    assert validate_path(path, mapping=ColumnMapping(header_row=21)).n_accepted == 1


def _xlsx_with_title(path: Path) -> Path:
    """A sheet as clinic spreadsheets are exported: a merged title, a note, the header on
    row 3, a blank row among the data."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Ketamine clinic - PHQ-9 and GAD-7 export"])
    ws.merge_cells("A1:F1")
    ws.append(["Generated 02/12/2025 from the EHR; de-identified"])
    ws.append(["Patient ID", "Questionnaire", "Date", "Score"])
    ws.append(["20671021", "PHQ-9", dt.datetime(2025, 1, 6), 18])  # row 4
    ws.append(["20671021", "PHQ-9", dt.datetime(2025, 1, 13), "?"])  # row 5: rejected
    ws.append([])  # row 6: spacing
    ws.append(["30112233", "GAD-7", dt.datetime(2025, 1, 7), 11])  # row 7
    wb.save(path)
    return path


def test_an_xlsx_with_a_merged_title_and_a_note_row_is_read(tmp_path):
    path = _xlsx_with_title(tmp_path / "assessments.xlsx")
    result = validate_path(path)
    (report,) = result.reports
    assert (report.header_row, report.skipped_rows) == (3, (1, 2))
    assert (result.rows_read, result.n_accepted, result.n_rejected) == (3, 2, 1)
    assert result.rejected["line"].tolist() == [5]
    accepted = result.accepted["assessments"]
    assert accepted["source_line"].tolist() == [4, 7]
    assert accepted["patient_id"].tolist() == ["20671021", "30112233"]
    # The wide merged title makes no columns of its own.
    assert report.ignored_columns == ()


def test_validate_prints_the_skipped_rows(tmp_path):
    path = _xlsx_with_title(tmp_path / "assessments.xlsx")
    out = run_cli("validate", str(path))
    assert out.returncode == 1, out.stderr
    assert "header on row 3; rows 1-2 above it skipped (titles or notes, not data)" in out.stdout


def test_a_header_row_below_the_first_20_rows_of_an_xlsx_is_used(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(24):
        ws.append([f"note {i}"])
    ws.append(["patient_id", "instrument", "assessed_at", "total"])  # row 25
    ws.append(["P1", "PHQ-9", "2025-01-01", 3])
    wb.save(tmp_path / "assessments.xlsx")
    result = validate_path(tmp_path / "assessments.xlsx", mapping=ColumnMapping(header_row=25))
    assert result.accepted["assessments"]["source_line"].tolist() == [26]
    with pytest.raises(IngestError, match="header_row = 40, but the file has only 26 rows"):
        validate_path(tmp_path / "assessments.xlsx", mapping=ColumnMapping(header_row=40))
