"""The ``katoutcomes`` command line.

Exit codes: 0 success (every row accepted), 1 some rows were rejected, 2 a file-level or
usage error (message on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd

from katoutcomes import __version__
from katoutcomes.errors import KatoutcomesError
from katoutcomes.exports import csv_text
from katoutcomes.ingest import (
    SELF_HARM_IN_REJECTED_ROW,
    IngestProgress,
    IngestResult,
    rejected_summary,
    validate_path,
)
from katoutcomes.mapping import load_mapping
from katoutcomes.private_files import write_private
from katoutcomes.settings import Settings, load_settings

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset
    from katoutcomes.store import Store

__all__ = ["main"]

EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2
#: Seconds an ingest runs before its progress is shown (on a terminal only).
PROGRESS_DELAY = 2.0
#: Groups of rejected rows printed by validate and ingest (--rejected FILE writes all).
_SHOW_GROUPS = 25
_SHOW_IGNORED = 20  # ignored column names listed before "and N more"
_CLIP = 80  # characters of a value quoted in a message


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
    ingest.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="while another process writes to the store, wait this long for it before "
        "stopping (default 60; 0 stops at once)",
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
    _add_compare_parser(sub, analysis_help)
    _add_model_commands(sub, analysis_help)
    return parser


def _add_model_commands(sub: Any, analysis_help: str) -> None:
    """The ``trajectories`` and ``alerts`` subcommands (DESIGN 5)."""
    trajectories = sub.add_parser(
        "trajectories",
        help="trajectory model, mean curve, band calibration and missing-data sensitivity",
        description="Fit the mixed model of post-baseline scores for one instrument and "
        "print its fixed effects, variances, mean curve, the expected-recovery band's "
        "cross-validated calibration and the missing-data sensitivity table.",
    )
    _add_common_options(trajectories, analysis_help, ("text", "json"))
    trajectories.add_argument(
        "--instrument",
        choices=("PHQ-9", "GAD-7"),
        default="PHQ-9",
        help="instrument to model (default PHQ-9)",
    )
    trajectories.add_argument(
        "--out", metavar="FILE", help="write to FILE instead of standard output"
    )
    alerts = sub.add_parser(
        "alerts",
        help="patients who need review: off track, deteriorating, relapsed, item 9",
        description="One row per patient and instrument with the latest score, the "
        "expected-recovery band, the status and the at-risk reasons; at-risk first.",
    )
    _add_common_options(alerts, analysis_help, ("csv", "json"))
    alerts.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    alerts.add_argument(
        "--clinician", metavar="ID", help="only patients whose latest dose was given by ID"
    )


def _clip(value: object, limit: int = _CLIP) -> str:
    """A value as quoted in a message: a huge cell is shown by its start and its length."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


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
        if r.skipped_rows:
            above = "row 1" if r.header_row == 2 else f"rows 1-{r.header_row - 1}"
            out.write(
                f"{'':<{width}}  header on row {r.header_row}; {above} above it skipped "
                "(titles or notes, not data)\n"
            )
        if r.ignored_columns:
            names = [_clip(c, 40) for c in r.ignored_columns[:_SHOW_IGNORED]]
            hidden = len(r.ignored_columns) - len(names)
            listed = ", ".join(names) + (f" and {hidden:,} more" if hidden else "")
            out.write(f"{'':<{width}}  ignored columns: {listed}\n")
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
            "until they are corrected and ingested: correct these rows first and ingest them "
            "again.\n"
        )
    groups = rejected_summary(rejected[rejected["reason"] != SELF_HARM_IN_REJECTED_ROW])
    if len(groups):
        shown = groups.head(_SHOW_GROUPS)
        out.write(
            f"\nRejected rows, grouped by file, column and problem "
            f"({len(rejected):,} problem lines"
            + ("" if len(shown) == len(groups) else f"; {len(shown)} of {len(groups)} groups shown")
            + "; --rejected FILE writes every row):\n"
        )
        for message in shown["message"]:
            first, *mapping_lines = message.split("\n")
            out.write(f"  {first}\n")
            for line in mapping_lines:
                out.write(f"      {line}\n")


