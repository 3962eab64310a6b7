"""Shared test helpers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from katoutcomes.dataset import Dataset
from katoutcomes.ingest import validate_frames

ROOT = Path(__file__).resolve().parents[1]
# The dashboard server helper (benchmarks/_server.py) is shared with the benchmarks.
sys.path.insert(0, str(ROOT / "benchmarks"))
#: Public reference data sets with published results (tests/data/reference/README.md).
REFERENCE_DATA = ROOT / "tests" / "data" / "reference"


def write_csv(folder: Path, name: str, text: str) -> Path:
    """Write a CSV from a triple-quoted block (leading indentation removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [line.strip() for line in text.strip().splitlines()]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def reference_data() -> Path:
    """The reference data folder; it is part of the repository, so its absence is an error."""
    if not REFERENCE_DATA.is_dir():
        pytest.fail(f"reference data folder {REFERENCE_DATA} is missing from the checkout")
    return REFERENCE_DATA


def chromium_path() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )


#: The claim ids of methods §10.6, written out here rather than read from the packaged file.
CLAIM_IDS = (
    "response_rate_phq9",
    "response_rate_gad7",
    "rapid_onset",
    "transient_effects",
    "durable_after_course",
    "induction_protocol",
    "side_effects",
    "dose",
    "monitoring",
    "gad_treatment_resistance",
    "psychotherapy_integration",
    "ssri_interaction",
    "trd_response",
    "cost",
)

#: R survival 3.8, ``summary(survfit(Surv(time, status) ~ x, aml))``, Maintained group
#: (tests/data/reference/README.md): (time, survival to 3 decimals, Greenwood SE to 4).
AML_MAINTAINED_R = (
    (9, 0.909, 0.0867),
    (13, 0.818, 0.1163),
    (18, 0.716, 0.1397),
    (23, 0.614, 0.1526),
    (31, 0.491, 0.1642),
    (34, 0.368, 0.1627),
    (48, 0.184, 0.1535),
)

#: Study day of the first dose in hand-built cohorts (any positive origin works).
DOSE_DAY = 100.0

Score = tuple[str, str, float, float]  # patient_id, instrument, t, total


def build(
    scores: Sequence[Score],
    doses: Sequence[Mapping[str, object]] | None = None,
    *,
    patients: Sequence[Mapping[str, object]] | None = None,
) -> Dataset:
    """A hand-built cohort through the real ingest.

    ``doses`` are treatment rows (``patient_id``, ``t`` and any other columns); by default
    every patient has one dose at ``t = 0``; an empty list means no treatments table.
    """
    patient, instrument, t, total = zip(*scores, strict=True)
    frames = {
        "assessments": pd.DataFrame(
            {
                "patient_id": patient,
                "instrument": instrument,
                "study_day": np.asarray(t, dtype=float) + DOSE_DAY,
                "total": total,
            }
        )
    }
    if doses is None:
        doses = [{"patient_id": p, "t": 0.0} for p in dict.fromkeys(patient)]
    if doses:
        table = pd.DataFrame(list(doses))
        frames["treatments"] = table.assign(study_day=table.pop("t") + DOSE_DAY)
    if patients:
        frames["patients"] = pd.DataFrame(list(patients))
    result = validate_frames(frames)
    assert result.n_rejected == 0, result.rejected.to_dict("records")
    return Dataset.from_result(result)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``katoutcomes ARGS`` in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "katoutcomes.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )
