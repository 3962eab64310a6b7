"""Property-based checks: ingest never crashes, never loses a row, and is idempotent."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from katoutcomes.errors import IngestError
from katoutcomes.ingest import validate_frames
from katoutcomes.store import Store

# Valid and invalid values side by side, per column.
PATIENT_IDS = st.sampled_from(
    ["P001", "P002", "P003", "", "Jane_Doe", "a b", "2024-01-01", "x" * 70, "P-9"]
)
INSTRUMENTS = st.sampled_from(["PHQ-9", "GAD-7", "phq9", "gad-7", "HADS", "", "PHQ 9"])
DAYS = st.one_of(
    st.sampled_from(["", "abc", "-3", "0", "1.5", "nan", "inf"]),
    st.floats(min_value=-60, max_value=400, allow_nan=False).map(str),
)
TOTALS = st.one_of(
    st.sampled_from(["", "NA", "x", "-1", "99", "12.5", "27", "21"]),
    st.integers(min_value=0, max_value=27).map(str),
)
ITEMS = st.one_of(
    st.sampled_from(["", "", "", "4", "-1", "1.5", "y"]),
    st.integers(min_value=0, max_value=3).map(str),
)
DOSES = st.one_of(
    st.sampled_from(["", "-5", "lots"]),
    st.floats(min_value=0, max_value=400, allow_nan=False).map(str),
)
ROUTES = st.sampled_from(["IV", "im", "intranasal", "", "rectal"])
AES = st.sampled_from(["", "nausea", "nausea;dizziness", "sneezing", "Dissociation; other"])


@st.composite
def assessment_tables(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=25))
    rows = []
    for _ in range(n):
        row = {
            "patient_id": draw(PATIENT_IDS),
            "instrument": draw(INSTRUMENTS),
            "study_day": draw(DAYS),
            "total": draw(TOTALS),
        }
        for i in range(1, 10):
            row[f"item_{i}"] = draw(ITEMS)
        rows.append(row)
    columns = [
        "patient_id",
        "instrument",
        "study_day",
        "total",
        *[f"item_{i}" for i in range(1, 10)],
    ]
    return pd.DataFrame(rows, columns=columns, dtype="str")


@st.composite
def treatment_tables(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=10))
    rows = [
        {
            "patient_id": draw(PATIENT_IDS),
            "study_day": draw(DAYS),
            "route": draw(ROUTES),
            "dose_mg": draw(DOSES),
            "adverse_events": draw(AES),
        }
        for _ in range(n)
    ]
    return pd.DataFrame(
        rows, columns=["patient_id", "study_day", "route", "dose_mg", "adverse_events"], dtype="str"
    )


FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FAST
@given(assessment_tables(), treatment_tables())
def test_ingest_never_crashes_and_every_row_is_accounted_for(assessments, treatments):
    copy_a, copy_t = assessments.copy(), treatments.copy()
    try:
        result = validate_frames({"assessments": assessments, "treatments": treatments})
    except IngestError:
        return  # a file-level refusal is a handled outcome
    # A row with every cell blank is spacing, not a row (readers._clean_header).
    blank = sum(int((t == "").all(axis=1).sum()) for t in (assessments, treatments))
    assert result.rows_read == len(assessments) + len(treatments) - blank
    assert result.rows_read == result.n_accepted + result.n_rejected + result.n_duplicates
    for report in result.reports:
        assert report.rows_read == report.accepted + report.rejected + report.duplicates
        rejected_lines = result.rejected.loc[
            (result.rejected["table"] == report.table), "line"
        ].nunique()
        assert rejected_lines == report.rejected
    # the caller's frames are untouched
    assert assessments.equals(copy_a) and treatments.equals(copy_t)


@FAST
@given(assessment_tables(), treatment_tables())
def test_ingesting_the_same_data_twice_leaves_the_store_unchanged(assessments, treatments):
    with Store(":memory:") as store:
        try:
            first = store.ingest_frames({"assessments": assessments, "treatments": treatments})
        except IngestError:
            return
        before = store.snapshot()
        second = store.ingest_frames({"assessments": assessments, "treatments": treatments})
        after = store.snapshot()
        assert all(before[k].equals(after[k]) for k in before)
        assert second.n_accepted == 0
        assert second.n_duplicates == first.n_accepted + first.n_duplicates


@FAST
@given(assessment_tables(), assessment_tables(), st.integers(min_value=1, max_value=3))
def test_an_ingest_that_fails_part_way_leaves_the_store_exactly_as_before(first, second, fail_at):
    with Store(":memory:") as store:
        try:
            store.ingest_frames({"assessments": first})
        except IngestError:
            return
        before = store.snapshot()
        original = store._insert
        calls = {"n": 0}

        def failing(table, frame):
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise OSError("simulated failure")
            original(table, frame)

        store._insert = failing  # type: ignore[method-assign]
        try:
            store.ingest_frames({"assessments": second})
        except IngestError:
            return  # refused before writing: nothing to interrupt
        except OSError:
            after = store.snapshot()
            assert all(before[k].equals(after[k]) for k in before)
            return
        # fewer inserts than fail_at: the ingest completed, which is not this property
        assert calls["n"] < fail_at