def _write_rejected(result: IngestResult, path: str) -> None:
    # Rejected rows are patient-level data: readable by their owner only.
    write_private(path, csv_text(result.rejected))


def _check_output(path: str | None, option: str) -> None:
    """Fail before any work when an output file cannot be written where asked."""
    if path and not Path(path).resolve().parent.is_dir():
        raise KatoutcomesError(f"{option} {path}: the folder {Path(path).parent} does not exist.")


class _ProgressLine:
    """An ingest's progress as one line on a terminal's stderr, redrawn in place.

    Nothing is drawn during the first ``delay`` seconds (a short ingest stays quiet); then
    the line is redrawn every ``interval`` seconds from the last
    :class:`~katoutcomes.ingest.IngestProgress` received, so that the elapsed time moves
    on while one large file is being read. :meth:`close` clears the line.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        delay: float = PROGRESS_DELAY,
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream, self.delay, self.interval, self.clock = stream, delay, interval, clock
        self.start = clock()
        self.last: IngestProgress | None = None
        self.drawn = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, progress: IngestProgress) -> None:
        with self._lock:
            self.last = progress
        self.draw()

    def text(self) -> str:
        """The line as drawn now."""
        elapsed = self.clock() - self.start
        p = self.last
        if p is None:
            return f"katoutcomes: starting ({elapsed:.0f} s)"
        where = f" {p.file}" if p.file else ""
        done = f"{p.rows_done:,}" + (f" of {p.rows_total:,}" if p.rows_total else "")
        rate = p.rows_done / elapsed if elapsed > 0 else 0.0
        return f"katoutcomes: {p.stage}{where}: {done} rows, {rate:,.0f} rows/s, {elapsed:.0f} s"

    def draw(self) -> None:
        """Redraw the line, once ``delay`` seconds have passed."""
        if self.clock() - self.start < self.delay:
            return
        with self._lock:
            self.stream.write("\r\x1b[K" + self.text())
            self.stream.flush()
            self.drawn = True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def __enter__(self) -> _ProgressLine:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _run_validate(args: argparse.Namespace, *, ingest: bool) -> int:
    settings = _settings(args)
    mapping = load_mapping(args.mapping)
    _check_output(args.rejected, "--rejected")
    stored_note = None
    with contextlib.ExitStack() as stack:
        # Progress only on a terminal: a log file or a pipe gets the report alone.
        line = (
            stack.enter_context(_ProgressLine(sys.stderr, delay=PROGRESS_DELAY))
            if sys.stderr.isatty()
            else None
        )

        def check(store: Store | None = None) -> IngestResult:
            return validate_path(
                args.path, settings=settings, mapping=mapping, store=store, progress=line
            )

        def write(store: Store, result: IngestResult) -> int | None:
            if line is not None and line.last is not None:
                line(replace(line.last, stage="writing", file=args.db))
            return store.write(result)

        if ingest:
            from katoutcomes.store import DEFAULT_LOCK_TIMEOUT, Store

            _check_output(args.db, "--db")
            wait = DEFAULT_LOCK_TIMEOUT if args.wait is None else args.wait
            if wait < 0 or not math.isfinite(wait):
                raise KatoutcomesError("--wait takes a number of seconds, 0 or more.")
            if Path(args.db).exists():
                with Store(args.db, lock_timeout=wait) as store:
                    result = check(store)
                    ingest_id = write(store, result)
            else:  # validated first, so that a refused dataset leaves no store file behind
                result = check()
                with Store(args.db, lock_timeout=wait) as store:
                    if store.counts()["ingest_log"]:
                        # Another ingest created the store meanwhile: check against its
                        # rows, so that every row is stored once.
                        result = check(store)
                    ingest_id = write(store, result)
            stored_note = (
                f"stored in {args.db} as ingest {ingest_id}"
                if ingest_id is not None
                else f"nothing new: every file was already ingested into {args.db}"
            )
        else:
            result = check()
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
        buffer = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata(metadata), buffer)
        write_private(args.out, buffer.getvalue().to_pybytes())
        _written(args, f"{len(frame):,} rows", "settings in its metadata")
        return
    if args.format == "json":
        text = (
            json.dumps({"rows": json.loads(frame.to_json(orient="records")), **meta}, indent=2)
            + "\n"
        )
    elif args.out:
        write_private(args.out, csv_text(frame))
        Path(f"{args.out}.provenance.json").write_text(json.dumps(meta, indent=2) + "\n")
        _written(args, f"{len(frame):,} rows", f"settings in {args.out}.provenance.json")
        return
    else:
        text = csv_text(frame)
        sys.stderr.write(f"katoutcomes {args.command}: settings {json.dumps(meta['settings'])}\n")
    if args.out:
        write_private(args.out, text)
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


# --------------------------------------------------------------------------------------
# compare: crude and case-mix adjusted comparisons, funnel tables
# --------------------------------------------------------------------------------------

_COMPARE_BY = ("ssri", "psychotherapy", "trd", "route", "site", "clinician")


def _add_compare_parser(sub: Any, analysis_help: str) -> None:
    compare = sub.add_parser(
        "compare",
        help="crude and case-mix adjusted comparisons; funnel tables of sites and clinicians",
        description="For an exposure (ssri, psychotherapy in at least half of the doses, "
        "trd = 2 or more prior failures, route): the crude difference in ITT response "
        "(Newcombe) beside the adjusted odds ratio and standardised risk difference "
        "(logistic regression on baseline score, prior failures, diagnosis, age band, "
        "sex). For site or clinician (of the first dose): the funnel table, crude and "
        "case-mix adjusted, with 95%% and 99.8%% exact binomial limits.",
    )
    _add_common_options(compare, analysis_help, ("text", "json", "csv"))
    compare.add_argument("--by", required=True, choices=_COMPARE_BY, help="what to compare")
    compare.add_argument(
        "--instrument", default="PHQ-9", help="instrument whose response is compared (PHQ-9)"
    )
    compare.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")


def _fmt(value: float, kind: str = "share") -> str:
    if value is None or pd.isna(value):
        return "-"
    if kind == "points":
        return f"{100 * value:+.1f} pts"
    if kind == "ratio":
        return f"{value:.2f}"
    return f"{value:.1%}"


def _compare_effects_text(effects: list[Any], by: str, instrument: str) -> str:
    lines = [f"{instrument} intention-to-treat response by {by}", ""]
    for e in effects:
        lines.append(f"{e.level} vs {e.reference}:")
        lines.append(
            f"  crude difference     {_fmt(e.crude_estimate, 'points')} "
            f"(95% CI {_fmt(e.crude_ci_low, 'points')} to {_fmt(e.crude_ci_high, 'points')}),"
            f" n = {e.crude_n:,}"
        )
        if e.not_measurable:
            lines.append(f"  adjusted             not measurable: {e.not_measurable}")
        else:
            lines.append(
                f"  adjusted difference  {_fmt(e.risk_difference, 'points')} "
                f"(95% CI {_fmt(e.ci_low, 'points')} to {_fmt(e.ci_high, 'points')}), "
                f"n = {e.n:,}, {e.n_excluded:,} left out (missing covariates)"
            )
            lines.append(
                f"  adjusted odds ratio  {_fmt(e.odds_ratio, 'ratio')} "
                f"(95% CI {_fmt(e.or_ci_low, 'ratio')} to {_fmt(e.or_ci_high, 'ratio')})"
            )
        lines.append(f"  covariates: {', '.join(e.covariates) or 'none'}")
        lines.extend(f"  note: {note}" for note in e.notes)
        lines.append("")
    return "\n".join(lines)


def _compare_funnel_text(funnel: Any) -> str:
    units = funnel.units
    head = ("unit", "n", "responders", "rate", "expected", "adjusted", "99.8% limits", "outside")
    rows = [
        (
            str(r.unit),
            f"{r.n:,}",
            f"{r.responders:,}",
            _fmt(r.rate),
            "-" if pd.isna(r.expected) else f"{r.expected:.1f}",
            _fmt(r.adjusted_rate),
            f"{_fmt(r.lower998)} to {_fmt(r.upper998)}",
            r.outside or "-",
        )
        for r in units.itertuples(index=False)
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    table = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    ]
    table.insert(1, "  ".join("-" * w for w in widths))
    outside = ", ".join(
        f"{u} ({o})" for u, o in zip(units["unit"], units["outside"], strict=True) if o
    )
    lines = [
        f"{funnel.instrument} intention-to-treat response by {funnel.by}: clinic rate "
        f"{funnel.clinic_rate:.1%} over {funnel.n_patients:,} patients"
        + (
            f" ({funnel.n_unknown_unit:,} with no {funnel.by} left out)"
            if funnel.n_unknown_unit
            else ""
        ),
        "",
        *table,
        "",
        f"outside the 99.8% limits: {outside or 'none'}",
        "case-mix adjustment: "
        + (
            f"not made: {funnel.adjustment}"
            if funnel.adjustment
            else f"expected from {', '.join(funnel.covariates)} "
            f"({funnel.n_adjusted:,} patients with every covariate)"
        ),
        *(f"note: {note}" for note in funnel.notes),
    ]
    return "\n".join(lines) + "\n"


def _run_compare(args: argparse.Namespace) -> int:
    from katoutcomes.comparisons import adjusted_effect, comparison_frame, effects_table
    from katoutcomes.funnel import funnel_table
    from katoutcomes.instruments import normalise_instrument_name
    from katoutcomes.outcomes import patient_outcomes

    instrument = normalise_instrument_name(args.instrument)
    if instrument is None:
        raise KatoutcomesError(f"--instrument {args.instrument}: not a known instrument.")
    _check_output(args.out, "--out")
    dataset, settings = _load(args)
    outcomes = patient_outcomes(dataset, settings)
    if not (outcomes["instrument"] == instrument).any():
        raise KatoutcomesError(f"the data hold no {instrument} assessments.")
    frame = comparison_frame(outcomes, dataset, instrument, attributes=(args.by,))
    meta = _metadata(dataset, settings)
    payload: dict[str, Any]
    if args.by in ("site", "clinician"):
        funnel = funnel_table(frame, args.by, instrument=instrument)
        if args.format == "csv":
            _emit_table(funnel.units, args, meta)
            return EXIT_OK
        if args.format == "text":
            text = _compare_funnel_text(funnel)
        else:
            payload = {
                "by": args.by,
                "instrument": instrument,
                "clinic_rate": funnel.clinic_rate,
                "units": json.loads(funnel.units.to_json(orient="records")),
                "n_patients": funnel.n_patients,
                "n_unknown_unit": funnel.n_unknown_unit,
                "n_adjusted": funnel.n_adjusted,
                "covariates": list(funnel.covariates),
                "adjustment_not_made": funnel.adjustment,
                "notes": list(funnel.notes),
                **meta,
            }
            text = json.dumps(payload, indent=2) + "\n"
    else:
        effects = adjusted_effect(frame, args.by, instrument=instrument)
        if args.format == "csv":
            _emit_table(effects_table(effects), args, meta)
            return EXIT_OK
        if args.format == "text":
            text = _compare_effects_text(effects, args.by, instrument)
        else:
            payload = {"by": args.by, "instrument": instrument}
            if args.by == "route":
                payload["reference"] = effects[0].reference
                payload["routes"] = [
                    {
                        "route": e.level,
                        "crude": e.crude_dict(),
                        "adjusted": e.adjusted_dict(),
                    }
                    for e in effects
                ]
            else:
                payload["crude"] = effects[0].crude_dict()
                payload["adjusted"] = effects[0].adjusted_dict()
            text = json.dumps({**payload, **meta}, indent=2, allow_nan=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        _written(args, f"comparison by {args.by}", "settings included")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _json_ready(value: Any) -> Any:
    """NaN and infinities as null, NumPy scalars as Python numbers, recursively."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _trajectories_payload(dataset: Dataset, settings: Settings, instrument: str) -> dict[str, Any]:
    from katoutcomes.outcomes import patient_outcomes
    from katoutcomes.sensitivity import missing_data_sensitivity
    from katoutcomes.trajectories import band_calibration, fit_trajectory_model

    outcomes = patient_outcomes(dataset, settings)
    model = fit_trajectory_model(dataset, instrument, settings, outcomes=outcomes)
    calibration = band_calibration(model)
    sensitivity = missing_data_sensitivity(
        dataset, settings, models={instrument: model}, outcomes=outcomes
    ).to_dict(instrument)
    curve = model.mean_curve()[["day", "mean", "ci_low", "ci_high"]]
    details = model.to_dict()
    meta = _metadata(dataset, settings)
    return _json_ready(
        {
            "instrument": instrument,
            "n_patients": model.n_patients,
            "n_observations": model.n_observations,
            "converged": model.converged,
            "formula": model.formula,
            "fixed_effects": details["fixed_effects"],
            "variance_components": details["variance_components"],
            "mean_curve": curve.to_dict(orient="records"),
            "band_level": model.band_level,
            "band_calibration": calibration.to_dict(),
            "sensitivity": sensitivity["sensitivity"],
            "tipping_point": sensitivity["tipping_point"],
            "model": {
                key: details[key]
                for key in (
                    "reml",
                    "n_eligible",
                    "sampled",
                    "max_patients",
                    "seed",
                    "baseline_mean",
                    "acute_days",
                    "log_likelihood",
                    "warnings",
                )
            },
            **meta,
        }
    )


