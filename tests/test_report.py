"""Tests for katoutcomes.report: one self-contained, offline, de-identified HTML document.

Reports are built from ``Dataset.demo(patients=150)`` and read back with the standard
library's ``html.parser``. The "small route" dataset gives exactly 5 intention-to-treat
PHQ-9 patients the oral route, so with the default k = 11 that route must show as
suppressed (CMS rule: counts 1-10 hidden).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from katoutcomes.analysis import Analysis
from katoutcomes.claims import evaluate_claims, load_claims
from katoutcomes.cohort import in_population
from katoutcomes.dataset import Dataset
from katoutcomes.formatting import MISSING
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.plots import NEWS_LABELS, news_color
from katoutcomes.report import build_report, write_report
from katoutcomes.settings import Settings
from katoutcomes.suppression import suppression_note

#: Figures of the demo report: trajectories (2), waterfall, cumulative response, response
#: duration, model mean curves (2), forest, adverse events, subgroups by route and by
#: site, site funnel plot.
FIGURE_IDS = (
    "fig-trajectory-phq-9",
    "fig-trajectory-gad-7",
    "fig-waterfall-phq-9",
    "fig-cumulative-response",
    "fig-response-duration",
    "fig-model-phq-9",
    "fig-model-gad-7",
    "fig-forest",
    "fig-adverse-events",
    "fig-subgroup-route",
    "fig-subgroup-site",
    "fig-funnel-site",
)


class _Tables(HTMLParser):
    """Collects every table with an id: rows of (row class, [cell texts])."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[str, list[str]]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._row_class = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("id"):
            self._table = str(found["id"])
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row, self._row_class = [], str(found.get("class") or "")
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._table and self._row is not None:
            self.tables[self._table].append((self._row_class, self._row))
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


_BADGE = re.compile(r'<span class="badge news-([a-z]+)"')


def _scorecard_row_html(page: str, claim_id: str) -> str:
    """The HTML of the scorecard row whose claim cell names ``claim_id``."""
    table = page[page.index('id="scorecard"') :]
    table = table[: table.index("</table>")]
    row = next(r for r in table.split("<tr") if f'claim-id">{claim_id}<' in r)
    return row


