"""The store under faults: an ingest killed at any point, and two ingests at once.

Each ingest is one DuckDB transaction, so a process killed with SIGKILL (no clean-up of any
kind) leaves the store holding none or all of that file's rows, and a second writer waits for
the first or stops with one line, never a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from katoutcomes.demo import write_demo
from katoutcomes.store import Store, StoreBusyError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and file modes are POSIX")

CLI = [sys.executable, "-m", "katoutcomes.cli"]


def _start_ingest(data: Path, db: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "ingest", str(data), "--db", str(db), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _counts(db: Path) -> dict[str, int]:
    with Store(db, read_only=True) as store:
        return store.counts()


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small cohort ingested first and a larger one (tens of thousands of rows) whose
    ingest is killed; different seeds, so their rows do not overlap."""
    root = tmp_path_factory.mktemp("faults")
    write_demo(root / "small", patients=40, seed=11)
    # Demo ids run P00001, P00002...: the small cohort's are renamed so that none overlap.
    for table in (root / "small").glob("*.csv"):
        frame = pd.read_csv(table, dtype=str, keep_default_na=False)
        frame["patient_id"] = "A" + frame["patient_id"]
        frame.to_csv(table, index=False)
    write_demo(root / "large", patients=2500, seed=12)
    return {"small": root / "small", "large": root / "large"}


@pytest.fixture(scope="module")
def full_counts(cohorts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Row counts and wall time of an uninterrupted ingest of both cohorts."""
    db = tmp_path_factory.mktemp("reference") / "clinic.duckdb"
    assert _start_ingest(cohorts["small"], db).wait(timeout=300) == 0
    small = _counts(db)
    started = time.monotonic()
    assert _start_ingest(cohorts["large"], db).wait(timeout=300) == 0
    return {"small": small, "both": _counts(db), "seconds": time.monotonic() - started}


def _kill_when(process: subprocess.Popen[str], ready) -> None:
    deadline = time.monotonic() + 300
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert process.poll() is None, "the ingest ended before the point where it was to be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


#: Where the ingest is killed, read from the files it writes (polled every 2 ms):
#: "early" while it reads and validates (no write-ahead log yet), "inserting" once DuckDB's
#: write-ahead log holds a megabyte of the transaction's rows, "checkpoint" after the commit,
#: while the log is copied into the database file on close.
KILL_POINTS = ("early", "inserting", "checkpoint")


@pytest.mark.parametrize("point", KILL_POINTS)
def test_an_ingest_killed_at_any_point_leaves_the_store_whole_and_can_be_rerun(
    point: str, cohorts: dict[str, Path], full_counts: dict, tmp_path: Path
):
    db = tmp_path / "clinic.duckdb"
    assert _start_ingest(cohorts["small"], db).wait(timeout=300) == 0
    wal = Path(f"{db}.wal")
    size_before = _size(db)
    started = time.monotonic()
    process = _start_ingest(cohorts["large"], db)
    if point == "early":
        _kill_when(process, lambda: time.monotonic() - started >= 0.3 * full_counts["seconds"])
    elif point == "inserting":
        _kill_when(process, lambda: _size(wal) >= 1_000_000)
    else:
        _kill_when(process, lambda: _size(db) > size_before)

    # The store opens and holds none or all of the killed file's rows, never a part.
    after_kill = _counts(db)
    assert after_kill in (full_counts["small"], full_counts["both"]), after_kill
    if point == "early":
        assert after_kill == full_counts["small"]
    if point == "checkpoint":  # committed before the database file grows
        assert after_kill == full_counts["both"]

    rerun = _start_ingest(cohorts["large"], db)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert _counts(db) == full_counts["both"]
    # And once more: everything is already there.
    again = _start_ingest(cohorts["large"], db)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0 and "nothing new" in out, out + err
    assert _counts(db) == full_counts["both"]


def test_two_ingests_into_one_store_at_once_store_every_row_once(
    cohorts: dict[str, Path], full_counts: dict, tmp_path: Path
):
    db = tmp_path / "clinic.duckdb"
    first = _start_ingest(cohorts["small"], db)
    second = _start_ingest(cohorts["large"], db)
    third = _start_ingest(cohorts["large"], db)  # the same file twice at once
    results = [p.communicate(timeout=600) for p in (first, second, third)]
    for process, (_out, err) in zip((first, second, third), results, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in err
    assert _counts(db)["assessments"] == full_counts["both"]["assessments"]
    assert _counts(db) == {**full_counts["both"], "ingest_log": _counts(db)["ingest_log"]}


def test_a_held_store_stops_a_second_ingest_with_one_clear_line(
    cohorts: dict[str, Path], tmp_path: Path
):
    db = tmp_path / "clinic.duckdb"
    assert _start_ingest(cohorts["small"], db).wait(timeout=300) == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from katoutcomes.store import Store; "
            f"s = Store({str(db)!r}); print('held', flush=True); time.sleep(float(sys.argv[1]))",
            "30",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        blocked = _start_ingest(cohorts["large"], db, "--wait", "1")
        _out, err = blocked.communicate(timeout=120)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert blocked.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "is writing to the store" in lines[0] and f"PID {holder.pid}" in lines[0], lines[0]
    assert "--wait" in lines[0]
    assert waited >= 1.0


def test_a_second_writer_waits_for_the_first_to_finish(tmp_path: Path):
    db = tmp_path / "clinic.duckdb"
    first = Store(db)

    def release() -> None:
        time.sleep(1.0)
        first.close()

    # The second writer is another process (the real case); the first is released from a
    # thread of this one while it waits.
    thread = threading.Thread(target=release)
    thread.start()
    waiting = subprocess.run(
        [
            *CLI[:1],
            "-c",
            f"from katoutcomes.store import Store; Store({str(db)!r}, lock_timeout=30)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    thread.join()
    assert waiting.returncode == 0, waiting.stderr


def test_a_held_store_raises_store_busy_without_waiting(tmp_path: Path):
    db = tmp_path / "clinic.duckdb"
    Store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from katoutcomes.store import Store; "
            f"s = Store({str(db)!r}); print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreBusyError, match=f"PID {holder.pid}"):
            Store(db, lock_timeout=0)
    finally:
        holder.kill()
        holder.wait()
