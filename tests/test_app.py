"""The dashboard on the built-in demo cohort (streamlit AppTest, no browser).

Expected numbers come from the library called directly on ``Dataset.demo(patients=400)``,
the cohort the dashboard opens on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import CLAIM_IDS, ROOT
from katoutcomes import plots
from katoutcomes.dataset import Dataset
from katoutcomes.demo import write_demo
from katoutcomes.filters import CohortFilter, filter_dataset

APP = str(ROOT / "app.py")
PAGES = ("views/overview.py", "views/patient.py", "views/research.py", "views/data.py")


@pytest.fixture(scope="module", autouse=True)
def no_configured_data() -> Iterator[None]:
    """The dashboard reads these variables; unset, it opens on the demo cohort."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KATOUTCOMES_DATA", raising=False)
        patch.delenv("KATOUTCOMES_DB", raising=False)
        yield


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return Dataset.demo(patients=400)


@pytest.fixture(scope="module")
def overview() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).run()


def page(path: str) -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).switch_page(path).run()


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def errors(app: AppTest) -> list[str]:
    return [f"{e.message}\n{''.join(e.stack_trace or [])}" for e in app.exception]


def test_app_opens_on_the_clinic_overview_of_the_demo_cohort(overview: AppTest):
    assert not errors(overview)
    assert [t.value for t in overview.title] == ["Clinic overview"]
    assert any("demo cohort" in c.value for c in overview.sidebar.caption)
    assert metrics(overview)["Patients"] == "400"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_on_the_demo_cohort_without_error(path: str):
    app = page(path)
    assert not errors(app)
    assert app.title


def test_scorecard_shows_every_claim(overview: AppTest):
    scorecard = next(t.value for t in overview.table if "ID" in t.value.columns)
    assert sorted(scorecard["ID"]) == sorted(CLAIM_IDS)
    # Human headers only, and every verdict in words.
    assert "verdict" not in scorecard.columns and "Verdict" in scorecard.columns
    words = scorecard["Verdict"].str.replace(
        r" \((better|worse|higher|lower) than claimed\)$", "", regex=True
    )
    assert set(words) <= {
        "Supported",
        "Contradicted",
        "Inconclusive",
        "Not measurable",
        "Descriptive",
    }
    # The demo clinic's relapse by 84 days after a response (about 38%, interval wholly
    # below 50%) is fewer relapses than "usually transient" claims: contradicted, and the
    # table says which way. Its PHQ-9 response interval reaches outside 40%-60% without
    # lying wholly outside it: inconclusive, not contradicted (methods §10.3 margin).
    table = scorecard.set_index("ID")
    assert table.loc["transient_effects", "Verdict"] == "Contradicted (better than claimed)"
    assert table.loc["response_rate_phq9", "Verdict"] == "Inconclusive"
    assert "± 10 percentage points" in table.loc["response_rate_phq9", "Claimed"]
    assert table.loc["side_effects", "Population"].startswith("safety population")


def test_scorecard_colours_say_good_or_bad_news_with_a_legend(overview: AppTest):
    legend = " ".join(m.value for m in overview.markdown)
    for label in plots.NEWS_LABELS.values():
        assert label in legend


def _section(name: str, instrument: str | None = None) -> AppTest:
    """The overview with the section ``name`` open (and ``instrument``'s scores tab)."""
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["overview_section"] = name
    if instrument:
        app.session_state["overview_scores_instrument"] = instrument
    return app.run()


#: The overview's sections, each with the plotly charts it draws on the demo cohort.
SECTION_CHARTS = {
    "Scores over time": 2,  # the open instrument's mean trajectory and waterfall
    "Onset and durability": 2,  # time to response, response duration
    "Published studies": 1,  # forest plot
    "Sites and clinicians": 2,  # funnel plots by site and by clinician
    "Safety": 1,  # adverse events
    "Protocol adherence": 0,  # a table
}


def test_the_overview_draws_only_the_open_section(overview: AppTest):
    # The first draw is the headline, the scorecard and the first section (lazy tabs).
    tabs = [t.label for t in overview.tabs]
    assert [label for label in tabs if label in SECTION_CHARTS] == list(SECTION_CHARTS)
    assert len(overview.get("plotly_chart")) == SECTION_CHARTS["Scores over time"]
    headers = [h.value for h in overview.header]
    assert "Claims scorecard" in headers


@pytest.mark.parametrize("section", list(SECTION_CHARTS))
def test_every_overview_section_opens_and_every_chart_has_data(section: str):
    import json

    app = _section(section)
    assert not errors(app)
    charts = app.get("plotly_chart")
    assert len(charts) == SECTION_CHARTS[section]
    # Empty charts are replaced by an explanation, so each chart shown has traces.
    for chart in charts:
        spec = json.loads(chart.proto.spec)
        assert spec["data"], spec["layout"].get("title")
    if section == "Protocol adherence":
        adherence = next(t.value for t in app.table if "Measure" in t.value.columns)
        assert len(adherence) > 0
    if section == "Safety":
        assert "Adverse events per 100 sessions" in metrics(app)


def test_the_gad7_tab_of_scores_over_time_draws_gad7():
    import json

    app = _section("Scores over time", "GAD-7")
    assert not errors(app)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")]
    assert len(titles) == 2 and all("GAD-7" in t for t in titles)


def test_patient_view_shows_the_patients_number_of_sessions(demo: Dataset):
    # The patient with the most doses, counted from the demo tables directly.
    sessions = demo.treatments["patient_id"].value_counts()
    patient_id, expected = str(sessions.index[0]), int(sessions.iloc[0])
    app = page("views/patient.py")
    app.selectbox[0].set_value(patient_id).run()
    assert not errors(app)
    assert metrics(app)["Dosing sessions"] == str(expected)


def test_patient_view_puts_item9_flags_in_a_red_banner(demo: Dataset):
    a = demo.assessments
    flagged = a[a["item9_flag"].fillna(False).astype(bool)]
    patient_id = str(flagged["patient_id"].iloc[0])
    occasions = int((flagged["patient_id"] == patient_id).sum())
    app = page("views/patient.py")
    app.selectbox[0].set_value(patient_id).run()
    banner = " ".join(e.value for e in app.error)
    assert "item 9" in banner
    assert f"on {occasions} occasion" in banner


def test_changing_the_site_filter_changes_the_headline(overview: AppTest, demo: Dataset):
    expected = filter_dataset(demo, CohortFilter(site=("S1",)))
    app = AppTest.from_file(APP, default_timeout=120).run()
    before = metrics(app)
    site = next(m for m in app.sidebar.multiselect if m.label == "Site")
    site.select("S1").run()
    after = metrics(app)
    assert not errors(app)
    assert after["Patients"] == f"{expected.assessments['patient_id'].nunique():,}"
    assert after["Patients"] != before["Patients"]
    assert after["PHQ-9 response"] != before["PHQ-9 response"] or (
        after["Dosing sessions"] != before["Dosing sessions"]
    )


def test_research_settings_recompute_the_outcomes():
    app = page("views/research.py")
    app.number_input(key="setting_acute_days").set_value(28.0)
    next(b for b in app.button if "Recompute" in b.label).click().run()
    assert not errors(app)
    assert any("acute_days = 28" in c.value for c in app.sidebar.caption)


def test_data_view_validates_a_folder_and_switches_to_it(tmp_path: Path):
    write_demo(tmp_path, patients=30)
    app = page("views/data.py")
    app.text_input(key="folder_path").input(str(tmp_path)).run()
    next(b for b in app.button if b.label == "Validate this folder").click().run()
    shown = {k: int(v.replace(",", "")) for k, v in metrics(app).items() if k != "Patients"}
    assert shown["Rows read"] == shown["Accepted"] + shown["Rejected"] + shown["Exact duplicates"]
    next(b for b in app.button if b.label == "Use this data").click().run()
    assert not errors(app)
    assert metrics(app)["Patients"] == "30"
    # Named by its folder name, not its path (which can carry a person's name).
    assert f"Dataset: {tmp_path.name}" in [c.value for c in app.sidebar.caption]


def test_data_view_commits_a_validated_folder_to_a_store(tmp_path: Path):
    write_demo(tmp_path / "export", patients=20)
    store = tmp_path / "clinic.duckdb"
    app = page("views/data.py")
    app.text_input(key="folder_path").input(str(tmp_path / "export")).run()
    next(b for b in app.button if b.label == "Validate this folder").click().run()
    app.text_input(key="store_path").input(str(store)).run()
    next(b for b in app.button if b.label == "Commit to store").click().run()
    assert not errors(app)
    assert any("Written to" in s.value for s in app.success)
    assert "Ingest history" in [s.value for s in app.subheader]
    # Committing the same files again writes nothing (re-ingesting is a no-op).
    next(b for b in app.button if b.label == "Commit to store").click().run()
    assert any("already in the store" in i.value for i in app.info)


def test_research_export_zip_holds_every_table_and_its_provenance(demo: Dataset):
    import io
    import json
    import sys
    import zipfile

    from katoutcomes.settings import Settings

    sys.path.insert(0, str(ROOT))  # the dashboard's own modules live beside app.py
    from views import common

    view = common.View(common.demo_source(), demo, demo, CohortFilter(), Settings(acute_days=28))
    archive = zipfile.ZipFile(io.BytesIO(common.research_zip(view)))
    names = set(archive.namelist())
    assert {"patient_outcomes.csv", "patient_outcomes.parquet", "claims.csv"} <= names
    meta = json.loads(archive.read("provenance.json"))
    assert meta["settings"]["acute_days"] == 28
    assert [f["table"] for f in meta["data"]["files"]] == ["assessments", "treatments", "patients"]
    assert set(meta["files"]) == names - {"provenance.json"}


def test_the_shareable_summary_suppresses_small_cells():
    import io
    import zipfile

    import pandas as pd

    from katoutcomes.dataset import Dataset
    from katoutcomes.filters import CohortFilter
    from katoutcomes.settings import Settings

    sys.path.insert(0, str(ROOT))  # the dashboard's page modules live beside app.py
    from views import common

    # 30 patients over three sites: sites with fewer than 11 patients must be suppressed
    # (k = 11), shown sites have at least 11, and no per-patient file is included.
    data = Dataset.demo(patients=30, seed=3)
    view = common.View(
        source=common.Source("demo", label="test", token="share-30"),
        full=data,
        dataset=data,
        cohort=CohortFilter(),
        settings=Settings(),
    )
    archive = zipfile.ZipFile(io.BytesIO(common.shareable_zip(view)))
    assert "patient_outcomes.csv" not in archive.namelist()
    shared = pd.read_csv(archive.open("subgroup_response_rates.csv"))
    shared = shared[(shared["group"] == "site") & (shared["instrument"] == "PHQ-9")]
    full = common.subgroups(view, "site", "response", "PHQ-9").set_index("level")
    small = full.index[(full["n"] > 0) & (full["n"] < 11)]
    assert len(small), "the test needs at least one site with fewer than 11 patients"
    rows = shared.set_index("level")
    assert rows.loc[small, "suppressed"].all()
    assert rows.loc[rows["suppressed"], "estimate"].isna().all()
    assert rows.loc[~rows["suppressed"], "n"].ge(11).all()
    assert "Counts of 1 to 10 patients are suppressed" in archive.read("provenance.json").decode()


def test_data_view_uses_and_commits_data_with_rejected_rows(tmp_path: Path):
    # Data with rejected rows is drawn twice once in use (the candidate and "in use"):
    # every widget must have its own key, and the store must still be reachable.
    export = tmp_path / "export"
    write_demo(export, patients=20)
    assessments = export / "assessments.csv"
    header = assessments.read_text(encoding="utf-8").splitlines()[0].split(",")
    blank = dict.fromkeys(header, "")
    bad_rows = [
        {**blank, "patient_id": "P00001", "instrument": "PHQ-9", "assessed_at": "soon"},
        {**blank, "patient_id": "P00002", "instrument": "PHQ-9", "total": "99"},
    ]
    with assessments.open("a", encoding="utf-8") as f:
        for row in bad_rows:
            f.write(",".join(row[c] for c in header) + "\n")
    store = tmp_path / "clinic.duckdb"
    app = page("views/data.py")
    app.text_input(key="folder_path").input(str(export)).run()
    next(b for b in app.button if b.label == "Validate this folder").click().run()
    assert int(metrics(app)["Rejected"]) >= 2
    next(b for b in app.button if b.label == "Use this data").click().run()
    assert not errors(app)
    assert any("showing these data" in s.value for s in app.success)
    app.text_input(key="store_path").input(str(store)).run()
    assert not errors(app)
    next(b for b in app.button if b.label == "Commit to store").click().run()
    assert not errors(app)
    assert any("Written to" in s.value for s in app.success)
    next(b for b in app.button if b.label == "Use this store").click().run()
    assert not errors(app)
    assert any("DuckDB store" in c.value for c in app.sidebar.caption)
