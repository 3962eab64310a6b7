"""Dates written day first or month first (methods §2.3): settled per file, or asked for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_csv
from katoutcomes.errors import IngestError
from katoutcomes.ingest import validate_frames, validate_path
from katoutcomes.mapping import ColumnMapping
from katoutcomes.store import Store

HEADER = "patient_id,instrument,assessed_at,total"


def _assessments(tmp_path: Path, dates: list[str]) -> Path:
    rows = [f"P{i:03d},PHQ-9,{d},{10 + i % 10}" for i, d in enumerate(dates)]
    return write_csv(tmp_path, "assessments.csv", "\n".join([HEADER, *rows]))


def _read(tmp_path: Path, dates: list[str], mapping: ColumnMapping | None = None) -> pd.DataFrame:
    result = validate_path(_assessments(tmp_path, dates), mapping=mapping)
    assert result.n_rejected == 0, result.rejected[["line", "reason", "value"]]
    return result.accepted["assessments"]


def test_one_day_above_12_settles_day_first_for_the_whole_file(tmp_path):
    # 31/12/2025 can only be day first, so 03/04/2025 is 3 April, not 4 March.
    accepted = _read(tmp_path, ["03/04/2025", "31/12/2025 14:30", "01/02/2025 08:05:09"])
    assert accepted["assessed_at"].tolist() == [
        pd.Timestamp("2025-04-03"),
        pd.Timestamp("2025-12-31 14:30"),
        pd.Timestamp("2025-02-01 08:05:09"),
    ]
    assert accepted["date_only"].tolist() == [True, False, False]


def test_one_second_part_above_12_settles_month_first(tmp_path):
    accepted = _read(tmp_path, ["03/04/2025", "12/31/2025"])
    assert accepted["assessed_at"].tolist() == [
        pd.Timestamp("2025-03-04"),
        pd.Timestamp("2025-12-31"),
    ]


@pytest.mark.parametrize("sep", ["/", ".", "-"])
def test_slashes_dots_and_dashes_separate_day_month_and_year(tmp_path, sep):
    accepted = _read(tmp_path, [f"25{sep}12{sep}2025", f"01{sep}02{sep}2025"])
    assert accepted["assessed_at"].tolist() == [
        pd.Timestamp("2025-12-25"),
        pd.Timestamp("2025-02-01"),
    ]


def test_iso_and_day_first_dates_in_one_file_are_both_read(tmp_path):
    accepted = _read(tmp_path, ["2025-03-04", "31/12/2025", "05/06/2025"])
    assert accepted["assessed_at"].tolist() == [
        pd.Timestamp("2025-03-04"),
        pd.Timestamp("2025-12-31"),
        pd.Timestamp("2025-06-05"),
    ]


def test_a_date_that_does_not_exist_in_the_settled_order_is_rejected_on_its_line(tmp_path):
    path = _assessments(tmp_path, ["31/12/2025", "30/02/2025", "yesterday"])
    result = validate_path(path)
    assert result.rejected["line"].tolist() == [3, 4]
    assert set(result.rejected["field"]) == {"assessed_at"}
    assert result.rejected["reason"].str.startswith("not a date").all()
    assert result.rows_read == result.n_accepted + result.n_rejected + result.n_duplicates


def test_day_first_and_month_first_in_one_file_is_an_error_naming_both_lines(tmp_path):
    path = _assessments(tmp_path, ["01/02/2025", "31/12/2025", "12/31/2025"])
    with pytest.raises(IngestError) as caught:
        validate_path(path)
    message = str(caught.value)
    assert "assessments.csv: column assessed_at has dates that can only be day first" in message
    assert "(line 3: 31/12/2025)" in message and "(line 4: 12/31/2025)" in message


def test_every_date_ambiguous_stops_the_ingest_naming_both_formats(tmp_path):
    path = _assessments(tmp_path, ["03/04/2025", "05/06/2025 10:30"])
    with pytest.raises(IngestError) as caught:
        validate_path(path)
    message = str(caught.value)
    assert 'datetime_format = "%d/%m/%Y"' in message
    assert 'datetime_format = "%m/%d/%Y"' in message
    assert "03/04/2025 is 3 April 2025" in message and "4 March 2025" in message
    # Nothing is stored: the store is exactly as before.
    with Store(tmp_path / "s.duckdb") as store:
        before = store.snapshot()
        with pytest.raises(IngestError):
            store.ingest(path)
        assert all(before[k].equals(v) for k, v in store.snapshot().items())


def test_the_mapping_datetime_format_still_wins(tmp_path):
    # Read as the mapping says, even where the file alone would settle it the other way.
    mapping = ColumnMapping(datetime_format="%m/%d/%Y")
    result = validate_path(_assessments(tmp_path, ["03/04/2025", "31/12/2025"]), mapping=mapping)
    assert result.accepted["assessments"]["assessed_at"].tolist() == [pd.Timestamp("2025-03-04")]
    assert result.rejected["line"].tolist() == [3]
    ambiguous = validate_path(_assessments(tmp_path, ["03/04/2025"]), mapping=mapping)
    assert ambiguous.accepted["assessments"]["assessed_at"].tolist() == [pd.Timestamp("2025-03-04")]


def test_each_file_settles_its_own_order(tmp_path):
    _assessments(tmp_path, ["31/12/2025", "01/02/2025"])  # day first
    write_csv(
        tmp_path,
        "treatments.csv",
        "patient_id,administered_at,dose_mg\nP000,12/30/2025 09:00,35\nP001,01/31/2025,35",
    )  # month first
    result = validate_path(tmp_path)
    assert result.n_rejected == 0
    assert result.accepted["treatments"]["administered_at"].tolist() == [
        pd.Timestamp("2025-12-30 09:00"),
        pd.Timestamp("2025-01-31"),
    ]
    assert result.accepted["assessments"]["assessed_at"].iloc[1] == pd.Timestamp("2025-02-01")


def test_a_visit_wide_file_settles_the_order_on_all_its_visits(tmp_path):
    # Only the visit without a dose settles day first; the dosing visits alone are ambiguous.
    path = write_csv(
        tmp_path,
        "visits.csv",
        "patient_id,date,phq9,dose_mg\nP001,03/04/2025,20,35\nP001,05/04/2025,15,35\n"
        "P001,28/04/2025,9,",
    )
    result = validate_path(path)
    assert result.n_rejected == 0
    assert result.accepted["treatments"]["administered_at"].tolist() == [
        pd.Timestamp("2025-04-03"),
        pd.Timestamp("2025-04-05"),
    ]


DATES = st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2099, 12, 31))


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(DATES, min_size=1, max_size=20),
    settle=st.dates(min_value=dt.date(2000, 1, 13), max_value=dt.date(2000, 1, 31)),
    sep=st.sampled_from(["/", ".", "-"]),
    day_first=st.booleans(),
)
def test_dates_written_either_way_read_back_as_the_same_days(days, settle, sep, day_first):
    # ``settle`` has a day above 12, so it settles the order for the rest.
    fmt = f"%d{sep}%m{sep}%Y" if day_first else f"%m{sep}%d{sep}%Y"
    written = [d.strftime(fmt) for d in [settle, *days]]
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(len(written))],
            "instrument": "PHQ-9",
            "assessed_at": written,
            "total": 10,
        }
    )
    result = validate_frames({"assessments": frame})
    assert result.n_rejected == 0
    read = result.accepted["assessments"]["assessed_at"].dt.date.tolist()
    assert read == [settle, *days]
