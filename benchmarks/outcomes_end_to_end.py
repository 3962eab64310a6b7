"""End-to-end time of ``katoutcomes outcomes`` on about a million assessment rows.

Generates the synthetic cohort (assessments, treatments, patients as CSV), then times, in
one process, the same steps the CLI runs: read and validate the files, build the dataset,
compute the per-patient outcomes and write them as CSV. Prints each stage beside the time
pyarrow takes just to parse the assessments CSV, and the same analysis from a DuckDB store
that was ingested once (the analyse-many-times path).

    python benchmarks/outcomes_end_to_end.py --rows 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv

from katoutcomes.dataset import Dataset
from katoutcomes.demo import write_demo
from katoutcomes.exports import csv_text
from katoutcomes.ingest import validate_path
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.settings import Settings
from katoutcomes.store import Store

ROWS_PER_PATIENT = 19.3  # demo cohort average, measured


class Stopwatch:
    def __init__(self, reference: float) -> None:
        self.reference = reference
        self.total = 0.0

    def __call__(self, label: str, seconds: float) -> None:
        self.total += seconds
        print(f"  {label:<34} {seconds:6.2f} s")

    def summary(self, label: str) -> None:
        print(f"  {label:<34} {self.total:6.2f} s  = {self.total / self.reference:.1f}x parse")


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cohort"
        paths, seconds = timed(
            write_demo, folder, patients=round(args.rows / ROWS_PER_PATIENT), seed=args.seed
        )
        print(f"generated the cohort in {seconds:.1f} s")
        table, parse = timed(pacsv.read_csv, paths["assessments"])
        for name, path in paths.items():
            print(f"  {name}.csv: {path.stat().st_size / 1e6:5.0f} MB")
        print(f"assessments rows: {table.num_rows:,}")
        print(f"pyarrow parse of assessments.csv only: {parse:.2f} s\n")

        print("outcomes from the CSV files (what `katoutcomes outcomes FOLDER` does):")
        watch = Stopwatch(parse)
        result, s = timed(validate_path, folder, settings=settings)
        watch("read + validate 3 files", s)
        dataset, s = timed(Dataset.from_result, result)
        watch("dataset (time since first dose)", s)
        outcomes, s = timed(patient_outcomes, dataset, settings)
        watch("per-patient outcomes", s)
        _, s = timed(lambda: csv_text(outcomes))
        watch("write CSV", s)
        watch.summary("total")
        print(f"  ({len(outcomes):,} patient x instrument rows)\n")

        with Store(Path(tmp) / "clinic.duckdb") as store:
            _, s = timed(store.write, result)
            print(f"ingest into DuckDB once: {s:.2f} s\n")
            print("outcomes from the store (`katoutcomes outcomes clinic.duckdb`):")
            watch = Stopwatch(parse)
            dataset, s = timed(Dataset.from_store, store)
            watch("load + dataset", s)
            outcomes, s = timed(patient_outcomes, dataset, settings)
            watch("per-patient outcomes", s)
            _, s = timed(lambda: csv_text(outcomes))
            watch("write CSV", s)
            watch.summary("total")


if __name__ == "__main__":
    main()
