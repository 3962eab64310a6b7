"""Several people on the dashboard at once: errors, pages drawn, and the server's memory.

Writes a synthetic cohort of ``--patients`` patients, starts the dashboard on it (a fresh
Streamlit server on a free local port) and drives ``--sessions`` headless Chromium contexts
at once for ``--seconds`` each. Every session repeatedly changes a sidebar filter (adds or
removes one site, clinician, route or diagnosis), waits for the overview to be drawn, and
every few steps opens a patient on the Patient page and returns. After each step it looks
for Streamlit's exception element.

The server's resident memory is sampled from ``/proc`` every half second. Printed: steps,
distinct filter choices and pages drawn per session, exceptions, the time a step took
(median and 95th percentile), the peak memory, and the memory when the 50th distinct filter
choice was drawn against the end of the run: with bounded caches it stops growing.

    python benchmarks/dashboard_load.py --patients 10000 --sessions 5 --seconds 120
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from _server import BROWSER_ARGS, CHROMIUM, dashboard
from katoutcomes.demo import write_demo

T = TypeVar("T")

FILTERS = ("Site", "Clinician", "Route", "Primary diagnosis")
#: The memory is compared from this many distinct filter choices on (issue: 50).
SETTLED_AFTER = 50
_TIMEOUT_MS = 300_000
#: Seconds to wait for a select box's list to open before clicking again.
_REOPEN_S = 15


@dataclass
class Session:
    """What one browser session did."""

    steps: int = 0
    pages: int = 0
    patients_opened: int = 0
    #: Streamlit exception boxes seen on a page (errors of the dashboard).
    exceptions: list[str] = field(default_factory=list)
    #: Steps the browser could not complete (a wait that ran out), then the page reloaded.
    failed_steps: list[str] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    #: Clicks made again because a select box's list did not open (see ``_open_list``).
    reclicks: int = 0
    #: Seconds of each completed step, by kind ("filter" or "patient").
    completed: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class LoadResult:
    sessions: list[Session]
    distinct_choices: int
    peak_mb: float
    settled_mb: float | None
    final_mb: float
    samples: list[tuple[float, float]]


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc (Linux)."""
    total = 0.0
    for proc in [str(pid), *_children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def _drawn(page) -> None:
    """Wait until the app has finished its run: the app root says the script is not running
    and the browser is connected, the status widget ("Running…") is gone and no element of
    the previous run is left (``data-stale``). The short pause first lets a run that was
    just asked for begin."""
    time.sleep(0.3)
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " return !!app && app.getAttribute('data-test-script-state') === 'notRunning'"
        " && app.getAttribute('data-test-connection-state') === 'CONNECTED'"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-stale=\"true\"]'); }",
        timeout=_TIMEOUT_MS,
    )


def _heading(page, title: str):
    """The page's title (``st.title``), which only that page draws."""
    return page.locator('[data-testid="stMain"] h1').filter(has_text=title).first


def _overview(page) -> None:
    """Wait for the overview: its scorecard, or its word that the filters leave nobody."""
    _heading(page, "Clinic overview").wait_for(timeout=_TIMEOUT_MS)
    page.get_by_text("Claims scorecard").or_(
        page.get_by_text("Clear a filter to see results")
    ).first.wait_for(timeout=_TIMEOUT_MS)
    _drawn(page)


def _exceptions(page) -> list[str]:
    boxes = page.locator('[data-testid="stException"]')
    return [boxes.nth(i).inner_text()[:300] for i in range(boxes.count())]


def _again(page, session: Session, attempt: Callable[[], T]) -> T:
    """``attempt()``, made again while it times out, until the step's time runs out.

    Under load a click can land while a widget is being drawn again or while the browser is
    reconnecting (widgets are disabled then), or be covered by an option list or tooltip
    left open: the page is fine, the click was lost. A person presses Escape and clicks
    again, and so does this, after ``_REOPEN_S`` seconds; each extra try is counted in
    ``session.reclicks``."""
    deadline = time.monotonic() + _TIMEOUT_MS / 1000
    while True:
        try:
            return attempt()
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                raise
            session.reclicks += 1
            page.keyboard.press("Escape")


def _open_list(page, box, session: Session):
    """Open the option list of a select box and return its options (clicked again when
    the list does not open within ``_REOPEN_S`` seconds, see :func:`_again`)."""
    options = page.get_by_role("option")

    def attempt():
        _drawn(page)
        box.click()
        options.first.wait_for(timeout=_REOPEN_S * 1000)
        return options

    return _again(page, session, attempt)


