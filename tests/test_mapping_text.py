"""Mappings as text (uploads, the Data page's builder) follow the mapping file's rules,
and a mapping written out reads back the same."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from katoutcomes.errors import IngestError
from katoutcomes.ingest import validate_path
from katoutcomes.mapping import (
    ColumnMapping,
    load_mapping,
    mapping_from_text,
    mapping_to_toml,
)
from katoutcomes.mapping_builder import (
    BUILT_SOURCE,
    build_mapping_text,
    column_values,
    field_values,
    mapping_targets,
    read_export,
    read_mapping_upload,
    recognised_columns,
)

EXAMPLES = sorted((ROOT / "examples" / "mappings").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_text_and_file_read_the_same_mapping(path: Path):
    from_file = load_mapping(path)
    from_text = mapping_from_text(path.read_text(encoding="utf-8"), str(path))
    assert from_text == from_file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('layout = "wide"', "layout must be one of long, visit-wide, got 'wide'"),
        ("colums = 1", "unknown key(s) colums"),
        ('[columns]\n"A" = "patient"', "[columns] maps to unknown field(s) patient"),
        ("layout = ", "is not valid TOML"),
    ],
)
def test_text_is_refused_with_the_mapping_file_message(tmp_path: Path, text: str, message: str):
    file = tmp_path / "m.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(IngestError) as from_file:
        load_mapping(file)
    with pytest.raises(IngestError) as from_text:
        mapping_from_text(text, str(file))
    assert message in str(from_text.value)
    assert str(from_text.value) == str(from_file.value)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_mappings_round_trip(path: Path):
    mapping = load_mapping(path)
    again = mapping_from_text(mapping_to_toml(mapping), "again")
    assert again.to_dict() == mapping.to_dict()


_TARGETS = mapping_targets()
_names = st.text(min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    columns=st.dictionaries(_names, st.sampled_from(_TARGETS), max_size=5),
    values=st.dictionaries(
        st.sampled_from(("sex", "route", "instrument", "site_id")),
        st.dictionaries(_names, st.text(max_size=10), min_size=1, max_size=4),
        max_size=3,
    ),
    layout=st.sampled_from((None, "long", "visit-wide")),
    datetime_format=st.sampled_from((None, "%d/%m/%Y", '%m/%d/%Y "at" %H:%M')),
    sheet=st.one_of(st.integers(0, 9), st.text(min_size=1, max_size=8)),
)
def test_any_mapping_round_trips(columns, values, layout, datetime_format, sheet):
    # Names with quotes, backslashes, control characters and any Unicode survive.
    mapping = ColumnMapping(
        columns=columns,
        values=values,
        layout=layout,
        datetime_format=datetime_format,
        sheet=sheet,
    )
    again = mapping_from_text(mapping_to_toml(mapping), "again")
    assert again.to_dict() == mapping.to_dict()


def test_empty_mapping_is_empty_text():
    assert mapping_to_toml(ColumnMapping()) == ""
    assert mapping_from_text("").to_dict() == ColumnMapping().to_dict()


# ------------------------------------------------------------------ the builder


def test_recognised_columns_name_the_field_of_each_table():
    found = recognised_columns(
        {
            "assessments": ["Patient", "Date", "PHQ9", "Remarks"],
            "treatments": ["Patient", "Date", "Dose (mg)"],
        }
    )
    assert found == {
        "Patient": "patient_id",
        "Date": "assessed_at",
        "PHQ9": "phq9_total",
        "Dose (mg)": "dose_mg",
    }
    # Two columns that both look like the date: neither is taken without a mapping.
    assert recognised_columns({"assessments": ["pid", "Date", "Visit Date"]}) == {
        "pid": "patient_id"
    }


def test_field_values_come_from_the_table_schemas():
    assert field_values("sex") == ("female", "male", "other", "unknown")
    assert field_values("route") == ("IV", "IM", "intranasal", "sublingual", "oral", "other")
    assert field_values("total") is None


def test_built_mapping_carries_header_row_and_settings():
    built = build_mapping_text(
        {"Code": "patient_id"},
        {},
        layout="long",
        datetime_format="%d/%m/%Y",
        sheet="2",
        header_row=3,
    )
    data = tomllib.loads(built.text)
    assert data == {
        "header_row": 3,
        "layout": "long",
        "datetime_format": "%d/%m/%Y",
        "sheet": 2,
        "columns": {"Code": "patient_id"},
    }
    only_header = tomllib.loads(build_mapping_text({}, {}, header_row=4).text)
    assert only_header == {"header_row": 4}


def test_a_choice_that_agrees_with_the_automatic_reading_is_not_written():
    built = build_mapping_text(
        {"Date": "assessed_at", "Patient": "patient_id"},
        {
            "Date": "administered_at",
            "Patient": "patient_id",
        },
    )
    assert built.text == "" and built.notes == ()


def test_leaving_out_a_recognised_column_is_explained():
    built = build_mapping_text({"Date": ""}, {"Date": "assessed_at"})
    assert built.text == ""
    assert "a mapping cannot leave a column out" in built.notes[0]
    # ...unless another column takes the field, which drops it.
    built = build_mapping_text({"Date": "", "Visit Time": "assessed_at"}, {"Date": "assessed_at"})
    assert built.notes == ()
    assert tomllib.loads(built.text)["columns"] == {"Visit Time": "assessed_at"}


def test_building_the_ehr_mapping_on_the_page_validates_like_the_shipped_file():
    """The choices a user makes for examples/ehr_export give the mapping that ships for it."""
    export = ROOT / "examples" / "ehr_export"
    frames = read_export(export)
    recognised = recognised_columns({t: list(f.columns) for t, f in frames.items()})
    shipped = load_mapping(ROOT / "examples" / "mappings" / "ehr_flowsheet.toml")
    choices = {c: recognised.get(c, "") for f in frames.values() for c in f.columns}
    choices.update(shipped.columns)
    built = build_mapping_text(
        choices,
        recognised,
        {f: dict(t) for f, t in shipped.values.items()},
        layout="long",
        datetime_format="%m/%d/%Y %H:%M",
    )
    mapping = mapping_from_text(built.text, BUILT_SOURCE)
    with_built = validate_path(export, mapping=mapping)
    with_file = validate_path(export, mapping=shipped)
    assert with_built.n_accepted == with_file.n_accepted > 0
    assert with_built.n_rejected == with_file.n_rejected
    for table in ("assessments", "treatments"):
        assert with_built.accepted[table].equals(with_file.accepted[table])
    # The distinct values offered for mapping come from the export itself.
    assert column_values(frames["assessments"], "Flowsheet Row") == [
        "PHQ-9 Total Score",
        "GAD-7 Total Score",
    ]


def test_uploaded_mapping_must_be_utf8_toml():
    text, mapping = read_mapping_upload(
        b'\xef\xbb\xbf[columns]\n"Pseudo ID" = "patient_id"\n', "m.toml"
    )
    assert mapping.columns == {"Pseudo ID": "patient_id"}
    assert text.startswith("[columns]")  # the byte-order mark is not part of the text
    with pytest.raises(IngestError, match=r"m\.toml is not UTF-8 text"):
        read_mapping_upload(b'[columns]\n"\xe9" = "patient_id"', "m.toml")
    with pytest.raises(IngestError, match=r"Mapping file m\.toml: unknown key"):
        read_mapping_upload(b"colour = 1", "m.toml")


def test_settings_given_per_table_are_written_as_inline_tables():
    # A setting whose value is one entry per table (as header_row may be) is written as a
    # TOML inline table; the mapping's own to_dict decides which settings exist.
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class PerTable(ColumnMapping):
        def to_dict(self) -> dict[str, object]:
            return {**super().to_dict(), "header_row": {"assessments": 3, "patients": 1}}

    text = mapping_to_toml(PerTable(columns={"Code": "patient_id"}))
    assert tomllib.loads(text) == {
        "header_row": {"assessments": 3, "patients": 1},
        "columns": {"Code": "patient_id"},
    }
    with pytest.raises(TypeError, match="cannot be written as TOML"):

        @dataclass(frozen=True)
        class Odd(ColumnMapping):
            def to_dict(self) -> dict[str, object]:
                return {**super().to_dict(), "layout": 1.5}

        mapping_to_toml(Odd())