def _format_trajectories_text(payload: dict[str, Any]) -> str:
    def num(x: Any, digits: int = 3) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    lines = [
        f"{payload['instrument']} trajectory model: {payload['formula']} (REML)",
        f"  {payload['n_patients']:,} patients ({payload['model']['n_eligible']:,} eligible"
        f"{', seeded sample' if payload['model']['sampled'] else ''}), "
        f"{payload['n_observations']:,} scores, converged: {payload['converged']}",
        "",
        f"  {'term':<11}{'coef':>9}{'std_err':>9}{'95% CI':>21}{'p':>11}",
    ]
    for r in payload["fixed_effects"]:
        lines.append(
            f"  {r['term']:<11}{num(r['coef']):>9}{num(r['std_err']):>9}"
            f"{num(r['ci_low']):>10} to {num(r['ci_high']):<7}"
            f"{'-' if r['p_value'] is None else format(r['p_value'], '.2g'):>11}"
        )
    variances = ", ".join(f"{k} {v:.3f}" for k, v in payload["variance_components"].items())
    lines += ["", f"  variances: {variances}", "", "  mean curve at the mean baseline:"]
    for r in payload["mean_curve"]:
        lines.append(
            f"    day {r['day']:>5g}: {r['mean']:6.2f} (95% CI {r['ci_low']:.2f} to "
            f"{r['ci_high']:.2f})"
        )
    cal = payload["band_calibration"]
    lines += [
        "",
        f"  {payload['band_level']:.0%} expected-recovery band: {cal['coverage']:.1%} of "
        f"{cal['n_scores']:,} held-out scores inside ({cal['folds']}-fold patient-level "
        f"cross-validation, {cal['n_patients']:,} patients)",
        "",
        f"  {'outcome':<10}{'method':<12}{'estimate':>9}{'95% CI':>19}{'n':>8}",
    ]
    for r in payload["sensitivity"]:
        ci = "-" if r["ci_low"] is None else f"{r['ci_low']:.1%} to {r['ci_high']:.1%}"
        estimate = "-" if r["estimate"] is None else f"{r['estimate']:.1%}"
        lines.append(f"  {r['outcome']:<10}{r['method']:<12}{estimate:>9}{ci:>19}{r['n']:>8,}")
    tip = payload["tipping_point"]
    lines += [
        "",
        f"  tipping point: {tip.get('statement', '-')} ({tip['imputations']} imputations, "
        f"seed {tip['seed']})",
        "",
        "settings: " + ", ".join(f"{k}={v}" for k, v in payload["settings"].items()),
    ]
    return "\n".join(lines) + "\n"


