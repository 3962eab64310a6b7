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
from typing import TYPE_CHECKING, Any

import pandas as pd

from katoutcomes import __version__
from katoutcomes.errors import KatoutcomesError
from katoutcomes.exports import csv_text, write_csv
from katoutcomes.ingest import IngestResult, validate_path
from katoutcomes.mapping import load_mapping
from katoutcomes.settings import Settings, load_settings

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = ["main"]

EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2
_SHOW_REJECTED = 25


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.settings, args.set or ())
    if args.allow_column:
        settings = settings.replace(allow_columns=(*settings.allow_columns, *args.allow_column))
    return settings


_DATA_HELP = (
    "dataset folder (assessments.*, treatments.*, patients.*) or a single assessments file "
    "(CSV, XLSX or Parquet)"
)


def _add_common_options(
    p: argparse.ArgumentParser,
    path_help: str,
    formats: tuple[str, ...],
    *,
    path_optional: bool = False,
) -> None:
    """Options every data command shares: input, mapping, settings, output format."""
    p.add_argument("path", help=path_help, nargs="?" if path_optional else None)
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
        help="override one setting, e.g. --set acute_days=28 (repeatable)",
    )
    p.add_argument(
        "--allow-column",
        metavar="NAME",
        action="append",
        help="let a column through the de-identification guard (repeatable)",
    )
    if formats:
        p.add_argument(
            "--format",
            choices=formats,
            default=formats[0],
            help=f"output format (default: {formats[0]})",
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
    _add_common_options(validate, _DATA_HELP, ("text", "json"))
    validate.add_argument(
        "--rejected",
        metavar="FILE",
        help="write every rejected row (file, line, field, reason, value) as CSV",
    )

    ingest = sub.add_parser(
        "ingest",
        help="validate a dataset and add it to a store",
        description="Validate a dataset and write it to a DuckDB store in one transaction.",
    )
    _add_common_options(ingest, _DATA_HELP, ("text", "json"))
    ingest.add_argument("--rejected", metavar="FILE", help="write every rejected row as CSV")
    ingest.add_argument(
        "--db", required=True, metavar="FILE", help="DuckDB store file (created if missing)"
    )

    analysis_help = _DATA_HELP + ", or a DuckDB store (*.duckdb) written by ingest"
    outcomes = sub.add_parser(
        "outcomes",
        help="per-patient outcomes table",
        description="One row per patient and instrument: baseline, "
        "endpoint, response, remission, reliable change, onset, "
        "relapse, doses, item-9 flags.",
    )
    _add_common_options(outcomes, analysis_help, ("csv", "json", "parquet"))
    outcomes.add_argument(
        "--out",
        metavar="FILE",
        help="write to FILE (settings and provenance go to FILE.provenance.json "
        "for CSV, into the file's metadata for Parquet)",
    )

    report = sub.add_parser(
        "report",
        help="write the self-contained HTML outcomes report",
        description="One HTML file (works offline) with the scorecard, figures, benchmarks, "
        "methods and provenance; small cells suppressed (setting suppression_k).",
    )
    _add_common_options(report, analysis_help + " (omit with --demo)", (), path_optional=True)
    report.add_argument(
        "--demo",
        action="store_true",
        help="report on the built-in synthetic demo cohort instead of PATH",
    )
    report.add_argument(
        "--out",
        metavar="FILE",
        required=True,
        help="HTML file to write, e.g. reports/clinic-2026-11.html",
    )
    report.add_argument(
        "--claims", metavar="FILE", help="TOML claims file (default: the packaged DESIGN 6 claims)"
    )
    report.add_argument("--title", help="title at the top of the report")

    dashboard = sub.add_parser(
        "dashboard",
        help="open the dashboard (demo cohort when no data is given)",
        description="Start the Streamlit dashboard on 127.0.0.1 (no usage statistics).",
    )
    dashboard.add_argument("path", nargs="?", help="dataset folder or file (optional)")
    dashboard.add_argument("--db", metavar="FILE", help="DuckDB store written by ingest")
    dashboard.add_argument("--port", type=int, default=8501, help="port (default 8501)")

    claims = sub.add_parser(
        "claims",
        help="score clinic claims against the data",
        description="Evaluate each claim of a claims file (the packaged "
        "one by default) and print a verdict with its interval.",
    )
    _add_common_options(claims, analysis_help, ("text", "json"))
    claims.add_argument(
        "--claims", metavar="FILE", help="TOML claims file (default: the packaged DESIGN 6 claims)"
    )
    claims.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
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
    self_harm = result.self_harm_rejected
    if len(self_harm):
        rows = [f"{r.file} line {r.line}" for r in self_harm.head(10).itertuples(index=False)]
        more = f" and {len(self_harm) - len(rows)} more" if len(self_harm) > len(rows) else ""
        out.write(
            f"\nSafety: {len(self_harm)} rejected PHQ-9 row(s) answer item 9 (thoughts of "
            f"self-harm) with 1 or more: {'; '.join(rows)}{more}. No flag is raised for them "
            "until they are corrected and ingested.\n"
        )
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
    write_csv(result.rejected, path)


def _check_output(path: str | None, option: str) -> None:
    """Fail before any work when an output file cannot be written where asked."""
    if path and not Path(path).resolve().parent.is_dir():
        raise KatoutcomesError(f"{option} {path}: the folder {Path(path).parent} does not exist.")


def _run_validate(args: argparse.Namespace, *, ingest: bool) -> int:
    settings = _settings(args)
    mapping = load_mapping(args.mapping)
    _check_output(args.rejected, "--rejected")
    stored_note = None
    if ingest:
        from katoutcomes.store import Store

        _check_output(args.db, "--db")
        if Path(args.db).exists():
            with Store(args.db) as store:
                result = validate_path(args.path, settings=settings, mapping=mapping, store=store)
                ingest_id = store.write(result)
        else:  # validated first, so that a refused dataset leaves no store file behind
            result = validate_path(args.path, settings=settings, mapping=mapping)
            with Store(args.db) as store:
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


def _load(args: argparse.Namespace) -> tuple[Dataset, Settings]:
    """The dataset named by ``args.path`` and the settings; warns about rejected rows.

    Every analysis starts from assessments: a path without any (a treatments file given
    alone, a store that holds none) is an error, not an empty result.
    """
    from katoutcomes.dataset import Dataset

    settings = _settings(args)
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


def _metadata(dataset: Dataset, settings: Settings) -> dict[str, Any]:
    """Settings and data provenance, echoed with every analysis output."""
    data = {
        **dataset.provenance,
        "time_representation": dataset.time_representation,
        "package_version": __version__,
    }
    return {"settings": settings.to_dict(), "data": data}


def _emit_table(frame: pd.DataFrame, args: argparse.Namespace, meta: dict[str, Any]) -> None:
    """Write a table as CSV, JSON or Parquet with the settings and provenance alongside."""
    if args.format == "parquet":
        if not args.out:
            raise KatoutcomesError("--format parquet needs --out FILE (Parquet is binary).")
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        metadata = {**(table.schema.metadata or {}), b"katoutcomes": json.dumps(meta).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), args.out)
        _written(args, f"{len(frame):,} rows", "settings in its metadata")
        return
    if args.format == "json":
        text = (
            json.dumps({"rows": json.loads(frame.to_json(orient="records")), **meta}, indent=2)
            + "\n"
        )
    elif args.out:
        write_csv(frame, Path(args.out))
        Path(f"{args.out}.provenance.json").write_text(json.dumps(meta, indent=2) + "\n")
        _written(args, f"{len(frame):,} rows", f"settings in {args.out}.provenance.json")
        return
    else:
        text = csv_text(frame)
        sys.stderr.write(f"katoutcomes {args.command}: settings {json.dumps(meta['settings'])}\n")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        _written(args, f"{len(frame):,} rows", "settings included")
    else:
        sys.stdout.write(text)


