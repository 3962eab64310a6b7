"""How fast the clinic overview draws in a real browser (headless Chromium).

Writes a synthetic cohort of ``--patients`` patients (``katoutcomes.demo.write_demo``,
seed 1), points the dashboard at it (``KATOUTCOMES_DATA``) and times, ``--repeats`` times
each, in Debian's Chromium driven by Playwright (the browser tests' set-up):

(a) **fresh server**: a new Streamlit server is started; timed from opening the page until
    the overview is fully drawn. The server's own start (process start until
    ``/_stcore/health`` answers) is printed beside it, and the sum of the two.
(b) **new session, warm server**: a new browser context (a new Streamlit session, nothing
    in its session state) opens the page of a server that has already drawn the overview
    once; timed from opening the page until the overview is fully drawn.
    The same is timed again in a new tab of a browser that has shown the dashboard before
    (one context, its cache warm: what a returning reader's browser does), beside the new
    context (a browser profile that has never loaded the dashboard's scripts).
(c) **back to an already-seen filter**: in one session, the sidebar's first filter
    (``Site``) is set to one value, the overview is drawn, then the value is removed again
    (back to all patients, drawn before); only the way back is timed, from the click on
    the value's remove button until the overview is fully drawn. Each repeat uses another
    value, so the way there is not always cached.

"Fully drawn" means all of these hold at once in the page:

- Streamlit is not running the script and is connected: the app root
  (``[data-testid="stApp"]``) has ``data-test-script-state="notRunning"`` and
  ``data-test-connection-state="CONNECTED"``, and no ``[data-testid="stStatusWidget"]``
  (the "Running…" indicator) is present;
- no element is left over from the previous run (``[data-stale="true"]``), and there is no
  spinner or skeleton (``stSpinner``, ``stSkeleton``);
- the sidebar's count reads the expected ``N of M patients selected`` (so the page shows
  the run for the filter asked for, not the one before it);
- the overview's ``Claims scorecard`` heading and at least as many headline metrics
  (``stMetric``) as a first, settled draw showed are present;
- every visible plotly chart (``stPlotlyChart``) has drawn its SVG, and there are at least
  as many as the settled draw showed.

The settled draw, before any timing, is one page load on the warm server followed by
three seconds in which nothing changes; it fixes the number of metrics and charts. Printed:
each timing as min / median / max seconds, the number of patients, the machine's cores and
load, and rows ready for the README's performance table.

    python benchmarks/dashboard_browser.py --patients 10000 --repeats 5

``benchmarks/dashboard_render.py`` times the same script without a browser (Streamlit's
AppTest): it measures the Python side alone, which this benchmark includes.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _server import BROWSER_ARGS, CHROMIUM, dashboard
from katoutcomes.demo import write_demo

#: Longest wait for one draw; a draw slower than this is a failure, not a figure.
_TIMEOUT_MS = 600_000
#: The filter whose values step (c) adds and removes (the sidebar's label).
_FILTER = "Site"
_VIEWPORT = {"width": 1400, "height": 1000}

#: What the page shows (see "Fully drawn" above), read in one pass.
_STATE_JS = """
() => {
  const q = (s) => document.querySelectorAll(s);
  const visible = (e) => e.offsetParent !== null;
  const charts = [...q('[data-testid="stPlotlyChart"]')].filter(visible);
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  const text = sidebar ? sidebar.innerText : '';
  const count = text.match(/([\\d,]+) of ([\\d,]+) patients selected/);
  const app = document.querySelector('[data-testid="stApp"]');
  const script = app ? app.getAttribute('data-test-script-state') : null;
  const connection = app ? app.getAttribute('data-test-connection-state') : null;
  return {
    running: script !== 'notRunning' || connection !== 'CONNECTED'
      || q('[data-testid="stStatusWidget"]').length > 0,
    stale: q('[data-stale="true"]').length,
    spinners: q('[data-testid="stSpinner"], [data-testid="stSkeleton"]').length,
    scorecard: [...q('h1, h2, h3')].some((h) => h.innerText.includes('Claims scorecard')),
    metrics: q('[data-testid="stMetric"]').length,
    charts: charts.length,
    charts_drawn: charts.filter((c) => c.querySelector('svg.main-svg')).length,
    selected: count ? count[1] : null,
  };
}
"""

#: The same state as a condition for ``page.wait_for_function`` (polled every 25 ms).
_DRAWN_JS = (
    "([want]) => { const s = ("
    + _STATE_JS.strip()
    + ")(); return !s.running && s.stale === 0 && s.spinners === 0 && s.scorecard"
    " && s.metrics >= want.metrics && s.charts >= want.charts"
    " && s.charts_drawn === s.charts && s.selected === want.selected; }"
)


@dataclass(frozen=True)
class Expected:
    """What a fully drawn overview holds (from the settled draw)."""

    metrics: int
    charts: int


def _drawn(page, expected: Expected, selected: str) -> None:
    """Wait until the overview is fully drawn for ``selected`` patients (as printed)."""
    want = {"metrics": expected.metrics, "charts": expected.charts, "selected": selected}
    page.wait_for_function(_DRAWN_JS, arg=[want], polling=25, timeout=_TIMEOUT_MS)


def _idle(page) -> None:
    """Wait until no run is going on: no status widget, no stale element, no spinner."""
    page.wait_for_function(
        "() => !(" + _STATE_JS.strip() + ")().running && !document.querySelector("
        '\'[data-stale="true"], [data-testid="stSpinner"], [data-testid="stSkeleton"]\')',
        polling=25,
        timeout=_TIMEOUT_MS,
    )


def _settled(page) -> tuple[Expected, str]:
    """Open the overview and wait until nothing changes for three seconds; what it holds."""
    page.get_by_text("Claims scorecard").first.wait_for(timeout=_TIMEOUT_MS)
    last, since = None, time.monotonic()
    while time.monotonic() - since < 3.0:
        state = page.evaluate(_STATE_JS)
        busy = state["running"] or state["stale"] or state["spinners"]
        if busy or state != last or state["charts_drawn"] != state["charts"]:
            last, since = state, time.monotonic()
        page.wait_for_timeout(100)
    if last is None or last["selected"] is None or not last["scorecard"]:
        raise RuntimeError(f"the overview did not settle: {last}")
    return Expected(metrics=last["metrics"], charts=last["charts"]), last["selected"]


def _timed(action: Callable[[], None], wait: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    wait()
    return time.perf_counter() - start


def _new_page(context):
    page = context.new_page()
    page.set_default_timeout(_TIMEOUT_MS)  # a busy machine answers slowly, not wrongly
    return page


def _record(times: dict[str, list[float]], name: str, seconds: float) -> None:
    """Keep one timing and print it at once, so that a run cut short still shows some."""
    times[name].append(seconds)
    print(f"  {name} #{len(times[name])}: {seconds:.2f} s", flush=True)


def _first_draw(page, url: str, expected: Expected, selected: str) -> float:
    """Seconds from opening ``url`` until the overview is fully drawn."""
    return _timed(lambda: page.goto(url), lambda: _drawn(page, expected, selected))


def _summary(values: list[float]) -> str:
    return (
        f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f} s "
        f"(n={len(values)})"
    )


def _exceptions(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    if boxes.count():
        raise RuntimeError(f"the dashboard raised: {boxes.first.inner_text()[:500]}")


def run(data: Path, repeats: int) -> dict[str, list[float]]:
    """The three timings (seconds, one value per repeat) on the dashboard of ``data``."""
    from playwright.sync_api import sync_playwright

    env = {"KATOUTCOMES_DATA": str(data)}
    times: dict[str, list[float]] = {
        "server": [],
        "fresh": [],
        "session": [],
        "tab": [],
        "back": [],
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(BROWSER_ARGS))
        with dashboard(env=env, start_timeout=300) as warm:
            context = browser.new_context(viewport=_VIEWPORT)
            page = _new_page(context)
            page.goto(warm.url)
            expected, everyone = _settled(page)
            _exceptions(page)
            context.close()
            print(
                f"a fully drawn overview: {everyone} patients selected, "
                f"{expected.metrics} metrics, {expected.charts} plotly charts"
            )

            # (b) a new session on the warm server.
            for _ in range(repeats):
                context = browser.new_context(viewport=_VIEWPORT)
                page = _new_page(context)
                _record(times, "session", _first_draw(page, warm.url, expected, everyone))
                _exceptions(page)
                context.close()

            # (b') a new tab in a browser that has shown the dashboard before: a new
            # session too, with the browser's cache warm (what a returning reader sees).
            context = browser.new_context(viewport=_VIEWPORT)
            page = _new_page(context)
            _first_draw(page, warm.url, expected, everyone)
            page.close()
            for _ in range(repeats):
                page = _new_page(context)
                _record(times, "tab", _first_draw(page, warm.url, expected, everyone))
                _exceptions(page)
                page.close()
            context.close()

            # (c) a filter value, then back to all patients (seen before).
            context = browser.new_context(viewport=_VIEWPORT)
            page = _new_page(context)
            page.goto(warm.url)
            _drawn(page, expected, everyone)
            box = page.get_by_role("combobox", name=_FILTER)
            for i in range(repeats):
                box.click()
                options = page.get_by_role("option")
                options.first.wait_for(timeout=_TIMEOUT_MS)
                names = [options.nth(k).inner_text() for k in range(options.count())]
                names = [n for n in names if n != "Select all"]
                value = names[i % len(names)]
                page.get_by_role("option", name=value, exact=True).click()
                page.keyboard.press("Escape")
                page.wait_for_function(
                    "([all]) => { const s = document.querySelector('[data-testid=\"stSidebar\"]');"
                    " const m = s && s.innerText.match(/([\\d,]+) of [\\d,]+ patients selected/);"
                    " return m && m[1] !== all; }",
                    arg=[everyone],
                    timeout=_TIMEOUT_MS,
                )
                _idle(page)  # the way there is drawn in full before the way back is timed
                _exceptions(page)
                remove = page.get_by_role("button", name=f"Remove {value}").first
                back = _timed(remove.click, lambda: _drawn(page, expected, everyone))
                _record(times, "back", back)
                _exceptions(page)
            context.close()

        # (a) a fresh server each time (the warm one is stopped first).
        for _ in range(repeats):
            start = time.perf_counter()
            with dashboard(env=env, start_timeout=300) as fresh:
                _record(times, "server", time.perf_counter() - start)
                context = browser.new_context(viewport=_VIEWPORT)
                page = _new_page(context)
                _record(times, "fresh", _first_draw(page, fresh.url, expected, everyone))
                _exceptions(page)
                context.close()
        browser.close()
    return times


def main() -> None:
    # Stopped with SIGTERM, leave through the ``with`` blocks so that the servers stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_demo(Path(tmp), patients=args.patients, seed=1)
        rows = sum(1 for _ in paths["assessments"].open()) - 1
        cores = os.cpu_count()
        load = os.getloadavg()[0]
        print(
            f"cohort: {args.patients:,} patients, {rows:,} assessment rows; "
            f"{cores} cores, load average {load:.1f} at the start"
        )
        times = run(Path(tmp), args.repeats)
    total = [s + f for s, f in zip(times["server"], times["fresh"], strict=True)]
    print(f"(a) fresh server, page open to fully drawn:  {_summary(times['fresh'])}")
    print(f"    server start (until /_stcore/health):   {_summary(times['server'])}")
    print(f"    server start + first draw:              {_summary(total)}")
    print(f"(b) new session on a warm server:           {_summary(times['session'])}")
    print(f"    new tab, browser cache warm:            {_summary(times['tab'])}")
    print(f"(c) back to an already-seen filter:         {_summary(times['back'])}")
    print()
    print(
        f"README rows ({args.patients:,} patients, {cores} cores, min / median / max over "
        f"{args.repeats} repeats):"
    )
    print("| timing | target | measured |")
    print("|---|---|---|")
    for label, target, values in (
        ("first full draw of the overview, fresh server", "≤ 5 s", times["fresh"]),
        ("first full draw of the overview, new session", "≤ 3 s", times["session"]),
        ("  the same, in a browser that has shown the dashboard before", "≤ 3 s", times["tab"]),
        ("back to an already-seen filter", "≤ 0.5 s", times["back"]),
    ):
        print(
            f"| {label} | {target} | {min(values):.2f} / {statistics.median(values):.2f} / "
            f"{max(values):.2f} s |"
        )


if __name__ == "__main__":
    main()
