"""An upload does not outlive its use: upload, use and leave in a real browser, and no
folder of it remains on disk (methods §12.9)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _server import BROWSER_ARGS, dashboard
from conftest import chromium_path
from katoutcomes.demo import write_demo
from katoutcomes.uploads import UPLOAD_PREFIX

CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]


def _uploads(tmp: Path) -> list[Path]:
    return sorted(tmp.glob(f"{UPLOAD_PREFIX}*"))


def test_an_upload_used_and_left_leaves_nothing_on_disk(tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    server_tmp = tmp_path / "tmp"
    server_tmp.mkdir()
    # A folder left by a server that crashed (no process id in its name: an older one).
    leftover = server_tmp / f"{UPLOAD_PREFIX}left-by-a-crash"
    leftover.mkdir()
    (leftover / "assessments.csv").write_text("patient_id\nP1\n")
    files = write_demo(tmp_path / "export", patients=15, seed=2)
    with dashboard(
        env={"TMPDIR": str(server_tmp)}, options={"server.disconnectedSessionTTL": 1}
    ) as server:
        url = server.url
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=list(BROWSER_ARGS))
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(f"{url}/data")
            page.get_by_text("Check new data").first.wait_for(timeout=180_000)
            assert not leftover.exists(), "a crashed server's upload is removed at start"
            dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
            for round_ in range(2):
                if round_:  # next month's export replaces this one in the uploader
                    page.get_by_role("button", name="Remove assessments.csv").click()
                    page.get_by_role("button", name="Validate these files").wait_for(
                        state="detached", timeout=180_000
                    )
                dropzone.set_input_files([str(files["assessments"])])
                page.get_by_role("button", name="Validate these files").click()
                # Enabled once these files are the candidate (the data in use disables it).
                expect(page.get_by_role("button", name="Use this data")).to_be_enabled(
                    timeout=180_000
                )
                if round_ == 0:
                    first = _uploads(server_tmp)
                    assert len(first) == 1
                    assert first[0].stat().st_mode & 0o777 == 0o700
                    page.get_by_role("button", name="Use this data").click()
                    page.get_by_text("The dashboard is showing these data.").wait_for(
                        timeout=180_000
                    )
            # The second upload is the candidate, the first is in use: both are kept.
            assert len(_uploads(server_tmp)) == 2
            assert first[0] in _uploads(server_tmp)
            page.get_by_role("link", name="Clinic overview").first.click()
            page.get_by_text("Claims scorecard").first.wait_for(timeout=180_000)
            browser.close()  # the person leaves
        deadline = time.monotonic() + 60
        while _uploads(server_tmp) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _uploads(server_tmp) == []
