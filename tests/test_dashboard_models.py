"""The trajectory model on the dashboard: the patient's band and status, the Needs review
list and the Research page's model section (AppTest on the built-in demo cohort)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from katoutcomes.analysis import Analysis
from katoutcomes.dataset import Dataset
from katoutcomes.settings import Settings

sys.path.insert(0, str(ROOT))
from views.sources import DEMO_PATIENTS

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module", autouse=True)
def no_configured_data() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KATOUTCOMES_DATA", raising=False)
        patch.delenv("KATOUTCOMES_DB", raising=False)
        yield


@pytest.fixture(scope="module")
def demo_analysis() -> Analysis:
    """The analysis the dashboard builds for the demo (same data, settings and claims)."""
    return Analysis(Dataset.demo(patients=DEMO_PATIENTS), Settings())


def page(path: str, **params: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=300).switch_page(path)
    for key, value in params.items():
        app.query_params[key] = value
    return app.run()


def texts(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption]
    return "\n".join(str(p) for p in parts)


def test_an_off_track_patient_sees_the_band_the_badge_and_the_reasons(
    demo_analysis: Analysis,
) -> None:
    alerts = demo_analysis.alerts
    off = alerts[(alerts["status"] == "off_track") & alerts["at_risk"]].iloc[0]
    pid, name = str(off["patient_id"]), str(off["instrument"])
    # Off track means the latest score lies above the band at its day.
    assert off["last_score"] > off["band_high"]
    app = page("views/patient.py", patient=pid)
    assert not app.exception, [e.message for e in app.exception]
    shown = texts(app)
    assert f"{name}: at risk" in shown
    assert "latest score above the expected-recovery band" in shown
    assert "held-out scores fell inside their band" in shown
    chart = app.get("plotly_chart")[0].proto.spec
    assert "Expected recovery (80% band)" in chart
    band = demo_analysis.expected_band(pid, name)
    assert not band.empty
    assert (band["band_low"] <= band["expected"]).all()
    assert (band["expected"] <= band["band_high"]).all()
    # The chart's band is this patient's band from the analysis, point for point.
    figure = json.loads(chart)
    traces = [t for t in figure["data"] if t.get("name") == "Expected recovery (80% band)"]
    assert traces
    drawn = traces[0]
    y = drawn["y"] if isinstance(drawn["y"], list) else decode(drawn["y"])
    assert y == pytest.approx(band["band_high"].tolist())


def decode(encoded: dict) -> list[float]:
    """Plotly's typed-array encoding of a trace's values (base64 ``bdata``)."""
    import base64

    import numpy as np

    data = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
    return data.astype(float).tolist()


def test_an_on_track_patient_is_shown_on_track(demo_analysis: Analysis) -> None:
    alerts = demo_analysis.alerts
    pids = alerts.groupby("patient_id")["status"].agg(lambda s: set(s) == {"on_track"})
    on = alerts[alerts["patient_id"].isin(pids[pids].index) & ~alerts["at_risk"]].iloc[0]
    assert off_band(on) is False
    app = page("views/patient.py", patient=str(on["patient_id"]))
    assert not app.exception
    assert f"{on['instrument']}: on track" in texts(app)


def off_band(row) -> bool:
    return bool(row["last_score"] > row["band_high"])


def test_needs_review_lists_the_at_risk_patients_with_links(demo_analysis: Analysis) -> None:
    app = page("views/review.py")
    assert not app.exception, [e.message for e in app.exception]
    table = app.dataframe[0].value
    at_risk = demo_analysis.alerts[demo_analysis.alerts["at_risk"]]
    assert len(table) == len(at_risk)
    assert set(table["patient_id"]) == set(at_risk["patient_id"].astype(str))
    assert (table["open"] == "patient?patient=" + table["patient_id"]).all()
    metric = {m.label: m.value for m in app.metric}
    assert metric["Patients at risk"] == f"{at_risk['patient_id'].nunique():,}"


def test_needs_review_by_clinician_keeps_that_clinicians_patients(
    demo_analysis: Analysis,
) -> None:
    app = page("views/review.py")
    clinician = app.selectbox(key="review_clinician").options[1]
    app.selectbox(key="review_clinician").select(clinician).run()
    assert not app.exception
    table = app.dataframe[0].value
    alerts = demo_analysis.alerts
    expected = alerts[alerts["at_risk"] & (alerts["clinician_id"] == clinician)]
    assert len(table) == len(expected)
    assert (table["clinician_id"] == clinician).all()


def test_research_page_fits_the_model_on_request() -> None:
    app = page("views/research.py")
    assert not app.exception
    assert not any("Response and remission under" in s.value for s in app.subheader)
    app.toggle(key="research_models").set_value(True).run()
    assert not app.exception, [e.message for e in app.exception]
    assert any("Response and remission under" in s.value for s in app.subheader)
    captions = texts(app)
    assert "held-out scores inside their band" in captions
    assert "imputations" in captions
