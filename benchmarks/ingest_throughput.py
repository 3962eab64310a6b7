"""Ingest throughput: rows per second validating a large assessments CSV.

Writes a synthetic cohort (the demo generator) with about ``--rows`` assessment rows to a
temporary folder, then times ``validate_path`` and ``Store.ingest`` on the assessments file
alone and prints the figures beside the time pyarrow takes just to parse the same CSV.

    python benchmarks/ingest_throughput.py --rows 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv

from katoutcomes.demo import write_demo
from katoutcomes.ingest import validate_path
from katoutcomes.store import Store

ROWS_PER_PATIENT = 19.8  # demo cohort average, measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    patients = max(1, round(args.rows / ROWS_PER_PATIENT))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cohort"
        start = time.perf_counter()
        paths = write_demo(folder, patients=patients, seed=args.seed)
        print(f"generated {patients:,} patients in {time.perf_counter() - start:.1f} s")
        assessments = paths["assessments"]
        size_mb = assessments.stat().st_size / 1e6

        start = time.perf_counter()
        table = pacsv.read_csv(assessments)
        parse = time.perf_counter() - start
        rows = table.num_rows
        print(f"assessments.csv: {rows:,} rows, {size_mb:.0f} MB")
        print(f"pyarrow parse only:        {parse:6.2f} s  ({rows / parse:12,.0f} rows/s)")

        start = time.perf_counter()
        result = validate_path(assessments)
        validate = time.perf_counter() - start
        assert result.rows_read == rows
        print(
            f"katoutcomes validate:      {validate:6.2f} s  ({rows / validate:12,.0f} rows/s)"
            f"  = {validate / parse:.1f}x parse; accepted {result.n_accepted:,}, "
            f"rejected {result.n_rejected:,}, duplicates {result.n_duplicates:,}"
        )

        with Store(Path(tmp) / "bench.duckdb") as store:
            start = time.perf_counter()
            store.ingest(assessments)
            ingest = time.perf_counter() - start
            print(f"katoutcomes ingest (new):  {ingest:6.2f} s  ({rows / ingest:12,.0f} rows/s)")
            start = time.perf_counter()
            again = store.ingest(assessments)
            second = time.perf_counter() - start
            print(
                f"re-ingest same file:       {second:6.2f} s  ({rows / second:12,.0f} rows/s)"
                f"; {again.n_duplicates:,} duplicates, nothing written"
            )


if __name__ == "__main__":
    main()
