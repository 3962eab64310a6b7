"""Time of ``katoutcomes claims`` against ``katoutcomes outcomes`` on the same cohort.

Generates the synthetic cohort of about ``--rows`` assessment rows (assessments,
treatments, patients as CSV, as ``outcomes_end_to_end.py`` does), ingests it once into a
DuckDB store, then runs each command as a user would (a new interpreter, imports
included) on both paths, the CSV folder (every cell validated) and the store:

    katoutcomes outcomes PATH --format csv --out FILE
    katoutcomes claims PATH --format json --out FILE

Each figure is the best of ``--repeat`` runs (the files are in the page cache after the
first), with the CPU time (user + system, every thread) of that run beside it: on a
shared machine CPU time moves much less than wall-clock time. The target of issue 13 is
claims at most 2x outcomes on the same input.

    python benchmarks/claims_vs_outcomes.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from katoutcomes.demo import write_demo

ROWS_PER_PATIENT = 19.3  # demo cohort average, as in outcomes_end_to_end.py


def run(args: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system of the child) of one command."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "katoutcomes", *args], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def best(repeat: int, args: list[str]) -> tuple[float, float]:
    """The fastest run's wall-clock seconds and that run's CPU seconds."""
    return min(run(args) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cohort"
        start = time.perf_counter()
        paths = write_demo(
            folder, patients=round(options.rows / ROWS_PER_PATIENT), seed=options.seed
        )
        print(f"generated the cohort in {time.perf_counter() - start:.1f} s")
        for name, path in paths.items():
            rows = sum(1 for _ in path.open(encoding="utf-8")) - 1
            print(f"  {name}.csv: {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB")
        store = Path(tmp) / "clinic.duckdb"
        wall, _ = run(["ingest", str(folder), "--db", str(store)])
        print(f"ingested into DuckDB once in {wall:.1f} s\n")

        print(f"best of {options.repeat} runs; CPU = user + system of that run")
        print(f"{'':<10}{'command':<10}{'wall':>9}{'CPU':>9}")
        for label, source in (("CSV", folder), ("store", store)):
            outcomes = best(
                options.repeat,
                ["outcomes", str(source), "--format", "csv", "--out", f"{tmp}/outcomes.csv"],
            )
            claims = best(
                options.repeat,
                ["claims", str(source), "--format", "json", "--out", f"{tmp}/claims.json"],
            )
            for name, (wall, cpu) in (("outcomes", outcomes), ("claims", claims)):
                print(f"{label:<10}{name:<10}{wall:8.2f}s{cpu:8.2f}s")
            print(
                f"{label:<10}{'ratio':<10}{claims[0] / outcomes[0]:8.2f}x"
                f"{claims[1] / outcomes[1]:8.2f}x  (claims / outcomes; target <= 2)\n"
            )


if __name__ == "__main__":
    main()
