"""The dashboard server helper shared by the browser tests and the benchmarks
(``benchmarks/_server.py``)."""

from __future__ import annotations

import os
import urllib.request

import pytest

from _server import dashboard


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_server_that_cannot_start_says_why_with_its_stderr():
    # Streamlit refuses an option it does not know and exits before serving.
    with (
        pytest.raises(RuntimeError, match=r"exited with status [1-9][\s\S]*no_such_option"),
        dashboard(options={"server.no_such_option": 1}),
    ):
        pytest.fail("the block runs only once the server answers")


def test_the_server_answers_inside_the_block_and_is_stopped_after_it(tmp_path):
    with dashboard(env={"TMPDIR": str(tmp_path)}) as server:
        with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=10) as answer:
            assert answer.read() == b"ok"
        assert _alive(server.pid)
    assert not _alive(server.pid)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5)
