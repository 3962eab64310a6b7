"""Time ``katoutcomes trajectories`` and ``katoutcomes alerts`` on large synthetic cohorts.

Generates the synthetic cohort (as ``benchmarks/outcomes_end_to_end.py`` does) for each
size asked (by default about 1,000,000 assessment rows, about 52,000 patients, and
10,000 patients), then times, in one process, the stages each command runs: read and
validate the files, per-patient outcomes, the trajectory model (capped at
``model_max_patients``, default 5,000), the band's 5-fold cross-validation, the
missing-data sensitivity (multiple imputation), and the at-risk list; and the wall-clock
time of each CLI command itself (interpreter start and imports included), each with its
CPU time, which moves much less than wall-clock time on a busy machine. The target
(issue 11) is at most 30 s for each command with the default cap.

    python benchmarks/models.py                       # both sizes
    python benchmarks/models.py --patients 10000      # one size
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from katoutcomes.dataset import Dataset
from katoutcomes.demo import write_demo
from katoutcomes.ingest import validate_path
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.sensitivity import missing_data_sensitivity
from katoutcomes.settings import Settings
from katoutcomes.trajectories import (
    alerts,
    band_calibration,
    fit_trajectory_model,
    fit_trajectory_models,
)

ROWS_PER_PATIENT = 19.3  # demo cohort average, measured (outcomes_end_to_end.py)


def timed(label: str, fn: Callable[[], Any]) -> Any:
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    print(
        f"  {label:<44} {time.perf_counter() - start:7.2f} s "
        f"({time.process_time() - cpu:6.2f} s CPU)"
    )
    return out


def cli(*args: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, all threads) of one CLI run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "katoutcomes.cli", *args], capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"katoutcomes {' '.join(args)} failed:\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def bench(patients: int, seed: int) -> None:
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cohort"
        start = time.perf_counter()
        write_demo(folder, patients=patients, seed=seed)
        print(f"\n{patients:,} patients: cohort written in {time.perf_counter() - start:.1f} s")
        result = timed("read + validate 3 files", lambda: validate_path(folder))
        dataset = Dataset.from_result(result)
        print(f"  assessments rows: {len(dataset.assessments):,}")
        outcomes = timed("per-patient outcomes", lambda: patient_outcomes(dataset, settings))
        model = timed(
            "trajectory model PHQ-9",
            lambda: fit_trajectory_model(dataset, "PHQ-9", settings, outcomes=outcomes),
        )
        print(
            f"    {model.n_patients:,} of {model.n_eligible:,} eligible patients, "
            f"{model.n_observations:,} scores, converged {model.converged}"
        )
        calibration = timed("band calibration (5-fold CV)", lambda: band_calibration(model))
        print(f"    coverage {calibration.coverage:.3f} of {calibration.n_scores:,} scores")
        timed(
            "sensitivity (ITT, completers, LOCF, MI x50)",
            lambda: missing_data_sensitivity(
                dataset, settings, models={"PHQ-9": model}, outcomes=outcomes
            ),
        )
        models = timed(
            "trajectory models, both instruments",
            lambda: fit_trajectory_models(dataset, settings, outcomes=outcomes),
        )
        table = timed(
            "at-risk list",
            lambda: alerts(dataset, settings, models=models, outcomes=outcomes),
        )
        print(f"    {len(table):,} rows, {int(table['at_risk'].sum()):,} at risk")
        out = Path(tmp) / "out"
        for label, args in (
            ("trajectories", ("--format", "json", "--out", f"{out}.json")),
            ("alerts", ("--out", f"{out}.csv")),
        ):
            seconds, cpu = cli(label, str(folder), *args)
            print(f"  {'CLI: katoutcomes ' + label:<44} {seconds:7.2f} s ({cpu:6.2f} s CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--patients",
        type=int,
        action="append",
        help="cohort size (repeatable; default: about 1,000,000 rows and 10,000 patients)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = args.patients or [round(1_000_000 / ROWS_PER_PATIENT), 10_000]
    for patients in sizes:
        bench(patients, args.seed)


if __name__ == "__main__":
    main()
