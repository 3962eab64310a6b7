"""Tests for katoutcomes.benchmarks and the packaged published-benchmarks file.

The figures in the table below were read from each paper's abstract (TRANSFORM-2 from a
secondary table, as the file's ``verified`` column says); the interval is checked against a
hand calculation written out in the test.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from katoutcomes.benchmarks import (
    BENCHMARK_COLUMNS,
    benchmark_intervals,
    load_published_benchmarks,
)
from katoutcomes.errors import IngestError

HEADER = ",".join(BENCHMARK_COLUMNS)
GOOD_ROW = "Test 2020,2020,clinic,intravenous,100,PHQ-9,week 4,0.5,0.25,,,,,Cite,,abstract,"


@pytest.fixture(scope="module")
def benchmarks() -> pd.DataFrame:
    return load_published_benchmarks()


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "benchmarks.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_packaged_file_loads_with_typed_columns(benchmarks: pd.DataFrame) -> None:
    assert tuple(benchmarks.columns) == BENCHMARK_COLUMNS
    assert len(benchmarks) > 0
    assert benchmarks["year"].dtype == "Int64"
    assert benchmarks["n"].dtype == "Int64"
    for column in ("response", "remission", "relapse", "median_days_to_relapse"):
        assert benchmarks[column].dtype == "float64"


def test_every_row_has_a_citation_and_a_verified_source(benchmarks: pd.DataFrame) -> None:
    for column in ("citation", "verified"):
        text = benchmarks[column].fillna("").str.strip()
        assert text.ne("").all(), f"rows without {column}: {benchmarks.index[text.eq('')]}"


def test_rates_lie_between_zero_and_one(benchmarks: pd.DataFrame) -> None:
    rates = benchmarks[["response", "remission", "relapse"]].stack().dropna()
    assert len(rates) > 0
    assert rates.between(0.0, 1.0).all()


def test_instruments_other_than_phq9_and_gad7_are_present_and_labelled(
    benchmarks: pd.DataFrame,
) -> None:
    instrument = benchmarks["instrument"]
    assert instrument.notna().all()
    others = benchmarks[~instrument.isin(["PHQ-9", "GAD-7"])]
    # TRANSFORM-2, SUSTAIN-1 and Murrough 2013 report the clinician-rated MADRS.
    assert set(others["instrument"]) == {"MADRS"}
    assert others["study"].str.contains("TRANSFORM-2").any()


@pytest.mark.parametrize(
    ("study", "instrument", "timepoint", "response", "remission"),
    [
        # Hull 2022 abstract: 62.8% / 32.6% (PHQ-9), 62.9% / 31.3% (GAD-7), n = 1247.
        ("Hull 2022", "PHQ-9", "end of 4-week treatment course", 0.628, 0.326),
        ("Hull 2022", "GAD-7", "end of 4-week treatment course", 0.629, 0.313),
        # Oliver 2022 abstract: 50% / 20% within 6 weeks; 72% / 38% after 10 infusions.
        ("Oliver 2022", "PHQ-9", "within 6 weeks of infusion initiation", 0.50, 0.20),
        ("Oliver 2022", "PHQ-9", "after 10 infusions", 0.72, 0.38),
        # McInnes 2022 abstract: 53.6% response, 28.9% remission among 537.
        (
            "McInnes 2022 (ORKA-1)",
            "PHQ-9",
            "14-31 days after induction (4-8 infusions over 7-28 days)",
            0.536,
            0.289,
        ),
        # Clin Pharmacol Ther 2021;109:536, Table 1: TRANSFORM-2 69.3% vs 52.0%, 52.5% vs 31.0%.
        ("TRANSFORM-2 (Popova 2019): esketamine + AD", "MADRS", "day 28", 0.693, 0.525),
        ("TRANSFORM-2 (Popova 2019): AD + placebo", "MADRS", "day 28", 0.520, 0.310),
    ],
)
def test_file_holds_the_checked_response_and_remission_figures(
    benchmarks: pd.DataFrame,
    study: str,
    instrument: str,
    timepoint: str,
    response: float,
    remission: float,
) -> None:
    row = benchmarks[
        benchmarks["study"].eq(study)
        & benchmarks["instrument"].eq(instrument)
        & benchmarks["timepoint"].eq(timepoint)
    ]
    assert len(row) == 1
    assert row["response"].iloc[0] == pytest.approx(response)
    assert row["remission"].iloc[0] == pytest.approx(remission)


def test_file_holds_the_checked_durability_figures(benchmarks: pd.DataFrame) -> None:
    # Daly 2019 abstract: 24 (26.7%) vs 39 (45.3%) relapsed among 176 stable remitters.
    sustain = benchmarks[benchmarks["study"].str.startswith("SUSTAIN-1")].set_index("study")
    assert sustain["relapse"].to_dict() == pytest.approx(
        {
            "SUSTAIN-1 (Daly 2019): esketamine + AD": 0.267,
            "SUSTAIN-1 (Daly 2019): AD + placebo": 0.453,
        }
    )
    assert sustain["n"].sum() == 176
    # Murrough 2013 abstract: response 70.8% of 24; median 18 days to relapse in responders.
    murrough = benchmarks[benchmarks["study"].eq("Murrough 2013")]
    assert murrough["response"].max() == pytest.approx(0.708)
    assert murrough["median_days_to_relapse"].max() == 18


def test_wilson_interval_for_hull_phq9_response_matches_hand_calculation(
    benchmarks: pd.DataFrame,
) -> None:
    # Hand calculation: k = round(0.628 * 1247) = round(783.1) = 783, p = 783/1247 = 0.627907,
    # z = 1.959964, z^2 = 3.841459.
    # centre = (783 + 1.920729) / (1247 + 3.841459) = 784.920729 / 1250.841459 = 0.627514
    # half   = 1.959964 * sqrt(1247) / 1250.841459 * sqrt(0.233640 + 3.841459 / 4988)
    #        = 1.959964 * 35.312887 / 1250.841459 * sqrt(0.234410) = 0.026790
    # interval = 0.627514 -/+ 0.026790 = (0.600725, 0.654304)
    table = benchmark_intervals(benchmarks)
    row = table[table["study"].eq("Hull 2022") & table["instrument"].eq("PHQ-9")].iloc[0]
    assert row["response_k"] == 783
    assert row["response_ci_low"] == pytest.approx(0.600725, abs=1e-6)
    assert row["response_ci_high"] == pytest.approx(0.654304, abs=1e-6)


def test_intervals_are_missing_where_n_is_unknown(benchmarks: pd.DataFrame) -> None:
    table = benchmark_intervals(benchmarks)
    unknown = table[table["n"].isna()]
    assert len(unknown) > 0  # Oliver 2022 and TRANSFORM-2 state no denominator
    assert unknown[["response_ci_low", "remission_ci_high"]].isna().all().all()
    assert unknown["response_k"].isna().all()


def test_intervals_contain_the_published_rate(benchmarks: pd.DataFrame) -> None:
    table = benchmark_intervals(benchmarks)
    for rate in ("response", "remission"):
        shown = table[table[f"{rate}_ci_low"].notna()]
        assert (shown[f"{rate}_ci_low"] < shown[rate]).all()
        assert (shown[rate] < shown[f"{rate}_ci_high"]).all()


def test_benchmark_intervals_does_not_modify_input(benchmarks: pd.DataFrame) -> None:
    before = benchmarks.copy()
    benchmark_intervals(benchmarks)
    pd.testing.assert_frame_equal(benchmarks, before)


def test_benchmark_intervals_without_rate_columns_raise_error() -> None:
    with pytest.raises(ValueError, match="remission"):
        benchmark_intervals(pd.DataFrame({"n": [10], "response": [0.5]}))


def test_loader_reads_an_explicit_path(tmp_path: Path) -> None:
    frame = load_published_benchmarks(_write(tmp_path, HEADER, GOOD_ROW))
    assert frame["n"].tolist() == [100]
    assert frame["doi"].isna().all()
    assert math.isnan(frame["relapse"].iloc[0])


def test_missing_columns_raise_error_naming_them(tmp_path: Path) -> None:
    path = _write(tmp_path, "study,year,n,response", "Test,2020,10,0.5")
    with pytest.raises(IngestError, match=r"missing column.*citation") as info:
        load_published_benchmarks(path)
    assert info.value.file == str(path)
    assert info.value.column == "setting"


def test_unusable_values_raise_error_listing_each_line_and_column(tmp_path: Path) -> None:
    bad_rate = GOOD_ROW.replace(",0.5,0.25,", ",62.8,0.25,")
    bad_n = GOOD_ROW.replace(",100,", ",12.5,")
    no_citation = GOOD_ROW.replace(",Cite,", ",,")
    cells = GOOD_ROW.split(",")
    cells[BENCHMARK_COLUMNS.index("median_days_to_relapse")] = "inf"
    endless = ",".join(cells)
    path = _write(tmp_path, HEADER, bad_rate, bad_n, no_citation, endless)
    with pytest.raises(IngestError) as info:
        load_published_benchmarks(path)
    message = str(info.value)
    assert "4 unusable value(s)" in message
    assert "line 2, column response: '62.8'" in message
    assert "line 3, column n: '12.5'" in message
    assert "line 4, column citation: empty" in message
    assert "line 5, column median_days_to_relapse: 'inf' must be a finite number >= 0" in message


@pytest.mark.parametrize("content", [None, ""], ids=["absent", "empty"])
def test_unreadable_file_raises_error(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "benchmarks.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match="cannot read"):
        load_published_benchmarks(path)
