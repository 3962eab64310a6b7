"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Starts the app on a free local port, waits for the clinic overview, switches to the
patient view, selects a patient and downloads the report. Skips, saying why, where
Chromium is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _server import BROWSER_ARGS, dashboard
from conftest import ROOT, chromium_path

CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]
ARGS = list(BROWSER_ARGS)


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    with dashboard() as server:
        yield server.url


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


def _launch(p):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
    return browser, page


def _no_exception(page, step: str) -> None:
    """No Streamlit exception box anywhere on the page (after the rerun settles)."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000
    )
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{step}: {boxes.first.inner_text()}"


def _export_with_rejected_rows(folder: Path) -> list[Path]:
    from katoutcomes.demo import write_demo

    files = write_demo(folder, patients=20)
    assessments = files["assessments"]
    header = assessments.read_text(encoding="utf-8").splitlines()[0].split(",")
    bad = dict.fromkeys(header, "") | {
        "patient_id": "P00001",
        "instrument": "PHQ-9",
        "assessed_at": "soon",
    }
    with assessments.open("a", encoding="utf-8") as f:
        f.write(",".join(bad[c] for c in header) + "\n")
    return [files["assessments"], files["treatments"], files["patients"]]


def test_upload_with_rejected_rows_use_commit_and_open_the_store(app_url: str, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    files = _export_with_rejected_rows(tmp_path / "export")
    store = tmp_path / "clinic.duckdb"
    with sync_playwright() as p:
        browser, page = _launch(p)
        page.goto(f"{app_url}/data")
        page.get_by_text("Check new data").first.wait_for(timeout=120_000)
        _no_exception(page, "open the Data page")

        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            [str(f) for f in files]
        )
        page.get_by_role("button", name="Validate these files").click()
        page.get_by_text("Rejected rows").first.wait_for(timeout=120_000)
        _no_exception(page, "validate the upload")
        # The rejected value, in the rejected rows' table (drawn after its heading: wait
        # for it rather than count at once).
        page.get_by_text("soon", exact=True).first.wait_for(state="attached", timeout=30_000)

        page.get_by_role("button", name="Use this data").click()
        page.get_by_text("The dashboard is showing these data.").or_(
            page.locator('[data-testid="stException"]')
        ).first.wait_for(timeout=120_000)
        _no_exception(page, "use the data")

        page.get_by_role("textbox", name="DuckDB store").fill(str(store))
        page.keyboard.press("Enter")
        commit = page.get_by_role("button", name="Commit to store")
        commit.wait_for(timeout=60_000)
        commit.click()
        page.get_by_text("Written to").first.wait_for(timeout=120_000)
        _no_exception(page, "commit to the store")

        page.get_by_role("button", name="Use this store").click()
        page.get_by_text("DuckDB store:").first.wait_for(timeout=120_000)
        _no_exception(page, "use the store")

        page.get_by_role("link", name="Clinic overview").first.click()
        page.get_by_text("Claims scorecard").first.wait_for(timeout=120_000)
        _no_exception(page, "open the overview from the store")
        assert page.locator('[data-testid="stSidebar"]').get_by_text("DuckDB store").count()
        browser.close()
    assert store.is_file()


def test_patient_address_names_the_patient_shown(app_url: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page = _launch(p)
        page.goto(f"{app_url}/patient?patient=P99999")
        page.get_by_text("There is no patient").first.wait_for(timeout=120_000)
        _no_exception(page, "unknown patient")
        assert page.locator('[data-testid="stPlotlyChart"]').count() == 0
        assert page.locator('[data-testid="stDataFrame"]').count() == 0

        picker = page.get_by_role("combobox", name="Patient (pseudonymous id; type to search)")
        picker.click()
        page.keyboard.type("P00005")
        page.keyboard.press("Enter")
        page.wait_for_url("**/patient?patient=P00005", timeout=60_000)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=120_000)
        _no_exception(page, "choose a patient")

        page.reload()
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=120_000)
        _no_exception(page, "reload")
        assert page.url.endswith("/patient?patient=P00005")
        assert page.get_by_text("There is no patient").count() == 0
        assert picker.input_value() == "P00005"
        assert "Patient P00005" in page.locator('[data-testid="stPlotlyChart"]').first.inner_text()
        browser.close()


def _mapping_text(page, line: str):
    """``line`` in the mapping the builder shows (its code block), not elsewhere: the
    rejected rows' reasons suggest the same lines before the mapping has them."""
    return page.locator('[data-testid="stCode"]').filter(has_text=line).first


