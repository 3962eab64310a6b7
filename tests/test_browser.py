"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Starts the app on a free local port, waits for the clinic overview, switches to the
patient view, selects a patient and downloads the report. Skips, saying why, where
Chromium is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, chromium_path

CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KATOUTCOMES_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless=true",
            f"--server.port={port}",
            "--server.address=127.0.0.1",
            "--browser.gatherUsageStats=false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the dashboard did not answer /_stcore/health within 90 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_overview_patient_view_and_report_download(app_url: str, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(app_url)
        page.get_by_text("Claims scorecard").first.wait_for(timeout=120_000)

        page.get_by_role("link", name="Patient").first.click()
        picker = page.get_by_role("combobox", name="Patient (pseudonymous id; type to search)")
        picker.wait_for(timeout=60_000)
        picker.click()
        page.keyboard.type("P00002")
        page.keyboard.press("Enter")
        page.get_by_text("P00002").first.wait_for(timeout=60_000)
        page.get_by_text("Sessions").first.wait_for(timeout=60_000)

        page.get_by_role("link", name="Clinic overview").first.click()
        button = page.get_by_role("button", name="Download report")
        button.wait_for(timeout=120_000)
        with page.expect_download(timeout=120_000) as download:
            button.click()
        target = tmp_path / "report.html"
        download.value.save_as(target)
        browser.close()
    html = target.read_text(encoding="utf-8")
    assert "Claims scorecard" in html and "<script src=" not in html


def _outside(url: str, app_url: str) -> bool:
    """A request that leaves the machine: anything but this app, data: and blob: URLs."""
    from urllib.parse import urlsplit

    if url.startswith(("data:", "blob:", "about:")):
        return False
    host = urlsplit(url).hostname or ""
    return host not in ("127.0.0.1", "localhost", "::1") and not url.startswith(app_url)


def test_no_page_loads_anything_from_outside_hosts(app_url: str):
    # Every request of every page (fonts, icons, favicons, scripts, images) is recorded;
    # with a ":material/...:" page icon this finds the favicon fetched from
    # fonts.gstatic.com, which is how the test was seen to fail.
    from playwright.sync_api import sync_playwright

    requests: dict[str, list[str]] = {}
    current = {"page": "Clinic overview"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # Generous: on a busy machine a page's rerun can hold the navigation for a while.
        page.set_default_timeout(120_000)
        page.on("request", lambda r: requests.setdefault(current["page"], []).append(r.url))
        # Each page is opened by its address, so that everything a first visit loads
        # (fonts, icons, favicon, scripts) is recorded for it.
        for page_name, path, ready in (
            ("Clinic overview", "", "Claims scorecard"),
            ("Patient", "/patient", "Patient"),
            ("Research", "/research", "Per-patient outcomes"),
            ("Data", "/data", "Check new data"),
        ):
            current["page"] = page_name
            page.goto(app_url + path)
            page.get_by_text(ready).first.wait_for()
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1_500)
        browser.close()
    assert set(requests) >= {"Clinic overview", "Patient", "Research", "Data"}
    assert all(requests.values())
    outside = {name: [u for u in urls if _outside(u, app_url)] for name, urls in requests.items()}
    assert outside == {name: [] for name in requests}


def test_error_boxes_carry_no_links_to_outside_services():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorLinks"] is False
    assert config["browser"]["gatherUsageStats"] is False


def test_the_report_loads_nothing_when_opened_in_a_browser(tmp_path: Path):
    # The report of record: every request Chromium makes while rendering it (and its
    # figures) must be the file itself or inline data; the page's Content-Security-Policy
    # would block the rest, but the test does not rely on it.
    from playwright.sync_api import sync_playwright

    from katoutcomes.dataset import Dataset
    from katoutcomes.report import write_report

    path = write_report(Dataset.demo(patients=60), tmp_path / "report.html")
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        page.wait_for_load_state("networkidle")
        browser.close()
    assert requests and requests[0] == path.as_uri()
    assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
