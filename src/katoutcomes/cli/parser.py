"""The command line's options: one sub-parser per command.

Importing this module imports nothing heavy, so ``katoutcomes --help`` and
``katoutcomes --version`` answer at once.
"""

from __future__ import annotations

import argparse
from typing import Any

from katoutcomes import __version__

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


def build_parser() -> argparse.ArgumentParser:
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
        "--claims", metavar="FILE", help="TOML claims file (default: the packaged claims)"
    )
    report.add_argument("--title", help="title at the top of the report")

    export = sub.add_parser(
        "export",
        help="write the researcher's bundle (zip): tables, codebook, provenance",
        description="One zip with every table of the analysis: per-patient outcomes (CSV "
        "and Parquet), rates, Kaplan-Meier curves, subgroups, claims (CSV and JSON), "
        "adherence, adverse events, settings.json, codebook.csv (every column: name, type, "
        "unit, definition, source) and provenance.json (input file hashes, package and "
        "dependency versions, settings, time, filter). With --shareable: aggregates only, "
        "small cells suppressed (setting suppression_k), for use outside the clinic.",
    )
    _add_common_options(export, analysis_help + " (omit with --demo)", (), path_optional=True)
    export.add_argument(
        "--demo", action="store_true", help="export the built-in synthetic demo cohort"
    )
    export.add_argument("--out", metavar="FILE.zip", required=True, help="zip file to write")
    export.add_argument(
        "--shareable",
        action="store_true",
        help="aggregates only, small cells suppressed: no per-patient row, no count below k",
    )
    export.add_argument(
        "--claims", metavar="FILE", help="TOML claims file (default: the packaged claims)"
    )

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
        "--claims", metavar="FILE", help="TOML claims file (default: the packaged claims)"
    )
    claims.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    _add_compare_parser(sub, analysis_help)
    _add_model_commands(sub, analysis_help)
    return parser


def _add_model_commands(sub: Any, analysis_help: str) -> None:
    """The ``trajectories`` and ``alerts`` subcommands (methods §7)."""
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
