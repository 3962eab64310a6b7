"""Tests for katoutcomes.plots: figures build, carry the expected traces, and the ``*_data``
functions give numbers checked by hand.

The tiny cohort goes through the real ingest (``validate_frames``), with one dose at study
day 0, so an assessment on study day d has ``t = d``. PHQ-9 facts (methods §4): caseness 10,
remission < 5, bands 0-4, 5-9, 10-14, 15-19, 20-27; settings: baseline window 30 days,
response 50%.

Tiny cohort (PHQ-9 totals by study day)::

    A: day 0 -> 20, day 3 -> 14 (entered item by item, item 9 = 2), day 6 -> 10
    B: day 0 -> 15, day 5 -> 9
    C: day -20 -> 25, day -2 -> 18, day 7 -> 12, day 14 -> 4

Doses: A on days 0 (50 mg, 100 kg, nausea) and 3 (50 mg, headache); B on day 0 (60 mg,
nausea and dissociation); C on day 0 (35 mg, nothing recorded).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from katoutcomes import plots
from katoutcomes.benchmarks import benchmark_intervals, load_published_benchmarks
from katoutcomes.cohort import in_population, outcome_rates, subgroup_rates, time_to_event
from katoutcomes.comparisons import comparison_frame, predictors_of_response
from katoutcomes.dataset import Dataset
from katoutcomes.funnel import funnel_table
from katoutcomes.ingest import validate_frames
from katoutcomes.instruments import GAD7, PHQ9
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.stats import kaplan_meier

#: t_{0.975, 2} from a printed t table (e.g. Altman, Practical Statistics for Medical
#: Research, table B4): 4.303.
T_975_DF2 = 4.302653

# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


def _tiny(*, treatments: bool = True) -> Dataset:
    items = [np.nan] * 9
    a_items = [2.0, 2.0, 2.0, 1.0, 1.0, 2.0, 1.0, 1.0, 2.0]  # sum 14, item 9 = 2
    rows = [
        ("A", 0.0, 20.0, items),
        ("A", 3.0, np.nan, a_items),
        ("A", 6.0, 10.0, items),
        ("B", 0.0, 15.0, items),
        ("B", 5.0, 9.0, items),
        ("C", -20.0, 25.0, items),
        ("C", -2.0, 18.0, items),
        ("C", 7.0, 12.0, items),
        ("C", 14.0, 4.0, items),
    ]
    assessments = pd.DataFrame(
        {
            "patient_id": [r[0] for r in rows],
            "instrument": "PHQ-9",
            "study_day": [r[1] for r in rows],
            "total": [r[2] for r in rows],
            **{f"item_{i + 1}": [r[3][i] for r in rows] for i in range(9)},
        }
    )
    frames = {"assessments": assessments}
    if treatments:
        frames["treatments"] = pd.DataFrame(
            {
                "patient_id": ["A", "A", "B", "C"],
                "study_day": [0.0, 3.0, 0.0, 0.0],
                "route": ["IV", "IV", "IM", "IV"],
                "dose_mg": [50.0, 50.0, 60.0, 35.0],
                "weight_kg": [100.0, 100.0, np.nan, 70.0],
                "adverse_events": ["nausea", "headache", "nausea;dissociation", ""],
            }
        )
    result = validate_frames(frames)
    assert result.n_rejected == 0, result.rejected.to_dict("records")
    return Dataset.from_result(result)


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return _tiny()


@pytest.fixture(scope="module")
def tiny_outcomes(tiny: Dataset) -> pd.DataFrame:
    return patient_outcomes(tiny)


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return Dataset.demo(patients=120)


@pytest.fixture(scope="module")
def demo_outcomes(demo: Dataset) -> pd.DataFrame:
    return patient_outcomes(demo)


@pytest.fixture(scope="module")
def benchmarks() -> pd.DataFrame:
    return benchmark_intervals(load_published_benchmarks())


def _annotation_texts(fig: go.Figure) -> list[str]:
    return [a.text or "" for a in fig.layout.annotations]


def _band_shapes(fig: go.Figure) -> list[str]:
    return [s.name for s in fig.layout.shapes if (s.name or "").startswith("severity band:")]


# --------------------------------------------------------------------------------------
# Every figure builds on the demo cohort
# --------------------------------------------------------------------------------------

BUILDERS = {
    "cohort_trajectory PHQ-9": lambda d, o, b: plots.cohort_trajectory(d, "PHQ-9", outcomes=o),
    "cohort_trajectory GAD-7": lambda d, o, b: plots.cohort_trajectory(d, "gad7", outcomes=o),
    "waterfall": lambda d, o, b: plots.waterfall(o),
    "cumulative_response": lambda d, o, b: plots.cumulative_response(time_to_event(o)),
    "response_duration": lambda d, o, b: plots.response_duration(time_to_event(o, "relapse")),
    "forest": lambda d, o, b: plots.forest(outcome_rates(o), b),
    "patient_trajectory": lambda d, o, b: plots.patient_trajectory(d, "P00001", o),
    "adverse_events": lambda d, o, b: plots.adverse_events(d),
    "subgroup_forest": lambda d, o, b: plots.subgroup_forest(subgroup_rates(o, d, "site")),
    "km_small_multiples": lambda d, o, b: plots.km_small_multiples(
        time_to_event(o), time_to_event(o[o["instrument"] == "PHQ-9"])
    ),
    "funnel_plot": lambda d, o, b: plots.funnel_plot(funnel_table(comparison_frame(o, d), "site")),
    "predictors_forest": lambda d, o, b: plots.predictors_forest(
        predictors_of_response(comparison_frame(o, d))
    ),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_each_figure_builds_on_the_demo_cohort_with_a_title_and_data(
    name: str, demo: Dataset, demo_outcomes: pd.DataFrame, benchmarks: pd.DataFrame
) -> None:
    fig = BUILDERS[name](demo, demo_outcomes, benchmarks)
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text
    assert fig.layout.template.layout.paper_bgcolor in ("white", "#ffffff", "#FFFFFF")
    assert len(fig.data) > 0
    assert not any(t.startswith("No data") for t in _annotation_texts(fig))
    # No raw snake_case column names reach a reader in titles, axis titles or legends.
    shown = [fig.layout.title.text, *(t.name or "" for t in fig.data)]
    shown += [ax.title.text or "" for ax in (fig.layout.xaxis, fig.layout.yaxis)]
    for raw in ("pct_change", "ci_low", "first_response_day", "at_risk", "per_100"):
        assert not any(raw in text for text in shown)


def test_figures_do_not_modify_their_inputs(
    demo: Dataset, demo_outcomes: pd.DataFrame, benchmarks: pd.DataFrame
) -> None:
    outcomes = demo_outcomes.copy()
    assessments = demo.assessments.copy()
    bench = benchmarks.copy()
    for build in BUILDERS.values():
        build(demo, demo_outcomes, benchmarks)
    pd.testing.assert_frame_equal(demo_outcomes, outcomes)
    pd.testing.assert_frame_equal(demo.assessments, assessments)
    pd.testing.assert_frame_equal(benchmarks, bench)


# --------------------------------------------------------------------------------------
# 1. Cohort trajectory
# --------------------------------------------------------------------------------------


def test_weekly_mean_and_t_interval_match_a_hand_calculation(tiny: Dataset) -> None:
    data = plots.cohort_trajectory_data(tiny, "PHQ-9", min_n=2)
    # Week 0 (baselines): A 20 (day 0), B 15 (day 0), C 18 (day -2, the last in the window;
    # day -20 is older). Mean 53/3 = 17.6667; squared deviations 5.4444 + 7.1111 + 0.1111 =
    # 12.6667, variance 6.3333, sd 2.51661, se 2.51661 / sqrt(3) = 1.45297,
    # half-width 4.302653 * 1.45297 = 6.25160.
    # Week 1 (days 0 < t <= 7): A mean(14, 10) = 12, B 9, C 12 (day 7 is in week 1).
    # Mean 11, sd sqrt(3) = 1.73205, se 1, half-width 4.302653.
    # Week 2: only C (4): one patient, below min_n = 2, left out.
    assert data["week"].tolist() == [0, 1]
    assert data["n"].tolist() == [3, 3]
    week0, week1 = data.iloc[0], data.iloc[1]
    assert week0["mean"] == pytest.approx(53 / 3)
    assert week0["sd"] == pytest.approx(2.51661, abs=1e-5)
    assert week0["ci_low"] == pytest.approx(53 / 3 - T_975_DF2 * 2.51661 / math.sqrt(3), 1e-5)
    assert week0["ci_high"] == pytest.approx(53 / 3 + T_975_DF2 * 2.51661 / math.sqrt(3), 1e-5)
    assert week1["mean"] == pytest.approx(11.0)
    assert week1["se"] == pytest.approx(1.0)
    assert (week1["ci_low"], week1["ci_high"]) == pytest.approx(
        (11 - T_975_DF2, 11 + T_975_DF2), abs=1e-5
    )
    assert (week0["first_day"], week0["last_day"]) == (-30.0, 0.0)
    assert (week1["first_day"], week1["last_day"]) == (0.0, 7.0)


def test_a_week_with_one_patient_has_a_mean_but_no_interval(tiny: Dataset) -> None:
    data = plots.cohort_trajectory_data(tiny, "PHQ-9", min_n=1)
    week2 = data[data["week"] == 2].iloc[0]
    assert (week2["n"], week2["mean"]) == (1, 4.0)
    assert math.isnan(week2["ci_low"]) and math.isnan(week2["ci_high"])


def test_cohort_trajectory_draws_one_shape_per_severity_band_and_the_weekly_means(
    demo: Dataset, demo_outcomes: pd.DataFrame
) -> None:
    for instrument in (PHQ9, GAD7):
        fig = plots.cohort_trajectory(demo, instrument.name, outcomes=demo_outcomes)
        assert len(_band_shapes(fig)) == len(instrument.bands)
        labels = " ".join(_annotation_texts(fig))
        assert all(band.label in labels for band in instrument.bands)
        data = plots.cohort_trajectory_data(demo, instrument.name, outcomes=demo_outcomes)
        mean = next(t for t in fig.data if t.name == f"Mean {instrument.name} score")
        assert list(mean.y) == pytest.approx(data["mean"].tolist())
        assert "patients" in mean.hovertemplate


def test_cohort_trajectory_without_that_instrument_says_no_data(tiny: Dataset) -> None:
    fig = plots.cohort_trajectory(tiny, "GAD-7")
    assert any(t.startswith("No data") for t in _annotation_texts(fig))
    assert len(fig.data) == 0


def test_an_unknown_instrument_is_refused_with_the_known_names(tiny: Dataset) -> None:
    with pytest.raises(ValueError, match="PHQ-9, GAD-7"):
        plots.cohort_trajectory_data(tiny, "HADS")


# --------------------------------------------------------------------------------------
# 2. Waterfall
# --------------------------------------------------------------------------------------


def test_waterfall_data_sorts_completers_from_worst_to_best_with_categories(
    tiny_outcomes: pd.DataFrame,
) -> None:
    data = plots.waterfall_data(tiny_outcomes)
    # Endpoints (last score with 0 < t <= 42): A 10 (-50%: response), B 9 (-40%),
    # C 4 (-77.8%: remission, below 5). Sorted from the largest rise down.
    assert data["patient_id"].tolist() == ["B", "A", "C"]
    assert data["pct_change"].tolist() == pytest.approx([-0.4, -0.5, (4 - 18) / 18])
    assert data["category"].tolist() == ["No response", "Response", "Remission"]
    assert data["rank"].tolist() == [1, 2, 3]


def test_waterfall_has_one_bar_per_eligible_completer_and_a_dashed_50_percent_line(
    demo_outcomes: pd.DataFrame,
) -> None:
    fig = plots.waterfall(demo_outcomes)
    completers = in_population(demo_outcomes, "completers") & (
        demo_outcomes["instrument"] == "PHQ-9"
    )
    bars = [t for t in fig.data if t.type == "bar"]
    assert sum(len(t.x) for t in bars) == int(completers.sum())
    line = next(s for s in fig.layout.shapes if s.y0 == -0.5 and s.y1 == -0.5)
    assert line.line.dash == "dash"
    assert "50% response" in _annotation_texts(fig)
    assert fig.layout.yaxis.tickformat == ".0%"


def test_waterfall_can_leave_patient_codes_out_of_the_hover(
    demo_outcomes: pd.DataFrame,
) -> None:
    fig = plots.waterfall(demo_outcomes, show_patient_ids=False)
    assert all("Patient" not in t.hovertemplate for t in fig.data)
    assert all(not any(str(v).startswith("P0") for v in t.customdata[:, 0]) for t in fig.data)


# --------------------------------------------------------------------------------------
# 3 and 4. Kaplan–Meier curves
# --------------------------------------------------------------------------------------


def test_cumulative_response_is_one_minus_survival_with_the_flipped_interval() -> None:
    curve = kaplan_meier([9, 13, 13, 18], [1, 1, 0, 1])
    curve.insert(0, "instrument", "PHQ-9")
    data = plots.cumulative_response_data(curve)
    # S: 3/4 at day 9, 3/4 * 2/3 = 1/2 at day 13, 0 at day 18 (one at risk, one event);
    # 1 - S is 0 at the added day-0 row, then 1/4, 1/2, 1.
    assert data["day"].tolist() == [0.0, 9.0, 13.0, 18.0]
    assert data["estimate"].tolist() == pytest.approx([0.0, 0.25, 0.5, 1.0])
    assert data["ci_low"].iloc[1:3].tolist() == pytest.approx(
        (1 - curve["ci_high"].iloc[:2]).tolist()
    )
    assert data["ci_high"].iloc[1:3].tolist() == pytest.approx(
        (1 - curve["ci_low"].iloc[:2]).tolist()
    )
    # Day-0 row, drawn until day 9: 4 at risk and no event yet, so the exact interval for
    # 0 events among 4 (methods §6.4): S in [0.025^(1/4), 1] = [0.3976354, 1], hence 1 - S in
    # [0, 0.6023646], not the point 0 a log-scale interval would give.
    assert data.iloc[0][["at_risk", "events", "ci_low"]].tolist() == [4, 0, 0.0]
    assert data.iloc[0]["ci_high"] == pytest.approx(0.6023646, abs=1e-7)


def test_response_duration_data_keeps_survival_and_starts_at_one() -> None:
    curve = kaplan_meier([10, 20, 30], [1, 0, 1])
    data = plots.response_duration_data(curve)
    # S: 2/3 at day 10; 2/3 at 20 (censored); 2/3 * 0/1 = 0 at day 30.
    assert data["estimate"].tolist() == pytest.approx([1.0, 2 / 3, 2 / 3, 0.0])


def test_kaplan_meier_figures_draw_step_lines_with_a_band_per_instrument(
    demo_outcomes: pd.DataFrame,
) -> None:
    for fig in (
        plots.cumulative_response(time_to_event(demo_outcomes, "response")),
        plots.response_duration(time_to_event(demo_outcomes, "relapse")),
    ):
        lines = [t for t in fig.data if t.hovertemplate]
        assert {t.legendgroup for t in lines} == {"PHQ-9", "GAD-7"}
        assert all(t.line.shape == "hv" for t in fig.data)
        assert sum(t.fill == "tonexty" for t in fig.data) == 2
        assert fig.layout.yaxis.tickformat == ".0%"


def test_a_group_panel_draws_its_curve_band_and_hover_as_the_cohort_figure_does(
    demo_outcomes: pd.DataFrame,
) -> None:
    # The small multiples (one panel per group) and the cohort's Kaplan-Meier figure draw
    # a curve the same way: an invisible upper edge, the band filled down to the lower
    # limit, the step line with its hover. Groups here are the instruments, so the PHQ-9
    # panel and the PHQ-9 curve of the cohort figure hold the same numbers.
    curves = time_to_event(demo_outcomes, "response")
    cohort = plots.cumulative_response(curves)
    panels = plots.km_small_multiples(curves, curves[curves["instrument"] == "PHQ-9"])
    drawn = [t for t in cohort.data if t.legendgroup == "PHQ-9"]
    panel = [t for t in panels.data if t.xaxis == "x" and t.name != "All patients"]
    assert len(drawn) == len(panel) == 3
    for mine, theirs in zip(drawn, panel, strict=True):
        assert list(mine.x) == list(theirs.x)
        assert list(mine.y) == list(theirs.y)
        assert (mine.fill, mine.hoverinfo, mine.line.shape) == (
            theirs.fill,
            theirs.hoverinfo,
            theirs.line.shape,
        )
    assert drawn[2].hovertemplate == panel[2].hovertemplate
    np.testing.assert_array_equal(drawn[2].customdata, panel[2].customdata)


# --------------------------------------------------------------------------------------
# 5. Forest plot
# --------------------------------------------------------------------------------------


def test_forest_data_puts_the_clinic_first_and_marks_other_scales_and_missing_n(
    demo_outcomes: pd.DataFrame, benchmarks: pd.DataFrame
) -> None:
    rates = outcome_rates(demo_outcomes)
    data = plots.forest_data(rates, benchmarks)
    first = data.iloc[0]
    itt = rates[
        (rates["instrument"] == "PHQ-9")
        & (rates["outcome"] == "response")
        & (rates["population"] == "itt")
    ].iloc[0]
    assert (first["source"], first["instrument"], first["outcome"]) == (
        "clinic",
        "PHQ-9",
        "response",
    )
    assert (first["estimate"], first["ci_low"], first["ci_high"]) == (
        itt["estimate"],
        itt["ci_low"],
        itt["ci_high"],
    )
    madrs = data[data["instrument"] == "MADRS"]
    assert not madrs.empty and not madrs["comparable"].any()
    assert madrs["group"].str.contains("clinician-rated").all()
    # Oliver 2022 gives no denominator: a point without an interval.
    oliver = data[data["label"] == "Oliver 2022"]
    assert not oliver.empty and not oliver["has_interval"].any()
    # Hull 2022 PHQ-9 response: Wilson interval of 783/1247 (benchmarks doctest).
    hull = data[
        (data["label"] == "Hull 2022")
        & (data["instrument"] == "PHQ-9")
        & (data["outcome"] == "response")
    ].iloc[0]
    assert (hull["ci_low"], hull["ci_high"]) == pytest.approx((0.6007, 0.6543), abs=1e-4)
    # SUSTAIN-1 reports relapse only: not on a response/remission forest plot.
    assert not data["label"].str.startswith("SUSTAIN-1").any()


def test_forest_labels_instrument_groups_and_draws_a_line_at_50_percent(
    demo_outcomes: pd.DataFrame, benchmarks: pd.DataFrame
) -> None:
    fig = plots.forest(outcome_rates(demo_outcomes), benchmarks)
    ticks = " ".join(fig.layout.yaxis.ticktext)
    assert "<b>PHQ-9 (self-report)</b>" in ticks
    assert "<b>MADRS (clinician-rated: other scale)</b>" in ticks
    assert any(s.x0 == 0.5 and s.x1 == 0.5 and s.line.dash == "dash" for s in fig.layout.shapes)
    no_n = [t for t in fig.data if "no denominator" in (t.name or "")]
    assert no_n and all(t.error_x.array is None for t in no_n)
    with_n = [t for t in fig.data if t.name == "Published study"]
    assert with_n and all(t.error_x.array is not None for t in with_n)


def test_forest_accepts_the_raw_benchmarks_table_and_adds_intervals(
    demo_outcomes: pd.DataFrame, benchmarks: pd.DataFrame
) -> None:
    rates = outcome_rates(demo_outcomes)
    pd.testing.assert_frame_equal(
        plots.forest_data(rates, load_published_benchmarks()), plots.forest_data(rates, benchmarks)
    )


# --------------------------------------------------------------------------------------
# 6. Patient trajectory
# --------------------------------------------------------------------------------------


def test_patient_trajectory_data_holds_thresholds_events_flags_and_doses(
    tiny: Dataset, tiny_outcomes: pd.DataFrame
) -> None:
    data = plots.patient_trajectory_data(tiny, "A", tiny_outcomes)
    by_layer = data.set_index("layer")
    # Baseline 20; response threshold (1 - 0.5) * 20 = 10; remission below 5.
    assert by_layer.loc["baseline", "value"] == 20.0
    assert by_layer.loc["response threshold", "value"] == 10.0
    assert by_layer.loc["remission threshold", "value"] == 5.0
    # Scores 20, 14, 10 on days 0, 3, 6; the first score <= 10 is day 6.
    scores = data[data["layer"] == "score"]
    assert scores["day"].tolist() == [0.0, 3.0, 6.0]
    assert scores["detail"].tolist() == ["severe", "moderate", "moderate"]
    assert (by_layer.loc["first response", "day"], by_layer.loc["first response", "value"]) == (
        6.0,
        10.0,
    )
    flag = by_layer.loc["item 9 flag"]
    assert (flag["day"], flag["value"]) == (3.0, 14.0)
    assert "high" in flag["detail"]
    doses = data[data["layer"] == "dose"]
    # 50 mg / 100 kg = 0.50 mg/kg.
    assert doses["detail"].tolist() == [
        "IV 50 mg (0.50 mg/kg); adverse events: nausea",
        "IV 50 mg (0.50 mg/kg); adverse events: headache",
    ]


def test_dose_hover_leaves_out_mg_per_kg_when_the_weight_is_unknown(
    tiny: Dataset, tiny_outcomes: pd.DataFrame
) -> None:
    doses = plots.patient_trajectory_data(tiny, "B", tiny_outcomes).query("layer == 'dose'")
    assert doses["detail"].tolist() == ["IM 60 mg; adverse events: nausea, dissociation"]


def test_an_item_9_flag_is_a_large_red_marker_with_its_label(
    tiny: Dataset, tiny_outcomes: pd.DataFrame
) -> None:
    fig = plots.patient_trajectory(tiny, "A", tiny_outcomes)
    flags = [t for t in fig.data if "item 9" in (t.name or "")]
    assert len(flags) == 1
    assert flags[0].marker.size >= 18
    assert flags[0].marker.color == plots.COLORS["self_harm"]
    assert "<b>item 9 \u2265 2 (high)</b>" in _annotation_texts(fig)


def test_demo_patients_with_an_item_9_flag_show_it(
    demo: Dataset, demo_outcomes: pd.DataFrame
) -> None:
    flagged = demo.assessments.loc[
        demo.assessments["item9_flag"].fillna(False).astype(bool), "patient_id"
    ]
    assert not flagged.empty
    patient = flagged.iloc[0]
    fig = plots.patient_trajectory(demo, patient, demo_outcomes)
    expected = int((flagged == patient).sum())
    markers = [t for t in fig.data if "item 9" in (t.name or "")]
    assert sum(len(t.x) for t in markers) == expected
    assert sum("item 9 \u2265" in t for t in _annotation_texts(fig)) == expected


def test_patient_trajectory_has_a_panel_and_bands_per_instrument_and_a_dose_strip(
    demo: Dataset, demo_outcomes: pd.DataFrame
) -> None:
    both = demo.assessments.groupby("patient_id")["instrument"].nunique()
    patient = both[both == 2].index[0]
    fig = plots.patient_trajectory(demo, patient, demo_outcomes)
    assert len(_band_shapes(fig)) == len(PHQ9.bands) + len(GAD7.bands)
    assert fig.layout.yaxis.title.text.startswith("PHQ-9")
    assert fig.layout.yaxis2.title.text.startswith("GAD-7")
    assert fig.layout.yaxis3.title.text == "Doses"
    names = {t.name for t in fig.data}
    assert {"PHQ-9 score", "GAD-7 score", "Baseline", "Response threshold"} <= names
    assert names & {"Dose", "Dose with adverse event"}


def test_patient_trajectory_works_with_one_instrument_and_no_treatments() -> None:
    data = _tiny(treatments=False)
    fig = plots.patient_trajectory(data, "B", patient_outcomes(data))
    assert len(_band_shapes(fig)) == len(PHQ9.bands)
    assert "Dose" not in {t.name for t in fig.data}
    assert fig.layout.xaxis.title.text == "Days since first assessment"


def test_an_unknown_patient_gives_a_no_data_figure(
    tiny: Dataset, tiny_outcomes: pd.DataFrame
) -> None:
    fig = plots.patient_trajectory(tiny, "nobody", tiny_outcomes)
    assert any(t.startswith("No data") and "nobody" in t for t in _annotation_texts(fig))


# --------------------------------------------------------------------------------------
# 7. Adverse events
# --------------------------------------------------------------------------------------


def test_adverse_events_per_100_sessions_match_a_hand_count(tiny: Dataset) -> None:
    data = plots.adverse_events_data(tiny).set_index("event")
    # 4 sessions: nausea (A), headache (A), nausea + dissociation (B), none (C).
    # Any: 3 sessions -> 75 per 100, in 2 patients; nausea 2 -> 50; others 1 -> 25.
    assert data.loc["any", ["sessions_with_event", "patients", "per_100"]].tolist() == [3, 2, 75]
    assert data.loc["nausea", ["sessions_with_event", "patients", "per_100"]].tolist() == [2, 2, 50]
    assert data.loc["dissociation", "per_100"] == 25.0
    assert data.loc["headache", "per_100"] == 25.0
    # Codes never recorded are shown as zero, not hidden.
    assert data.loc["vomiting", "sessions_with_event"] == 0
    assert (data["sessions"] == 4).all()
    assert data.index[0] == "any" and data.loc["any", "label"] == "Any adverse event"


def test_sessions_without_any_recorded_event_count_zero_events(tiny: Dataset) -> None:
    # A filter can leave only sessions whose adverse_events are blank: the column then
    # holds no text at all. Found by the dashboard load test (an exception on the overview).
    blank = dataclasses.replace(tiny, treatments=tiny.treatments.assign(adverse_events=np.nan))
    data = plots.adverse_events_data(blank).set_index("event")
    # 4 sessions, none with a recorded event: every count is 0, every rate 0 per 100.
    assert (data["sessions_with_event"] == 0).all() and (data["patients"] == 0).all()
    assert (data["per_100"] == 0).all() and (data["sessions"] == 4).all()


def test_adverse_events_bars_carry_counts_in_the_hover(tiny: Dataset) -> None:
    fig = plots.adverse_events(tiny)
    bar = fig.data[0]
    assert list(bar.y[:2]) == ["Any adverse event", "Nausea"]
    assert list(bar.x[:2]) == [75.0, 50.0]
    assert "sessions" in bar.hovertemplate and "patients" in bar.hovertemplate


# --------------------------------------------------------------------------------------
# 8. Subgroups
# --------------------------------------------------------------------------------------


def test_subgroup_forest_data_labels_levels_and_adds_the_overall_rate() -> None:
    frame = pd.DataFrame(
        {
            "group": "ssri",
            "level": ["yes", "no", "unknown"],
            "k": [6, 3, 1],
            "n": [10, 8, 2],
            "estimate": [0.6, 0.375, 0.5],
            "ci_low": [0.31, 0.14, 0.09],
            "ci_high": [0.83, 0.69, 0.91],
            "diff": [0.225, np.nan, np.nan],
            "diff_ci_low": [-0.2, np.nan, np.nan],
            "diff_ci_high": [0.6, np.nan, np.nan],
            "compared_with": ["no", np.nan, np.nan],
        }
    )
    data = plots.subgroup_forest_data(frame)
    assert data["level_label"].tolist() == ["Yes", "No", "Not recorded"]
    assert data["group_label"].iloc[0] == "Concurrent SSRI"
    # (6 + 3 + 1) / (10 + 8 + 2) = 0.5
    assert data["group_rate"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    fig = plots.subgroup_forest(frame)
    assert fig.layout.title.text == "PHQ-9 response by concurrent SSRI"
    assert list(fig.layout.yaxis.ticktext) == ["Yes (n = 10)", "No (n = 8)", "Not recorded (n = 2)"]


def test_subgroup_forest_on_several_groups_has_a_heading_per_group(
    demo: Dataset, demo_outcomes: pd.DataFrame
) -> None:
    frame = pd.concat(
        [subgroup_rates(demo_outcomes, demo, by) for by in ("ssri", "site")], ignore_index=True
    )
    fig = plots.subgroup_forest(frame)
    headings = [t for t in fig.layout.yaxis.ticktext if t.startswith("<b>")]
    assert headings == ["<b>Concurrent SSRI</b>", "<b>Site</b>"]
    assert len(fig.data[0].y) == len(frame)


# --------------------------------------------------------------------------------------
# 9. Scorecard colours
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("news", "hue"),
    [
        ("good", "#1B7837"),  # green
        ("bad", "#B0281A"),  # red
        ("neutral", "#245A94"),  # blue
        ("unclear", "#5F6B73"),  # grey
        ("something else", "#5F6B73"),  # unknown: grey
    ],
)
def test_each_kind_of_news_has_its_colour(news: str, hue: str) -> None:
    assert plots.news_color(news) == hue
    assert plots.scorecard_colors([news]) == [hue]
    assert f"color: {hue}" in plots.news_css(news)


def test_every_kind_of_news_has_a_colour_and_a_legend_and_every_verdict_a_label() -> None:
    from katoutcomes.claims import NEWS, VERDICTS

    assert set(plots.NEWS_COLORS) == set(plots.NEWS_BACKGROUNDS) == set(NEWS)
    assert set(plots.NEWS_LABELS) == set(NEWS)
    assert set(plots.VERDICT_LABELS) == set(VERDICTS)
    legend = plots.news_legend_html()
    assert all(label in legend for label in plots.NEWS_LABELS.values())


def _relative_luminance(hex_colour: str) -> float:
    """WCAG 2.1 relative luminance: sRGB channels linearised (c / 12.92 up to 0.04045,
    else ((c + 0.055) / 1.055)^2.4), weighted 0.2126 R + 0.7152 G + 0.0722 B."""
    channels = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio (L1 + 0.05) / (L2 + 0.05), L1 the lighter."""
    high, low = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_the_wcag_extremes() -> None:
    # Black on white is 21:1, white on white 1:1; #767676 on white is the well-known
    # lightest grey passing AA, 4.54:1.
    assert _contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert _contrast("#FFFFFF", "#FFFFFF") == pytest.approx(1.0)
    assert _contrast("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("news", ["good", "bad", "neutral", "unclear"])
def test_scorecard_colours_pass_wcag_aa_for_text(news: str) -> None:
    # WCAG 2.1 success criterion 1.4.3: at least 4.5:1 for normal text. The coloured text
    # sits on its pale background (badges, table cells) and on the white page (notes).
    text = plots.NEWS_COLORS[news]
    assert _contrast(text, plots.NEWS_BACKGROUNDS[news]) >= 4.5
    assert _contrast(text, "#FFFFFF") >= 4.5


# --------------------------------------------------------------------------------------
# The package's public names
# --------------------------------------------------------------------------------------


def test_every_public_name_of_a_plots_module_is_importable_from_katoutcomes_plots() -> None:
    import importlib
    import pkgutil

    modules = [
        importlib.import_module(f"katoutcomes.plots.{info.name}")
        for info in pkgutil.iter_modules(plots.__path__)
    ]
    assert {m.__name__.rsplit(".", 1)[1] for m in modules} >= {
        "_base",
        "claims",
        "cohort",
        "comparisons",
        "models",
        "patient",
        "safety",
    }
    names = [name for module in modules for name in module.__all__]
    assert sorted(names) == sorted(plots.__all__)
    for module in modules:
        for name in module.__all__:
            assert getattr(plots, name) is getattr(module, name), name


# --------------------------------------------------------------------------------------
# Empty inputs and figure_data
# --------------------------------------------------------------------------------------


def _empty_cases(tiny: Dataset, tiny_outcomes: pd.DataFrame) -> dict[str, go.Figure]:
    no_treatments = _tiny(treatments=False)
    empty_curves = time_to_event(tiny_outcomes.iloc[:0])
    return {
        "trajectory": plots.cohort_trajectory(tiny, "PHQ-9", min_n=50),
        "waterfall": plots.waterfall(tiny_outcomes.iloc[:0]),
        "cumulative_response": plots.cumulative_response(empty_curves),
        "response_duration": plots.response_duration(empty_curves),
        "forest": plots.forest(outcome_rates(tiny_outcomes).iloc[:0], None),
        "patient": plots.patient_trajectory(tiny, "Z", tiny_outcomes),
        "adverse_events": plots.adverse_events(no_treatments),
        "subgroups": plots.subgroup_forest(pd.DataFrame()),
    }


def test_empty_inputs_give_a_no_data_figure_instead_of_an_error(
    tiny: Dataset, tiny_outcomes: pd.DataFrame
) -> None:
    for name, fig in _empty_cases(tiny, tiny_outcomes).items():
        texts = _annotation_texts(fig)
        assert len(texts) == 1 and texts[0].startswith("No data: "), name
        assert fig.layout.title.text, name


def test_figure_data_lists_the_points_of_every_hoverable_trace(tiny: Dataset) -> None:
    fig = plots.cohort_trajectory(tiny, "PHQ-9", min_n=2)
    table = plots.figure_data(fig)
    assert list(table.columns) == ["trace", "x", "y"]
    mean = table[table["trace"] == "Mean PHQ-9 score"]
    assert mean["y"].astype(float).tolist() == pytest.approx([53 / 3, 11.0])
    # The invisible band edges are shading, not data.
    assert "upper 95% limit" not in set(table["trace"])


# --------------------------------------------------------------------------------------
# Large cohorts: figures drawn at about one mark per pixel, every drawn point exact
# --------------------------------------------------------------------------------------


def test_a_waterfall_of_many_patients_draws_evenly_spaced_real_patients(
    demo_outcomes: pd.DataFrame,
) -> None:
    copies = [
        demo_outcomes.assign(patient_id=demo_outcomes["patient_id"] + f"-{i}") for i in range(12)
    ]
    many = pd.concat(copies, ignore_index=True)
    data = plots.waterfall_data(many)
    n = len(data)
    assert n > plots.WATERFALL_BARS
    fig = plots.waterfall(many)
    bars = [t for t in fig.data if t.type == "bar"]
    x = np.concatenate([np.asarray(t.x) for t in bars])
    y = np.concatenate([np.asarray(t.y) for t in bars])
    # 1,000 ranks evenly spaced from the first to the last patient (numpy.linspace, rounded).
    expected = np.unique(np.round(np.linspace(1, n, plots.WATERFALL_BARS)).astype(int))
    assert sorted(x.tolist()) == expected.tolist()
    assert x.min() == 1 and x.max() == n
    # Each bar is the patient at its rank: same percent change as the table's row.
    by_rank = data.set_index("rank")["pct_change"]
    assert y.tolist() == pytest.approx(by_rank.loc[x].tolist())
    # Each bar is as wide as the patients it stands for.
    assert all(t.width == pytest.approx(n / len(expected)) for t in bars)
    # The counts in the subtitle use every patient, not the drawn ones.
    assert "one bar per patient" not in fig.layout.title.text
    subtitle = fig.layout.title.subtitle.text.replace("<br>", " ")
    assert f"{n:,} eligible patients with an endpoint" in subtitle
    assert f"Response {int(data['response'].sum()):,} " in subtitle
    assert f"{len(expected):,} evenly spaced ranks of the {n:,}" in subtitle


def test_a_small_waterfall_still_draws_one_bar_per_patient(
    demo_outcomes: pd.DataFrame,
) -> None:
    fig = plots.waterfall(demo_outcomes)
    assert all(t.width is None for t in fig.data if t.type == "bar")
    assert "evenly spaced ranks" not in fig.layout.title.subtitle.text


def test_a_long_kaplan_meier_curve_is_drawn_at_most_once_per_slice_with_exact_points() -> None:
    # 3,000 patients, each with an event at its own time t = 0.1, 0.2, ..., 300.0 days:
    # S falls by one patient at each time, S(t_i) = (3000 - i) / 3000.
    n = 3000
    times = np.arange(1, n + 1) / 10.0
    curve = kaplan_meier(times, np.ones(n, dtype=int))
    curve.insert(0, "instrument", "PHQ-9")
    data = plots.cumulative_response_data(curve)
    assert len(data) == n + 1  # the table keeps every step (and the day-0 row)
    fig = plots.cumulative_response(curve)
    line = next(t for t in fig.data if t.hovertemplate)
    x, y = np.asarray(line.x), np.asarray(line.y)
    assert len(x) <= plots.KM_DRAWN_STEPS + 1
    # The first and last rows are drawn; every drawn point is a row of the table.
    assert x[0] == 0.0 and x[-1] == 300.0 and y[-1] == pytest.approx(1.0)
    assert y.tolist() == pytest.approx((x * 10 / n).tolist())
    # No slice of the 300 days wider than 300 / 800 days is left without a drawn step
    # (one event every 0.1 day, so the widest gap is one slice plus one event).
    assert np.diff(x).max() <= 300.0 / plots.KM_DRAWN_STEPS + 0.1 + 1e-9


def test_a_short_kaplan_meier_curve_is_drawn_whole() -> None:
    curve = kaplan_meier([9, 13, 13, 18], [1, 1, 0, 1])
    curve.insert(0, "instrument", "PHQ-9")
    fig = plots.cumulative_response(curve)
    line = next(t for t in fig.data if t.hovertemplate)
    assert list(line.x) == [0.0, 9.0, 13.0, 18.0]
