"""Tests for katoutcomes.outcomes: every methods §4 definition on a hand-built cohort.

Cohorts go through the real ingest (``validate_frames`` then ``Dataset.from_result``), so
``t`` is computed exactly as in production. Unless a test says otherwise the one dose is
at study day 100, which makes it ``t = 0``: an assessment at study day 100 + d has
``t = d``. Thresholds (methods §4, :mod:`katoutcomes.instruments`): PHQ-9 caseness 10,
remission < 5, reliable change 6; GAD-7 caseness 8, remission < 5, reliable change 4;
settings: baseline window 30 days, acute window 42 days, visit window 7 days (endpoint
window 0 < t <= 49), response 50%, early improvement 20%. Every expected value is worked
out by hand in a comment next to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from katoutcomes.dataset import Dataset
from katoutcomes.ingest import validate_frames
from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.outcomes import OUTCOME_COLUMNS, patient_outcomes
from katoutcomes.settings import Settings
from katoutcomes.stats import jacobson_truax

DOSE_DAY = 100.0
#: Calendar origin for the datetime versions of a cohort (study day 0).
EPOCH = pd.Timestamp("2024-01-01 09:00")

Score = tuple[str, str, float, float | None]  # patient_id, instrument, t, total


def _assessments_frame(scores: Sequence[Score], time: str) -> pd.DataFrame:
    patient, instrument, t, total = zip(*scores, strict=True)
    day = np.asarray(t, dtype=float) + DOSE_DAY
    frame = pd.DataFrame({"patient_id": patient, "instrument": instrument, "total": total})
    return _with_time(frame, day, time, "assessed_at")


def _with_time(frame: pd.DataFrame, day: np.ndarray, time: str, column: str) -> pd.DataFrame:
    if time == "study_day":
        return frame.assign(study_day=day)
    when = EPOCH + pd.to_timedelta(day, unit="D")
    if time == "date":
        return frame.assign(**{column: when.strftime("%Y-%m-%d")})
    return frame.assign(**{column: when.strftime("%Y-%m-%dT%H:%M:%S")})


def _doses_frame(doses: Mapping[str, Sequence[float]], time: str) -> pd.DataFrame:
    patient = [p for p, days in doses.items() for _ in days]
    day = np.array([d for days in doses.values() for d in days], dtype=float) + DOSE_DAY
    return _with_time(pd.DataFrame({"patient_id": patient}), day, time, "administered_at")


def build(
    scores: Sequence[Score],
    doses: Mapping[str, Sequence[float]] | None = None,
    *,
    time: str = "study_day",
    extra: Mapping[str, Sequence[object]] | None = None,
) -> Dataset:
    """A Dataset through the real ingest.

    ``doses`` maps patients to dose times (``t``); by default every patient has one dose at
    ``t = 0``. ``time`` is ``"study_day"``, ``"datetime"`` (exact timestamps) or ``"date"``.
    ``extra`` adds assessment columns (item scores).
    """
    if doses is None:
        doses = {p: [0.0] for p, *_ in scores}
    assessments = _assessments_frame(scores, time)
    for name, values in (extra or {}).items():
        assessments[name] = values
    frames = {"assessments": assessments}
    if doses:
        frames["treatments"] = _doses_frame(doses, time)
    result = validate_frames(frames)
    assert result.n_rejected == 0, result.rejected.to_dict("records")
    return Dataset.from_result(result)


def phq9(patient: str, *points: tuple[float, float]) -> list[Score]:
    return [(patient, "PHQ-9", t, total) for t, total in points]


def row(out: pd.DataFrame, patient: str, instrument: str = "PHQ-9") -> pd.Series:
    hit = out[(out["patient_id"] == patient) & (out["instrument"] == instrument)]
    assert len(hit) == 1, f"expected one row for {patient} {instrument}, got {len(hit)}"
    return hit.iloc[0]


def same(actual: object, expected: object) -> bool:
    """Equality where a missing value (NaN, NA, None) equals a missing value."""
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return bool(pd.isna(actual))
    if pd.isna(actual):
        return False
    if isinstance(expected, float):
        return math.isclose(float(actual), expected, rel_tol=1e-12, abs_tol=1e-12)  # type: ignore[arg-type]
    return bool(actual == expected)


NA = None


# --------------------------------------------------------------------------------------
# Shape of the table
# --------------------------------------------------------------------------------------


def test_output_has_the_documented_columns_in_order_with_their_dtypes() -> None:
    out = patient_outcomes(build(phq9("p1", (0, 20), (14, 8))))
    assert list(out.columns) == list(OUTCOME_COLUMNS)
    booleans = {
        "eligible",
        "completer",
        "response",
        "remission",
        "reliable_improvement",
        "reliable_deterioration",
        "recovery",
        "reliable_recovery",
        "response_observed",
        "early_improvement_observed",
        "relapse",
    }
    counts = {"n_assessments", "n_doses", "n_acute_doses", "n_maintenance_doses", "item9_flags"}
    for column in OUTCOME_COLUMNS:
        dtype = out[column].dtype
        if column in booleans:
            assert dtype == "boolean", column
        elif column in counts:
            assert dtype == "Int64", column
        elif column in {"patient_id", "instrument", "jt_category"}:
            assert pd.api.types.is_string_dtype(dtype), column
        else:
            assert dtype == "float64", column


def test_one_row_per_patient_and_instrument_sorted() -> None:
    scores = [
        *phq9("p2", (0, 20)),
        ("p1", "GAD-7", 0, 12),
        *phq9("p1", (0, 18)),
    ]
    out = patient_outcomes(build(scores))
    # p1 has both instruments, p2 only PHQ-9: three pairs, sorted by patient then instrument.
    assert out[["patient_id", "instrument"]].values.tolist() == [
        ["p1", "GAD-7"],
        ["p1", "PHQ-9"],
        ["p2", "PHQ-9"],
    ]


# --------------------------------------------------------------------------------------
# Baseline and endpoint windows
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pre_t", "baseline", "baseline_day", "eligible", "completer"),
    [
        # t = -31 lies outside -30 <= t <= 0: no baseline, so eligible/completer are NA.
        (-31, math.nan, math.nan, NA, NA),
        # t = -30 is on the window's edge: baseline 20 (>= caseness 10, eligible).
        (-30, 20.0, -30.0, True, True),
        # t = 0, the dose day, counts as before the dose (methods §2.3).
        (0, 20.0, 0.0, True, True),
    ],
)
def test_baseline_is_the_last_valid_assessment_within_the_window(
    pre_t: float, baseline: float, baseline_day: float, eligible: object, completer: object
) -> None:
    r = row(patient_outcomes(build(phq9("p1", (pre_t, 20), (14, 8)))), "p1")
    assert same(r["baseline"], baseline)
    assert same(r["baseline_day"], baseline_day)
    assert same(r["eligible"], eligible)
    assert same(r["completer"], completer)


def test_the_last_of_several_pre_dose_assessments_is_the_baseline() -> None:
    # -20: 22, -10: 18, -1: 15 -> the last one, 15 at t = -1.
    r = row(patient_outcomes(build(phq9("p1", (-20, 22), (-10, 18), (-1, 15), (14, 7)))), "p1")
    assert r["baseline"] == 15.0
    assert r["baseline_day"] == -1.0
    # change 7 - 15 = -8, pct_change -8/15.
    assert r["change"] == -8.0
    assert r["pct_change"] == pytest.approx(-8 / 15)


def test_an_assessment_on_the_dose_day_is_baseline_not_endpoint() -> None:
    # -5: 21 then 0: 19. Baseline is 19 at t = 0; nothing has t > 0, so no endpoint and no
    # onset times.
    r = row(patient_outcomes(build(phq9("p1", (-5, 21), (0, 19)))), "p1")
    assert r["baseline"] == 19.0
    assert r["baseline_day"] == 0.0
    assert pd.isna(r["endpoint"])
    assert not r["completer"]
    assert pd.isna(r["response"])
    assert pd.isna(r["first_response_day"])
    assert pd.isna(r["response_observed"])


@pytest.mark.parametrize(
    ("late_t", "endpoint", "endpoint_day"),
    [
        # 0 < 42 <= 49: the day-42 score (6) is the endpoint.
        (42, 6.0, 42.0),
        # A "week 6" visit that slipped to day 45: 45 <= 42 + 7 = 49, still the endpoint.
        (45, 6.0, 45.0),
        # On the last day of the visit window, 49 <= 49: included.
        (49, 6.0, 49.0),
        # 50 > 49: outside; the endpoint stays the day-14 score (12).
        (50, 12.0, 14.0),
        # A fractional day just past the window is excluded too.
        (49.25, 12.0, 14.0),
    ],
)
def test_endpoint_is_the_last_valid_assessment_in_the_acute_and_visit_window(
    late_t: float, endpoint: float, endpoint_day: float
) -> None:
    r = row(patient_outcomes(build(phq9("p1", (0, 20), (14, 12), (late_t, 6)))), "p1")
    assert r["endpoint"] == endpoint
    assert r["endpoint_day"] == endpoint_day
    assert r["completer"]


def test_acute_window_follows_the_settings() -> None:
    # With acute_days = 28 (window 28 + 7 = 35) the day-42 score falls outside; the
    # endpoint is day 14 (12).
    data = build(phq9("p1", (0, 20), (14, 12), (42, 6)))
    r = row(patient_outcomes(data, Settings(acute_days=28)), "p1")
    assert (r["endpoint"], r["endpoint_day"]) == (12.0, 14.0)


def test_a_week_6_visit_on_day_45_is_the_endpoint_and_responds() -> None:
    # Baseline 20 at t = 0; day 28: 14 (no response, 14 > 10); the week-6 visit slipped to
    # day 45: 9 <= 0.5 * 20 = 10, a response. 45 <= 42 + 7, so the endpoint is day 45 and
    # the patient responded. Without the visit window (visit_window_days = 0) the endpoint
    # is day 28 (14) and the patient did not respond.
    data = build(phq9("p1", (0, 20), (28, 14), (45, 9)), {"p1": [0, 7, 14, 44]})
    r = row(patient_outcomes(data), "p1")
    assert (r["endpoint"], r["endpoint_day"], r["response"]) == (9.0, 45.0, True)
    strict = row(patient_outcomes(data, Settings(visit_window_days=0)), "p1")
    assert (strict["endpoint"], strict["endpoint_day"], strict["response"]) == (14.0, 28.0, False)
    # The visit window widens the endpoint, not the course: the dose on day 44 is a
    # maintenance dose (44 > acute_days 42); days 0, 7 and 14 are acute.
    assert (r["n_acute_doses"], r["n_maintenance_doses"]) == (3, 1)


def test_visit_window_follows_the_settings() -> None:
    # visit_window_days = 14: window 0 < t <= 56, so the day-56 score (6) is the endpoint.
    data = build(phq9("p1", (0, 20), (14, 12), (56, 6)))
    r = row(patient_outcomes(data, Settings(visit_window_days=14)), "p1")
    assert (r["endpoint"], r["endpoint_day"]) == (6.0, 56.0)


def _same_day_cohort(times: Sequence[str], totals: Sequence[float]) -> Dataset:
    """One PHQ-9 patient with a date-only dose on 2024-01-01 and timed assessments."""
    result = validate_frames(
        {
            "assessments": pd.DataFrame(
                {
                    "patient_id": "p1",
                    "instrument": "PHQ-9",
                    "assessed_at": list(times),
                    "total": list(totals),
                }
            ),
            "treatments": pd.DataFrame({"patient_id": ["p1"], "administered_at": ["2024-01-01"]}),
        }
    )
    assert result.n_rejected == 0
    return Dataset.from_result(result)


def test_of_two_assessments_on_the_dose_day_the_later_one_is_the_baseline() -> None:
    # Date-only dose: t counts whole days, so 08:00 and 20:00 on the dose day both have
    # t = 0. The file lists 20:00 (12) first; the last assessment is the one at 20:00,
    # whatever the row order: baseline 12. Endpoint 9 at t = 19: 9 <= 0.5 * 12 = 6 is
    # false, so no response (with the 08:00 score of 20 as baseline it would be one).
    ds = _same_day_cohort(
        ["2024-01-01T20:00:00", "2024-01-01T08:00:00", "2024-01-20T09:00:00"], [12, 20, 9]
    )
    r = row(patient_outcomes(ds), "p1")
    assert (r["baseline"], r["endpoint"], r["endpoint_day"]) == (12.0, 9.0, 19.0)
    assert not r["response"]


def test_of_two_assessments_on_the_last_acute_day_the_later_one_is_the_endpoint() -> None:
    # Baseline 20 at t = 0. Two assessments on day 14 (t = 14 for both): 08:00 scores 8,
    # 20:00 scores 15, listed 20:00 first. The endpoint is the 20:00 score, 15 > 10: no
    # response.
    ds = _same_day_cohort(
        ["2024-01-01T08:00:00", "2024-01-15T20:00:00", "2024-01-15T08:00:00"], [20, 15, 8]
    )
    r = row(patient_outcomes(ds), "p1")
    assert (r["baseline"], r["endpoint"], r["endpoint_day"]) == (20.0, 15.0, 14.0)
    assert not r["response"]


def test_incomplete_assessments_are_not_valid() -> None:
    # Day 21 has two items and no total (more than 2 of 9 missing: incomplete), so the
    # endpoint is day 14 (12) and there are 2 valid assessments.
    scores = [*phq9("p1", (0, 20), (14, 12)), ("p1", "PHQ-9", 21, None)]
    items = {"item_1": [None, None, 1], "item_2": [None, None, 1]}
    r = row(patient_outcomes(build(scores, extra=items)), "p1")
    assert (r["endpoint"], r["endpoint_day"]) == (12.0, 14.0)
    assert r["n_assessments"] == 2


def test_a_baseline_of_zero_has_no_percent_change() -> None:
    # Baseline 0, endpoint 0: change 0, pct_change 0/0 undefined; not eligible (0 < 10).
    r = row(patient_outcomes(build(phq9("p1", (0, 0), (14, 0)))), "p1")
    assert r["change"] == 0.0
    assert math.isnan(r["pct_change"])
    assert not r["eligible"]


def test_a_baseline_of_zero_leaves_every_fall_based_outcome_empty() -> None:
    # Baseline 0; later scores 0, 0, 12, 13. "A fall of 50%" from 0 is undefined
    # (0 <= 0.5 * 0 would otherwise make every score of 0 a "response", and the later
    # 12 and 13 a "relapse"): response, first response, early improvement and relapse are
    # all NA (methods §4.15). What does not rest on a fall is still defined: endpoint 13 at day
    # 42, change +13, remission False (13 >= 5), reliable deterioration True (13 - 0 >= 6).
    r = row(patient_outcomes(build(phq9("p1", (0, 0), (7, 0), (14, 0), (28, 12), (42, 13)))), "p1")
    for column in (
        "pct_change",
        "response",
        "first_response_day",
        "response_observed",
        "first_early_improvement_day",
        "early_improvement_observed",
        "relapse",
        "days_to_relapse",
    ):
        assert pd.isna(r[column]), column
    assert (r["endpoint"], r["change"]) == (13.0, 13.0)
    assert not r["remission"]
    assert r["reliable_deterioration"]


def test_a_patient_without_baseline_has_missing_outcomes_but_counts_assessments() -> None:
    # Only post-dose scores (t = 7, 14): no baseline. The endpoint does not depend on a
    # baseline (methods §4.4: the last valid assessment with 0 < t <= 42), so it is 8 at day
    # 14; every baseline-dependent outcome is NA; n_assessments still counts 2; the one
    # dose at t = 0 is still counted.
    r = row(patient_outcomes(build(phq9("p1", (7, 20), (14, 8)))), "p1")
    assert (r["endpoint"], r["endpoint_day"]) == (8.0, 14.0)
    for column in OUTCOME_COLUMNS[2:24]:
        if column in ("endpoint", "endpoint_day"):
            continue
        assert pd.isna(r[column]), column
    assert r["n_assessments"] == 2
    assert r["n_doses"] == 1


# --------------------------------------------------------------------------------------
# Response, remission, reliable change, recovery
# --------------------------------------------------------------------------------------

ENDPOINT_CASES = [
    # instrument, baseline, endpoint, then expected
    # (eligible, response, remission, reliable_improvement, reliable_deterioration,
    #  recovery, reliable_recovery)
    # PHQ-9 20 -> 10: exactly 50% (10 <= 0.5*20 = 10) is a response; 10 >= 5 no
    # remission; fall 10 >= 6 reliable; 10 is not < caseness 10, so no recovery.
    pytest.param("PHQ-9", 20, 10, (True, True, False, True, False, False, False), id="phq9-50pct"),
    # 20 -> 11: 11 > 10 no response.
    pytest.param("PHQ-9", 20, 11, (True, False, False, True, False, False, False), id="phq9-45pct"),
    # 15 -> 7: 7 <= 7.5 response; fall 8 reliable; 7 < 10 recovery and reliable recovery.
    pytest.param("PHQ-9", 15, 7, (True, True, False, True, False, True, True), id="phq9-odd"),
    # 20 -> 4: remission (4 < 5); 20 -> 5: not (5 is not < 5).
    pytest.param("PHQ-9", 20, 4, (True, True, True, True, False, True, True), id="phq9-remit-4"),
    pytest.param("PHQ-9", 20, 5, (True, True, False, True, False, True, True), id="phq9-remit-5"),
    # 20 -> 14: fall of exactly 6 is reliable; 14 > 10 no response; 14 >= 10 no recovery.
    pytest.param("PHQ-9", 20, 14, (True, False, False, True, False, False, False), id="phq9-rc-6"),
    # 20 -> 15: fall of 5 is not reliable.
    pytest.param("PHQ-9", 20, 15, (True, False, False, False, False, False, False), id="phq9-rc-5"),
    # 12 -> 9: recovery (12 >= 10, 9 < 10) but fall 3 < 6: not reliable recovery.
    pytest.param("PHQ-9", 12, 9, (True, False, False, False, False, True, False), id="phq9-recov"),
    # 9 -> 2: not a case at baseline (9 < 10) so no recovery; fall 7 is reliable.
    pytest.param("PHQ-9", 9, 2, (False, True, True, True, False, False, False), id="phq9-noncase"),
    # 10 -> 16: rise of exactly 6 is reliable deterioration; 10 -> 15 (rise 5) is not.
    pytest.param("PHQ-9", 10, 16, (True, False, False, False, True, False, False), id="phq9-rd-6"),
    pytest.param("PHQ-9", 10, 15, (True, False, False, False, False, False, False), id="phq9-rd-5"),
    # GAD-7 8 -> 4: a case (8 >= 8); 4 <= 4 response; 4 < 5 remission; fall 4 >= 4
    # reliable; 4 < 8 recovery and reliable recovery.
    pytest.param("GAD-7", 8, 4, (True, True, True, True, False, True, True), id="gad7-edges"),
    # GAD-7 8 -> 5: fall 3 < 4 not reliable; 5 < 8 recovery (not reliable).
    pytest.param("GAD-7", 8, 5, (True, False, False, False, False, True, False), id="gad7-rc-3"),
    # GAD-7 7 -> 2: not a case (7 < 8); fall 5 reliable; no recovery.
    pytest.param("GAD-7", 7, 2, (False, True, True, True, False, False, False), id="gad7-noncase"),
    # GAD-7 10 -> 14: rise 4 is reliable deterioration.
    pytest.param("GAD-7", 10, 14, (True, False, False, False, True, False, False), id="gad7-rd-4"),
]


@pytest.mark.parametrize(("instrument", "baseline", "endpoint", "expected"), ENDPOINT_CASES)
def test_endpoint_outcomes_follow_the_instrument_thresholds(
    instrument: str, baseline: int, endpoint: int, expected: tuple[bool, ...]
) -> None:
    scores = [("p1", instrument, 0, baseline), ("p1", instrument, 28, endpoint)]
    r = row(patient_outcomes(build(scores)), "p1", instrument)
    columns = (
        "eligible",
        "response",
        "remission",
        "reliable_improvement",
        "reliable_deterioration",
        "recovery",
        "reliable_recovery",
    )
    assert tuple(bool(r[c]) for c in columns) == expected
    assert r["change"] == endpoint - baseline


@pytest.mark.parametrize("instrument", ["PHQ-9", "GAD-7"])
def test_eligibility_uses_the_instrument_caseness(instrument: str) -> None:
    caseness = INSTRUMENTS[instrument].caseness  # PHQ-9 10, GAD-7 8
    scores = [
        ("below1", instrument, 0, caseness - 1),
        ("at1", instrument, 0, caseness),
    ]
    out = patient_outcomes(build(scores))
    assert not row(out, "below1", instrument)["eligible"]
    assert row(out, "at1", instrument)["eligible"]


def test_endpoint_outcomes_are_missing_without_an_endpoint() -> None:
    # Baseline 20, nothing after: completer False, every endpoint outcome NA.
    r = row(patient_outcomes(build(phq9("p1", (0, 20)))), "p1")
    assert r["eligible"]
    assert not r["completer"]
    for column in ("endpoint", "change", "pct_change", "response", "remission", "recovery"):
        assert pd.isna(r[column]), column


# --------------------------------------------------------------------------------------
# Onset: first response and early improvement
# --------------------------------------------------------------------------------------

ONSET_COHORT = [
    # Baseline 20: response needs <= 10, early improvement <= 16.
    # 7: 16 (early improvement, exactly 20%), 14: 12, 28: 10 (response, exactly 50%).
    *phq9("fast1", (0, 20), (7, 16), (14, 12), (28, 10), (70, 9)),
    # Responds only at t = 56, after the acute window: still the first response day.
    *phq9("late1", (0, 20), (14, 15), (56, 8)),
    # Never responds: censored at the last t > 0 (35). Early improvement at 21 (14 <= 16).
    *phq9("never1", (0, 20), (7, 18), (21, 14), (35, 13)),
    # Never improves by 20% either: both censored at 35.
    *phq9("flat1", (0, 20), (7, 19), (35, 17)),
    # No baseline (first score after the dose).
    *phq9("nobase1", (5, 20), (14, 8)),
    # Baseline only: no t > 0.
    *phq9("pre_only1", (-3, 20)),
]


@pytest.mark.parametrize(
    ("patient", "first_response_day", "response_observed", "early_day", "early_observed"),
    [
        ("fast1", 28.0, True, 7.0, True),
        ("late1", 56.0, True, 14.0, True),  # 15 <= 16 at t = 14
        ("never1", 35.0, False, 21.0, True),
        ("flat1", 35.0, False, 35.0, False),
        ("nobase1", math.nan, NA, math.nan, NA),
        ("pre_only1", math.nan, NA, math.nan, NA),
    ],
)
def test_first_response_and_early_improvement_days_with_censoring(
    patient: str,
    first_response_day: float,
    response_observed: object,
    early_day: float,
    early_observed: object,
) -> None:
    r = row(patient_outcomes(build(ONSET_COHORT)), patient)
    assert same(r["first_response_day"], first_response_day)
    assert same(r["response_observed"], response_observed)
    assert same(r["first_early_improvement_day"], early_day)
    assert same(r["early_improvement_observed"], early_observed)


def test_a_late_first_response_does_not_change_the_endpoint_response() -> None:
    # "late1": endpoint is the day-14 score 15 (> 10): no response at endpoint, although the
    # first response (day 56) was observed.
    r = row(patient_outcomes(build(ONSET_COHORT)), "late1")
    assert r["endpoint"] == 15.0
    assert not r["response"]


# --------------------------------------------------------------------------------------
# Relapse
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "follow_up", "relapse", "days_to_relapse"),
    [
        # Baseline 20 (response <= 10). Response at 7 (8); 14: 12 and 21: 14 both fail and
        # are >= 10: relapse at t_r = 14, days 14 - 7 = 7.
        pytest.param(20, [(7, 8), (14, 12), (21, 14), (28, 9)], True, 7.0, id="confirmed"),
        # One failing score (14: 12) then a responding one (21: 9), then one failing score
        # with nothing after it (28: 11): no relapse. Assessments after the response: 14,
        # 21, 28 (m = 3); censored at the second-to-last, t_(m-1) = 21: 21 - 7 = 14.
        pytest.param(20, [(7, 8), (14, 12), (21, 9), (28, 11)], False, 14.0, id="not-two"),
        # Baseline 16 (response <= 8). 14: 9 fails but is below caseness 10; 21: 12 fails
        # and is a case; 35: 6 responds. No pair of failing cases; after the response
        # 14, 21, 35: censored at 21 - 7 = 14.
        pytest.param(16, [(7, 8), (14, 9), (21, 12), (35, 6)], False, 14.0, id="below-case"),
        # Baseline 16: 14: 12 and 21: 10 both fail (> 8) and are >= 10: relapse at 14.
        pytest.param(16, [(7, 8), (14, 12), (21, 10)], True, 7.0, id="at-caseness"),
        # The first qualifying pair counts: 14: 12 / 21: 9 is broken; 28: 12 and 35: 13
        # form the first pair, t_r = 28, days 28 - 7 = 21.
        pytest.param(20, [(7, 8), (14, 12), (21, 9), (28, 12), (35, 13)], True, 21.0, id="first"),
        # Relapse is looked for beyond the acute window: 60: 15 and 90: 15, days 60 - 7.
        pytest.param(20, [(7, 8), (60, 15), (90, 15)], True, 53.0, id="maintenance"),
        # Response at the last assessment: nothing after it, censored at 28 - 28 = 0.
        pytest.param(20, [(14, 12), (28, 10)], False, 0.0, id="respond-last"),
        # Never responds (12 > 10 throughout): relapse and days are NA.
        pytest.param(20, [(7, 12), (14, 12), (21, 14)], NA, math.nan, id="never-responded"),
    ],
)
def test_relapse_needs_two_consecutive_failing_assessments_at_caseness(
    baseline: int,
    follow_up: list[tuple[float, float]],
    relapse: object,
    days_to_relapse: float,
) -> None:
    r = row(patient_outcomes(build(phq9("p1", (0, baseline), *follow_up))), "p1")
    assert same(r["relapse"], relapse)
    assert same(r["days_to_relapse"], days_to_relapse)


@pytest.mark.parametrize(
    ("later", "days_to_relapse"),
    [
        # Response at day 10 (baseline 20, score 8 <= 10). Later assessments all respond
        # (no relapse); t_i below are days since the first response.
        # One later assessment (day 24, t_1 = 14): m = 1 < 2, a relapse could never have
        # been confirmed: censored at 0.
        pytest.param([(24, 6)], 0.0, id="one-later"),
        # Two (days 24, 40; t_1 = 14, t_2 = 30): censored at t_1 = 14.
        pytest.param([(24, 6), (40, 7)], 14.0, id="two-later"),
        # Three (days 24, 40, 101; t = 14, 30, 91): censored at t_2 = 30, not at 91.
        pytest.param([(24, 6), (40, 7), (101, 5)], 30.0, id="three-later"),
    ],
)
def test_a_responder_without_relapse_is_censored_at_the_second_to_last_later_assessment(
    later: list[tuple[float, float]], days_to_relapse: float
) -> None:
    r = row(patient_outcomes(build(phq9("p1", (0, 20), (10, 8), *later))), "p1")
    assert r["first_response_day"] == 10.0
    assert r["relapse"] == False  # noqa: E712 (a nullable boolean: False, not NA)
    assert r["days_to_relapse"] == days_to_relapse


def test_an_incomplete_assessment_between_two_failing_ones_does_not_break_the_pair() -> None:
    # Baseline 20, response at 7 (8). Day 14: 15 fails (> 10) at caseness; day 17 is an
    # incomplete questionnaire (3 items, no total: not valid); day 21: 16 fails. The two
    # consecutive *valid* assessments 14 and 21 confirm a relapse at 14: 7 days after the
    # first response.
    scores = [*phq9("p1", (0, 20), (7, 8), (14, 15)), ("p1", "PHQ-9", 17, None)]
    scores.append(("p1", "PHQ-9", 21, 16))
    items = {f"item_{i}": [None, None, None, 1, None] for i in (1, 2, 3)}
    r = row(patient_outcomes(build(scores, extra=items)), "p1")
    assert r["relapse"]
    assert r["days_to_relapse"] == 7.0
    assert r["n_assessments"] == 4


def test_relapse_uses_gad7_caseness() -> None:
    # GAD-7 baseline 14 (response <= 7). Response at 7 (6); 14: 8 and 21: 9 fail (> 7) and
    # are >= GAD-7 caseness 8 (below PHQ-9's 10): relapse at 14, days 7.
    scores = [("p1", "GAD-7", t, s) for t, s in ((0, 14), (7, 6), (14, 8), (21, 9))]
    r = row(patient_outcomes(build(scores)), "p1", "GAD-7")
    assert r["relapse"]
    assert r["days_to_relapse"] == 7.0


# --------------------------------------------------------------------------------------
# Jacobson–Truax
# --------------------------------------------------------------------------------------

JT_COHORT = [
    # Eligible completers (baseline >= 10 and an endpoint): baselines 20, 18, 15, 22.
    *phq9("a", (0, 20), (28, 6)),
    *phq9("b", (0, 18), (28, 17)),
    *phq9("c", (0, 15), (28, 16)),
    *phq9("d", (0, 22), (28, 12)),
    # Not eligible (8 < 10), no endpoint, no baseline: all excluded from SD_pre.
    *phq9("e", (0, 8), (28, 2)),
    *phq9("f", (0, 19)),
    *phq9("g", (7, 19), (28, 3)),
]


def test_jacobson_truax_columns_match_stats_on_the_eligible_completers() -> None:
    out = patient_outcomes(build(JT_COHORT))
    members = ["a", "b", "c", "d"]
    rows = out.set_index("patient_id").loc[members]
    direct = jacobson_truax(
        rows["baseline"].to_numpy(),
        rows["endpoint"].to_numpy(),
        reliability=0.84,  # PHQ-9 test-retest (Kroenke 2001)
        functional_mean=2.91,  # Kocalevent 2013
        functional_sd=3.52,
    )
    np.testing.assert_allclose(rows["jt_rci"].to_numpy(), direct["rci"].to_numpy(), rtol=1e-12)
    assert rows["jt_category"].tolist() == direct["category"].astype(str).tolist()
    # By hand for patient a: baselines 20, 18, 15, 22 have mean 18.75 and squared
    # deviations 1.5625 + 0.5625 + 14.0625 + 10.5625 = 26.75, so SD_pre = sqrt(26.75 / 3)
    # = 2.986079; S_diff = 2.986079 * sqrt(2 * 0.16) = 1.689181; RCI = (6 - 20) / 1.689181
    # = -8.288039. Cut-off c = (2.986079 * 2.91 + 3.52 * 18.75) / (2.986079 + 3.52)
    # = 11.48: 20 > c > 6 and -RCI > 1.96, so "recovered".
    assert rows.loc["a", "jt_rci"] == pytest.approx(-8.288039, abs=1e-6)
    assert rows["jt_category"].tolist() == ["recovered", "unchanged", "unchanged", "improved"]
    for outsider in ("e", "f", "g"):
        assert pd.isna(row(out, outsider)["jt_rci"])
        assert pd.isna(row(out, outsider)["jt_category"])


@pytest.mark.parametrize(
    "scores",
    [
        # One eligible completer: SD_pre needs two.
        pytest.param([*phq9("a", (0, 20), (28, 6)), *phq9("b", (0, 8), (28, 2))], id="one"),
        # Two eligible completers with equal baselines: SD_pre = 0, RCI undefined.
        pytest.param([*phq9("a", (0, 20), (28, 6)), *phq9("b", (0, 20), (28, 12))], id="sd0"),
    ],
)
def test_jacobson_truax_is_missing_when_sd_pre_cannot_be_estimated(
    scores: list[Score],
) -> None:
    out = patient_outcomes(build(scores))
    assert out["jt_rci"].isna().all()
    assert out["jt_category"].isna().all()


# --------------------------------------------------------------------------------------
# Doses and item 9
# --------------------------------------------------------------------------------------


def test_doses_are_split_into_acute_and_maintenance() -> None:
    # p1 doses at 0, 7, 42, 43, 100: five doses; 0 <= t <= 42 holds 0, 7, 42 (three);
    # t > 42 holds 43, 100 (two). p2 has no treatment rows: zeros, not NA.
    scores = [*phq9("p1", (0, 20), (14, 8)), *phq9("p2", (0, 18), (14, 9))]
    out = patient_outcomes(build(scores, doses={"p1": [0, 7, 42, 43, 100]}))
    doses = ["n_doses", "n_acute_doses", "n_maintenance_doses"]
    assert row(out, "p1")[doses].tolist() == [5, 3, 2]
    assert row(out, "p2")[doses].tolist() == [0, 0, 0]


def test_dose_counts_are_missing_without_a_treatments_table() -> None:
    # No treatments at all: dosing is unknown, so NA rather than 0. The origin is then the
    # first valid assessment, which makes the t = 0 score the baseline.
    out = patient_outcomes(build(phq9("p1", (0, 20), (14, 8)), doses={}))
    r = row(out, "p1")
    for column in ("n_doses", "n_acute_doses", "n_maintenance_doses"):
        assert pd.isna(r[column]), column
    assert (r["baseline"], r["endpoint"]) == (20.0, 8.0)


def test_item9_flags_count_phq9_flags_and_are_missing_for_gad7_and_unrecorded_item9() -> None:
    # p1 PHQ-9 item 9 answers 0, 1, 2 and 1 on an incomplete questionnaire (no total):
    # three flags (>= 1), the incomplete one included. p1 GAD-7 has no item 9: NA.
    # p2 PHQ-9 gives totals only, item 9 never recorded: NA.
    scores = [
        *phq9("p1", (0, 20), (7, 12), (14, 10)),
        ("p1", "PHQ-9", 21, None),
        ("p1", "GAD-7", 0, 12),
        *phq9("p2", (0, 20)),
    ]
    extra = {
        "item_1": [None, None, None, 1, None, None],
        "item_9": [0, 1, 2, 1, None, None],
    }
    out = patient_outcomes(build(scores, extra=extra))
    assert row(out, "p1")["item9_flags"] == 3
    assert row(out, "p1")["n_assessments"] == 3
    assert pd.isna(row(out, "p1", "GAD-7")["item9_flags"])
    assert pd.isna(row(out, "p2")["item9_flags"])


# --------------------------------------------------------------------------------------
# Time representations and inputs
# --------------------------------------------------------------------------------------

MIXED_COHORT = [
    *ONSET_COHORT,
    *phq9("relapser1", (-10, 22), (0, 20), (7, 8), (14, 12), (21, 14), (42, 9), (43, 15)),
    ("relapser1", "GAD-7", 0, 12),
    ("relapser1", "GAD-7", 14, 5),
    *phq9("early1", (-31, 25), (-30, 21), (3, 16)),
]
MIXED_DOSES = {
    "fast1": [0, 7, 14],
    "late1": [0],
    "never1": [0, 42, 50],
    "flat1": [0],
    "nobase1": [0],
    "pre_only1": [0],
    "relapser1": [0, 3, 7, 43],
    "early1": [0],
}


@pytest.mark.parametrize("time", ["datetime", "date"])
def test_datetimes_and_study_days_give_identical_outcomes(time: str) -> None:
    # The same cohort with study days, with exact timestamps (dose and scores at 09:00)
    # and with dates only (a score on a dose day counts as before it): t is the same
    # whole number of days each way, so every outcome must agree.
    by_day = patient_outcomes(build(MIXED_COHORT, MIXED_DOSES))
    by_time = patient_outcomes(build(MIXED_COHORT, MIXED_DOSES, time=time))
    pd.testing.assert_frame_equal(by_time, by_day)


def test_datetime_outcomes_use_fractions_of_a_day() -> None:
    # Dose at 09:00 on day 0; a score at 03:00 the same day is t = -0.25 (a baseline) and
    # one 49 days and 6 hours later is t = 49.25 (outside the endpoint window, 42 + 7).
    scores = phq9("p1", (-0.25, 20), (14, 12), (49.25, 4))
    r = row(patient_outcomes(build(scores, time="datetime")), "p1")
    assert (r["baseline_day"], r["endpoint"], r["endpoint_day"]) == (-0.25, 12.0, 14.0)


def test_input_tables_are_not_modified() -> None:
    data = build(MIXED_COHORT, MIXED_DOSES)
    assessments, treatments = data.assessments.copy(), data.treatments.copy()
    patient_outcomes(data)
    pd.testing.assert_frame_equal(data.assessments, assessments)
    pd.testing.assert_frame_equal(data.treatments, treatments)


def test_unknown_instrument_names_raise_a_clear_error() -> None:
    data = build(phq9("p1", (0, 20)))
    odd = data.assessments.assign(instrument="HADS")
    bad = Dataset(odd, data.treatments, data.patients, data.time_representation)
    with pytest.raises(ValueError, match="Unknown instrument"):
        patient_outcomes(bad)


def test_assessments_without_a_patient_id_raise_a_clear_error() -> None:
    data = build(phq9("p1", (0, 20), (14, 9)))
    odd = data.assessments.assign(patient_id=["p1", None])
    bad = Dataset(odd, data.treatments, data.patients, data.time_representation)
    with pytest.raises(ValueError, match="without a patient_id"):
        patient_outcomes(bad)


def test_outcomes_do_not_depend_on_the_row_order_of_a_hand_built_dataset() -> None:
    # The Dataset sorts its rows by patient, instrument and t; a Dataset built directly
    # from the same rows in another order must give the same table.
    data = Dataset.demo(patients=60, seed=3)
    shuffled = Dataset(
        data.assessments.sample(frac=1.0, random_state=1),
        data.treatments.sample(frac=1.0, random_state=2),
        data.patients,
        data.time_representation,
    )
    pd.testing.assert_frame_equal(patient_outcomes(shuffled), patient_outcomes(data))


# --------------------------------------------------------------------------------------
# Against a plain per-patient reading of methods §4
# --------------------------------------------------------------------------------------


def _reference_row(frame: pd.DataFrame, instrument: str, settings: Settings) -> dict[str, object]:
    """methods §4 read literally, one patient at a time (slow on purpose)."""
    inst = INSTRUMENTS[instrument]
    valid = frame[frame["total"].notna() & frame["t"].notna()].sort_values("t", kind="stable")
    pts = list(zip(valid["t"], valid["total"], strict=True))
    pre = [s for t, s in pts if -settings.baseline_window_days <= t <= 0]
    acute = [(t, s) for t, s in pts if 0 < t <= settings.acute_days + settings.visit_window_days]
    post = [(t, s) for t, s in pts if t > 0]
    out: dict[str, object] = {"n_assessments": len(pts)}
    if not pre:
        return out
    base = pre[-1]
    out["baseline"] = base
    out["eligible"] = base >= inst.caseness
    out["completer"] = bool(acute)
    if acute:
        end = acute[-1][1]
        if base > 0:  # a fall from 0 is undefined
            out["response"] = end <= (1 - settings.response) * base
        out["remission"] = end < inst.remission_below
        out["reliable_improvement"] = base - end >= inst.reliable_change
        out["recovery"] = base >= inst.caseness and end < inst.caseness
    if not post or base == 0:
        return out

    def meets(score: float, fraction: float) -> bool:
        return score <= (1 - fraction) * base

    for name, fraction in (("response", settings.response), ("early", settings.early_improvement)):
        hits = [t for t, s in post if meets(s, fraction)]
        out[f"{name}_day"] = hits[0] if hits else post[-1][0]
        out[f"{name}_observed"] = bool(hits)
    responded = [i for i, (t, s) in enumerate(pts) if t > 0 and meets(s, settings.response)]
    if responded:
        first = responded[0]
        t_first = pts[first][0]
        fails = [not meets(s, settings.response) and s >= inst.caseness for _, s in pts]
        relapse_at = [
            pts[i][0] for i in range(first + 1, len(pts) - 1) if fails[i] and fails[i + 1]
        ]
        out["relapse"] = bool(relapse_at)
        # Censored at the second-to-last assessment after the response (0 with fewer than
        # two after it).
        censor = pts[-2][0] if len(pts) - 1 - first >= 2 else t_first
        out["days_to_relapse"] = (relapse_at[0] if relapse_at else censor) - t_first
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_outcomes_match_a_per_patient_reading_of_the_definitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores: list[Score] = []
    for p in range(80):
        for instrument in ("PHQ-9", "GAD-7"):
            if rng.random() < 0.3:
                continue
            n = int(rng.integers(1, 12))
            days = np.sort(rng.choice(np.arange(-45, 150), size=n, replace=False))
            top = INSTRUMENTS[instrument].max_score
            totals = rng.integers(0, top + 1, size=n)
            scores.extend(
                (f"p{p}", instrument, float(d), int(s)) for d, s in zip(days, totals, strict=True)
            )
    data = build(scores)
    settings = Settings()
    out = patient_outcomes(data, settings).set_index(["patient_id", "instrument"])
    rename = {
        "response_day": "first_response_day",
        "early_day": "first_early_improvement_day",
        "early_observed": "early_improvement_observed",
    }
    compared = [
        "n_assessments", "baseline", "eligible", "completer", "response", "remission",
        "reliable_improvement", "recovery", "response_day", "response_observed", "early_day",
        "early_observed", "relapse", "days_to_relapse",
    ]  # fmt: skip
    for (patient, instrument), frame in data.assessments.groupby(["patient_id", "instrument"]):
        expected = _reference_row(frame, str(instrument), settings)
        got = out.loc[(patient, instrument)]
        for key in compared:
            column = rename.get(key, key)
            # A key the reference leaves out is undefined for that patient: NA expected.
            value = expected.get(key)
            assert same(got[column], value), (patient, instrument, column, got[column], value)
