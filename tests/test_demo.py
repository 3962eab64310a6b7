"""Tests for the synthetic demo cohort (katoutcomes.demo).

Constraints are read from the Table Schema files in ``data/schema`` (the data contract) and
from :mod:`katoutcomes.instruments`, never restated here. Expected shares come from the
generator's parameters (see ``generate_demo``'s Notes) with generous margins, computed by
hand as docs/methods.md §4 defines them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from katoutcomes.demo import DemoCohort, generate_demo, write_demo
from katoutcomes.instruments import GAD7, INSTRUMENTS, ITEM_COLUMNS, PHQ9, SELF_HARM_ITEM

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "data" / "schema"
N_PATIENTS = 300
SEED = 20261127
TIME_COLUMNS = {"assessments": "assessed_at", "treatments": "administered_at"}
ONE_DAY = pd.Timedelta(days=1)


def read_schema(table: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{table}.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cohort() -> DemoCohort:
    return generate_demo(patients=N_PATIENTS, seed=SEED)


@pytest.fixture(scope="module")
def study_day_cohort() -> DemoCohort:
    return generate_demo(patients=N_PATIENTS, seed=SEED, time="study_day")


@pytest.fixture(scope="module")
def timed(cohort: DemoCohort) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assessments and treatments with ``t``, days since each patient's first dose."""
    first = cohort.treatments.groupby("patient_id")["administered_at"].min().rename("first")
    assessments = cohort.assessments.join(first, on="patient_id")
    assessments["t"] = (assessments["assessed_at"] - assessments["first"]) / ONE_DAY
    treatments = cohort.treatments.join(first, on="patient_id")
    treatments["t"] = (treatments["administered_at"] - treatments["first"]) / ONE_DAY
    return assessments, treatments


def expected_columns(table: str, time: str) -> list[str]:
    raw = read_schema(table)
    time_fields = raw.get("x-katoutcomes", {}).get("time_fields", [])
    keep = "study_day" if time == "study_day" else TIME_COLUMNS.get(table)
    return [f["name"] for f in raw["fields"] if f["name"] not in time_fields or f["name"] == keep]


def test_same_seed_gives_identical_tables(cohort: DemoCohort) -> None:
    again = generate_demo(patients=N_PATIENTS, seed=SEED)
    for name, frame in cohort.tables().items():
        pd.testing.assert_frame_equal(frame, again.tables()[name])


def test_different_seeds_give_different_tables(cohort: DemoCohort) -> None:
    other = generate_demo(patients=N_PATIENTS, seed=SEED + 1)
    assert not cohort.assessments.equals(other.assessments)
    assert not cohort.treatments.equals(other.treatments)
    assert not cohort.patients.equals(other.patients)


def test_tables_returns_the_three_frames_by_name(cohort: DemoCohort) -> None:
    tables = cohort.tables()
    assert list(tables) == ["assessments", "treatments", "patients"]
    assert tables["assessments"] is cohort.assessments


@pytest.mark.parametrize("time", ["datetime", "study_day"])
def test_columns_follow_the_canonical_layout(
    time: str, cohort: DemoCohort, study_day_cohort: DemoCohort
) -> None:
    chosen = cohort if time == "datetime" else study_day_cohort
    for name, frame in chosen.tables().items():
        assert list(frame.columns) == expected_columns(name, time)


def test_patients_table_has_one_row_per_patient_with_coded_ids(cohort: DemoCohort) -> None:
    ids = cohort.patients["patient_id"]
    assert len(ids) == N_PATIENTS and ids.is_unique
    assert ids.iloc[0] == "P00001"
    assert ids.str.contains(r"\d").all()
    assert set(cohort.assessments["patient_id"]) == set(ids)
    assert set(cohort.treatments["patient_id"]) == set(ids)