def test_build_a_mapping_for_an_odd_export_and_download_it(app_url: str, tmp_path: Path):
    """Upload an export with other column names, build the mapping on the page, see it
    validate, and download it: the file reads back as the mapping built."""
    from playwright.sync_api import sync_playwright

    from katoutcomes.ingest import validate_path
    from katoutcomes.mapping import ColumnMapping, load_mapping

    ehr = ROOT / "examples" / "ehr_export"
    choices = {
        "Flowsheet Row": "instrument",
        "Recorded Time": "assessed_at",
        "Administration Time": "administered_at",
    }
    expected = ColumnMapping(
        columns=choices,
        values={"instrument": {"PHQ-9 Total Score": "PHQ-9", "GAD-7 Total Score": "GAD-7"}},
        datetime_format="%m/%d/%Y %H:%M",
    )
    with sync_playwright() as p:
        browser, page = _launch(p)
        page.goto(f"{app_url}/data")
        page.get_by_text("Check new data").first.wait_for(timeout=120_000)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            [str(ehr / "assessments.csv"), str(ehr / "treatments.csv")]
        )
        page.get_by_role("button", name="Validate these files").click()
        page.get_by_text("Column names and values").first.wait_for(timeout=120_000)
        page.get_by_text("Build a mapping here").click()
        page.get_by_text("Which field each column holds").wait_for(timeout=120_000)
        _no_exception(page, "open the builder")

        for column, field in choices.items():
            # As for the values below: a choice made while the page redraws is made again
            # until the mapping text on the page shows it.
            line = _mapping_text(page, f'"{column}" = "{field}"')
            for _ in range(3):
                box = page.get_by_role("combobox", name=column, exact=True)
                box.click()
                page.keyboard.type(field)
                page.keyboard.press("Enter")
                _no_exception(page, f"map {column}")
                try:
                    line.wait_for(state="attached", timeout=20_000)
                    break
                except Exception:
                    continue
        fmt_line = _mapping_text(page, f'datetime_format = "{expected.datetime_format}"')
        for _ in range(3):
            page.get_by_role("textbox", name="Date format").fill(expected.datetime_format or "")
            page.keyboard.press("Enter")
            _no_exception(page, "date format")
            try:
                fmt_line.wait_for(state="attached", timeout=20_000)
                break
            except Exception:
                continue
        page.get_by_text("Values of instrument").click()
        for raw, new in expected.values["instrument"].items():
            # The mapping text on the page shows the replacement once the rerun has taken
            # it; a choice typed while the page was still redrawing is made again. Each
            # choice waits for the previous rerun to finish, as a person would.
            line = _mapping_text(page, f'"{raw}" = "{new}"')
            for _ in range(3):
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                    timeout=60_000,
                )
                box = page.get_by_role("combobox", name=raw, exact=True)
                box.click()
                page.keyboard.type(new)
                # The option itself is clicked: Enter selects nothing when the list has not
                # opened (a click that landed while the page redrew).
                option = page.get_by_role("option", name=new, exact=True)
                try:
                    option.click(timeout=10_000)
                except Exception:
                    page.keyboard.press("Escape")
                    continue
                _no_exception(page, f"map value {raw}")
                try:
                    line.wait_for(state="attached", timeout=20_000)
                    break
                except Exception:
                    continue

        page.get_by_text("Rows read").first.wait_for(timeout=120_000)
        _no_exception(page, "validate with the mapping")
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="Download mapping (TOML)").click()
        target = tmp_path / "mapping.toml"
        download.value.save_as(target)
        accepted = page.locator('[data-testid="stMetric"]').filter(has_text="Accepted")
        shown_accepted = int(accepted.first.inner_text().split()[-1].replace(",", ""))
        browser.close()
    mapping = load_mapping(target)
    assert mapping.to_dict() == expected.to_dict()
    assert shown_accepted == validate_path(ehr, mapping=expected).n_accepted > 0


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