def _click(page, target, session: Session) -> None:
    """Click ``target``, again when the click cannot land (see :func:`_again`)."""
    _again(page, session, lambda: target.click(timeout=_REOPEN_S * 1000))


def _toggle_filter(page, rng: random.Random, chosen: dict[str, set[str]], session: Session) -> None:
    """Add or remove one option of one sidebar filter."""
    label = rng.choice(FILTERS)
    picked = chosen.setdefault(label, set())
    box = page.get_by_role("combobox", name=label)
    box.wait_for(timeout=_TIMEOUT_MS)
    if picked and rng.random() < 0.5:
        value = rng.choice(sorted(picked))
        _click(page, page.get_by_role("button", name=f"Remove {value}").first, session)
        picked.discard(value)
        return
    options = _open_list(page, box, session)
    names = [options.nth(i).inner_text() for i in range(options.count())]
    names = [n for n in names if n != "Select all" and n not in picked]
    if not names:
        page.keyboard.press("Escape")
        return
    value = rng.choice(names)
    page.get_by_role("option", name=value, exact=True).click()
    page.keyboard.press("Escape")
    picked.add(value)


def _open_patient(page, rng: random.Random, session: Session) -> bool:
    """Open the Patient page, choose one of the patients listed, and return to the
    overview. Returns whether a patient's page was drawn (False when the filters leave
    nobody).

    Every wait names something only the page asked for draws: the Patient page's title and
    its own "nobody" message (the overview's is worded differently), and, once a patient is
    chosen, that patient's id in the address with the page's session table."""
    _click(page, page.get_by_role("link", name="Patient", exact=True).first, session)
    _heading(page, "Patient").wait_for(timeout=_TIMEOUT_MS)
    picker = page.get_by_role("combobox", name="Patient (pseudonymous id; type to search)")
    nobody = page.get_by_text("Clear a filter to pick a patient")
    picker.or_(nobody).first.wait_for(timeout=_TIMEOUT_MS)
    _drawn(page)
    opened = False
    if picker.count():
        options = _open_list(page, picker, session)
        listed = [options.nth(k).inner_text().strip() for k in range(min(options.count(), 20))]
        patient_id = rng.choice([name for name in listed if name])
        # The list is drawn as it scrolls, so an option found by its place can be another
        # patient by the time it is clicked: type the id (the list keeps that patient only)
        # and click the option that bears it.
        page.keyboard.type(patient_id)
        page.get_by_role("option", name=patient_id, exact=True).click()
        page.wait_for_function(
            "([id]) => new URLSearchParams(location.search).get('patient') === id",
            arg=[patient_id],
            timeout=_TIMEOUT_MS,
        )
        page.get_by_text("Sessions and questionnaires").first.wait_for(timeout=_TIMEOUT_MS)
        _drawn(page)
        opened = True
    _click(page, page.get_by_role("link", name="Clinic overview", exact=True).first, session)
    _overview(page)
    return opened


