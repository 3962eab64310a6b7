"""The analysis commands: outcomes and claims, with settings echoed and provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import CLAIM_IDS, run_cli
from katoutcomes.cli import main
from katoutcomes.outcomes import OUTCOME_COLUMNS


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", str(out), "--patients", "150", "--seed", "5"]) == 0
    return out


def test_outcomes_csv_has_the_documented_columns(demo_dir: Path):
    result = run_cli("outcomes", str(demo_dir), "--format", "csv")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert tuple(frame.columns) == OUTCOME_COLUMNS
    assert frame["patient_id"].nunique() == 150
    assert "settings" in result.stderr  # settings echoed beside the table


def test_outcomes_json_echoes_settings_overrides_and_provenance(demo_dir: Path):
    result = run_cli("outcomes", str(demo_dir), "--format", "json", "--set", "acute_days=28")
    payload = json.loads(result.stdout)
    assert payload["settings"]["acute_days"] == 28.0
    assert len(payload["data"]["files"]) == 3
    assert all(len(f["sha256"]) == 64 for f in payload["data"]["files"])
    assert payload["settings"]["visit_window_days"] == 7.0
    # endpoints lie within the 28-day acute window that was asked for plus the 7-day
    # visit window
    days = [r["endpoint_day"] for r in payload["rows"] if r["endpoint_day"] is not None]
    assert days and max(days) <= 28 + 7


def test_outcomes_parquet_carries_settings_in_its_metadata(demo_dir: Path, tmp_path: Path):
    out = tmp_path / "outcomes.parquet"
    assert (
        run_cli("outcomes", str(demo_dir), "--format", "parquet", "--out", str(out)).returncode == 0
    )
    meta = json.loads(pq.read_schema(out).metadata[b"katoutcomes"])
    assert meta["settings"]["acute_days"] == 42.0
    assert pq.read_table(out).num_rows > 150


def test_outcomes_from_a_store_match_outcomes_from_the_files(demo_dir: Path, tmp_path: Path):
    db = tmp_path / "c.duckdb"
    assert run_cli("ingest", str(demo_dir), "--db", str(db)).returncode == 0
    a = pd.read_csv(pd.io.common.StringIO(run_cli("outcomes", str(demo_dir)).stdout))
    b = pd.read_csv(pd.io.common.StringIO(run_cli("outcomes", str(db)).stdout))
    pd.testing.assert_frame_equal(a, b)


def test_claims_text_lists_every_claim_with_a_verdict(demo_dir: Path):
    result = run_cli("claims", str(demo_dir), "--set", "acute_days=28")
    assert result.returncode == 0, result.stderr
    for claim_id in CLAIM_IDS:
        assert claim_id in result.stdout
    # The text table echoes the settings too, as every output does.
    assert result.stdout.splitlines()[-1].startswith("settings: baseline_window_days=30.0, ")
    assert "acute_days=28.0" in result.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    ("command", "options", "said"),
    [
        ("outcomes", [], "rows written to {out} (settings in {out}.provenance.json)"),
        ("outcomes", ["--format", "json"], "rows written to {out} (settings included)"),
        ("outcomes", ["--format", "parquet"], "rows written to {out} (settings in its metadata)"),
        ("claims", [], "claims written to {out} (settings included)"),
    ],
)
def test_writing_to_a_file_says_where_on_stderr(demo_dir, tmp_path, command, options, said):
    out = tmp_path / "result"
    result = run_cli(command, str(demo_dir), *options, "--out", str(out))
    assert result.returncode == 0 and result.stdout == ""
    assert said.format(out=out) in result.stderr and out.stat().st_size > 0


def test_claims_json_has_the_documented_shape(demo_dir: Path):
    payload = json.loads(run_cli("claims", str(demo_dir), "--format", "json").stdout)
    assert set(payload) == {"claims", "settings", "data"}
    assert {c["id"] for c in payload["claims"]} == set(CLAIM_IDS)
    keys = {
        "id",
        "claim",
        "quantity",
        "estimate",
        "ci_low",
        "ci_high",
        "n",
        "claimed",
        "verdict",
        "note",
        "margin",
        "population",
        # Crude beside adjusted for the claims that compare groups (null elsewhere).
        "adjusted_estimate",
        "adjusted_ci_low",
        "adjusted_ci_high",
        "adjusted_n",
        "adjusted_or",
    }
    assert all(set(c) == keys for c in payload["claims"])
    by_id = {c["id"]: c for c in payload["claims"]}
    assert by_id["response_rate_phq9"]["margin"] == 0.1
    assert by_id["side_effects"]["margin"] is None
    assert by_id["side_effects"]["population"].startswith("safety population")
    verdicts = {"supported", "contradicted", "inconclusive", "not_measurable", "descriptive"}
    assert all(c["verdict"] in verdicts for c in payload["claims"])


def test_a_researchers_claims_file_is_evaluated(demo_dir: Path, tmp_path: Path):
    claims = tmp_path / "mine.toml"
    claims.write_text(
        '[[claims]]\nid = "response_90"\nclaim = "90% respond"\nquantity = "response_rate"\n'
        'rule = "two_sided"\nclaimed = 0.9\n'
    )
    payload = json.loads(
        run_cli("claims", str(demo_dir), "--claims", str(claims), "--format", "json").stdout
    )
    assert [c["id"] for c in payload["claims"]] == ["response_90"]
    # the demo's ITT response is far below 90%
    assert payload["claims"][0]["verdict"] == "contradicted"


def test_assessments_only_data_make_dose_claims_not_measurable(demo_dir: Path, tmp_path: Path):
    only = tmp_path / "assessments.csv"
    only.write_text((demo_dir / "assessments.csv").read_text())
    payload = json.loads(run_cli("claims", str(only), "--format", "json").stdout)
    by_id = {c["id"]: c for c in payload["claims"]}
    for claim_id in ("side_effects", "dose", "monitoring", "cost", "induction_protocol"):
        assert by_id[claim_id]["verdict"] == "not_measurable"
        assert "treatments" in by_id[claim_id]["note"].lower()
    assert by_id["response_rate_phq9"]["verdict"] != "not_measurable"


@pytest.mark.parametrize("command", ["outcomes", "claims", "report"])
def test_a_path_without_assessments_is_an_error_not_an_empty_result(
    demo_dir: Path, tmp_path: Path, command: str
):
    # A treatments file given alone: exit 2 with one line, never a header-only table.
    only = tmp_path / "treatments.csv"
    only.write_text((demo_dir / "treatments.csv").read_text())
    result = run_cli(command, str(only), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "has no assessments (found: treatments)" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_a_store_without_assessments_is_an_error(demo_dir: Path, tmp_path: Path):
    only = tmp_path / "treatments.csv"
    only.write_text((demo_dir / "treatments.csv").read_text())
    store = tmp_path / "clinic.duckdb"
    assert run_cli("ingest", str(only), "--db", str(store)).returncode == 0
    result = run_cli("outcomes", str(store))
    assert result.returncode == 2
    assert "holds no accepted assessments" in result.stderr


def test_assessments_that_are_all_rejected_are_an_error(tmp_path: Path):
    (tmp_path / "assessments.csv").write_text(
        "patient_id,instrument,study_day,total\nP1,PHQ-9,0,99\nP2,PHQ-9,0,45\n"
    )
    result = run_cli("claims", str(tmp_path))
    assert result.returncode == 2
    assert "no assessment row of" in result.stderr and "was accepted" in result.stderr


def test_report_command_writes_one_self_contained_html_file(demo_dir: Path, tmp_path: Path):
    out = tmp_path / "r.html"
    result = run_cli("report", str(demo_dir), "--out", str(out), "--set", "acute_days=28")
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert html.count("plotly.js v") >= 1 and "<script src=" not in html
    assert "acute_days" in html and "28" in html
    for claim_id in CLAIM_IDS:
        assert claim_id in html


def test_report_needs_a_path_or_demo(tmp_path: Path):
    result = run_cli("report", "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "--demo" in result.stderr


def test_large_csv_is_written_in_slices_with_one_header_and_every_row(tmp_path):
    # Tables above one slice (50,000 rows) are formatted on several threads; the file
    # must read back as the same table, header once, rows in order.
    from katoutcomes.exports import write_csv

    n = 120_001
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:06d}" for i in range(n)],
            "score": np.arange(n) / 3,
            "flag": pd.array([True, False, None] * (n // 3) + [True] * (n % 3), dtype="boolean"),
        }
    )
    path = tmp_path / "big.csv"
    write_csv(frame, path)
    text = path.read_text()
    assert text.count("patient_id") == 1
    back = pd.read_csv(path, keep_default_na=False)
    assert len(back) == n
    assert back["patient_id"].iloc[[0, 49_999, 50_000, 120_000]].tolist() == [
        "P000000",
        "P049999",
        "P050000",
        "P120000",
    ]
    assert np.allclose(back["score"].to_numpy(), frame["score"].to_numpy())
    assert back["flag"].iloc[:3].tolist() == ["true", "false", ""]
