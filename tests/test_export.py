"""``katoutcomes export``: the researcher's bundle round-trips, the shareable bundle holds no
patient row and no small count, and the codebook covers every column."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from katoutcomes.analysis import Analysis
from katoutcomes.bundle import research_bundle, research_tables, shareable_bundle
from katoutcomes.cli import main
from katoutcomes.dataset import Dataset
from katoutcomes.demo import write_demo


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_demo(folder, patients=150, seed=7)
    return folder


@pytest.fixture(scope="module")
def exported(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("out") / "demo.zip"
    assert main(["export", str(demo_dir), "--out", str(out)]) == 0
    return zipfile.ZipFile(out)


@pytest.fixture(scope="module")
def analysis(demo_dir: Path) -> Analysis:
    return Analysis(Dataset.from_path(demo_dir))


def test_every_table_reads_back_equal_to_the_api(
    exported: zipfile.ZipFile, analysis: Analysis
) -> None:
    tables = research_tables(analysis)
    names = set(exported.namelist())
    assert {f"{name}.csv" for name in tables} <= names
    for name, frame in tables.items():
        back = pd.read_csv(io.BytesIO(exported.read(f"{name}.csv")))
        assert list(back.columns) == list(frame.columns), name
        assert len(back) == len(frame), name
        for column in frame.columns:
            ours = frame[column]
            theirs = back[column]
            if pd.api.types.is_numeric_dtype(ours) and not pd.api.types.is_bool_dtype(ours):
                np.testing.assert_allclose(
                    theirs.to_numpy(dtype=float),
                    ours.astype("Float64").to_numpy(dtype=float, na_value=np.nan),
                    rtol=1e-12,
                    equal_nan=True,
                    err_msg=f"{name}.{column}",
                )
            else:
                expected = ours.astype("string").fillna("").str.lower()
                got = theirs.astype("string").fillna("").str.lower()
                assert (expected.to_numpy() == got.to_numpy()).all(), f"{name}.{column}"
    # Parquet keeps the types exactly.
    for name in ("patient_outcomes", "outcome_rates"):
        back = pd.read_parquet(io.BytesIO(exported.read(f"{name}.parquet")))
        pd.testing.assert_frame_equal(back, tables[name].reset_index(drop=True), check_dtype=False)


def test_claims_json_and_settings_are_the_analysis_ones(
    exported: zipfile.ZipFile, analysis: Analysis
) -> None:
    claims = json.loads(exported.read("claims.json"))
    expected = json.loads(json.dumps(analysis.claims_dict(), default=str))
    assert claims == expected
    assert json.loads(exported.read("settings.json")) == analysis.settings.to_dict()


def test_provenance_names_inputs_versions_and_every_file(
    exported: zipfile.ZipFile, demo_dir: Path
) -> None:
    meta = json.loads(exported.read("provenance.json"))
    inputs = {f["file"]: f["sha256"] for f in meta["data"]["files"]}
    for name in ("assessments.csv", "treatments.csv", "patients.csv"):
        assert inputs[name] == hashlib.sha256((demo_dir / name).read_bytes()).hexdigest()
    assert {"pandas", "numpy", "statsmodels", "duckdb"} <= set(meta["dependencies"])
    assert meta["settings"]["response"] == 0.5
    assert meta["generated_at"]
    files = set(exported.namelist()) - {"provenance.json"}
    assert set(meta["files"]) == files
    for name in files:
        assert meta["files"][name] == hashlib.sha256(exported.read(name)).hexdigest()


def test_codebook_covers_every_column_of_every_table(exported: zipfile.ZipFile) -> None:
    book = pd.read_csv(io.BytesIO(exported.read("codebook.csv")))
    described = set(zip(book["table"], book["column"], strict=True))
    for name in exported.namelist():
        if not name.endswith(".csv") or name == "codebook.csv":
            continue
        table = name.removesuffix(".csv")
        columns = pd.read_csv(io.BytesIO(exported.read(name)), nrows=0).columns
        for column in columns:
            assert (table, column) in described, f"{table}.{column} is not in the codebook"
    assert book["definition"].str.len().min() > 10
    assert book["source"].notna().all()


def test_a_new_column_without_a_definition_stops_the_export() -> None:
    from katoutcomes.codebook import codebook

    with pytest.raises(KeyError, match=r"outcome_rates\.mystery"):
        codebook({"outcome_rates": pd.DataFrame({"n": [1], "mystery": [2]})})


def _small_cohort() -> Dataset:
    """Two sites, one of them with only a few patients: small cells are certain."""
    return Dataset.demo(patients=60, seed=3)


def test_shareable_bundle_has_no_patient_table_and_no_count_below_k() -> None:
    analysis = Analysis(_small_cohort())
    k = analysis.settings.suppression_k
    archive = zipfile.ZipFile(io.BytesIO(shareable_bundle(analysis)))
    names = archive.namelist()
    assert "patient_outcomes.csv" not in names
    assert not any(n.startswith("time_to_") for n in names)
    suppressed_somewhere = False
    for name in names:
        if not name.endswith(".csv") or name == "codebook.csv":
            continue
        frame = pd.read_csv(io.BytesIO(archive.read(name)))
        assert "patient_id" not in frame.columns, name
        for column in ("k", "n", "patients"):
            if column in frame.columns:
                counts = frame[column].dropna().to_numpy(dtype=float)
                assert not ((counts >= 1) & (counts < k)).any(), f"{name}.{column}"
        if "suppressed" in frame.columns:
            suppressed_somewhere |= bool(frame["suppressed"].any())
    # The test cohort is small enough that the rule had to act.
    assert suppressed_somewhere
    book = pd.read_csv(io.BytesIO(archive.read("codebook.csv")))
    assert set(book["table"]) == {
        n.removesuffix(".csv") for n in names if n.endswith(".csv") and n != "codebook.csv"
    }


def test_shareable_cli_bundle_matches_the_api(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "share.zip"
    assert main(["export", str(demo_dir), "--out", str(out), "--shareable"]) == 0
    archive = zipfile.ZipFile(out)
    analysis = Analysis(Dataset.from_path(demo_dir))
    api = zipfile.ZipFile(io.BytesIO(shareable_bundle(analysis)))
    for name in ("outcome_rates.csv", "claims.csv"):
        assert archive.read(name) == api.read(name)


def test_export_needs_a_zip_name(demo_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(demo_dir), "--out", str(tmp_path / "x.csv")]) == 2
    assert "zip" in capsys.readouterr().err


def test_bundle_is_reproducible_with_a_fixed_time(analysis: Analysis) -> None:
    """Same analysis and time stamp: the same bytes in every file (provenance included)."""
    from datetime import UTC, datetime

    when = datetime(2026, 1, 1, tzinfo=UTC)
    one = zipfile.ZipFile(io.BytesIO(research_bundle(analysis, generated_at=when)))
    two = zipfile.ZipFile(io.BytesIO(research_bundle(analysis, generated_at=when)))
    for name in one.namelist():
        assert one.read(name) == two.read(name), name
