"""``outcomes``, ``claims``, ``report`` and ``export``: every number from one analysis."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from katoutcomes import formatting as fmt
from katoutcomes.cli.common import (
    EXIT_OK,
    check_output,
    emit_table,
    load_analysis,
    metadata,
    settings_from,
    write_text,
)
from katoutcomes.errors import KatoutcomesError

if TYPE_CHECKING:
    from katoutcomes.analysis import Analysis

__all__ = ["format_claims_text", "run_claims", "run_export", "run_outcomes", "run_report"]


def run_outcomes(args: argparse.Namespace) -> int:
    """``katoutcomes outcomes``: the per-patient outcomes table."""
    check_output(args.out, "--out")
    analysis = load_analysis(args)
    emit_table(analysis.outcomes, args, metadata(analysis))
    return EXIT_OK


def format_claims_text(analysis: Analysis) -> str:
    """The scorecard as a terminal table, then each claim's population and note; numbers
    read as on every other surface (:mod:`katoutcomes.formatting`)."""
    frame = analysis.scorecard
    rows = [
        (
            r.id,
            fmt.verdict(r.verdict, r.direction),
            fmt.value(r.estimate, r.unit),
            fmt.interval(r.ci_low, r.ci_high, r.unit),
            fmt.integer(r.n),
            fmt.value(r.claimed, r.unit or "share", claimed=True),
            fmt.MISSING if fmt.is_missing(r.margin) else "± " + fmt.margin(r.margin, r.unit),
            fmt.value(getattr(r, "adjusted_estimate", None), "difference"),
        )
        for r in frame.itertuples(index=False)
    ]
    head = ("claim", "verdict", "estimate", "95% CI", "n", "claimed", "margin", "adjusted")
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


def run_claims(args: argparse.Namespace) -> int:
    """``katoutcomes claims``: the scorecard as text or JSON."""
    check_output(args.out, "--out")
    analysis = load_analysis(args)
    if args.format == "json":
        text = json.dumps(analysis.claims_dict(), indent=2, allow_nan=False) + "\n"
    else:
        # The text table ends with the settings, as every output echoes them.
        echoed = ", ".join(f"{k}={v}" for k, v in analysis.settings.to_dict().items())
        text = format_claims_text(analysis) + f"\nsettings: {echoed}\n"
    write_text(args, text, f"{len(analysis.scorecard)} claims")
    return EXIT_OK


def _demo_or_path(args: argparse.Namespace) -> Analysis:
    """The analysis of ``--demo`` or of PATH (exactly one of them)."""
    from katoutcomes.analysis import Analysis
    from katoutcomes.dataset import Dataset

    if args.demo:
        if args.path:
            raise KatoutcomesError("give a dataset PATH or --demo, not both.")
        return Analysis(Dataset.demo(), settings_from(args), getattr(args, "claims", None))
    if not args.path:
        raise KatoutcomesError("give a dataset PATH (or --demo for the demo cohort).")
    return load_analysis(args)


def run_report(args: argparse.Namespace) -> int:
    """``katoutcomes report``: the self-contained HTML report."""
    from katoutcomes.report import write_report

    check_output(args.out, "--out")
    analysis = _demo_or_path(args)
    path = write_report(
        analysis.dataset, args.out, analysis.settings, claims=analysis.claims, title=args.title
    )
    sys.stderr.write(
        f"katoutcomes report: written to {path} ({path.stat().st_size / 1e6:.1f} MB)\n"
    )
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    """``katoutcomes export``: the researcher's bundle, or with ``--shareable`` the
    aggregates-only bundle with small cells suppressed."""
    from katoutcomes.bundle import research_bundle, shareable_bundle
    from katoutcomes.private_files import write_private

    check_output(args.out, "--out")
    if not str(args.out).lower().endswith(".zip"):
        raise KatoutcomesError(f"--out {args.out}: the bundle is a zip archive; name it *.zip.")
    analysis = _demo_or_path(args)
    if args.shareable:
        # Aggregates only: a shareable output, written as the user's other files are.
        data = shareable_bundle(analysis)
        Path(args.out).write_bytes(data)
    else:
        # Per-patient rows: readable by the owner only (methods §12.9).
        data = research_bundle(analysis)
        write_private(args.out, data)
    kind = (
        "shareable bundle (aggregates, small cells suppressed)"
        if args.shareable
        else ("research bundle (per-patient rows: keep inside the clinic)")
    )
    sys.stderr.write(
        f"katoutcomes export: {kind} written to {args.out} ({len(data) / 1e6:.1f} MB)\n"
    )
    return EXIT_OK
