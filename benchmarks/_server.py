"""The dashboard on a free local port, for the browser tests and the dashboard benchmarks.

``dashboard()`` starts ``streamlit run app.py`` in its own process group, waits until
Streamlit's health endpoint answers, yields the server's address and process id, and on
leaving stops the whole group (SIGTERM, then SIGKILL after a grace period), so that no
server or child process outlives its test or benchmark. When the server exits or does not
answer in time, the error carries the end of what it wrote to stderr.

The benchmarks import this module from their own folder; the tests through ``conftest.py``,
which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

__all__ = ["APP", "BROWSER_ARGS", "CHROMIUM", "DashboardServer", "dashboard", "free_port"]

APP = Path(__file__).resolve().parents[1] / "app.py"
#: Debian's Chromium, driven by Playwright (``executable_path``).
CHROMIUM = "/usr/bin/chromium"
#: Headless Chromium without the background traffic that would reach other hosts.
BROWSER_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
#: Lines of the server's stderr shown when it fails to start.
_STDERR_LINES = 60


@dataclass(frozen=True)
class DashboardServer:
    """A running dashboard: its address and the process id of the Streamlit server."""

    url: str
    pid: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(stderr unavailable)"
    return "\n".join(lines[-_STDERR_LINES:]) or "(nothing on stderr)"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return bool(answer.read() == b"ok")
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM to the server's process group, SIGKILL to what is left after ``grace`` s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with suppress(ProcessLookupError):  # children the server started, even after it exited
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=grace)


@contextmanager
def dashboard(
    env: Mapping[str, str] | None = None,
    options: Mapping[str, object] | None = None,
    *,
    app: Path = APP,
    start_timeout: float = 120.0,
    stop_grace: float = 20.0,
) -> Iterator[DashboardServer]:
    """Run the dashboard on a free port of 127.0.0.1 while the ``with`` block runs.

    Parameters
    ----------
    env
        Environment variables for the server (``KATOUTCOMES_DATA``, ``TMPDIR``, ...). Every
        ``KATOUTCOMES_*`` variable of this process is removed first, so the server sees
        only the data it is given.
    options
        Extra Streamlit options, ``{"server.disconnectedSessionTTL": 1}`` for
        ``--server.disconnectedSessionTTL=1``.
    app
        The Streamlit script (the repository's ``app.py``).
    start_timeout
        Seconds to wait for ``/_stcore/health`` to answer ``ok``.
    stop_grace
        Seconds between SIGTERM and SIGKILL when stopping.

    Raises
    ------
    RuntimeError
        The server exited or did not answer within ``start_timeout``; the message holds
        the end of its stderr.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("KATOUTCOMES_")}
    child_env.update(env or {})
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false",
        *(f"--{name}={value}" for name, value in (options or {}).items()),
    ]
    with tempfile.TemporaryDirectory(prefix="katoutcomes-server-") as logs:
        stderr_path = Path(logs) / "stderr.txt"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command,
                cwd=app.parent,
                env=child_env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        try:
            deadline = time.monotonic() + start_timeout
            while not _healthy(url):
                problem = None
                if process.poll() is not None:
                    problem = f"exited with status {process.returncode} before answering"
                elif time.monotonic() > deadline:
                    problem = f"did not answer {url}/_stcore/health within {start_timeout:.0f} s"
                if problem:
                    message = (
                        f"the dashboard {problem}; its stderr ends with:\n{_tail(stderr_path)}"
                    )
                    print(message, file=sys.stderr)
                    raise RuntimeError(message)
                time.sleep(0.25)
            yield DashboardServer(url=url, pid=process.pid)
        finally:
            _stop(process, stop_grace)