def check_field(frame: pd.DataFrame, spec: dict[str, Any]) -> None:
    """Every value of ``frame[spec['name']]`` meets the field's schema constraints."""
    name = spec["name"]
    column = frame[name]
    c = spec.get("constraints", {})
    if c.get("required"):
        assert column.notna().all(), name
    values = column.dropna()
    kind = spec.get("type", "string")
    if kind == "boolean":
        assert pd.api.types.is_bool_dtype(column), name
    elif kind == "integer":
        numbers = values.to_numpy(dtype=np.float64)
        assert np.array_equal(numbers, np.round(numbers)), name
    elif kind == "datetime":
        assert pd.api.types.is_datetime64_any_dtype(column), name
    elif kind == "number":
        assert pd.api.types.is_numeric_dtype(column), name
    if "enum" in c:
        assert values.isin(c["enum"]).all(), (name, set(values) - set(c["enum"]))
    if "pattern" in c:
        assert values.astype(str).str.fullmatch(c["pattern"]).all(), name
    if "minimum" in c:
        assert (values >= c["minimum"]).all(), name
    if "maximum" in c:
        assert (values <= c["maximum"]).all(), name
    if "exclusiveMinimum" in c:
        assert (values > c["exclusiveMinimum"]).all(), name
    if "x-itemEnum" in c:
        codes = values.str.split(spec.get("delimiter", ";")).explode()
        assert codes.isin(c["x-itemEnum"]).all(), (name, set(codes) - set(c["x-itemEnum"]))


@pytest.mark.parametrize("table", ["assessments", "treatments", "patients"])
@pytest.mark.parametrize("time", ["datetime", "study_day"])
def test_every_value_meets_the_schema_constraints(
    table: str, time: str, cohort: DemoCohort, study_day_cohort: DemoCohort
) -> None:
    frame = (cohort if time == "datetime" else study_day_cohort).tables()[table]
    raw = read_schema(table)
    for spec in raw["fields"]:
        if spec["name"] in frame.columns:
            check_field(frame, spec)
    time_column = "study_day" if time == "study_day" else TIME_COLUMNS.get(table)
    key = [time_column if k in TIME_COLUMNS.values() else k for k in raw["primaryKey"]]
    assert not frame.duplicated(key).any()


def test_totals_lie_within_each_instruments_range(cohort: DemoCohort) -> None:
    a = cohort.assessments
    for instrument in INSTRUMENTS.values():
        totals = a.loc[a["instrument"] == instrument.name, "total"].dropna()
        assert totals.between(0, instrument.max_score).all()


def test_item_rows_sum_to_their_totals_where_both_are_given(cohort: DemoCohort) -> None:
    a = cohort.assessments
    for instrument in INSTRUMENTS.values():
        rows = a[a["instrument"] == instrument.name]
        items = rows[list(instrument.items)]
        complete = items.notna().all(axis=1) & rows["total"].notna()
        assert complete.sum() > 20
        sums = items[complete].sum(axis=1).to_numpy(dtype=np.int64)
        assert np.array_equal(sums, rows.loc[complete, "total"].to_numpy(dtype=np.int64))


def test_gad7_rows_leave_item_8_and_item_9_blank(cohort: DemoCohort) -> None:
    a = cohort.assessments
    unused = list(ITEM_COLUMNS[GAD7.n_items :])
    assert unused == ["item_8", "item_9"]
    assert a.loc[a["instrument"] == GAD7.name, unused].isna().all().all()


def test_some_assessments_carry_items_some_items_only_and_a_few_are_prorated(
    cohort: DemoCohort,
) -> None:
    a = cohort.assessments
    n_items = a["instrument"].map({i.name: i.n_items for i in INSTRUMENTS.values()})
    answered = a[list(ITEM_COLUMNS)].notna().sum(axis=1)
    with_items = answered > 0
    # About 15% of assessments have items (generator: 6%, 30%, 10% by site).
    assert 0.10 <= with_items.mean() <= 0.20
    # Every row has a total or items; a third of item rows give items only.
    assert (a["total"].notna() | with_items).all()
    items_only = with_items & a["total"].isna()
    assert 0.2 <= items_only.sum() / with_items.sum() <= 0.5
    # A handful give all but one item and no total: a prorated case.
    prorated = items_only & (answered == n_items - 1)
    assert 1 <= prorated.sum() <= 0.06 * with_items.sum()
    assert (answered[with_items] >= n_items[with_items] - 1).all()


