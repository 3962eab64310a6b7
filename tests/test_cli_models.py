"""The model commands: ``katoutcomes trajectories`` and ``katoutcomes alerts``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import run_cli
from katoutcomes.cli import main
from katoutcomes.trajectories import ALERT_COLUMNS, REASONS


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", str(out), "--patients", "200", "--seed", "5"]) == 0
    return out


@pytest.fixture(scope="module")
def trajectories_json(demo_dir: Path) -> dict[str, Any]:
    result = run_cli("trajectories", str(demo_dir), "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_trajectories_json_has_the_documented_shape(trajectories_json: dict[str, Any]) -> None:
    payload = trajectories_json
    for key in (
        "instrument",
        "n_patients",
        "n_observations",
        "converged",
        "formula",
        "fixed_effects",
        "variance_components",
        "mean_curve",
        "band_level",
        "band_calibration",
        "sensitivity",
        "tipping_point",
        "settings",
        "data",
    ):
        assert key in payload, key
    assert payload["instrument"] == "PHQ-9" and payload["converged"] is True
    assert [r["term"] for r in payload["fixed_effects"]] == [
        "Intercept",
        "baseline_c",
        "L",
        "L1",
        "L2",
    ]
    assert set(payload["fixed_effects"][0]) == {
        "term",
        "coef",
        "std_err",
        "ci_low",
        "ci_high",
        "p_value",
    }
    assert set(payload["variance_components"]) == {
        "var_Intercept",
        "cov_Intercept_L",
        "var_L",
        "residual",
    }
    days = {r["day"] for r in payload["mean_curve"]}
    assert {1, 7, 14, 28, 42, 84, 182} <= days
    assert set(payload["mean_curve"][0]) == {"day", "mean", "ci_low", "ci_high"}
    assert payload["band_level"] == 0.8
    calibration = payload["band_calibration"]
    assert {"coverage", "folds", "n_patients", "n_scores"} <= set(calibration)
    assert calibration["folds"] == 5 and calibration["n_patients"] == payload["n_patients"]
    assert 0 < calibration["coverage"] < 1
    methods = [(r["outcome"], r["method"]) for r in payload["sensitivity"]]
    assert methods == [
        (o, m) for o in ("response", "remission") for m in ("itt", "completers", "locf", "mi")
    ]
    assert set(payload["sensitivity"][0]) == {
        "instrument",
        "outcome",
        "method",
        "estimate",
        "ci_low",
        "ci_high",
        "n",
    }
    assert payload["tipping_point"]["seed"] == 20261203
    assert payload["tipping_point"]["imputations"] >= 20
    assert payload["settings"]["model_max_patients"] == 5000
    assert payload["model"]["seed"] == 20261202


def test_trajectories_text_for_gad7_with_a_band_level_override(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "trajectories",
        str(demo_dir),
        "--instrument",
        "GAD-7",
        "--set",
        "band_level=0.9",
    )
    assert code == 0
    assert out.startswith("GAD-7 trajectory model")
    assert "90% expected-recovery band" in out
    assert "tipping point:" in out and "band_level=0.9" in out


def test_trajectories_with_too_few_patients_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", str(tmp_path), "--patients", "12", "--seed", "5"]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "trajectories", str(tmp_path))
    assert code == 2
    assert "at least 20 eligible patients" in err


def test_alerts_csv_lists_at_risk_patients_first_with_reasons(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "alerts", str(demo_dir))
    assert code == 0
    frame = pd.read_csv(io.StringIO(out), keep_default_na=False, na_values=[""])
    assert tuple(frame.columns) == ALERT_COLUMNS
    at_risk = frame["at_risk"].astype(bool).to_numpy()
    assert at_risk.any() and not at_risk.all()
    assert (at_risk[:-1] >= at_risk[1:]).all()  # at-risk rows first
    reasons = frame.loc[at_risk, "reasons"].str.split(";").explode()
    assert set(reasons) <= set(REASONS)
    assert frame.loc[~at_risk, "reasons"].isna().all()
    assert "settings" in err


def test_alerts_json_for_one_clinician(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "alerts.json"
    code, _, err = run(
        capsys,
        "alerts",
        str(demo_dir),
        "--format",
        "json",
        "--clinician",
        "C01",
        "--out",
        str(out_file),
    )
    assert code == 0 and str(out_file) in err
    payload = json.loads(out_file.read_text())
    rows = payload["rows"]
    assert rows and {r["clinician_id"] for r in rows} == {"C01"}
    assert set(payload["models"]) == {"PHQ-9", "GAD-7"}
    assert payload["models"]["PHQ-9"]["converged"] is True
    calibration = payload["models"]["PHQ-9"]["band_calibration"]
    assert calibration["folds"] == 5 and 0 < calibration["coverage"] < 1
