"""Property-based checks: ingest never crashes, never loses a row, and is idempotent."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from katoutcomes.errors import IngestError
from katoutcomes.ingest import validate_frames, validate_path
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


# Mostly clean exports (so that number columns are often read as numbers by the CSV reader),
# with the occasional bad cell (so that the text path is taken too).
CLEAN_IDS = st.sampled_from(["P001", "P002", "P003", "S-17", "x.9"])
CLEAN_TIMES = st.sampled_from(
    ["2025-01-01T09:00:00", "2025-01-08T09:30:00", "2025-01-15", "2025-02-01T10:00:00"]
)
CLEAN_TOTALS = st.one_of(
    st.integers(min_value=0, max_value=21).map(str),
    st.sampled_from(["", "NA", "N/A", "-", " 7 "]),
)
SOMETIMES_BAD = st.sampled_from(["28", "12.5", "x", "+5", "1e1", "inf", "-1"])
CLEAN_ITEMS = st.one_of(st.integers(min_value=0, max_value=3).map(str), st.just(""))


@st.composite
def export_tables(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=20))
    bad_row = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=n - 1)))
    rows = []
    for i in range(n):
        row = {
            "patient_id": draw(CLEAN_IDS),
            "instrument": draw(st.sampled_from(["PHQ-9", "GAD-7"])),
            "assessed_at": draw(CLEAN_TIMES),
            "total": draw(SOMETIMES_BAD) if i == bad_row else draw(CLEAN_TOTALS),
        }
        for k in range(1, 8):
            row[f"item_{k}"] = draw(CLEAN_ITEMS)
        rows.append(row)
    return pd.DataFrame(rows, dtype="str")


@FAST
@given(export_tables())
def test_a_csv_gives_the_same_result_as_the_same_cells_given_as_text(tmp_path_factory, frame):
    # The CSV reader may parse clean number columns as numbers; validate_frames always
    # checks text. Accepted rows, rejections and counts must not depend on the path.
    path = tmp_path_factory.mktemp("export") / "assessments.csv"
    path.write_text(frame.to_csv(index=False), encoding="utf-8")
    try:
        from_csv = validate_path(path)
    except IngestError as exc:
        try:
            validate_frames({"assessments": frame}, file_names={"assessments": path.name})
        except IngestError as other:
            assert str(exc) == str(other)
            return
        raise
    from_text = validate_frames({"assessments": frame}, file_names={"assessments": path.name})
    pd.testing.assert_frame_equal(
        from_csv.accepted["assessments"], from_text.accepted["assessments"]
    )
    pd.testing.assert_frame_equal(from_csv.rejected, from_text.rejected)
    assert (from_csv.rows_read, from_csv.n_rejected, from_csv.n_duplicates) == (
        from_text.rows_read,
        from_text.n_rejected,
        from_text.n_duplicates,
    )
