"""Progress of long ingests (issue 9): the callback API and the terminal line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from conftest import write_csv
from katoutcomes import cli
from katoutcomes.cli import ingest_commands
from katoutcomes.ingest import PROGRESS_STAGES, IngestProgress, validate_path
from katoutcomes.store import Store

HEADER = "patient_id,instrument,assessed_at,total"


def _dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    rows = [f"P{i:03d},PHQ-9,2025-01-{i % 28 + 1:02d},{i % 27}" for i in range(40)]
    write_csv(folder, "assessments.csv", "\n".join([HEADER, *rows, "P999,PHQ-9,2025-01-01,x"]))
    write_csv(folder, "treatments.csv", "patient_id,administered_at,dose_mg\nP001,2025-01-01,35")
    return folder


def test_validate_reports_each_file_read_and_checked_then_the_end(tmp_path):
    seen: list[IngestProgress] = []
    result = validate_path(_dataset(tmp_path), progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages == ["reading", "reading", "checking", "checking", "checked"]
    # Rows read add up file by file: 41 assessments rows and 1 treatment.
    assert [(p.file, p.rows_done) for p in seen[:2]] == [
        ("assessments.csv", 41),
        ("treatments.csv", 42),
    ]
    assert all(p.rows_total is None for p in seen if p.stage == "reading")
    assert all(p.rows_total == result.rows_read == 42 for p in seen[2:])
    assert seen[-1].rows_done == result.rows_read
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(0 <= f <= 1 for f in fractions)


def test_store_ingest_reports_validation_then_writing(tmp_path):
    seen: list[IngestProgress] = []
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest(_dataset(tmp_path), progress=seen.append)
        assert store.counts()["assessments"] == 40
    assert [p.stage for p in seen][-3:] == ["checked", "writing", "written"]
    assert {p.stage for p in seen} <= set(PROGRESS_STAGES)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions)
    assert seen[-3].fraction == pytest.approx(0.9) and seen[-1].fraction == 1.0


def test_rows_per_second_is_rows_done_over_elapsed_time():
    p = IngestProgress("checking", "a.csv", 500_000, 1_000_000, 2.0, 0.75)
    assert p.rows_per_second == 250_000
    assert IngestProgress("reading", "a.csv", 0, None, 0.0, 0.0).rows_per_second is None


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_terminal_line_stays_quiet_for_two_seconds_then_shows_rows_and_speed():
    stream, clock = io.StringIO(), _Clock()
    line = ingest_commands.ProgressLine(stream, clock=clock)
    line(IngestProgress("reading", "assessments.csv", 1000, None, 0.5, 0.25))
    assert stream.getvalue() == ""  # a short ingest prints nothing
    clock.now += 2.5
    line(IngestProgress("checking", "assessments.csv", 1_000_000, 2_000_000, 2.5, 0.75))
    # 1,000,000 rows in 2.5 s: 400,000 rows/s.
    assert stream.getvalue().endswith(
        "katoutcomes: checking assessments.csv: 1,000,000 of 2,000,000 rows, 400,000 rows/s, 2 s"
    )
    line.close()
    assert stream.getvalue().endswith("\r\x1b[K")  # the line is cleared at the end


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_validate_shows_progress_on_a_terminal_and_not_in_a_pipe(tmp_path, monkeypatch, capsys):
    data = _dataset(tmp_path)
    monkeypatch.setattr(ingest_commands, "PROGRESS_DELAY", 0.0)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert cli.main(["validate", str(data)]) == 1
    assert "katoutcomes: checked: 42 of 42 rows" in terminal.getvalue()
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    assert cli.main(["validate", str(data)]) == 1
    assert "katoutcomes:" not in capsys.readouterr().err