def _html_text(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _tables(page: str) -> dict[str, list[tuple[str, list[str]]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def _row(table: list[tuple[str, list[str]]], first_cell: str) -> tuple[str, list[str]]:
    return next(row for row in table if row[1] and row[1][0] == first_cell)


def _small_route(dataset: Dataset, oral_patients: int = 5) -> Dataset:
    """Routes by patient: ``oral_patients`` ITT PHQ-9 patients oral, the rest IV or IM."""
    outcomes = patient_outcomes(dataset)
    itt = outcomes[in_population(outcomes, "itt") & (outcomes["instrument"] == "PHQ-9")]
    ids = sorted(itt["patient_id"].astype(str))
    oral = set(ids[:oral_patients])
    patient = dataset.treatments["patient_id"].astype(str)
    rank = patient.map({pid: i for i, pid in enumerate(sorted(set(patient)))})
    route = np.where(patient.isin(oral), "oral", np.where(rank % 2 == 0, "IV", "IM"))
    treatments = dataset.treatments.assign(route=pd.Series(route, dtype="str"))
    return dataclasses.replace(dataset, treatments=treatments)


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return Dataset.demo(patients=150)


@pytest.fixture(scope="module")
def page(demo: Dataset) -> str:
    # acute_days = 28 so that the settings table is seen to echo a changed value.
    return build_report(demo, Settings(acute_days=28))


@pytest.fixture(scope="module")
def small_route_page(demo: Dataset) -> str:
    return build_report(_small_route(demo))


# --------------------------------------------------------------------------------------
# One self-contained, offline document
# --------------------------------------------------------------------------------------


def test_report_is_one_html_document(page: str):
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1 and page.rstrip().endswith("</html>")
    assert page.count("<body") == 1


def test_every_figure_is_present_once(demo: Dataset):
    # Without suppression (k = 0): with k = 11 the demo of 150 hides the waterfall (ITT
    # minus completers is a small cell) and the site forest.
    page = build_report(demo, Settings(suppression_k=0))
    divs = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page)
    assert divs == list(FIGURE_IDS)


def test_plotly_js_is_embedded_exactly_once(page: str):
    bundle_start = get_plotlyjs()[:300]
    assert page.count(bundle_start) == 1
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1
    # It comes before the first figure is drawn.
    assert page.index(bundle_start) < page.index("Plotly.newPlot")


def test_no_external_script_stylesheet_or_font(page: str):
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link\b", page, re.IGNORECASE)
    assert not re.search(r"@import", page, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?https?:", page, re.IGNORECASE)
    assert "cdn.plot.ly/plotly" not in page
    assert "fonts.googleapis" not in page
    # A Content-Security-Policy forbids loading anything from the network.
    assert "default-src &#39;none&#39;" in page


def test_print_styles_are_included(page: str):
    assert "@media print" in page
    assert "beforeprint" in page


def test_no_patient_id_appears_anywhere(demo: Dataset, page: str):
    ids = set(demo.assessments["patient_id"].astype(str)) | set(
        demo.treatments["patient_id"].astype(str)
    )
    assert "P00001" in ids
    leaked = [pid for pid in ids if pid in page]
    assert leaked == []


def test_input_data_not_modified(demo: Dataset):
    small = Dataset.demo(patients=40)
    before = small.assessments.copy()
    build_report(small, Settings(suppression_k=0))
    pd.testing.assert_frame_equal(small.assessments, before)


# --------------------------------------------------------------------------------------
# Contents
# --------------------------------------------------------------------------------------


def test_header_names_the_data_source_patients_and_sessions(demo: Dataset, page: str):
    assert "demo cohort (patients=150" in page
    assert f">{demo.assessments['patient_id'].nunique():,}<" in page
    assert f">{len(demo.treatments):,}<" in page
    assert "Synthetic demonstration data" in page


def test_scorecard_lists_every_claim_with_its_verdict_colour(demo: Dataset, page: str):
    rows = _tables(page)["scorecard"]
    listed = [cells[0] for _, cells in rows[1:]]
    ids = [claim.id for claim in load_claims()]
    for claim_id in ids:
        assert any(text.endswith(claim_id) for text in listed), claim_id
    card = evaluate_claims(demo, Settings(acute_days=28))
    # The colour follows the news for patients, with a legend; the word the verdict.
    for news in set(card["news"]):
        assert f"color:{news_color(news)}" in page
    for label in NEWS_LABELS.values():
        assert label[:1].upper() + label[1:] in page
    for claim_id, news in card[["id", "news"]].values.tolist():
        badge = _BADGE.search(_scorecard_row_html(page, claim_id))
        assert badge is not None and badge.group(1) == news, claim_id
    assert (
        "Rule: Supported when the 95% interval lies inside 40% to 60% (the claimed 50% "
        "\u00b1 10 percentage points)" in page
    )
    # Under a contradicted verdict, which way the data lie.
    ways = card.loc[card["direction"] != "", ["id", "direction"]].values.tolist()
    assert ways  # the demo has some
    for claim_id, way in ways:
        cells = next(cells for _, cells in rows[1:] if cells[0].endswith(claim_id))
        assert cells[1] == f"Contradicted {way}"


def test_headline_rates_are_in_the_rates_table(page: str):
    rows = _tables(page)["rates-table"]
    header = rows[0][1]
    assert header[:3] == ["Outcome", "PHQ-9 intention to treat", "PHQ-9 completers"]
    outcomes = [cells[0] for _, cells in rows[1:]]
    assert outcomes[:4] == [
        "Response",
        "Remission",
        "Reliable improvement",
        "Reliable deterioration",
    ]
    response = _row(rows, "Response")[1]
    assert re.fullmatch(r"\d+\.\d% \(\d+\.\d% to \d+\.\d%\) \d+ of \d+", response[1])


def test_methods_list_the_settings_used(page: str):
    settings = {cells[0]: cells[1] for _, cells in _tables(page)["settings-table"][1:]}
    assert settings["acute_days"] == "28"
    assert settings["suppression_k"] == "11"
    assert settings["response"] == "0.5 (50%)"
    assert set(settings) >= set(Settings().to_dict())


def test_methods_take_thresholds_from_the_instrument_facts(page: str):
    rows = _tables(page)["definitions-table"]
    remission = _row(rows, "Remission")[1]
    assert remission[2:4] == ["< 5", "< 5"]
    reliable = _row(rows, "Reliable improvement / deterioration")[1]
    assert reliable[2:4] == ["6 points", "4 points"]
    endpoint = _row(rows, "Endpoint")[1]
    # acute_days = 28 plus the default 7-day visit window.
    assert "within 35 days" in endpoint[1]
    assert "28-day acute course plus a 7-day visit window" in endpoint[1]


def test_methods_are_the_methods_document(page: str):
    """Populations, decision rules, intervals and models in the report are the sections of
    docs/methods.md, rendered from the same text."""
    from katoutcomes.methods import methods_html, methods_sections

    methods = page[page.index('id="methods"') :]
    for numbers in (["6.1"], ["10.3", "10.4"], ["6.2", "6.3", "6.4", "6.5", "6.7"]):
        assert methods_html(numbers) in methods
    titles = {s.number: s.title for s in methods_sections()}
    text = re.sub(r"<[^>]+>", " ", methods)
    for number in ("6.1", "10.3", "6.4", "7.3", "9.5"):
        assert f"{number} {titles[number]}" in text
    assert "Safety population" in text
    assert "Clopper" in text  # the exact interval at no event (§6.4)


def test_methods_record_provenance_with_file_hashes(demo: Dataset, page: str):
    files = _tables(page)["files-table"]
    hashes = [cells[2] for _, cells in files[1:]]
    assert hashes == [entry["sha256"] for entry in demo.provenance["files"]]
    assert "Report generated" in page and "katoutcomes" in page


def test_benchmarks_table_lists_the_published_studies(page: str):
    rows = _tables(page)["benchmarks-table"]
    studies = " ".join(cells[0] for _, cells in rows[1:])
    for name in ("Hull 2022", "Oliver 2022", "McInnes 2022", "Murrough 2013"):
        assert name in studies


# --------------------------------------------------------------------------------------
# Small-cell suppression
# --------------------------------------------------------------------------------------


def test_suppression_rule_is_stated_at_the_top(page: str):
    note = suppression_note(11)
    assert note.startswith("Counts of 1 to 10 patients are suppressed")
    assert page.index(_html_text(note)) < page.index('id="headline"')


def test_a_route_with_fewer_than_k_patients_is_shown_as_suppressed(small_route_page: str):
    table = _tables(small_route_page)["subgroup-table-route"]
    css, cells = _row(table, "Oral")
    assert css == "suppressed"
    assert cells[1:] == ["suppressed"] * 4
    # The next smallest route is hidden too (else: oral = total - the other route), and
    # differences are left out for the whole attribute.
    hidden = [row[1][0] for row in table[1:] if row[0] == "suppressed"]
    assert len(hidden) == 2 and "Oral" in hidden
    shown = [row[1] for row in table[1:] if row[0] != "suppressed"]
    assert all(cells[4] == MISSING for cells in shown)
    # The figure does not draw it; the rule is stated beside it.
    assert "Oral (n =" not in small_route_page
    assert "Not shown: Oral (1 to 10 patients, responders or non-responders)" in small_route_page


def test_adverse_event_types_in_fewer_than_k_patients_are_suppressed(demo: Dataset, page: str):
    from katoutcomes.plots import adverse_events_data

    data = adverse_events_data(demo)
    small = data[(data["patients"] >= 1) & (data["patients"] < 11)]
    assert not small.empty  # the demo has rare events (hand-checked: sedation, 1 patient)
    table = _tables(page)["adverse-events-table"]
    for label in small["label"]:
        css, cells = _row(table, label)
        assert css == "suppressed" and cells[1:] == ["suppressed"] * 3
    assert "suppressed (small-cell rule)" in page


def test_k_zero_turns_suppression_off_and_escapes_what_the_data_bring(demo: Dataset):
    # Markup in the data source label, a claim's text, a filter level and the title is
    # shown as text: the templates escape every value (autoescape).
    from katoutcomes.filters import CohortFilter, filter_dataset

    hostile = "S1 <script>alert(2)</script> & co"
    data = _small_route(demo)
    site = data.treatments["site_id"].astype(str).replace("S1", hostile)
    data = dataclasses.replace(data, treatments=data.treatments.assign(site_id=site))
    chosen = filter_dataset(data, CohortFilter(site=(hostile, "S2", "S3")))
    claim = dataclasses.replace(load_claims()[0], claim="<script>alert(1)</script> & more")
    analysis = Analysis(
        chosen,
        Settings(suppression_k=0),
        claims=[claim],
        source_label="clinic <script>alert(3)</script> & partners",
    )
    page = build_report(analysis, title="Report <b>for</b> board")
    assert "Small-cell suppression is off" in page
    # The oral route's few patients are shown with suppression off.
    css, cells = _row(_tables(page)["subgroup-table-route"], "Oral")
    assert css == "" and 1 <= int(cells[1]) < 11
    for n in (1, 2, 3):
        assert f"<script>alert({n})</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "S1 &lt;script&gt;alert(2)&lt;/script&gt; &amp; co" in page
    assert "clinic &lt;script&gt;alert(3)&lt;/script&gt; &amp; partners" in page
    assert "<title>Report &lt;b&gt;for&lt;/b&gt; board: sites " in page


def test_settings_or_claims_beside_an_analysis_are_refused():
    analysis = Analysis(Dataset.demo(patients=20))
    with pytest.raises(TypeError, match="carries its settings and claims"):
        build_report(analysis, Settings())


def test_a_report_from_an_analysis_computes_nothing_itself(monkeypatch: pytest.MonkeyPatch):
    # Built once, every result the report shows is in the analysis; with the statistics
    # made to fail, a second build must give the same page: it only lays results out.
    import katoutcomes.claims
    import katoutcomes.cohort
    import katoutcomes.funnel
    import katoutcomes.outcomes
    import katoutcomes.sensitivity
    import katoutcomes.trajectories

    analysis = Analysis(Dataset.demo(patients=60))
    analysis.scorecard  # noqa: B018 (computed before the report)
    stamp = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    first = build_report(analysis, generated_at=stamp)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the report computed a statistic itself")

    for module, name in (
        (katoutcomes.claims, "evaluate_claims"),
        (katoutcomes.outcomes, "patient_outcomes"),
        (katoutcomes.cohort, "outcome_rates"),
        (katoutcomes.cohort, "time_to_event"),
        (katoutcomes.cohort, "subgroup_rates"),
        (katoutcomes.trajectories, "fit_trajectory_model"),
        (katoutcomes.trajectories, "band_calibration"),
        (katoutcomes.trajectories, "alerts"),
        (katoutcomes.sensitivity, "missing_data_sensitivity"),
        (katoutcomes.funnel, "funnel_table"),
    ):
        monkeypatch.setattr(module, name, fail)
    assert build_report(analysis, generated_at=stamp) == first


def test_the_templates_ship_in_the_wheel(tmp_path: Path):
    import subprocess
    import sys
    import zipfile

    from katoutcomes.report import TEMPLATES

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("katoutcomes-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.*"))
    assert "report.html.j2" in templates and "style.css" in templates
    missing = [t for t in templates if f"katoutcomes/report/templates/{t}" not in names]
    assert missing == []


def test_write_report_writes_the_file(tmp_path: Path):
    small = Dataset.demo(patients=40)
    path = write_report(small, tmp_path / "out" / "report.html", Settings(suppression_k=0))
    assert path == tmp_path / "out" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count('class="plotly-graph-div"') >= 7


def test_a_claim_resting_on_fewer_than_k_patients_shows_its_verdict_but_no_numbers(page: str):
    # Demo of 150: 6 GAD-diagnosed eligible patients (hand-checked with evaluate_claims).
    rows = _tables(page)["scorecard"]
    css, cells = next(row for row in rows if row[1][0].endswith("gad_treatment_resistance"))
    assert css == "suppressed"
    assert cells[1] == "Inconclusive"
    assert cells[2].startswith("suppressed")
    assert "of 6 GAD-diagnosed" not in page
    # A claim on 137 patients keeps its numbers.
    css, cells = next(row for row in rows if row[1][0].endswith("response_rate_phq9"))
    assert css == "" and "n = 137" in cells[2]


def test_a_clinic_smaller_than_k_shows_no_rate_and_no_waterfall():
    page = build_report(Dataset.demo(patients=10))
    assert ">fewer than 11<" in page  # the patient count in the header
    rates = _tables(page)["rates-table"]
    assert all(cell == "suppressed" for _, cells in rates[1:] for cell in cells[1:])
    assert page.count('class="card suppressed"') == 8  # 4 cards × PHQ-9, GAD-7
    assert 'id="fig-waterfall-phq-9"' not in page
    assert "The waterfall is not shown: counting its bars by colour would give a group" in page
    scorecard = _tables(page)["scorecard"]
    assert all(cells[2].startswith(("suppressed", MISSING)) for _, cells in scorecard[1:])


# --------------------------------------------------------------------------------------
# A filtered report says so (methods §12.8)
# --------------------------------------------------------------------------------------


def test_a_filtered_report_names_the_filter_in_its_title_header_and_methods():
    from katoutcomes.filters import CohortFilter, filter_dataset

    full = Dataset.demo(patients=400)
    site = filter_dataset(full, CohortFilter(site=("S3",)))
    n_site = int(site.assessments["patient_id"].nunique())
    assert 11 <= n_site < 400
    page = build_report(site, generated_at=None)
    assert "<title>Clinic outcomes report: site S3</title>" in page
    assert "<h1>Clinic outcomes report: site S3</h1>" in page
    lead = re.search(r'<p class="lead" id="data-source">(.*?)</p>', page)
    assert lead is not None
    assert lead.group(1).startswith("Data: only the patients with site S3, selected from demo")
    assert "not the whole clinic" in lead.group(1)
    # Site S3 has 85 patients, 5 more than its intention-to-treat PHQ-9 population (80,
    # hand-checked): the header count would give those 5 away, so it is not shown.
    assert '<div class="label">patients selected (small-cell rule)</div>' in page
    methods = page[page.index('id="methods"') :]
    assert "<dt>Filter</dt><dd>site S3 (patient count not shown: small-cell rule)" in methods
    assert "the report describes only these patients" in methods
    assert "filtered: site S3" in page[page.index("<footer>") :]


def test_filters_on_several_attributes_and_dates_are_all_named():
    from katoutcomes.filters import CohortFilter, describe_filter

    cohort = CohortFilter(
        start=dt.date(2025, 1, 1),
        end=dt.date(2025, 6, 30),
        site=("S1", "S2"),
        clinician=("C4",),
        route=("IV",),
        diagnosis=("MDD",),
    )
    assert describe_filter(cohort) == (
        "sites S1, S2; clinician C4; route IV; diagnosis MDD; "
        "first dose from 2025-01-01 to 2025-06-30"
    )


def test_an_unfiltered_report_does_not_say_filtered(page: str):
    assert "selected from" not in page and "<dt>Filter</dt>" not in page


# --------------------------------------------------------------------------------------
# Course of symptoms (model), patients at risk, site funnel plot
# --------------------------------------------------------------------------------------


def test_model_section_shows_curve_calibration_sensitivity_and_at_risk_counts(page: str):
    model = page[page.index('<section id="model"') : page.index('<section id="benchmarks"')]
    assert 'id="fig-model-phq-9"' in model and 'id="fig-model-gad-7"' in model
    assert "held-out scores fell inside their band" in model
    tables = _tables(page)
    methods = [cells[1] for _, cells in tables["sensitivity-table-phq-9"][1:]]
    assert methods.count("Multiple imputation under MAR (trajectory model)") == 2
    assert len(methods) == 8  # 4 methods × response, remission
    # The ITT response row is the rates table's ITT response, to the digit.
    rates = _row(tables["rates-table"], "Response")[1][1]
    itt = _row(tables["sensitivity-table-phq-9"], "Response")[1]
    assert rates.startswith(itt[2]) and rates.endswith(f"of {itt[3]}")
    # Counts of patients at risk: each shown count is 0 or at least k = 11.
    for _, cells in tables["at-risk-table"][1:]:
        for cell in cells[1:]:
            assert cell == "suppressed" or cell == "0" or int(cell.replace(",", "")) >= 11


def test_funnel_plot_hides_sites_with_fewer_than_k_patients(demo: Dataset):
    # Five patients moved to a new site S4: S4 is hidden, and the next smallest site too,
    # or S4 could be worked out from the clinic total.
    outcomes = patient_outcomes(demo)
    itt = outcomes[in_population(outcomes, "itt") & (outcomes["instrument"] == "PHQ-9")]
    ids = sorted(itt["patient_id"].astype(str))[:5]
    # A patient's site is the most frequent one over assessments and doses: move both.
    tables = {
        name: frame.assign(
            site_id=frame["site_id"].astype(str).mask(frame["patient_id"].isin(ids), "S4")
        )
        for name, frame in (("assessments", demo.assessments), ("treatments", demo.treatments))
    }
    data = dataclasses.replace(demo, **tables)
    analysis = Analysis(data)
    page = build_report(analysis)
    units = analysis.funnel("site").units
    assert units.set_index("unit").loc["S4", "n"] == 5
    smallest = units[units["unit"] != "S4"].sort_values("n")["unit"].iloc[0]
    funnel = page[page.index('<section id="comparisons"') : page.index('<section id="methods"')]
    assert 'id="fig-funnel-site"' in funnel
    assert "2 site(s) not shown: fewer than 11 patients" in funnel
    assert '"S4"' not in funnel and f'"{smallest}"' not in funnel
