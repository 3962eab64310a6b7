"""What the commands share: settings from the options, loading the data named on the
command line into an analysis, and writing tables with their settings and provenance.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from katoutcomes.errors import KatoutcomesError
from katoutcomes.private_files import write_private

if TYPE_CHECKING:
    import pandas as pd

    from katoutcomes.analysis import Analysis
    from katoutcomes.dataset import Dataset
    from katoutcomes.settings import Settings

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_REJECTED",
    "check_output",
    "emit_table",
    "load",
    "load_analysis",
    "metadata",
    "settings_from",
    "write_text",
    "written",
]

EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2


CLIP = 80  # characters of a value quoted in a message


def settings_from(args: argparse.Namespace) -> Settings:
    from katoutcomes.settings import load_settings

    settings = load_settings(args.settings, args.set or ())
    if args.allow_column:
        settings = settings.replace(allow_columns=(*settings.allow_columns, *args.allow_column))
    return settings


def clip(value: object, limit: int = CLIP) -> str:
    """A value as quoted in a message: a huge cell is shown by its start and its length."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def check_output(path: str | None, option: str) -> None:
    """Fail before any work when an output file cannot be written where asked."""
    if path and not Path(path).resolve().parent.is_dir():
        raise KatoutcomesError(f"{option} {path}: the folder {Path(path).parent} does not exist.")


def load(args: argparse.Namespace) -> tuple[Dataset, Settings]:
    """The dataset named by ``args.path`` and the settings; warns about rejected rows.

    Every analysis starts from assessments: a path without any (a treatments file given
    alone, a store that holds none) is an error, not an empty result.
    """
    from katoutcomes.dataset import Dataset
    from katoutcomes.ingest import validate_path
    from katoutcomes.mapping import load_mapping

    settings = settings_from(args)
    path = Path(args.path)
    if path.suffix.lower() == ".duckdb":
        from katoutcomes.store import Store  # DuckDB loads only for a store

        if not path.is_file():
            raise KatoutcomesError(f"{path}: no such store.")
        with Store(path, read_only=True) as store:
            dataset = Dataset.from_store(store)
        if dataset.assessments.empty:
            raise KatoutcomesError(
                f"{path} holds no accepted assessments; `katoutcomes ingest` an assessments "
                "file into it first (rows rejected at ingest are not stored)."
            )
        return dataset, settings
    result = validate_path(path, settings=settings, mapping=load_mapping(args.mapping))
    tables = sorted({report.table for report in result.reports})
    if "assessments" not in tables:
        raise KatoutcomesError(
            f"{path} has no assessments (found: {', '.join(tables) or 'nothing'}). "
            f"`katoutcomes {args.command}` needs the PHQ-9/GAD-7 assessments: give the "
            "folder that holds the assessments file, or that file."
        )
    if result.n_rejected:
        self_harm = len(result.self_harm_rejected)
        safety = (
            f" {self_harm} of them answer PHQ-9 item 9 (self-harm) with 1 or more and raise "
            "no flag until corrected."
            if self_harm
            else ""
        )
        sys.stderr.write(
            f"katoutcomes {args.command}: {result.n_rejected} row(s) of {path} were rejected "
            f"and are left out; `katoutcomes validate {path}` lists them.{safety}\n"
        )
    dataset = Dataset.from_result(result)
    if dataset.assessments.empty:
        raise KatoutcomesError(
            f"no assessment row of {path} was accepted; `katoutcomes validate {path}` "
            "lists the reasons."
        )
    return dataset, settings


def load_analysis(args: argparse.Namespace) -> Analysis:
    """The analysis of the data named by ``args.path`` (see :func:`load`), with the claims
    of ``--claims`` when the command has that option."""
    from katoutcomes.analysis import Analysis

    dataset, settings = load(args)
    return Analysis(dataset, settings, getattr(args, "claims", None))


def metadata(analysis: Analysis) -> dict[str, Any]:
    """Settings and data provenance, echoed with every analysis output."""
    return {"settings": analysis.settings.to_dict(), "data": analysis.data_provenance()}


def emit_table(frame: pd.DataFrame, args: argparse.Namespace, meta: dict[str, Any]) -> None:
    """Write a table as CSV, JSON or Parquet with the settings and provenance alongside."""
    from katoutcomes.exports import csv_text

    if args.format == "parquet":
        if not args.out:
            raise KatoutcomesError("--format parquet needs --out FILE (Parquet is binary).")
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        metadata = {**(table.schema.metadata or {}), b"katoutcomes": json.dumps(meta).encode()}
        buffer = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata(metadata), buffer)
        write_private(args.out, buffer.getvalue().to_pybytes())
        written(args, f"{len(frame):,} rows", "settings in its metadata")
        return
    if args.format == "json":
        text = (
            json.dumps({"rows": json.loads(frame.to_json(orient="records")), **meta}, indent=2)
            + "\n"
        )
    elif args.out:
        write_private(args.out, csv_text(frame))
        Path(f"{args.out}.provenance.json").write_text(json.dumps(meta, indent=2) + "\n")
        written(args, f"{len(frame):,} rows", f"settings in {args.out}.provenance.json")
        return
    else:
        text = csv_text(frame)
        sys.stderr.write(f"katoutcomes {args.command}: settings {json.dumps(meta['settings'])}\n")
    if args.out:
        write_private(args.out, text)
        written(args, f"{len(frame):,} rows", "settings included")
    else:
        sys.stdout.write(text)


def written(args: argparse.Namespace, what: str, settings: str) -> None:
    """One line on stderr once an output file is written (stdout stays free)."""
    sys.stderr.write(f"katoutcomes {args.command}: {what} written to {args.out} ({settings})\n")


def json_ready(value: Any) -> Any:
    """NaN and infinities as null, NumPy scalars as Python numbers, recursively."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_text(args: argparse.Namespace, text: str, what: str) -> None:
    """``text`` to ``--out`` (private to the user, as every output holding health data) or
    to standard output."""
    if args.out:
        write_private(args.out, text)
        written(args, what, "settings included")
    else:
        sys.stdout.write(text)