def _written(args: argparse.Namespace, what: str, settings: str) -> None:
    """One line on stderr once an output file is written (stdout stays free)."""
    sys.stderr.write(f"katoutcomes {args.command}: {what} written to {args.out} ({settings})\n")


def _run_outcomes(args: argparse.Namespace) -> int:
    from katoutcomes.outcomes import patient_outcomes

    _check_output(args.out, "--out")
    dataset, settings = _load(args)
    _emit_table(patient_outcomes(dataset, settings), args, _metadata(dataset, settings))
    return EXIT_OK


def _format_claims_text(frame: pd.DataFrame) -> str:
    """The scorecard as a terminal table, then each claim's population and note."""

    def number(x: float, unit: str) -> str:
        if pd.isna(x):
            return "-"
        if unit == "usd":
            return f"${x:,.0f}"
        if unit == "mg/kg":
            return f"{x:.3f} mg/kg"
        if unit == "difference":
            return f"{100 * x:+.1f} pts"
        return f"{x:.1%}"

    def margin(x: float, unit: str) -> str:
        if unit in ("share", "difference"):
            return f"±{100 * x:g} pts"
        return "±" + number(x, unit)

    rows = [
        (
            r.id,
            r.verdict.replace("_", " ") + (f" ({r.direction})" if r.direction else ""),
            number(r.estimate, r.unit),
            "-"
            if pd.isna(r.ci_low)
            else f"{number(r.ci_low, r.unit)} to {number(r.ci_high, r.unit)}",
            "-" if pd.isna(r.n) else f"{int(r.n):,}",
            number(r.claimed, r.unit or "share"),
            "-" if pd.isna(r.margin) else margin(r.margin, r.unit),
        )
        for r in frame.itertuples(index=False)
    ]
    head = ("claim", "verdict", "estimate", "95% CI", "n", "claimed", "margin")
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    for r in frame.itertuples(index=False):
        lines.append(f'{r.id}: "{r.claim}"')
        lines.append(f"  population: {r.population}")
        lines.append(f"  {r.note}")
    return "\n".join(lines) + "\n"


