"""The dashboard runs on the built-in demo cohort (streamlit AppTest, no browser)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT


@pytest.fixture(scope="module")
def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()


def test_app_opens_on_the_demo_cohort_without_error(app: AppTest):
    assert not app.exception
    assert any("demo cohort" in c.value for c in app.caption)


def test_data_view_accounts_for_every_row(app: AppTest):
    metrics = {m.label: int(m.value.replace(",", "")) for m in app.metric}
    assert metrics["Rows read"] == (
        metrics["Accepted"] + metrics["Rejected"] + metrics["Exact duplicates"]
    )
    assert metrics["Rejected"] == 0 and metrics["Accepted"] > 0
