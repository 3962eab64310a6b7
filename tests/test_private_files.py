"""Files that hold patient-level rows are created readable by their owner only (methods §12.9)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import run_cli
from katoutcomes.demo import write_demo
from katoutcomes.private_files import private_umask, write_private
from katoutcomes.store import Store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")

OWNER_ONLY = 0o600


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_demo(folder, patients=30, seed=5)
    # One bad cell, so that --rejected has a row to write.
    path = folder / "assessments.csv"
    path.write_text(path.read_text() + "P00001,PHQ-9,2025-13-45,12" + "," * 9 + "\n")
    return folder


def test_a_new_store_and_its_write_ahead_log_are_readable_by_the_owner_only(tmp_path: Path):
    db = tmp_path / "clinic.duckdb"
    with Store(db) as store:
        store._con.execute("CREATE TABLE scratch AS SELECT * FROM range(200000)")
        wal = Path(f"{db}.wal")
        assert wal.exists(), "the write should have opened DuckDB's write-ahead log"
        assert _mode(wal) == OWNER_ONLY
    assert _mode(db) == OWNER_ONLY
    assert _mode(Path(f"{db}.lock")) == OWNER_ONLY


def test_an_ingest_through_the_cli_creates_a_private_store(demo: Path, tmp_path: Path):
    db = tmp_path / "clinic.duckdb"
    rejected = tmp_path / "rejected.csv"
    done = run_cli("ingest", str(demo), "--db", str(db), "--rejected", str(rejected))
    assert done.returncode == 1, done.stderr  # one row rejected
    assert _mode(db) == OWNER_ONLY
    assert _mode(rejected) == OWNER_ONLY
    assert "2025-13-45" in rejected.read_text()


def test_a_store_created_readable_by_others_is_tightened_when_written(tmp_path: Path):
    db = tmp_path / "clinic.duckdb"
    Store(db).close()
    db.chmod(0o644)
    with Store(db):
        pass
    assert _mode(db) == OWNER_ONLY


def test_opening_a_store_read_only_changes_no_mode(tmp_path: Path):
    db = tmp_path / "clinic.duckdb"
    Store(db).close()
    db.chmod(0o640)
    with Store(db, read_only=True):
        pass
    assert _mode(db) == 0o640


def test_validate_writes_rejected_rows_privately(demo: Path, tmp_path: Path):
    rejected = tmp_path / "rejected.csv"
    rejected.write_text("old\n")
    rejected.chmod(0o644)  # an existing file readable by others is tightened too
    done = run_cli("validate", str(demo), "--rejected", str(rejected))
    assert done.returncode == 1, done.stderr
    assert _mode(rejected) == OWNER_ONLY
    assert "old" not in rejected.read_text()


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_per_patient_outcome_tables_are_written_privately(demo: Path, tmp_path: Path, fmt: str):
    out = tmp_path / f"outcomes.{fmt}"
    done = run_cli("outcomes", str(demo), "--format", fmt, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert _mode(out) == OWNER_ONLY
    assert out.stat().st_size > 0


def test_write_private_replaces_content_and_mode(tmp_path: Path):
    path = tmp_path / "rows.csv"
    path.write_text("a much longer previous content\n")
    path.chmod(0o666)
    write_private(path, "new\n")
    assert path.read_text() == "new\n"
    assert _mode(path) == OWNER_ONLY


def test_private_umask_restores_the_callers_mask_after_nested_use(tmp_path: Path):
    before = os.umask(0o022)
    try:
        with private_umask():
            with private_umask():
                (tmp_path / "inner").write_text("x")
            (tmp_path / "outer").write_text("x")
        (tmp_path / "after").write_text("x")
        assert _mode(tmp_path / "inner") == OWNER_ONLY
        assert _mode(tmp_path / "outer") == OWNER_ONLY
        assert _mode(tmp_path / "after") == 0o644
    finally:
        os.umask(before)


def test_outputs_name_the_dataset_by_folder_and_content_hash_not_by_path(tmp_path: Path):
    """A path such as /home/jane.doe/... must not travel in a report or provenance."""
    person = tmp_path / "home" / "jane.doe" / "exports"
    data = person / "clinic_2026_11"
    write_demo(data, patients=12, seed=9)
    report = tmp_path / "report.html"
    outcomes = tmp_path / "outcomes.csv"
    db = person / "clinic.duckdb"
    assert run_cli("report", str(data), "--out", str(report)).returncode == 0
    assert run_cli("outcomes", str(data), "--out", str(outcomes)).returncode == 0
    assert run_cli("ingest", str(data), "--db", str(db)).returncode == 0
    claims = run_cli("claims", str(db), "--format", "json")
    assert claims.returncode == 0, claims.stderr
    provenance = Path(f"{outcomes}.provenance.json").read_text()
    for text in (report.read_text(), provenance, claims.stdout):
        assert "jane.doe" not in text and str(tmp_path) not in text
    assert "clinic_2026_11" in report.read_text() and "clinic_2026_11" in provenance
    assert '"source": "clinic.duckdb"' in claims.stdout
    # The content hash is the same for the folder and for the store made from it.
    folder_hash = json.loads(provenance)["data"]["content_sha256"]
    assert json.loads(claims.stdout)["data"]["content_sha256"] == folder_hash
    assert folder_hash in report.read_text()
    with Store(db, read_only=True) as store:
        assert set(store.ingest_log()["source"]) == {"clinic_2026_11"}


@pytest.fixture
def usual_umask():
    """Files created as usual: a umask of 022 gives -rw-r--r--."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_research_bundle_is_private_and_the_shareable_one_is_written_as_usual(
    demo: Path, tmp_path: Path, usual_umask
):
    from katoutcomes.cli import main

    research, shareable = tmp_path / "research.zip", tmp_path / "shareable.zip"
    assert main(["export", str(demo), "--out", str(research)]) == 0
    assert main(["export", str(demo), "--out", str(shareable), "--shareable"]) == 0
    assert _mode(research) == OWNER_ONLY  # per-patient rows
    assert _mode(shareable) == 0o644  # aggregates, small cells suppressed


