"""``dashboard``: start the Streamlit dashboard on this machine."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from katoutcomes.errors import KatoutcomesError


def app_path() -> Path:
    """The dashboard's entry script: in the installed package, or the source checkout."""
    packaged = Path(__file__).resolve().parents[1] / "_app" / "app.py"
    if packaged.is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "app.py"
    if checkout.is_file():
        return checkout
    raise KatoutcomesError("the dashboard files are missing from this installation.")


def run_dashboard(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.path and args.db:
        raise KatoutcomesError("give a dataset PATH or --db FILE, not both.")
    if args.path:
        if not Path(args.path).exists():
            raise KatoutcomesError(f"{args.path}: no such file or folder.")
        env["KATOUTCOMES_DATA"] = str(Path(args.path).resolve())
    if args.db:
        if not Path(args.db).is_file():
            raise KatoutcomesError(f"{args.db}: no such store.")
        env["KATOUTCOMES_DB"] = str(Path(args.db).resolve())
    app = app_path()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address=127.0.0.1",
        f"--server.port={args.port}",
        "--browser.gatherUsageStats=false",
    ]
    return _run_server(command, env=env, cwd=app.parent)


def _run_server(command: list[str], *, env: dict[str, str], cwd: Path) -> int:
    """Run the server until it exits; SIGTERM or SIGINT sent to this process is passed on
    to it, and the server is waited for (killed if it has not stopped within 20 s), so that
    stopping the command never leaves a server running."""
    import signal
    import subprocess

    received: list[int] = []
    started: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if started and started[0].poll() is None:
            started[0].send_signal(signum)

    stops = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, forward) for s in stops}  # before the start: no gap
    try:
        process = subprocess.Popen(command, env=env, cwd=cwd)
        started.append(process)
        if received:  # a stop that came while the server was starting
            process.send_signal(received[0])
        returncode = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for process in started:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    if received and returncode in (0, -received[0]):
        # Stopped on request: the shell convention for "ended by signal N".
        return 128 + received[0]
    return returncode if returncode >= 0 else 128 - returncode