def _run_session(
    url: str,
    seconds: float,
    max_steps: int | None,
    seed: int,
    seen: set[frozenset],
    lock: threading.Lock,
    artifacts: Path | None = None,
) -> Session:
    from playwright.sync_api import sync_playwright

    rng = random.Random(seed)
    session = Session()
    chosen: dict[str, set[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(BROWSER_ARGS))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(_TIMEOUT_MS)  # a busy server answers slowly, not wrongly
        page.goto(url)
        page.get_by_text("Claims scorecard").first.wait_for(timeout=_TIMEOUT_MS)
        _drawn(page)
        session.pages += 1
        end = time.monotonic() + seconds
        while time.monotonic() < end and (max_steps is None or session.steps < max_steps):
            started = time.monotonic()
            kind = "patient" if session.steps % 5 == 4 else "filter"
            try:
                if kind == "patient":
                    session.patients_opened += _open_patient(page, rng, session)
                    session.pages += 2
                else:
                    _toggle_filter(page, rng, chosen, session)
                    _drawn(page)
                    session.pages += 1
                    state = frozenset((k, frozenset(v)) for k, v in chosen.items() if v)
                    with lock:
                        seen.add(state)
                session.completed.setdefault(kind, []).append(time.monotonic() - started)
            except Exception as exc:  # a step that cannot complete is a failure to report
                message = str(exc).splitlines()[0]
                try:  # what the page showed when the wait ran out, to tell why
                    shown = " ".join(
                        page.locator('[data-testid="stMain"]').inner_text(timeout=5_000).split()
                    )
                except Exception:
                    shown = "(page text unavailable)"
                session.exceptions += _exceptions(page)  # before the reload clears them
                if artifacts is not None:
                    shot = artifacts / f"session{seed}_step{session.steps}.png"
                    with contextlib.suppress(Exception):
                        page.screenshot(path=shot, full_page=True)
                session.failed_steps.append(
                    f"step {session.steps}: {type(exc).__name__}: {message}; at {page.url}; "
                    f"page: {shown[:300]}"
                )
                page.goto(url)
                chosen.clear()
            session.exceptions += _exceptions(page)
            session.step_seconds.append(time.monotonic() - started)
            session.steps += 1
        browser.close()
    return session


def run_load(
    data: Path,
    sessions: int,
    seconds: float,
    max_steps: int | None = None,
    artifacts: Path | None = None,
) -> LoadResult:
    """Drive ``sessions`` browsers at once on the dashboard of ``data`` for ``seconds``
    (or until each has taken ``max_steps`` steps). A screenshot of each step that does not
    complete is saved in ``artifacts`` when given."""
    seen: set[frozenset] = set()
    lock = threading.Lock()
    samples: list[tuple[float, float]] = []
    settled: list[float] = []
    done = threading.Event()
    with dashboard(env={"KATOUTCOMES_DATA": str(data)}) as server:
        url, pid = server.url, server.pid

        def sample() -> None:
            start = time.monotonic()
            while not done.is_set():
                rss = _rss_mb(pid)
                samples.append((time.monotonic() - start, rss))
                with lock:
                    if not settled and len(seen) >= SETTLED_AFTER:
                        settled.append(rss)
                done.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        results: list[Session] = [Session() for _ in range(sessions)]

        def worker(i: int) -> None:
            results[i] = _run_session(
                url, seconds, max_steps, seed=i, seen=seen, lock=lock, artifacts=artifacts
            )

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(sessions)]
        for thread in threads:
            thread.start()
            time.sleep(1.0)  # people arrive one after another
        for thread in threads:
            thread.join()
        final = _rss_mb(pid)
        done.set()
        sampler.join()
    return LoadResult(
        sessions=results,
        distinct_choices=len(seen),
        peak_mb=max(rss for _, rss in samples),
        settled_mb=settled[0] if settled else None,
        final_mb=final,
        samples=samples,
    )


def _quantiles(values: list[float]) -> str:
    q95 = statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)
    return f"median {statistics.median(values):.2f} s, 95th percentile {q95:.2f} s"


def main() -> None:
    # Stopped with SIGTERM, leave through the ``with`` block so that the server stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=None,
        help="folder for a screenshot of every step that does not complete",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_demo(Path(tmp), patients=args.patients, seed=1)
        rows = sum(1 for _ in paths["assessments"].open()) - 1
        print(f"cohort: {args.patients:,} patients, {rows:,} assessment rows")
        if args.artifacts is not None:
            args.artifacts.mkdir(parents=True, exist_ok=True)
        result = run_load(Path(tmp), args.sessions, args.seconds, artifacts=args.artifacts)
    steps = [s for session in result.sessions for s in session.step_seconds]
    for i, session in enumerate(result.sessions, 1):
        print(
            f"session {i}: {session.steps} steps, {session.pages} pages drawn, "
            f"{session.patients_opened} patients opened, {len(session.exceptions)} exceptions, "
            f"{len(session.failed_steps)} steps not completed, "
            f"{session.reclicks} clicks made again (a click that did not land or a list "
            "that did not open)"
        )
        for message in [*session.exceptions, *session.failed_steps][:5]:
            print(f"    {message}")
    print(f"distinct filter choices: {result.distinct_choices}")
    if steps:
        print(f"step time, all steps: {_quantiles(steps)}")
    for kind, label in (("filter", "change a filter"), ("patient", "open a patient")):
        done = [t for session in result.sessions for t in session.completed.get(kind, [])]
        print(f"completed '{label}' steps: {len(done)}; {_quantiles(done) if done else ''}")
    print(f"server memory: peak {result.peak_mb:,.0f} MB, at the end {result.final_mb:,.0f} MB")
    if result.settled_mb is None:
        print(f"fewer than {SETTLED_AFTER} distinct filter choices: run longer to see growth")
    else:
        growth = result.final_mb - result.settled_mb
        print(
            f"after {SETTLED_AFTER} distinct filter choices: {result.settled_mb:,.0f} MB; "
            f"at the end ({result.distinct_choices}): {result.final_mb:,.0f} MB "
            f"({growth:+,.0f} MB)"
        )


if __name__ == "__main__":
    main()