def _run_trajectories(args: argparse.Namespace) -> int:
    _check_output(args.out, "--out")
    dataset, settings = _load(args)
    payload = _trajectories_payload(dataset, settings, args.instrument)
    if args.format == "json":
        text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    else:
        text = _format_trajectories_text(payload)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        _written(args, f"the {args.instrument} model", "settings included")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _run_alerts(args: argparse.Namespace) -> int:
    from katoutcomes.outcomes import patient_outcomes
    from katoutcomes.trajectories import (
        TrajectoryModel,
        alerts,
        band_calibration,
        fit_trajectory_models,
    )

    _check_output(args.out, "--out")
    dataset, settings = _load(args)
    outcomes = patient_outcomes(dataset, settings)
    models = fit_trajectory_models(dataset, settings, outcomes=outcomes)
    frame = alerts(dataset, settings, models=models, outcomes=outcomes, clinician=args.clinician)
    meta = _metadata(dataset, settings)
    meta["models"] = {
        name: (
            {
                "converged": model.converged,
                "n_patients": model.n_patients,
                "n_eligible": model.n_eligible,
                "sampled": model.sampled,
                "seed": model.seed,
                "band_level": model.band_level,
                # The band's measured coverage travels with the band (DESIGN 5).
                "band_calibration": band_calibration(model).to_dict(),
            }
            if isinstance(model, TrajectoryModel)
            else {"not_measurable": model}
        )
        for name, model in models.items()
    }
    _emit_table(frame, args, _json_ready(meta))
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
    return _run_server(command, env=env, cwd=app.parent)


