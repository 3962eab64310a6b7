"""The ``katoutcomes`` command line.

Exit codes: 0 success (every row accepted), 1 some rows were rejected, 2 a file-level or
usage error (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from katoutcomes import __version__
from katoutcomes.errors import KatoutcomesError
from katoutcomes.ingest import IngestResult, validate_path
from katoutcomes.mapping import load_mapping
from katoutcomes.privacy import neutralise_formulas
from katoutcomes.settings import Settings, load_settings

__all__ = ["main"]

EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2
_SHOW_REJECTED = 25


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.settings, args.set or ())
    if args.allow_column:
        settings = settings.replace(allow_columns=(*settings.allow_columns, *args.allow_column))
    return settings


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        help="dataset folder (assessments.*, treatments.*, patients.*) "
        "or a single assessments file (CSV, XLSX or Parquet)",
    )
    p.add_argument(
        "--mapping",
        metavar="FILE",
        help="TOML file renaming columns and values (see examples/mappings/)",
    )
    p.add_argument("--settings", metavar="FILE", help="TOML settings file")
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        help="override one setting, e.g. --set gad7_max_missing_items=0 (repeatable)",
    )
    p.add_argument(
        "--allow-column",
        metavar="NAME",
        action="append",
        help="let a column through the de-identification guard (repeatable)",
    )
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    p.add_argument(
        "--rejected",
        metavar="FILE",
        help="write every rejected row (file, line, field, reason, value) as CSV",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="katoutcomes",
        description="Outcomes tracking for ketamine-assisted therapy clinics.",
        epilog="Exit codes: 0 ok, 1 rows rejected, 2 file-level or usage error.",
    )
    parser.add_argument("--version", action="version", version=f"katoutcomes {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="write the synthetic demo cohort (CSV files)",
        description="Write a synthetic cohort in the canonical layout.",
    )
    demo.add_argument(
        "out_dir", help="folder to write assessments.csv, treatments.csv, patients.csv into"
    )
    demo.add_argument("--patients", type=int, default=400, help="number of patients (default 400)")
    demo.add_argument("--seed", type=int, default=20261127, help="random seed (default 20261127)")
    demo.add_argument(
        "--time",
        choices=("datetime", "study_day"),
        default="datetime",
        help="time representation (default datetime)",
    )

    validate = sub.add_parser(
        "validate",
        help="check a dataset without storing it",
        description="Validate a dataset and report every row's fate.",
    )
    _add_data_options(validate)

    ingest = sub.add_parser(
        "ingest",
        help="validate a dataset and add it to a store",
        description="Validate a dataset and write it to a DuckDB store in one transaction.",
    )
    _add_data_options(ingest)
    ingest.add_argument(
        "--db", required=True, metavar="FILE", help="DuckDB store file (created if missing)"
    )
    return parser


def _print_text(result: IngestResult, stored: str | None = None) -> None:
    out = sys.stdout
    width = max([len(r.file) for r in result.reports] + [4])
    out.write(
        f"{'file':<{width}}  {'table':<11} {'layout':<10} {'read':>8} {'accepted':>9} "
        f"{'rejected':>9} {'duplicates':>10}\n"
    )
    for r in result.reports:
        note = "  (already ingested)" if r.already_ingested else ""
        out.write(
            f"{r.file:<{width}}  {r.table:<11} {r.layout:<10} {r.rows_read:>8} "
            f"{r.accepted:>9} {r.rejected:>9} {r.duplicates:>10}{note}\n"
        )
        if r.ignored_columns:
            out.write(f"{'':<{width}}  ignored columns: {', '.join(r.ignored_columns)}\n")
    out.write(
        f"\nrows read {result.rows_read} = accepted {result.n_accepted} + rejected "
        f"{result.n_rejected} + duplicates {result.n_duplicates}\n"
    )
    if stored:
        out.write(stored + "\n")
    rejected = result.rejected
    if len(rejected):
        shown = rejected.head(_SHOW_REJECTED)
        out.write(
            f"\nRejected rows ({len(shown)} of {len(rejected)} problems shown"
            f"{'; --rejected FILE writes all' if len(rejected) > len(shown) else ''}):\n"
        )
        for row in shown.itertuples(index=False):
            where = f"{row.file} line {row.line}" + (f", {row.field}" if row.field else "")
            value = f" [value: {row.value}]" if row.value else ""
            out.write(f"  {where}: {row.reason}{value}\n")


def _write_rejected(result: IngestResult, path: str) -> None:
    neutralise_formulas(result.rejected).to_csv(path, index=False)


def _run_validate(args: argparse.Namespace, *, ingest: bool) -> int:
    settings = _settings(args)
    mapping = load_mapping(args.mapping)
    stored_note = None
    if ingest:
        from katoutcomes.store import Store

        with Store(args.db) as store:
            result = validate_path(args.path, settings=settings, mapping=mapping, store=store)
            ingest_id = store.write(result)
        stored_note = (
            f"stored in {args.db} as ingest {ingest_id}"
            if ingest_id is not None
            else f"nothing new: every file was already ingested into {args.db}"
        )
    else:
        result = validate_path(args.path, settings=settings, mapping=mapping)
    if args.rejected:
        _write_rejected(result, args.rejected)
    if args.format == "json":
        payload = result.to_dict()
        if ingest:
            payload["db"] = args.db
            payload["stored"] = stored_note
        json.dump(payload, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        _print_text(result, stored_note)
    return EXIT_REJECTED if result.n_rejected else EXIT_OK


def _run_demo(args: argparse.Namespace) -> int:
    from katoutcomes.demo import write_demo

    if args.patients < 1:
        raise KatoutcomesError("--patients must be at least 1.")
    paths = write_demo(Path(args.out_dir), patients=args.patients, seed=args.seed, time=args.time)
    for name, path in paths.items():
        sys.stdout.write(f"{name}: {path}\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``katoutcomes`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        if args.command == "demo":
            return _run_demo(args)
        return _run_validate(args, ingest=args.command == "ingest")
    except KatoutcomesError as exc:
        sys.stderr.write(f"katoutcomes {args.command}: error: {exc}\n")
        return EXIT_ERROR
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
