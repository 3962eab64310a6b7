"""De-identification guard and spreadsheet-formula neutralisation (methods §2.7, §12.9)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_csv
from katoutcomes.errors import IngestError
from katoutcomes.ingest import validate_frames, validate_path
from katoutcomes.privacy import (
    identifier_column_reason,
    neutralise_formulas,
    patient_id_problems,
)
from katoutcomes.settings import Settings

BASE = {"patient_id": ["P001"], "instrument": ["PHQ-9"], "study_day": [0], "total": [12]}


@pytest.mark.parametrize(
    ("column", "what"),
    [
        ("name", "a name"),
        ("First Name", "a name"),
        ("lastName", "a name"),
        ("patient_name", "a name"),
        ("email", "an e-mail address"),
        ("E-mail Address", "an e-mail address"),
        ("phone", "a phone number"),
        ("Mobile", "a phone number"),
        ("address", "an address"),
        ("street", "an address"),
        ("zip", "a ZIP/postcode"),
        ("Postcode", "a ZIP/postcode"),
        ("SSN", "a Social Security number"),
        ("social_security_number", "a Social Security number"),
        ("MRN", "a medical record number"),
        ("Medical Record Number", "a medical record number"),
        ("DOB", "a date of birth"),
        ("date_of_birth", "a date of birth"),
        ("BirthDate", "a date of birth"),
        ("insurance_id", "an insurance number"),
        ("member_id", "a health-plan member id"),
        ("ip_address", "an IP address"),
    ],
)
def test_identifier_like_column_names_are_recognised(column, what):
    assert identifier_column_reason(column) == what


@pytest.mark.parametrize(
    "column",
    [
        "patient_id",
        "instrument",
        "assessed_at",
        "total",
        "item_9",
        "site_id",
        "clinician_id",
        "dose_mg",
        "adverse_events",
        "primary_diagnosis",
        "age_band",
        "study_day",
        "notes",
        "monitoring_minutes",
        "concurrent_ssri",
    ],
)
def test_ordinary_columns_pass_the_guard(column):
    assert identifier_column_reason(column) is None


def test_email_column_fails_the_whole_file_naming_it(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "assessments.csv",
        "patient_id,instrument,assessed_at,total,email\nP001,PHQ-9,2025-01-01,12,",
    )
    with pytest.raises(IngestError) as err:
        validate_path(path)
    message = str(err.value)
    assert "column 'email'" in message and "an e-mail address" in message
    assert "--allow-column 'email'" in message
    assert err.value.column == "email"


def test_explicitly_allowed_column_passes(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "assessments.csv",
        "patient_id,instrument,assessed_at,total,Referrer Name\n"
        "P001,PHQ-9,2025-01-01,12,North clinic",
    )
    with pytest.raises(IngestError):
        validate_path(path)
    result = validate_path(path, settings=Settings(allow_columns=("Referrer Name",)))
    assert result.n_accepted == 1
    assert result.reports[0].ignored_columns == ("Referrer Name",)


@pytest.mark.parametrize(
    "column", ["Instrument Name", "Medication Name", "Site name", "Scale name"]
)
def test_names_of_things_are_not_mistaken_for_names_of_people(column):
    assert identifier_column_reason(column) is None


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("call pt at 555-123-4567 re dose", "a phone number"),
        ("sent to jane.doe@example.org", "an e-mail address"),
        ("ssn 123-45-6789 on file", "a US Social Security number"),
    ],
)
def test_identifiers_inside_free_text_fail_the_ingest(value, what):
    frame = pd.DataFrame({**BASE, "notes": [value]})
    with pytest.raises(IngestError, match=f"looks like {what}"):
        validate_frames({"assessments": frame})


@pytest.mark.parametrize(
    "value",
    ["+1.25", "dose 0.5 mg/kg x 70 kg", "2025-01-15T09:30:00", "ref 20250115-0930", "v1.2.3"],
)
def test_numbers_and_dates_in_text_are_not_taken_for_identifiers(value):
    frame = pd.DataFrame({**BASE, "notes": [value]})
    assert validate_frames({"assessments": frame}).n_accepted == 1


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("someone@example.com", "an e-mail address"),
        ("(555) 123-4567", "a phone number"),
        ("+44 20 7946 0958", "a phone number"),
        ("123-45-6789", "a US Social Security number"),
    ],
)
def test_identifier_like_values_in_any_column_fail_the_ingest(value, what):
    frame = pd.DataFrame({**BASE, "notes": [value]})
    with pytest.raises(IngestError) as err:
        validate_frames({"assessments": frame})
    assert f"column 'notes': the value looks like {what}" in str(err.value)
    assert "line 2" in str(err.value)


@pytest.mark.parametrize(
    "value", ["2025-01-15", "12.5", "P-0001", "nausea;dizziness", "S1", "-3", "100-200"]
)
def test_ordinary_values_do_not_trip_the_value_guard(value):
    frame = pd.DataFrame({**BASE, "notes": [value]})
    assert validate_frames({"assessments": frame}).n_accepted == 1


@pytest.mark.parametrize("pid", ["P001", "KAT-0001", "site2_p17", "A1B2", "0042", "p.19"])
def test_pseudonymous_ids_are_accepted(pid):
    frame = pd.DataFrame({**BASE, "patient_id": [pid]})
    assert validate_frames({"assessments": frame}).n_accepted == 1


@pytest.mark.parametrize(
    ("pid", "reason"),
    [
        ("JohnSmith", "looks like a name"),
        ("smith_j", "looks like a name"),
        ("john.smith@clinic.org", "looks like an e-mail address"),
        ("2024-03-01", "looks like a date"),
        ("03/01/1980", "looks like a date"),
        ("415-555-0101", "looks like a phone number"),
    ],
)
def test_identifying_patient_ids_are_rejected_row_by_row(pid, reason):
    frame = pd.DataFrame(
        {
            "patient_id": [pid, "P002"],
            "instrument": ["PHQ-9"] * 2,
            "study_day": [0, 0],
            "total": [12, 13],
        }
    )
    result = validate_frames({"assessments": frame})
    assert (result.n_accepted, result.n_rejected) == (1, 1)
    assert reason in result.rejected.iloc[0]["reason"]
    assert result.rejected.iloc[0]["field"] == "patient_id"


def test_formulas_are_neutralised_but_numbers_kept():
    frame = pd.DataFrame(
        {
            "text": ['=HYPERLINK("x")', "+cmd", "-2+3", "@SUM(A1)", "\tx", "plain", "-3", "+1.5"],
            "n": [1, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    out = neutralise_formulas(frame)
    assert out["text"].tolist() == [
        '\'=HYPERLINK("x")',
        "'+cmd",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        "-3",
        "+1.5",
    ]
    assert out["n"].tolist() == list(range(1, 9))
    assert frame["text"].iloc[0] == '=HYPERLINK("x")'  # input untouched


def test_identifiers_typed_with_full_width_digits_are_found_in_text_columns(tmp_path):
    # RE2 (which pandas uses for Arrow strings) reads \d as 0-9 only; a phone number in
    # full-width digits is still a phone number.
    from katoutcomes.errors import IngestError
    from katoutcomes.ingest import validate_frames

    frame = pd.DataFrame(
        {
            "patient_id": ["P001"],
            "instrument": ["PHQ-9"],
            "study_day": [0],
            "total": [12],
            "site_id": ["S1"],
            "comment": ["call (\uff15\uff15\uff15) \uff11\uff12\uff13-\uff14\uff15\uff16\uff17"],
        }
    )
    with pytest.raises(IngestError, match="phone number"):
        validate_frames({"assessments": frame})


def test_submodules_are_reachable_from_the_package_as_after_an_eager_import():
    import subprocess
    import sys

    code = "import katoutcomes; print(katoutcomes.claims.__name__, katoutcomes.Store.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["katoutcomes.claims", "Store"]


# --------------------------------------------------------------------------- ids as dates
# methods §2.7: an id "looks like a date" only when it is a real calendar date between
# 1900-01-01 and today.

DATE_LIKE_REASON = "patient_id looks like a date; use a pseudonymous code, never a birth date"


def _id_reasons(ids: list[str]) -> list[object]:
    return patient_id_problems(pd.Series(ids, dtype="str")).tolist()


@pytest.mark.parametrize(
    "pid",
    ["19850312", "1985-03-12", "1985/03/12", "12/03/1985", "03/12/1985", "12.03.1985", "1.5.80"],
)
def test_a_real_past_date_as_patient_id_is_rejected(pid):
    assert _id_reasons([pid]) == [DATE_LIKE_REASON]


@pytest.mark.parametrize(
    "pid",
    [
        "20671021",  # 2067: in the future, a pseudonymous number (issue 9)
        "18991231",  # before 1900
        "19851312",  # no 13th month
        "19850230",  # no 30 February
        "19000229",  # 1900 was not a leap year
        "2067-10-21",
        "31/31/1985",
        "12345678",
    ],
)
def test_numbers_that_are_no_real_date_since_1900_are_ordinary_ids(pid):
    assert pd.isna(_id_reasons([pid])[0])


def test_numeric_pseudonymous_ids_are_accepted_by_ingest():
    frame = pd.DataFrame({**BASE, "patient_id": ["20671021"]})
    assert validate_frames({"assessments": frame}).n_accepted == 1


@settings(deadline=None)  # timing varies on a shared machine
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today()))
def test_every_date_since_1900_written_as_an_id_is_rejected(day):
    written = [
        day.strftime("%Y%m%d"),
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        day.strftime("%m/%d/%Y"),
        day.strftime("%d.%m.%Y"),
        day.strftime("%Y/%m/%d"),
    ]
    assert _id_reasons(written) == [DATE_LIKE_REASON] * len(written)


@settings(deadline=None)  # timing varies on a shared machine
@given(st.integers(min_value=10_000_000, max_value=99_999_999))
def test_an_eight_digit_id_is_rejected_exactly_when_it_is_a_date_since_1900(number):
    text = str(number)
    try:
        as_date = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        as_date = None
    is_date = as_date is not None and dt.date(1900, 1, 1) <= as_date <= dt.date.today()
    reason = _id_reasons([text])[0]
    assert (reason == DATE_LIKE_REASON) if is_date else pd.isna(reason)
