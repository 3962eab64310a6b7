"""The DuckDB store: one transaction per ingest, idempotent re-ingest, additive new files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import write_csv
from katoutcomes.errors import IngestError
from katoutcomes.store import Store

HEADER = "patient_id,instrument,assessed_at,total"


def _frames_equal(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> bool:
    return a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)


def test_ingest_stores_accepted_rejected_and_a_log_entry(tmp_path: Path):
    path = write_csv(
        tmp_path / "d",
        "assessments.csv",
        f"{HEADER}\nP001,PHQ-9,2025-01-01,15\nP001,PHQ-9,2025-01-08,99",
    )
    with Store(tmp_path / "s.duckdb") as store:
        result = store.ingest(path)
        assert store.counts() == {
            "assessments": 1,
            "treatments": 0,
            "patients": 0,
            "rejected": 1,
            "ingest_log": 1,
        }
        log = store.ingest_log().iloc[0]
        assert (log["file"], log["rows_read"], log["accepted"], log["rejected"]) == (
            "assessments.csv",
            2,
            1,
            1,
        )
        assert log["sha256"] == result.reports[0].sha256 and len(log["sha256"]) == 64
        stored = store.rejected().iloc[0]
        assert (stored["line"], stored["field"]) == (3, "total")


def test_ingesting_the_same_file_twice_adds_nothing(tmp_path: Path):
    path = write_csv(
        tmp_path / "d",
        "assessments.csv",
        f"{HEADER}\nP001,PHQ-9,2025-01-01,15\nP001,PHQ-9,2025-01-08,99",
    )
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(path)
        before = store.snapshot()
        again = store.ingest(path)
        assert _frames_equal(before, store.snapshot())
        assert (again.n_accepted, again.n_duplicates, again.n_rejected) == (0, 1, 1)
        assert again.reports[0].already_ingested


def test_new_files_add_to_what_is_there(tmp_path: Path):
    first = write_csv(tmp_path / "a", "assessments.csv", f"{HEADER}\nP001,PHQ-9,2025-01-01,15")
    second = write_csv(
        tmp_path / "b",
        "assessments.csv",
        f"{HEADER}\nP001,PHQ-9,2025-01-01,15\nP002,PHQ-9,2025-01-01,11",
    )
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(first)
        result = store.ingest(second)
        assert (result.n_accepted, result.n_duplicates) == (1, 1)
        assert sorted(store.table("assessments")["patient_id"]) == ["P001", "P002"]
        assert store.ingest_log()["ingest_id"].tolist() == [1, 2]


def test_store_persists_across_connections(tmp_path: Path):
    path = write_csv(tmp_path / "d", "assessments.csv", f"{HEADER}\nP001,PHQ-9,2025-01-01,15")
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(path)
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        assert store.table("assessments")["total"].tolist() == [15.0]


def test_a_failure_part_way_through_writing_leaves_the_store_unchanged(tmp_path: Path, monkeypatch):
    first = write_csv(tmp_path / "a", "assessments.csv", f"{HEADER}\nP001,PHQ-9,2025-01-01,15")
    second = tmp_path / "b"
    write_csv(second, "assessments.csv", f"{HEADER}\nP002,PHQ-9,2025-01-01,11")
    write_csv(second, "treatments.csv", "patient_id,administered_at,dose_mg\nP002,2025-01-01,35")
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(first)
        before = store.snapshot()
        original = Store._insert
        calls = {"n": 0}

        def failing_insert(self, table, frame):
            calls["n"] += 1
            if calls["n"] == 2:  # after the assessments insert has gone through
                raise RuntimeError("disk full")
            original(self, table, frame)

        monkeypatch.setattr(Store, "_insert", failing_insert)
        with pytest.raises(RuntimeError, match="disk full"):
            store.ingest(second)
        assert calls["n"] == 2
        assert _frames_equal(before, store.snapshot())


def test_a_file_level_error_changes_nothing(tmp_path: Path):
    good = write_csv(tmp_path / "a", "assessments.csv", f"{HEADER}\nP001,PHQ-9,2025-01-01,15")
    bad = write_csv(
        tmp_path / "b",
        "assessments.csv",
        "patient_id,instrument,assessed_at,total,phone\nP002,PHQ-9,2025-01-01,11,",
    )
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(good)
        before = store.snapshot()
        with pytest.raises(IngestError, match="phone"):
            store.ingest(bad)
        assert _frames_equal(before, store.snapshot())


def test_a_store_of_dates_refuses_study_days(tmp_path: Path):
    dates = write_csv(tmp_path / "a", "assessments.csv", f"{HEADER}\nP001,PHQ-9,2025-01-01,15")
    days = write_csv(
        tmp_path / "b", "assessments.csv", "patient_id,instrument,study_day,total\nP002,PHQ-9,3,11"
    )
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(dates)
        with pytest.raises(IngestError, match="mixes time representations"):
            store.ingest(days)


def test_stored_row_hashes_are_pandas_row_hashes_so_earlier_stores_stay_comparable():
    # Stores written earlier hold pandas.util.hash_pandas_object values; the row hash is
    # assembled from column hashes and must equal pandas' own over the stored columns.
    from katoutcomes.demo import generate_demo
    from katoutcomes.ingest import PROVENANCE, stored_columns

    with Store(":memory:") as store:
        store.ingest_frames(generate_demo(patients=40, seed=5).tables())
        for table in ("assessments", "treatments", "patients"):
            stored = store.table(table)
            columns = [c for c in stored_columns(table) if c not in PROVENANCE]
            expected = pd.util.hash_pandas_object(stored[columns], index=False)
            assert len(stored) >= 40
            assert (stored["row_hash"].to_numpy() == expected.to_numpy()).all(), table
