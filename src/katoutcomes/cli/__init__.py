"""The ``katoutcomes`` command line.

Exit codes: 0 success (every row accepted), 1 some rows were rejected, 2 a file-level or
usage error (message on stderr).

Each command lives in a topic module (:mod:`~katoutcomes.cli.ingest_commands`,
:mod:`~katoutcomes.cli.analysis_commands`, :mod:`~katoutcomes.cli.model_commands`,
:mod:`~katoutcomes.cli.dashboard_command`) that is imported only when its command runs, so
that answering ``--help`` or ``--version`` imports nothing heavy. The analysis commands
build one :class:`~katoutcomes.analysis.Analysis` and print from it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Final

from katoutcomes.cli.common import EXIT_ERROR, EXIT_OK
from katoutcomes.cli.parser import build_parser
from katoutcomes.errors import KatoutcomesError

__all__ = ["main"]

#: Command → (module, function) that runs it.
COMMANDS: Final = {
    "demo": ("ingest_commands", "run_demo"),
    "validate": ("ingest_commands", "run_validate"),
    "ingest": ("ingest_commands", "run_ingest"),
    "outcomes": ("analysis_commands", "run_outcomes"),
    "claims": ("analysis_commands", "run_claims"),
    "report": ("analysis_commands", "run_report"),
    "export": ("analysis_commands", "run_export"),
    "compare": ("model_commands", "run_compare"),
    "trajectories": ("model_commands", "run_trajectories"),
    "alerts": ("model_commands", "run_alerts"),
    "dashboard": ("dashboard_command", "run_dashboard"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``katoutcomes`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    module, function = COMMANDS[args.command]
    run = getattr(importlib.import_module(f"katoutcomes.cli.{module}"), function)
    try:
        return int(run(args))
    except KatoutcomesError as exc:
        sys.stderr.write(f"katoutcomes {args.command}: error: {exc}\n")
        return EXIT_ERROR
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK
