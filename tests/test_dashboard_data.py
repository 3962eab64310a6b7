"""The Data page can do what a mapping file does: upload one or build one, validate with it,
use the data and commit them to a store, on one page (streamlit AppTest, no browser).

The export is the EHR example shipped in ``examples/ehr_export`` (odd column names, US
dates, long instrument names); expected counts come from validating it with the shipped
mapping file through the library.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from katoutcomes.ingest import validate_path
from katoutcomes.mapping import load_mapping, mapping_from_text
from katoutcomes.store import Store

sys.path.insert(0, str(ROOT))  # the dashboard's modules live beside app.py
from views import common

APP = str(ROOT / "app.py")
EHR = ROOT / "examples" / "ehr_export"
EHR_MAPPING = ROOT / "examples" / "mappings" / "ehr_flowsheet.toml"


@pytest.fixture(scope="module", autouse=True)
def no_configured_data() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KATOUTCOMES_DATA", raising=False)
        patch.delenv("KATOUTCOMES_DB", raising=False)
        yield


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "ehr_export"
    shutil.copytree(EHR, folder)
    return folder


@pytest.fixture(scope="module")
def expected():
    return validate_path(EHR, mapping=load_mapping(EHR_MAPPING))


def data_page() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).switch_page("views/data.py").run()


def errors(app: AppTest) -> list[str]:
    return [f"{e.message}\n{''.join(e.stack_trace or [])}" for e in app.exception]


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def count(app: AppTest, label: str) -> int:
    return int(metrics(app)[label].replace(",", ""))


def validate_folder(app: AppTest, folder: Path) -> None:
    app.text_input(key="folder_path").input(str(folder)).run()
    next(b for b in app.button if b.label == "Validate this folder").click().run()


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def test_cli_advice_becomes_a_pointer_to_the_page():
    message = (
        "assessments.csv: missing required column 'patient_id' for the assessments table. "
        "Rename the column in the file or map it with a mapping file (--mapping)."
    )
    shown = common.for_this_page(message)
    assert "--mapping" not in shown
    assert shown.startswith("assessments.csv: missing required column 'patient_id'")
    assert shown == (
        "assessments.csv: missing required column 'patient_id' for the assessments table. "
        "Say which column is which under “Column names and values” on this page (build a "
        "mapping there, or upload a mapping file), or rename the column in the file."
    )
    assert common.for_this_page("P1: total 99 is above 27.") == "P1: total 99 is above 27."


def test_an_export_with_other_names_points_to_the_mapping_controls(export: Path):
    app = data_page()
    validate_folder(app, export)
    assert not errors(app)
    message = " ".join(e.value for e in app.error)
    assert "missing required column" in message or "unknown layout" in message
    assert "--mapping" not in message
    assert "Column names and values" in message


def test_a_mapping_built_on_the_page_validates_uses_and_commits(
    export: Path, tmp_path: Path, expected
):
    shipped = load_mapping(EHR_MAPPING)
    app = data_page()
    validate_folder(app, export)
    app.radio(key="mapping_mode").set_value("Build a mapping here").run()
    assert not errors(app)
    prefix = "map_" + common.path_source(export).short_key
    app.selectbox(key=f"{prefix}_layout").set_value("long")
    app.text_input(key=f"{prefix}_datetime_format").input("%m/%d/%Y %H:%M")
    for column, field in shipped.columns.items():
        widgets = [
            s
            for s in app.selectbox
            if s.key and s.key.startswith(f"{prefix}_column_") and s.label == column
        ]
        assert len(widgets) == 1, column
        widgets[0].set_value(field)
    app.run()
    assert not errors(app)
    # The page offers the values found in the export (the shipped file also maps route
    # names this small export does not use).
    coded = {s.key for s in app.selectbox if s.key}  # fields with a list of values
    free = {t.key for t in app.text_input if t.key}  # site_id, clinician_id
    present = {
        field: {
            raw: new
            for raw, new in table.items()
            if f"{prefix}_value_{field}_{raw}" in coded | free
        }
        for field, table in shipped.values.items()
    }
    assert present["route"] == {"INTRAVENOUS": "IV", "INTRAMUSCULAR": "IM"}
    assert len(present["site_id"]) == 2
    for field, table in present.items():
        for raw, new in table.items():
            key = f"{prefix}_value_{field}_{raw}"
            if key in coded:
                app.selectbox(key=key).set_value(new)
            else:
                app.text_input(key=key).input(new)
    app.run()
    assert not errors(app)
    # The mapping shown (and offered for download) says what the shipped one says.
    shown = next(c.value for c in app.code if "[columns]" in c.value)
    built = mapping_from_text(shown, "shown")
    # Columns katoutcomes recognises under their own names (COLUMN_ALIASES: pseudo_id,
    # score, ketamine_dose_mg, weight_kg) need no line; every other line is the shipped one.
    assert built.columns.items() <= shipped.columns.items()
    assert set(shipped.columns) - set(built.columns) == {
        "Pseudo ID",
        "Score",
        "Ketamine Dose (mg)",
        "Weight (kg)",
    }
    assert {f: dict(t) for f, t in built.values.items()} == present
    assert (built.layout, built.datetime_format) == (shipped.layout, shipped.datetime_format)
    assert app.get("download_button")
    # Validated with it, live.
    assert count(app, "Accepted") == expected.n_accepted
    assert count(app, "Rejected") == expected.n_rejected
    assert count(app, "Rows read") == expected.rows_read

    button(app, "Use this data").click().run()
    assert not errors(app)
    assert any("with a column mapping" in c.value for c in app.sidebar.caption)
    assert any("showing these data" in s.value for s in app.success)
    patients = expected.accepted["assessments"]["patient_id"].nunique()
    assert metrics(app)["Patients"] == f"{patients:,}"

    store = tmp_path / "clinic.duckdb"
    app.text_input(key="store_path").input(str(store)).run()
    button(app, "Commit to store").click().run()
    assert not errors(app)
    assert any("Written to" in s.value for s in app.success)
    with Store(store, read_only=True) as db:
        stored = db.snapshot()
    assert len(stored["assessments"]) == len(expected.accepted["assessments"])
    assert len(stored["treatments"]) == len(expected.accepted["treatments"])


def test_an_uploaded_mapping_file_is_used(export: Path, expected):
    app = data_page()
    validate_folder(app, export)
    app.radio(key="mapping_mode").set_value("Upload a mapping file").run()
    app.file_uploader(key="mapping_upload").upload(
        "ehr_flowsheet.toml", EHR_MAPPING.read_bytes(), "application/toml"
    ).run()
    assert not errors(app)
    assert count(app, "Accepted") == expected.n_accepted
    assert count(app, "Rejected") == expected.n_rejected


def test_a_broken_mapping_upload_is_refused_with_its_reason(export: Path):
    app = data_page()
    validate_folder(app, export)
    app.radio(key="mapping_mode").set_value("Upload a mapping file").run()
    app.file_uploader(key="mapping_upload").upload(
        "typo.toml", b'layuot = "long"\n', "application/toml"
    ).run()
    assert not errors(app)
    assert any("Mapping file typo.toml: unknown key(s) layuot" in e.value for e in app.error)
    assert not any(b.label == "Use this data" for b in app.button)


def test_the_source_key_names_the_mapping(export: Path):
    plain = common.path_source(export)
    mapped = common.with_mapping(plain, EHR_MAPPING.read_text(encoding="utf-8"))
    assert mapped.key != plain.key and mapped != plain
    assert common.with_mapping(mapped, "") == plain
    assert common.source_mapping(plain) is None
    assert common.source_mapping(mapped).to_dict() == load_mapping(EHR_MAPPING).to_dict()


def test_progress_feedback_draws_a_bar_only_while_work_reports_and_removes_it():
    def script():
        import streamlit as st

        from views import common

        with common.progress_feedback("Reading") as report:
            report(0.25, "25,000 rows read")
            report(1.7)  # more than done (a miscounted total) is shown as done, not an error
            st.session_state["during"] = True
        st.write("finished")

    app = AppTest.from_function(script, default_timeout=60).run()
    assert not errors(app)
    assert app.session_state["during"]
    assert not app.get("progress")  # removed when the work ends
    assert [m.value for m in app.markdown] == ["finished"]


def test_an_uploaded_mapping_can_be_edited_in_the_builder(export: Path, expected):
    shipped = load_mapping(EHR_MAPPING)
    app = data_page()
    validate_folder(app, export)
    app.radio(key="mapping_mode").set_value("Upload a mapping file").run()
    app.file_uploader(key="mapping_upload").upload(
        "ehr_flowsheet.toml", EHR_MAPPING.read_bytes(), "application/toml"
    ).run()
    button(app, "Edit it in the builder").click().run()
    assert not errors(app)
    assert app.radio(key="mapping_mode").value == "Build a mapping here"
    # Started from the file: the same validation, and the file's replacements, including
    # those for values this export does not have (NASAL, SUBLINGUAL), are kept.
    assert count(app, "Accepted") == expected.n_accepted
    assert count(app, "Rejected") == expected.n_rejected
    shown = mapping_from_text(next(c.value for c in app.code if "[columns]" in c.value), "x")
    assert shown.values == shipped.values
    assert (shown.layout, shown.datetime_format) == (shipped.layout, shipped.datetime_format)
    assert shown.columns.items() <= shipped.columns.items()
    # A change made there goes into the mapping: the comment column becomes the site.
    prefix = "map_" + common.path_source(export).short_key
    app.selectbox(key=f"{prefix}_column_assessments_Department").set_value("").run()
    app.selectbox(key=f"{prefix}_column_assessments_Comment").set_value("site_id").run()
    assert not errors(app)
    changed = mapping_from_text(next(c.value for c in app.code if "[columns]" in c.value), "x")
    assert changed.columns["Comment"] == "site_id"
    assert "Department" not in changed.columns
