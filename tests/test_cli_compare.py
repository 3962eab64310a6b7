"""The compare command: exposures (crude beside adjusted) and funnel tables."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_cli
from katoutcomes.cli import main
from katoutcomes.funnel import UNIT_COLUMNS

CRUDE_KEYS = {"estimate", "ci_low", "ci_high", "n"}
ADJUSTED_KEYS = {
    "risk_difference",
    "ci_low",
    "ci_high",
    "odds_ratio",
    "or_ci_low",
    "or_ci_high",
    "n",
    "n_excluded",
    "covariates",
}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", str(out), "--patients", "300", "--seed", "5"]) == 0
    return out


def _json(capsys, *args: str) -> dict:
    assert main(["compare", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ssri_json_gives_crude_and_adjusted_estimates(demo_dir: Path, capsys):
    payload = _json(capsys, str(demo_dir), "--by", "ssri")
    assert payload["by"] == "ssri" and payload["instrument"] == "PHQ-9"
    assert set(payload["crude"]) == CRUDE_KEYS
    assert set(payload["adjusted"]) >= ADJUSTED_KEYS
    adjusted = payload["adjusted"]
    assert adjusted["not_measurable"] is None
    assert adjusted["ci_low"] < adjusted["risk_difference"] < adjusted["ci_high"]
    assert adjusted["or_ci_low"] < adjusted["odds_ratio"] < adjusted["or_ci_high"]
    assert adjusted["n"] + adjusted["n_excluded"] >= payload["crude"]["n"]
    assert adjusted["covariates"][0] == "baseline"
    assert payload["settings"]["acute_days"] == 42.0
    assert len(payload["data"]["files"]) == 3


def test_route_json_has_one_entry_per_route(demo_dir: Path, capsys):
    payload = _json(capsys, str(demo_dir), "--by", "route")
    routes = [entry["route"] for entry in payload["routes"]]
    assert payload["reference"] not in routes
    assert len(routes) == len(set(routes)) >= 2
    for entry in payload["routes"]:
        assert set(entry["crude"]) == CRUDE_KEYS
        assert set(entry["adjusted"]) >= ADJUSTED_KEYS


def test_trd_leaves_prior_failures_out_of_the_covariates(demo_dir: Path, capsys):
    payload = _json(capsys, str(demo_dir), "--by", "trd")
    assert "prior_failures" not in payload["adjusted"]["covariates"]


@pytest.mark.parametrize("by", ["site", "clinician"])
def test_funnel_json_has_units_and_the_clinic_rate(demo_dir: Path, capsys, by: str):
    payload = _json(capsys, str(demo_dir), "--by", by)
    assert 0 < payload["clinic_rate"] < 1
    units = pd.DataFrame(payload["units"])
    assert tuple(units.columns) == UNIT_COLUMNS
    assert units["n"].sum() == payload["n_patients"]
    assert payload["clinic_rate"] == pytest.approx(units["responders"].sum() / units["n"].sum())


def test_funnel_csv_has_the_documented_columns(demo_dir: Path):
    result = run_cli("compare", str(demo_dir), "--by", "clinician", "--format", "csv")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert tuple(frame.columns) == UNIT_COLUMNS
    assert "settings" in result.stderr


def test_text_output_names_both_estimates(demo_dir: Path, capsys):
    assert main(["compare", str(demo_dir), "--by", "psychotherapy"]) == 0
    out = capsys.readouterr().out
    assert "crude difference" in out and "adjusted difference" in out
    assert "adjusted odds ratio" in out


def test_out_writes_the_file(demo_dir: Path, tmp_path: Path, capsys):
    target = tmp_path / "ssri.json"
    assert (
        main(["compare", str(demo_dir), "--by", "ssri", "--format", "json", "--out", str(target)])
        == 0
    )
    assert json.loads(target.read_text())["by"] == "ssri"
    assert "written to" in capsys.readouterr().err


def test_an_unknown_instrument_is_a_usage_error(demo_dir: Path, capsys):
    assert main(["compare", str(demo_dir), "--by", "ssri", "--instrument", "HADS"]) == 2
    assert "not a known instrument" in capsys.readouterr().err


def test_gad7_is_compared_on_request(demo_dir: Path, capsys):
    payload = _json(capsys, str(demo_dir), "--by", "ssri", "--instrument", "gad7")
    assert payload["instrument"] == "GAD-7"


def test_a_funnel_without_sites_is_an_error_that_says_so(tmp_path: Path, capsys):
    rows = ["patient_id,instrument,study_day,total"]
    for i in range(4):
        rows += [f"P{i},PHQ-9,0,{18 + i}", f"P{i},PHQ-9,28,{6 + 4 * i}"]
    (tmp_path / "assessments.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["compare", str(tmp_path), "--by", "site"]) == 2
    assert "no patient has a recorded site" in capsys.readouterr().err


def test_an_exposure_without_its_table_is_not_measurable_in_the_json(tmp_path: Path, capsys):
    rows = ["patient_id,instrument,study_day,total"]
    for i in range(4):
        rows += [f"P{i},PHQ-9,0,{18 + i}", f"P{i},PHQ-9,28,{6 + 4 * i}"]
    (tmp_path / "assessments.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    payload = _json(capsys, str(tmp_path), "--by", "ssri")
    assert payload["adjusted"]["not_measurable"] == "no patient has a recorded concurrent SSRI."
    assert payload["adjusted"]["risk_difference"] is None
    assert payload["crude"]["n"] == 0
