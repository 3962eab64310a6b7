"""``validate``, ``ingest`` and ``demo``: reading files, reporting every row's fate,
writing a store, and writing the synthetic demo cohort."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from katoutcomes.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    check_output,
    clip,
    settings_from,
)
from katoutcomes.errors import KatoutcomesError
from katoutcomes.exports import csv_text
from katoutcomes.ingest import SELF_HARM_IN_REJECTED_ROW, rejected_summary, validate_path
from katoutcomes.mapping import load_mapping
from katoutcomes.private_files import write_private

if TYPE_CHECKING:
    from katoutcomes.ingest import IngestProgress, IngestResult
    from katoutcomes.store import Store

#: Seconds an ingest runs before its progress is shown (on a terminal only).
PROGRESS_DELAY = 2.0


#: Groups of rejected rows printed by validate and ingest (--rejected FILE writes all).
_SHOW_GROUPS = 25


_SHOW_IGNORED = 20  # ignored column names listed before "and N more"


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
            names = [clip(c, 40) for c in r.ignored_columns[:_SHOW_IGNORED]]
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


class ProgressLine:
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

    def __enter__(self) -> ProgressLine:
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


def run_ingest(args: argparse.Namespace) -> int:
    """``katoutcomes ingest``: validate and write to the store."""
    return run_validate(args, ingest=True)


def run_validate(args: argparse.Namespace, *, ingest: bool = False) -> int:
    settings = settings_from(args)
    mapping = load_mapping(args.mapping)
    check_output(args.rejected, "--rejected")
    stored_note = None
    with contextlib.ExitStack() as stack:
        # Progress only on a terminal: a log file or a pipe gets the report alone.
        line = (
            stack.enter_context(ProgressLine(sys.stderr, delay=PROGRESS_DELAY))
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

            check_output(args.db, "--db")
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


def run_demo(args: argparse.Namespace) -> int:
    from katoutcomes.demo import write_demo

    if args.patients < 1:
        raise KatoutcomesError("--patients must be at least 1.")
    paths = write_demo(Path(args.out_dir), patients=args.patients, seed=args.seed, time=args.time)
    for name, path in paths.items():
        sys.stdout.write(f"{name}: {path}\n")
    return EXIT_OK