def _run_server(command: list[str], *, env: dict[str, str], cwd: Path) -> int:
    """Run the server until it exits; SIGTERM or SIGINT sent to this process is passed on
    to it, and the server is waited for (killed if it has not stopped within 20 s), so that
    stopping the command never leaves a server running."""
    import signal
    import subprocess

    received: list[int] = []
    started: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if started and started[0].poll() is None:
            started[0].send_signal(signum)

    stops = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, forward) for s in stops}  # before the start: no gap
    try:
        process = subprocess.Popen(command, env=env, cwd=cwd)
        started.append(process)
        if received:  # a stop that came while the server was starting
            process.send_signal(received[0])
        returncode = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for process in started:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    if received and returncode in (0, -received[0]):
        # Stopped on request: the shell convention for "ended by signal N".
        return 128 + received[0]
    return returncode if returncode >= 0 else 128 - returncode


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
        if args.command == "compare":
            return _run_compare(args)
        if args.command == "trajectories":
            return _run_trajectories(args)
        if args.command == "alerts":
            return _run_alerts(args)
        return _run_validate(args, ingest=args.command == "ingest")
    except KatoutcomesError as exc:
        sys.stderr.write(f"katoutcomes {args.command}: error: {exc}\n")
        return EXIT_ERROR
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