def _run_claims(args: argparse.Namespace) -> int:
    from katoutcomes.claims import claims_to_dict, evaluate_claims

    _check_output(args.out, "--out")
    dataset, settings = _load(args)
    frame = evaluate_claims(dataset, settings, claims=args.claims)
    meta = _metadata(dataset, settings)
    if args.format == "json":
        payload = claims_to_dict(frame, settings, meta["data"])
        text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    else:
        # The text table ends with the settings, as every output echoes them.
        echoed = ", ".join(f"{key}={value}" for key, value in meta["settings"].items())
        text = _format_claims_text(frame) + f"\nsettings: {echoed}\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        _written(args, f"{len(frame)} claims", "settings included")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _run_report(args: argparse.Namespace) -> int:
    from katoutcomes.dataset import Dataset
    from katoutcomes.report import write_report

    _check_output(args.out, "--out")
    if args.demo:
        if args.path:
            raise KatoutcomesError("give a dataset PATH or --demo, not both.")
        dataset, settings = Dataset.demo(), _settings(args)
    elif not args.path:
        raise KatoutcomesError("give a dataset PATH (or --demo for the demo cohort).")
    else:
        dataset, settings = _load(args)
    path = write_report(dataset, args.out, settings, claims=args.claims, title=args.title)
    sys.stderr.write(
        f"katoutcomes report: written to {path} ({path.stat().st_size / 1e6:.1f} MB)\n"
    )
    return EXIT_OK


def app_path() -> Path:
    """The dashboard's entry script: in the installed package, or the source checkout."""
    packaged = Path(__file__).resolve().parent / "_app" / "app.py"
    if packaged.is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "app.py"
    if checkout.is_file():
        return checkout
    raise KatoutcomesError("the dashboard files are missing from this installation.")


def _run_dashboard(args: argparse.Namespace) -> int:
    import os
    import subprocess

    env = dict(os.environ)
    if args.path and args.db:
        raise KatoutcomesError("give a dataset PATH or --db FILE, not both.")
    if args.path:
        if not Path(args.path).exists():
            raise KatoutcomesError(f"{args.path}: no such file or folder.")
        env["KATOUTCOMES_DATA"] = str(Path(args.path).resolve())
    if args.db:
        if not Path(args.db).is_file():
            raise KatoutcomesError(f"{args.db}: no such store.")
        env["KATOUTCOMES_DB"] = str(Path(args.db).resolve())
    app = app_path()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address=127.0.0.1",
        f"--server.port={args.port}",
        "--browser.gatherUsageStats=false",
    ]
    return subprocess.call(command, env=env, cwd=app.parent)


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
        if args.command == "outcomes":
            return _run_outcomes(args)
        if args.command == "claims":
            return _run_claims(args)
        if args.command == "dashboard":
            return _run_dashboard(args)
        if args.command == "report":
            return _run_report(args)
        return _run_validate(args, ingest=args.command == "ingest")
    except KatoutcomesError as exc:
        sys.stderr.write(f"katoutcomes {args.command}: error: {exc}\n")
        return EXIT_ERROR
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
