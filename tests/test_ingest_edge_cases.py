"""Real-world export quirks: each case once broke ingest or read a file wrongly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import write_csv
from katoutcomes.dataset import Dataset
from katoutcomes.errors import IngestError
from katoutcomes.ingest import WITHHELD, validate_path
from katoutcomes.mapping import load_mapping
from katoutcomes.store import Store


def test_a_visit_with_only_weight_or_psychotherapy_no_is_not_a_dose(tmp_path: Path):
    # Screening visit 01-01 records a weight and "psychotherapy: no" but no dose; the first
    # dose is on 01-14. Day 0 must be 01-14, so the 02-20 score is day 37 (the endpoint).
    path = write_csv(
        tmp_path,
        "visits.csv",
        """
        patient_id,date,phq9,dose_mg,weight_kg,psychotherapy
        P001,2025-01-01,22,,80,no
        P001,2025-01-14,21,40,80,yes
        P001,2025-02-20,9,,,
    """,
    )
    ds = Dataset.from_path(path)
    assert len(ds.treatments) == 1
    assert ds.assessments["t"].tolist() == [-13.0, 0.0, 37.0]


def test_a_12_hour_clock_format_keeps_the_times(tmp_path: Path):
    # 08:30 AM before the 09:00 AM dose is baseline (t < 0); 02:30 PM is after it.
    write_csv(
        tmp_path,
        "assessments.csv",
        """
        patient_id,instrument,assessed_at,total
        P001,PHQ-9,01/15/2025 08:30 AM,20
        P001,PHQ-9,01/15/2025 02:30 PM,8
    """,
    )
    write_csv(
        tmp_path,
        "treatments.csv",
        """
        patient_id,administered_at,dose_mg
        P001,01/15/2025 09:00 AM,35
    """,
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text('datetime_format = "%m/%d/%Y %I:%M %p"\n')
    ds = Dataset.from_path(tmp_path, mapping=load_mapping(mapping))
    np.testing.assert_allclose(ds.assessments["t"], [-0.5 / 24, 5.5 / 24])
    assert not ds.assessments["date_only"].any()


def test_utc_offsets_are_dropped_and_wall_clock_times_kept(tmp_path: Path):
    # 08:30-05:00 is 08:30 clinic time, before the 09:00 dose written without an offset.
    write_csv(
        tmp_path,
        "assessments.csv",
        """
        patient_id,instrument,assessed_at,total
        P001,PHQ-9,2025-01-15T08:30:00-05:00,20
        P001,PHQ-9,2025-01-15T20:00:00Z,9
    """,
    )
    write_csv(
        tmp_path,
        "treatments.csv",
        """
        patient_id,administered_at,dose_mg
        P001,2025-01-15T09:00:00,35
    """,
    )
    ds = Dataset.from_path(tmp_path)
    np.testing.assert_allclose(ds.assessments["t"], [-0.5 / 24, 11 / 24])


def test_reingesting_a_file_with_a_corrected_mapping_stores_the_rows(tmp_path: Path):
    data = write_csv(
        tmp_path / "d",
        "assessments.csv",
        """
        patient_id,instrument,assessed_at,total
        P001,PHQ-9,15 Jan 2025,20
        P001,PHQ-9,22 Jan 2025,12
    """,
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text('datetime_format = "%d %b %Y"\n')
    with Store(tmp_path / "s.duckdb") as store:
        first = store.ingest(data)
        assert (first.n_accepted, first.n_rejected) == (0, 2)
        second = store.ingest(data, mapping=load_mapping(mapping))
        assert second.n_accepted == 2 and not second.reports[0].already_ingested
        assert len(store.table("assessments")) == 2
        before = store.snapshot()
        third = store.ingest(data, mapping=load_mapping(mapping))
        assert third.reports[0].already_ingested
        assert all(before[k].equals(v) for k, v in store.snapshot().items())


def test_identifying_patient_ids_are_not_copied_into_the_report_or_store(tmp_path: Path):
    path = write_csv(
        tmp_path / "d",
        "assessments.csv",
        """
        patient_id,instrument,assessed_at,total
        jane.doe@example.org,PHQ-9,2025-01-15,20
        123-45-6789,PHQ-9,2025-01-15,20
    """,
    )
    with Store(tmp_path / "s.duckdb") as store:
        result = store.ingest(path)
        assert set(result.rejected["value"]) == {WITHHELD}
        stored = store.rejected()["value"].tolist()
    assert stored == [WITHHELD, WITHHELD]


def test_a_malformed_row_holding_an_identifier_fails_the_ingest(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "assessments.csv",
        """
        patient_id,instrument,assessed_at,total
        P001,PHQ-9,2025-01-15,20,john@smith.com
    """,
    )
    with pytest.raises(IngestError, match="line 2: a value looks like an e-mail address"):
        validate_path(path)


def test_a_malformed_row_with_an_identifier_inside_free_text_fails_the_ingest(tmp_path: Path):
    # The same in-text rule as for well-formed cells: a phone number inside a note.
    path = write_csv(
        tmp_path,
        "assessments.csv",
        """
        patient_id,instrument,assessed_at,total
        P001,PHQ-9,2025-01-15,20,call pt at 555-123-4567
    """,
    )
    with pytest.raises(IngestError, match="line 2: a value looks like a phone number"):
        validate_path(path)


def test_blank_lines_keep_the_line_numbers_a_spreadsheet_shows(tmp_path: Path):
    path = tmp_path / "assessments.csv"
    path.write_text(
        "patient_id,instrument,assessed_at,total\nP001,PHQ-9,2025-01-01,20\n\n"
        "P001,PHQ-9,2025-01-15,99\n"
    )
    result = validate_path(path)
    assert result.rejected["line"].tolist() == [4]


def test_rows_missing_trailing_empty_cells_are_read(tmp_path: Path):
    path = tmp_path / "assessments.csv"
    path.write_text(
        "patient_id,instrument,assessed_at,total,site_id\n"
        "P001,PHQ-9,2025-01-01,20\nP001,PHQ-9,2025-01-15,9,S1\n"
    )
    result = validate_path(path)
    assert (result.n_accepted, result.n_rejected) == (2, 0)


def test_fully_blank_rows_are_spacing_not_data(tmp_path: Path):
    path = tmp_path / "assessments.csv"
    path.write_text("patient_id,instrument,assessed_at,total\n,,,\nP001,PHQ-9,2025-01-01,20\n")
    result = validate_path(path)
    assert (result.rows_read, result.n_accepted) == (1, 1)
    assert result.accepted["assessments"]["source_line"].tolist() == [3]


def test_decimal_commas_are_read_but_thousands_separators_are_not(tmp_path: Path):
    write_csv(
        tmp_path,
        "assessments.csv",
        """
        patient_id;instrument;assessed_at;total
        P001;PHQ-9;2025-01-01;20
    """,
    )
    write_csv(
        tmp_path,
        "treatments.csv",
        """
        patient_id;administered_at;dose_mg;weight_kg
        P001;2025-01-01;35,5;71,25
        P001;2025-01-04;1,000;71
    """,
    )
    result = validate_path(tmp_path)
    treatments = result.accepted["treatments"]
    assert treatments["dose_mg"].tolist() == [35.5]
    assert treatments["weight_kg"].tolist() == [71.25]
    assert result.rejected.iloc[0]["value"] == "1,000"


def test_an_explicit_mapping_wins_over_a_recognised_spelling(tmp_path: Path):
    write_csv(
        tmp_path,
        "assessments.csv",
        """
        patient_id,instrument,assessed_at,Score,Total Score
        P001,PHQ-9,2025-01-01,20,99
    """,
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\n"Score" = "total"\n')
    result = validate_path(tmp_path, mapping=load_mapping(mapping))
    assert result.accepted["assessments"]["total"].tolist() == [20.0]
    assert result.reports[0].ignored_columns == ("Total Score",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[columns]\nPID = "patient_id"\nWhen = 3\n', "both in quotes"),
        ("datetime_format = 5\n", "datetime_format must be text"),
        ('[values]\nroute = "IV"\n', "one table per field"),
        ('[columns]\n"A" = "total"\n"B" = "total"\n', None),
    ],
)
def test_mapping_file_mistakes_get_a_clear_message(tmp_path: Path, text, message):
    mapping = tmp_path / "m.toml"
    mapping.write_text(text)
    path = write_csv(
        tmp_path / "d",
        "assessments.csv",
        """
        patient_id,instrument,assessed_at,A,B
        P001,PHQ-9,2025-01-01,20,20
    """,
    )
    with pytest.raises(IngestError, match=message or "sends both 'A' and 'B' to 'total'"):
        validate_path(path, mapping=load_mapping(mapping))


def test_a_file_that_is_not_a_store_is_refused_cleanly(tmp_path: Path):
    fake = tmp_path / "assessments.csv"
    fake.write_text("patient_id,total\nP1,3\n")
    with pytest.raises(IngestError):
        Store(fake)
