"""Hostile input to ``validate`` and to the Data page's validation: arbitrary bytes,
CSV-like text, 1 MB cells, 10,000 columns, runs of quotes.

Whatever the input, the answer is a clear one-line error (exit 2) or a counted result
(``rows read = accepted + rejected + duplicates``), never a traceback, and memory stays
under a set bound.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from katoutcomes.cli import main
from katoutcomes.errors import KatoutcomesError
from katoutcomes.ingest import validate_path

#: Peak resident memory allowed to `katoutcomes validate` on the inputs below (each about
#: 1-10 MB on disk); a plain validate of a small file peaks near 150 MB.
MEMORY_BOUND_MB = 1024

_COUNTS = re.compile(
    r"rows read ([\d,]+) = accepted ([\d,]+) \+ rejected ([\d,]+) \+ duplicates ([\d,]+)"
)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _check_cli(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``validate`` ends in a counted result or one clear line, never an exception."""
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("katoutcomes validate: error: "), err
        assert len(lines[0]) > len("katoutcomes validate: error: ") + 10
        return
    counts = _COUNTS.search(out)
    assert counts, out
    read, accepted, rejected, duplicates = (_number(g) for g in counts.groups())
    assert read == accepted + rejected + duplicates


def _check_api(path: Path) -> None:
    """The Data page validates through :func:`validate_path`: a result or an IngestError."""
    try:
        result = validate_path(path)
    except KatoutcomesError as exc:
        assert str(exc).strip()
        return
    assert result.rows_read == result.n_accepted + result.n_rejected + result.n_duplicates


_FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_FUZZ
@given(data=st.binary(max_size=4000))
def test_arbitrary_bytes_get_a_clear_answer(data: bytes, capsys: pytest.CaptureFixture[str]):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "assessments.csv"
        path.write_bytes(data)
        _check_cli(path, capsys)
        _check_api(path)


_HEADERS = st.lists(
    st.sampled_from(
        [
            "patient_id",
            "instrument",
            "assessed_at",
            "study_day",
            "total",
            "item_9",
            "Patient ID",
            "Date",
            "score",
            "notes",
            '"quoted, header"',
            "",
        ]
    ),
    min_size=1,
    max_size=8,
)
_CELL = st.one_of(
    st.sampled_from(
        ["P001", "PHQ-9", "gad7", "2025-01-01", "31/12/2025", "12", "-3", "", '""', '"a""b"']
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
    st.from_regex(r'"{1,40}[^"]{0,5}"{0,40}', fullmatch=True),
)


@_FUZZ
@given(
    header=_HEADERS,
    rows=st.lists(st.lists(_CELL, max_size=10), max_size=15),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_csv_like_text_gets_a_clear_answer(
    header: list[str],
    rows: list[list[str]],
    delimiter: str,
    newline: str,
    capsys: pytest.CaptureFixture[str],
):
    text = newline.join(delimiter.join(r) for r in [header, *rows])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "assessments.csv"
        path.write_text(text, encoding="utf-8")
        _check_cli(path, capsys)
        _check_api(path)


def _write_huge_cells(folder: Path) -> None:
    big = "A" * 1_000_000
    digits = "7" * 1_000_000
    (folder / "assessments.csv").write_text(
        "patient_id,instrument,assessed_at,total,notes\n"
        f"P001,PHQ-9,2025-01-01,12,{big}\n"
        f"{big},PHQ-9,2025-01-02,12,x\n"
        f"P002,PHQ-9,2025-01-01,{digits},x\n"
        f"P003,{big},2025-01-01,3,x\n"
    )


def _write_wide(folder: Path) -> None:
    names = ["patient_id", "instrument", "assessed_at", "total"] + [f"c{i}" for i in range(10_000)]
    rows = [
        ",".join([f"P{r:03d}", "PHQ-9", f"2025-01-{r % 28 + 1:02d}", "10"] + ["1"] * 10_000)
        for r in range(40)
    ]
    (folder / "assessments.csv").write_text("\n".join([",".join(names), *rows]) + "\n")


def _write_quotes(folder: Path) -> None:
    quotes = '"' * 200_001
    escaped = '""' * 50_000
    (folder / "assessments.csv").write_text(
        "patient_id,instrument,assessed_at,total\n"
        f"P001,PHQ-9,2025-01-01,{quotes}\n"
        f"P002,{escaped},2025-01-01,3\n"
        'P003,PHQ-9,2025-01-01,"""""""""""""""""""""""""""""""""""""12"""\n'
        "P004,PHQ-9,2025-01-02,4\n"
    )


def _write_bytes(folder: Path) -> None:
    (folder / "assessments.csv").write_bytes(os.urandom(2_000_000))


@pytest.mark.parametrize(
    "make",
    [_write_huge_cells, _write_wide, _write_quotes, _write_bytes],
    ids=["1MB-cells", "10000-columns", "nested-quotes", "random-bytes"],
)
def test_hostile_files_get_a_clear_answer_within_the_memory_bound(make, tmp_path: Path):
    make(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "katoutcomes.cli", "validate", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=600)
    assert process.returncode in (0, 1, 2), err
    assert "Traceback" not in err, err
    if process.returncode == 2:
        assert len(err.strip().splitlines()) == 1, err
    else:
        counts = _COUNTS.search(out)
        assert counts, out
        read, accepted, rejected, duplicates = (_number(g) for g in counts.groups())
        assert read == accepted + rejected + duplicates
    # Messages quote at most a short piece of a value, not a megabyte of it.
    assert len(out) + len(err) < 200_000


def test_validate_stays_under_the_memory_bound_on_hostile_files(tmp_path: Path):
    """Peak resident memory of each run, read from the kernel (``wait4``)."""
    peaks = {}
    for make in (_write_huge_cells, _write_wide, _write_quotes, _write_bytes):
        folder = tmp_path / make.__name__
        folder.mkdir()
        make(folder)
        process = subprocess.Popen(
            [sys.executable, "-m", "katoutcomes.cli", "validate", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, _, usage = os.wait4(process.pid, 0)
        peaks[make.__name__] = usage.ru_maxrss / 1024  # Linux reports kilobytes
    assert max(peaks.values()) < MEMORY_BOUND_MB, peaks
