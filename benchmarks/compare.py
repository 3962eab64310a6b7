"""Time of ``katoutcomes compare`` on about a million assessment rows (target: 10 s).

Generates the synthetic cohort as in ``outcomes_end_to_end.py`` (assessments, treatments,
patients as CSV), then times, in one process, the stages the command runs for each
``--by``: read and validate the files, build the dataset, per-patient outcomes, the
comparison frame, and the comparison itself (logistic model and g-computation for an
exposure; case-mix model and funnel limits for site or clinician). Ends with the
wall-clock time of the command itself (interpreter start and imports included).

Each figure is the best of ``--repeat`` runs, so that another process on the machine does
not decide the result; the CPU time of the command (user + system, all threads) is given
beside its wall-clock time, and the load average at the end, since on a shared machine the
wall clock moves with what else runs.

    python benchmarks/compare.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from katoutcomes.comparisons import adjusted_effect, comparison_frame
from katoutcomes.dataset import Dataset
from katoutcomes.demo import write_demo
from katoutcomes.funnel import funnel_table
from katoutcomes.ingest import validate_path
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.settings import Settings

ROWS_PER_PATIENT = 19.3  # demo cohort average, measured (outcomes_end_to_end.py)
TARGET_SECONDS = 10.0


def best(repeat: int, fn: Callable[[], Any]) -> tuple[Any, float]:
    """The result of ``fn`` and its fastest run in seconds."""
    fastest, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        fastest = min(fastest, time.perf_counter() - start)
    return out, fastest


def run_command(repeat: int, command: list[str]) -> tuple[float, float]:
    """Fastest wall-clock run of a command and the CPU time (user + system) of that run."""
    fastest, cpu = float("inf"), float("nan")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if seconds < fastest:
            used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            fastest, cpu = seconds, used
    return fastest, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cohort"
        start = time.perf_counter()
        write_demo(folder, patients=round(args.rows / ROWS_PER_PATIENT), seed=args.seed)
        print(f"generated the cohort in {time.perf_counter() - start:.1f} s")

        result, read = best(args.repeat, lambda: validate_path(folder, settings=settings))
        print(f"assessment rows accepted: {len(result.accepted['assessments']):,}")
        dataset, build = best(args.repeat, lambda: Dataset.from_result(result))
        outcomes, outcome_time = best(args.repeat, lambda: patient_outcomes(dataset, settings))
        # Every attribute here; the command derives only the one it compares.
        frame, frame_time = best(args.repeat, lambda: comparison_frame(outcomes, dataset))
        print(f"intention-to-treat PHQ-9 patients: {len(frame):,}\n")
        common = read + build + outcome_time + frame_time
        print("stages shared by every --by (best of each):")
        for label, seconds in (
            ("read + validate 3 files", read),
            ("dataset (time since first dose)", build),
            ("per-patient outcomes", outcome_time),
            ("comparison frame (all attributes)", frame_time),
        ):
            print(f"  {label:<34} {seconds:6.2f} s")
        print()
        print(
            f"{'--by':<14} {'comparison':>10} {'in-process total':>17} {'CLI wall clock':>15}"
            f" {'CLI CPU':>8}"
        )
        for by in ("ssri", "psychotherapy", "trd", "route", "site", "clinician"):

            def compare(by: str = by) -> Any:
                if by in ("site", "clinician"):
                    return funnel_table(frame, by)
                return adjusted_effect(frame, by)

            _, seconds = best(args.repeat, compare)
            command = [sys.executable, "-m", "katoutcomes", "compare", str(folder), "--by", by]
            command += ["--format", "json", "--out", str(Path(tmp) / f"{by}.json")]
            wall, cpu = run_command(args.repeat, command)
            flag = "" if wall <= TARGET_SECONDS else f"  (over the {TARGET_SECONDS:.0f} s target)"
            print(
                f"{by:<14} {seconds:9.2f}s {common + seconds:16.2f}s {wall:14.2f}s"
                f" {cpu:7.2f}s{flag}"
            )
        print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