def test_phq9_item_9_is_positive_on_a_few_percent_of_item_rows(cohort: DemoCohort) -> None:
    a = cohort.assessments
    item9 = a.loc[a["instrument"] == PHQ9.name, SELF_HARM_ITEM].dropna()
    assert 0.005 <= (item9 >= 1).mean() <= 0.12
    assert (item9 >= 2).mean() <= (item9 >= 1).mean() / 2


def test_site_and_clinician_are_constant_per_patient_and_clinicians_nest_in_sites(
    cohort: DemoCohort,
) -> None:
    rows = pd.concat(
        [
            t[["patient_id", "site_id", "clinician_id"]]
            for t in (cohort.assessments, cohort.treatments)
        ]
    )
    assert (rows.groupby("patient_id")[["site_id", "clinician_id"]].nunique() == 1).all().all()
    assert (rows.groupby("clinician_id")["site_id"].nunique() == 1).all()
    assert rows["site_id"].nunique() == 3
    assert rows["clinician_id"].nunique() == 8


def test_every_patient_has_a_baseline_before_their_first_dose(
    timed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    assessments, _ = timed
    phq = assessments[assessments["instrument"] == PHQ9.name]
    before = phq[(phq["t"] < 0) & (phq["t"] >= -14)]
    assert before["patient_id"].nunique() == N_PATIENTS
    # One on the first dose day, just before the dose (same date, earlier time).
    same_day = before[before["assessed_at"].dt.date == before["first"].dt.date]
    assert same_day["patient_id"].nunique() == N_PATIENTS


def test_baselines_are_mostly_cases_and_gad7_follows_phq9(
    timed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    assessments, _ = timed
    baseline = (
        assessments[assessments["t"] <= 0]
        .groupby(["patient_id", "instrument"])["total"]
        .last()
        .unstack()
    )
    phq = baseline[PHQ9.name]
    assert 0.02 <= (phq < PHQ9.caseness).mean() <= 0.20
    assert 10 <= phq.median() <= 20
    both = baseline.dropna().astype(float)
    assert both[PHQ9.name].corr(both[GAD7.name]) > 0.3
    # Most patients also complete the GAD-7 (generator: 85% or a GAD diagnosis).
    assert 0.75 <= baseline[GAD7.name].notna().mean() <= 0.95


def test_completers_have_a_median_of_six_doses_in_the_first_21_days(
    timed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, treatments = timed
    doses = treatments.groupby("patient_id").size()
    completers = doses.index[doses >= 6]
    first_21 = treatments[treatments["t"] <= 21].groupby("patient_id").size()
    assert first_21.loc[completers].median() == 6
    # 15-20% stop after 1-4 doses (generator: 12% of responders, 28% of others).
    assert 0.08 <= (doses < 6).mean() <= 0.28
    assert doses.min() >= 1
    # Some patients take longer than 21 days to reach their sixth dose.
    sixth = treatments[treatments.groupby("patient_id").cumcount() == 5]["t"]
    assert 0.05 <= (sixth > 21).mean() <= 0.40


def test_some_assessments_fall_within_one_day_after_the_first_dose(
    timed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    assessments, _ = timed
    within = assessments[(assessments["t"] > 0) & (assessments["t"] <= 1)]
    assert within["patient_id"].nunique() >= 0.1 * N_PATIENTS
    # 2-6 hours after the dose.
    assert within["t"].between(2 / 24, 6 / 24).all()


def test_response_and_remission_shares_look_like_ketamine_practice(
    timed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    # methods §4: baseline = last PHQ-9 in [-30, 0] days, endpoint = last in (0, 42];
    # response = fall of at least half; remission = endpoint below 5. Published clinic
    # series report 50-63% response and 20-33% remission (Oliver 2022; Hull 2022).
    assessments, _ = timed
    phq = assessments[(assessments["instrument"] == PHQ9.name) & assessments["total"].notna()]
    baseline = phq[phq["t"].between(-30, 0)].groupby("patient_id")["total"].last()
    endpoint = phq[(phq["t"] > 0) & (phq["t"] <= 42)].groupby("patient_id")["total"].last()
    both = pd.concat([baseline.rename("b"), endpoint.rename("e")], axis=1).dropna()
    eligible = both[both["b"] >= PHQ9.caseness].astype(float)
    response = (eligible["e"] <= 0.5 * eligible["b"]).mean()
    remission = (eligible["e"] < PHQ9.remission_below).mean()
    assert 0.45 <= response <= 0.70
    assert 0.18 <= remission <= 0.40


def test_part_of_the_cohort_is_followed_for_months(
    timed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    assessments, treatments = timed
    last = assessments.groupby("patient_id")["t"].max()
    assert 0.35 <= (last >= 90).mean() <= 0.70
    assert last.max() <= 275
    maintained = (treatments.groupby("patient_id").size() > 6).mean()
    assert 0.10 <= maintained <= 0.40


def test_treatments_look_like_ketamine_sessions(cohort: DemoCohort) -> None:
    tr = cohort.treatments
    routes = tr.drop_duplicates("patient_id")["route"].value_counts(normalize=True)
    assert routes.index[0] == "IV" and routes[["IV", "IM"]].sum() > 0.5
    first = tr.drop_duplicates("patient_id")
    iv = first[first["route"] == "IV"]
    mg_per_kg = (iv["dose_mg"] / iv["weight_kg"]).median()
    assert mg_per_kg == pytest.approx(0.5, abs=0.05)  # Oliver 2022: IV 0.5 mg/kg
    assert set(tr.loc[tr["route"] == "intranasal", "dose_mg"]) <= {56.0, 84.0}
    # Weight constant per patient up to small noise, missing for about 5% of patients.
    spread = tr.groupby("patient_id")["weight_kg"].agg(lambda s: s.max() - s.min())
    assert spread.dropna().max() < 6
    no_weight = tr.groupby("patient_id")["weight_kg"].apply(lambda s: s.isna().all())
    assert 0.01 <= no_weight.mean() <= 0.12
    # Adverse events for a realistic share of patients, dissociation the commonest.
    any_event = tr.groupby("patient_id")["adverse_events"].apply(lambda s: s.notna().any())
    assert 0.15 <= any_event.mean() <= 0.45
    codes = tr["adverse_events"].dropna().str.split(";").explode().value_counts()
    assert codes.index[0] == "dissociation"
    iv_cost = tr.loc[tr["route"] == "IV", "cost_usd"].median()
    assert 400 <= iv_cost <= 800
    assert tr["monitoring_minutes"].isna().any() and tr["cost_usd"].isna().any()


def test_diagnoses_carry_consistent_prior_treatment_failures(cohort: DemoCohort) -> None:
    p = cohort.patients
    assert (p.loc[p["primary_diagnosis"] == "TRD", "prior_treatment_failures"] >= 2).all()
    gad = p.loc[p["primary_diagnosis"] == "GAD", "prior_treatment_failures"]
    assert 0.2 <= (gad >= 2).mean() <= 0.8
    bands = p["age_band"].value_counts(normalize=True)
    middle = [b for b in bands.index if b[:2].isdigit() and 25 <= int(b[:2]) <= 60]
    assert bands[middle].sum() > 0.7


def test_datetime_and_study_day_variants_correspond_exactly(
    cohort: DemoCohort, study_day_cohort: DemoCohort
) -> None:
    for table, time_column in TIME_COLUMNS.items():
        dated = cohort.tables()[table]
        days = study_day_cohort.tables()[table]
        others = [c for c in dated.columns if c != time_column]
        pd.testing.assert_frame_equal(dated[others], days[others])
    # study_day - (datetime - patient's first assessment) is one constant per patient,
    # the same in both tables: a single per-patient origin.
    first = cohort.assessments.groupby("patient_id")["assessed_at"].min()
    offsets = []
    for table, time_column in TIME_COLUMNS.items():
        dated = cohort.tables()[table]
        relative = (dated[time_column] - dated["patient_id"].map(first)) / ONE_DAY
        offsets.append(study_day_cohort.tables()[table]["study_day"] - relative)
    offset = pd.concat(offsets)
    patient = pd.concat([cohort.assessments["patient_id"], cohort.treatments["patient_id"]])
    spread = offset.groupby(patient.to_numpy()).agg(lambda s: s.max() - s.min())
    assert spread.max() < 1e-9


def test_study_day_origin_precedes_the_first_dose_by_a_varying_lead(
    study_day_cohort: DemoCohort,
) -> None:
    first_dose = study_day_cohort.treatments.groupby("patient_id")["study_day"].min()
    assert (first_dose > 0).all()
    assert first_dose.nunique() > N_PATIENTS / 2
    assert first_dose.max() <= 15
    assert (study_day_cohort.assessments["study_day"] >= 0).all()


def test_assessment_dates_spread_over_about_18_months(cohort: DemoCohort) -> None:
    at = cohort.assessments["assessed_at"]
    start = pd.Timestamp("2025-01-06")
    assert at.min() >= start
    assert pd.Timedelta(days=450) <= at.max() - start <= pd.Timedelta(days=550)


def test_start_moves_the_calendar_but_not_the_relative_times(cohort: DemoCohort) -> None:
    later = generate_demo(patients=N_PATIENTS, seed=SEED, start="2026-03-02")
    shift = pd.Timestamp("2026-03-02") - pd.Timestamp("2025-01-06")
    assert (later.assessments["assessed_at"] - cohort.assessments["assessed_at"] == shift).all()
    pd.testing.assert_frame_equal(
        later.assessments.drop(columns="assessed_at"),
        cohort.assessments.drop(columns="assessed_at"),
    )


@pytest.mark.parametrize("time", ["datetime", "study_day"])
def test_write_demo_writes_three_csvs_that_read_back_with_the_same_row_counts(
    time: str, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "folder"
    paths = write_demo(out, patients=40, seed=7, time=time)
    cohort = generate_demo(patients=40, seed=7, time=time)
    assert sorted(p.name for p in paths.values()) == [
        "assessments.csv",
        "patients.csv",
        "treatments.csv",
    ]
    for name, path in paths.items():
        assert path.parent == out
        back = pd.read_csv(path, keep_default_na=False, dtype=str)
        frame = cohort.tables()[name]
        assert len(back) == len(frame)
        assert list(back.columns) == list(frame.columns)
    assessments = pd.read_csv(paths["assessments"], keep_default_na=False, dtype=str)
    treatments = pd.read_csv(paths["treatments"], keep_default_na=False, dtype=str)
    patients = pd.read_csv(paths["patients"], keep_default_na=False, dtype=str)
    # Integers without ".0", blanks as empty cells, booleans as true/false.
    for column in ["total", *ITEM_COLUMNS]:
        assert assessments[column].str.fullmatch(r"\d*").all(), column
    assert (assessments["total"] == "").any()
    assert set(treatments["psychotherapy"]) <= {"true", "false"}
    assert set(patients["concurrent_ssri"]) <= {"true", "false"}
    assert patients["prior_treatment_failures"].str.fullmatch(r"\d+").all()
    if time == "datetime":
        iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        assert assessments["assessed_at"].str.fullmatch(iso).all()
        assert treatments["administered_at"].str.fullmatch(iso).all()
    else:
        written = assessments["study_day"].astype(float).to_numpy()
        assert np.array_equal(written, cohort.assessments["study_day"].to_numpy())


def test_write_demo_does_not_change_what_generate_demo_returns(tmp_path: Path) -> None:
    before = generate_demo(patients=20, seed=3)
    write_demo(tmp_path, patients=20, seed=3)
    after = generate_demo(patients=20, seed=3)
    assert after.treatments["psychotherapy"].dtype == bool
    pd.testing.assert_frame_equal(before.treatments, after.treatments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"patients": 0}, "patients must be"),
        ({"patients": 2.5}, "patients must be"),
        ({"seed": -1}, "seed must be"),
        ({"time": "hours"}, "time must be"),
        ({"start": "not a date"}, "start must be"),
    ],
)
def test_generate_demo_rejects_bad_arguments_with_a_clear_message(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_demo(**arguments)