def test_the_report_is_written_as_usual(demo: Path, tmp_path: Path, usual_umask):
    from katoutcomes.cli import main

    report = tmp_path / "report.html"
    assert main(["report", str(demo), "--out", str(report)]) == 0
    assert _mode(report) == 0o644


def test_the_dashboards_sidebar_and_downloads_name_the_dataset_not_its_path(tmp_path: Path):
    """The dashboard labels a source by its folder or file name: the label travels into
    the report, the bundles and their provenance downloaded from it."""
    import io
    import zipfile

    from streamlit.testing.v1 import AppTest

    from conftest import ROOT
    from katoutcomes.analysis import Analysis
    from katoutcomes.bundle import research_bundle, shareable_bundle
    from katoutcomes.dataset import Dataset
    from katoutcomes.report import build_report
    from views.sources import path_source, store_source

    data = tmp_path / "home" / "jane.doe" / "exports" / "clinic_2026_11"
    write_demo(data, patients=12, seed=9)
    source = path_source(data)
    assert source.label == "Dataset: clinic_2026_11"
    assert store_source(data.parent / "clinic.duckdb").label == "DuckDB store: clinic.duckdb"
    analysis = Analysis(Dataset.from_path(data), source_label=source.label)
    texts = [build_report(analysis)]
    for bundle in (research_bundle(analysis), shareable_bundle(analysis)):
        archive = zipfile.ZipFile(io.BytesIO(bundle))
        texts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
    assert all("jane.doe" not in text for text in texts)
    assert any("clinic_2026_11" in text for text in texts)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KATOUTCOMES_DATA", str(data))
        patch.delenv("KATOUTCOMES_DB", raising=False)
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    captions = [c.value for c in app.sidebar.caption]
    assert "Dataset: clinic_2026_11" in captions
    assert not any("jane.doe" in c for c in captions)
