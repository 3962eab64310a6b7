"""The Patient page names the patient it shows, and its printable summary cannot be misread.

AppTest (no browser) on the built-in demo cohort, and the summary on hand-built patients
whose changes and item-9 answers are worked out in each test.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import DOSE_DAY, ROOT
from katoutcomes.dataset import Dataset
from katoutcomes.filters import CohortFilter
from katoutcomes.ingest import validate_frames
from katoutcomes.settings import Settings

sys.path.insert(0, str(ROOT))  # the dashboard's modules live beside app.py
from katoutcomes import patient_record
from views import common, patient_text

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module", autouse=True)
def no_configured_data() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KATOUTCOMES_DATA", raising=False)
        patch.delenv("KATOUTCOMES_DB", raising=False)
        yield


def patient_page(patient: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120).switch_page("views/patient.py")
    if patient is not None:
        app.query_params["patient"] = patient
    return app.run()


def errors(app: AppTest) -> list[str]:
    return [e.message for e in app.exception]


def shows_nobody(app: AppTest) -> bool:
    return not app.get("plotly_chart") and not app.dataframe and not app.metric


# ------------------------------------------------------------------ who is shown


def test_status_of_the_asked_patient():
    assert patient_text.patient_status(None, ["A"], ["A", "B"]) == "none"
    assert patient_text.patient_status("A", ["A"], ["A", "B"]) == "shown"
    assert patient_text.patient_status("B", ["A"], ["A", "B"]) == "filtered"
    assert patient_text.patient_status("Z", ["A"], ["A", "B"]) == "unknown"


def test_an_unknown_patient_in_the_address_shows_nobody():
    app = patient_page("P99999")
    assert not errors(app)
    warning = " ".join(w.value for w in app.warning)
    assert "no patient `P99999`" in warning
    assert shows_nobody(app)
    assert app.selectbox[0].value is None


def test_a_patient_hidden_by_the_filter_is_named_and_not_shown():
    demo = Dataset.demo(patients=400)
    sites = demo.assessments.groupby("patient_id")["site_id"].first().astype(str)
    hidden = str(sites[sites != "S1"].index[0])
    app = patient_page(hidden)
    assert app.selectbox[0].value == hidden  # visible before the filter
    next(m for m in app.sidebar.multiselect if m.label == "Site").select("S1").run()
    assert not errors(app)
    warning = " ".join(w.value for w in app.warning)
    assert f"`{hidden}` is hidden by the sidebar filter" in warning
    assert "site S1" in warning
    assert shows_nobody(app)


def test_an_address_that_is_not_an_id_is_not_repeated():
    app = patient_page("[here](http://example.com)")
    assert not errors(app)
    warning = " ".join(w.value for w in app.warning)
    assert "does not hold a patient id" in warning and "example.com" not in warning
    assert shows_nobody(app)


def test_choosing_a_patient_puts_them_in_the_address():
    app = patient_page()
    assert not errors(app)
    assert shows_nobody(app)  # nobody until someone is chosen
    app.selectbox[0].set_value("P00007").run()
    assert app.query_params["patient"] == ["P00007"] or app.query_params["patient"] == "P00007"
    assert app.get("plotly_chart")
    # The address wins: a link to another patient opens that patient.
    app.query_params["patient"] = "P00011"
    app.run()
    assert app.selectbox[0].value == "P00011"


def test_the_patient_named_in_the_address_is_shown():
    app = patient_page("P00003")
    assert not errors(app)
    assert app.selectbox[0].value == "P00003"
    assert app.get("plotly_chart")


# ------------------------------------------------------------------ the summary


def test_signed_change_says_which_way():
    # 9 -> 14 is +5/9 = +55.6% (worse); 11 -> 2 is -9/11 = -81.8% (better).
    assert patient_text.signed_change(5 / 9) == "+56% (worse)"
    assert patient_text.signed_change(-9 / 11) == "\u221282% (better)"
    assert patient_text.signed_change(0.004) == "0% (no change)"
    assert patient_text.signed_change(np.nan) == "–"


def _items(total: int) -> dict[str, object]:
    """Nine PHQ-9 items summing to ``total`` with item 9 = 0 (totals up to 24)."""
    items = [min(3, max(0, total - 3 * i)) for i in range(8)]
    assert sum(items) == total
    return {**{f"item_{i + 1}": v for i, v in enumerate(items)}, "item_9": 0}


def _summary_view() -> common.View:
    """Patient W: PHQ-9 9 at baseline, 14 at endpoint (worse); item 9 answered on 2 of 9.
    Patient B: PHQ-9 11 -> 2 (better), every item answered."""
    days = [-1, 2, 5, 9, 12, 16, 20, 24, 27]
    totals_w = [9, 10, 12, 11, 13, 12, 15, 13, 14]
    rows = []
    for i, (day, total) in enumerate(zip(days, totals_w, strict=True)):
        row: dict[str, object] = {"patient_id": "W", "study_day": DOSE_DAY + day}
        row.update(_items(total) if i in (0, 8) else {"total": total})
        rows.append(row)
    for day, total in ((-1, 11), (14, 6), (27, 2)):
        rows.append({"patient_id": "B", "study_day": DOSE_DAY + day, **_items(total)})
    assessments = pd.DataFrame(rows).assign(instrument="PHQ-9")
    treatments = pd.DataFrame({"patient_id": ["W", "B"], "study_day": [DOSE_DAY, DOSE_DAY]})
    result = validate_frames({"assessments": assessments, "treatments": treatments})
    assert result.n_rejected == 0, result.rejected.to_dict("records")
    data = Dataset.from_result(result)
    return common.View(
        common.Source("demo", label="hand-built", token="summary-W-B"),
        data,
        data,
        CohortFilter(),
        Settings(),
    )


def test_summary_prints_a_worsening_with_a_plus_and_the_word():
    html = patient_text.patient_summary_html(_summary_view(), "W")
    # 9 -> 14: (14 - 9) / 9 = +55.6%.
    assert "+56% (worse)" in html
    assert "change" in html and ">56%<" not in html
    # Item 9 answered (0) only on the first and last of nine questionnaires.
    assert "not answered on 7 of 9 PHQ-9 questionnaires" in html
    assert "No item-9 flag" not in html and "No PHQ-9 item-9 flag" not in html


def test_summary_prints_an_improvement_with_a_minus_sign():
    html = patient_text.patient_summary_html(_summary_view(), "B")
    # 11 -> 2: (2 - 11) / 11 = -81.8%, written with U+2212.
    assert "\u221282% (better)" in html
    assert "-82%" not in html
    assert "No item-9 flag: item 9 answered 0 on all 3 PHQ-9 questionnaires" in html


def test_item9_coverage_counts_questionnaires():
    view = _summary_view()
    answers = patient_record.item9_answers(view.dataset, "W")
    assert (answers.questionnaires, answers.answered, answers.unanswered) == (9, 2, 7)
    assert patient_text.item9_coverage_text(answers) == (
        "Item 9 (thoughts of self-harm) not answered on 7 of 9 PHQ-9 questionnaires; "
        "answered 0 on the other 2."
    )
