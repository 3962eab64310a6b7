"""Demographics as exports write them (methods §2.1): sex codes, clinic age bands, raw ages."""

from __future__ import annotations

import tomllib

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from katoutcomes.demographics import AGE_BAND_LABELS, normalise_age_band
from katoutcomes.ingest import validate_frames
from katoutcomes.mapping import ColumnMapping

ASSESSMENT = pd.DataFrame(
    {"patient_id": ["P1"], "instrument": ["PHQ-9"], "study_day": [0], "total": [12]}
)


def _patients(**columns: list[str]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"patient_id": [f"P{i}" for i in range(1, n + 1)], **columns})


def _validate(patients: pd.DataFrame, mapping: ColumnMapping | None = None):
    return validate_frames({"assessments": ASSESSMENT, "patients": patients}, mapping=mapping)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("F", "female"),
        ("f", "female"),
        ("Female", "female"),
        ("WOMAN", "female"),
        ("M", "male"),
        ("male", "male"),
        ("Man", "male"),
        ("other", "other"),
        ("X", "other"),
        ("x", "other"),
        ("U", "unknown"),
        ("Unknown", "unknown"),
    ],
)
def test_common_sex_codes_are_read_in_any_case(written, stored):
    result = _validate(_patients(sex=[written]))
    assert result.n_rejected == 0, result.rejected["reason"].tolist()
    assert result.accepted["patients"]["sex"].tolist() == [stored]


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("20-24", "20-24"),
        ("20\u201324", "20-24"),  # en dash, as spreadsheets autocorrect it
        ("20 to 24", "20-24"),
        ("20 - 24", "20-24"),
        ("18-29", "18-29"),  # a ten-year band that is not ours is kept as the clinic's
        ("65+", "65+"),
        ("\u226565", "65+"),
        ("65 and over", "65+"),
        (">64", "65+"),
        ("<18", "<18"),
        ("under 18", "<18"),
        ("<=17", "<18"),
        # Safe Harbor: nothing finer than 90+ above 89 (45 CFR 164.514(b)(2)(i)(C)).
        ("90-94", "90+"),
        ("95+", "90+"),
        # a raw age in the band column is banded: 42 is in 40-44, 89 in 85-89, 90 is 90+
        ("42", "40-44"),
        ("89", "85-89"),
        ("90", "90+"),
    ],
)
def test_well_formed_age_bands_are_kept_as_the_clinic_wrote_them(written, kept):
    result = _validate(_patients(age_band=[written]))
    assert result.n_rejected == 0, result.rejected["reason"].tolist()
    assert result.accepted["patients"]["age_band"].tolist() == [kept]


@pytest.mark.parametrize("written", ["forties", "30-20", "20-200", "121", "20-", "-5", "adult"])
def test_values_that_are_not_age_bands_are_refused(written):
    assert normalise_age_band(written) is None
    assert _validate(_patients(age_band=[written])).n_rejected == 1


@settings(deadline=None)  # timing varies on a shared machine
@given(low=st.integers(min_value=0, max_value=89), width=st.integers(min_value=0, max_value=31))
def test_any_band_below_90_reads_the_same_in_every_spelling(low, width):
    high = min(low + width, 120)
    spellings = [f"{low}-{high}", f"{low}\u2013{high}", f"{low} to {high}", f" {low} - {high} "]
    assert {normalise_age_band(s) for s in spellings} == {f"{low}-{high}"}
    assert normalise_age_band(f"{low}+") == f"{low}+"


@settings(deadline=None)  # timing varies on a shared machine
@given(low=st.integers(min_value=90, max_value=120), width=st.integers(min_value=0, max_value=30))
def test_no_band_is_kept_finer_than_90_plus_above_89(low, width):
    high = min(low + width, 120)
    assert normalise_age_band(f"{low}-{high}") == "90+"
    assert normalise_age_band(f"{low}+") == "90+"


@settings(deadline=None)  # timing varies on a shared machine
@given(age=st.integers(min_value=0, max_value=120))
def test_a_raw_age_lands_in_the_band_that_contains_it(age):
    band = normalise_age_band(str(age))
    assert band in AGE_BAND_LABELS
    if band == "<18":
        assert age < 18
    elif band == "90+":
        assert age >= 90
    else:
        low, high = (int(x) for x in band.split("-"))
        assert low <= age <= high


def test_a_sex_value_not_understood_shows_the_mapping_lines_that_would_read_it():
    result = _validate(_patients(sex=["Frau", "M", "Frau"]))
    assert (result.n_accepted, result.n_rejected) == (2, 2)  # 1 assessment + P2
    reason = result.rejected["reason"].iloc[0]
    what, how = reason.split("\n", 1)
    assert what.startswith("not an allowed value (expected one of female, male, other, unknown")
    assert "add these lines to a mapping file and pass it with --mapping FILE" in what
    assert how.startswith('[values.sex]\n"Frau" = "female"')
    # The lines are valid TOML, and a mapping made from them reads the rows.
    parsed = tomllib.loads(how)
    assert parsed == {"values": {"sex": {"Frau": "female"}}}
    fixed = _validate(_patients(sex=["Frau", "M", "Frau"]), ColumnMapping(values=parsed["values"]))
    assert fixed.n_rejected == 0
    assert fixed.accepted["patients"]["sex"].tolist() == ["female", "male", "female"]


def test_mapping_lines_quote_values_that_need_escaping():
    result = _validate(_patients(primary_diagnosis=['Major "depressive" disorder\\x']))
    how = result.rejected["reason"].iloc[0].split("\n", 1)[1]
    assert tomllib.loads(how)["values"]["primary_diagnosis"] == {
        'Major "depressive" disorder\\x': "MDD"
    }


def test_an_age_band_not_understood_shows_the_mapping_lines_that_would_read_it():
    result = _validate(_patients(age_band=["forties"]))
    reason = result.rejected["reason"].iloc[0]
    assert reason.startswith("not an age band (expected a band such as 20-24, 65+ or <18")
    how = reason.split("\n", 1)[1]
    assert tomllib.loads(how) == {"values": {"age_band": {"forties": "40-49"}}}
    fixed = _validate(
        _patients(age_band=["forties"]), ColumnMapping(values={"age_band": {"forties": "40-49"}})
    )
    assert fixed.accepted["patients"]["age_band"].tolist() == ["40-49"]


def test_a_yes_no_value_not_understood_shows_the_mapping_lines_that_would_read_it():
    result = _validate(_patients(concurrent_ssri=["Ja", "yes"]))
    reason = result.rejected["reason"].iloc[0]
    assert reason.startswith("not a yes/no value (expected true/false, yes/no or 1/0)")
    how = reason.split("\n", 1)[1]
    assert tomllib.loads(how) == {"values": {"concurrent_ssri": {"Ja": "yes"}}}
    fixed = _validate(
        _patients(concurrent_ssri=["Ja", "yes"]), ColumnMapping(values=tomllib.loads(how)["values"])
    )
    assert fixed.accepted["patients"]["concurrent_ssri"].tolist() == [True, True]
