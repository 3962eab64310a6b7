"""``katoutcomes dashboard`` stopped by a signal stops its Streamlit server too.

A real subprocess: the command starts on a free port, the test waits for the server's
health check, sends the signal to the command and checks that the command returned, that
the server process it started is gone and that nothing listens on the port any more.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for children")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (from /proc/PID/stat)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_dashboard_stops_its_server(signum: int):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KATOUTCOMES_")}
    env["STREAMLIT_SERVER_HEADLESS"] = "true"  # no browser window in a test
    command = subprocess.Popen(
        [sys.executable, "-m", "katoutcomes.cli", "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a process group of its own, to clean up whatever is left
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the dashboard did not answer /_stcore/health within 90 s")
        servers = _children(command.pid)
        assert servers, "the command should run the server as a child process"

        command.send_signal(signum)
        returncode = command.wait(timeout=30)

        assert returncode == 128 + signum  # the shell convention for "ended by signal N"
        assert not [pid for pid in servers if _alive(pid)], "the server outlived the command"
        assert not _listening(port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(command.pid, signal.SIGKILL)
        command.wait(timeout=10)
