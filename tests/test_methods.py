"""The methods document (docs/methods.md) and its rendering for the report.

The document is checked against the code it describes: every setting with its default,
every instrument threshold with its number, every fixed constant, the default claims, and
every "§N.M" cross reference. A new setting, a changed threshold or a new claim without a
change to the document fails here.
"""

from __future__ import annotations

import dataclasses
import html
import re
import tomllib
from pathlib import Path

import pytest

from katoutcomes import methods
from katoutcomes.claims import DEFAULT_MARGIN, load_claims
from katoutcomes.cohort import BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, TRD_MIN_FAILURES
from katoutcomes.comparisons import EPV_WARNING, MIN_GROUP_N
from katoutcomes.funnel import FUNNEL_LEVELS
from katoutcomes.instruments import GAD7, ITEM_MAX, PHQ9, SELF_HARM_FLAG, SELF_HARM_HIGH
from katoutcomes.methods import MethodsSection, methods_html, methods_path, methods_sections
from katoutcomes.sensitivity import DEFAULT_IMPUTATIONS, IMPUTATION_SEED
from katoutcomes.settings import Settings
from katoutcomes.stats import JT_CRITICAL_VALUE
from katoutcomes.trajectories import CV_FOLDS, MIN_MODEL_PATIENTS, MODEL_SEED

ROOT = Path(__file__).resolve().parents[1]


def _sections() -> dict[str, MethodsSection]:
    return {s.number: s for s in methods_sections()}


def _table(text: str) -> list[list[str]]:
    """Body rows of the first markdown table in ``text``, cells stripped."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) >= 3, "expected a markdown table"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


# --------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------


def test_sections_are_numbered_in_order_without_gaps() -> None:
    sections = methods_sections()
    tops = [s.number for s in sections if s.level == 2]
    assert tops == [str(i) for i in range(1, len(tops) + 1)]
    for top in tops:
        subs = [s.number for s in sections if s.level == 3 and s.number.split(".")[0] == top]
        assert subs == [f"{top}.{i}" for i in range(1, len(subs) + 1)], top
    # Every subsection sits under its own section, in document order.
    current = None
    for section in sections:
        if section.level == 2:
            current = section.number
        else:
            assert section.number.split(".")[0] == current


def test_a_section_holds_its_subsections_and_a_subsection_only_itself() -> None:
    sections = _sections()
    assert "### 4.6 Response" in sections["4"].text
    assert "### 5.1" not in sections["4"].text
    assert "###" not in sections["4.6"].text
    assert "endpoint ≤ (1 − response) × baseline" in sections["4.6"].text


def test_every_cross_reference_names_an_existing_section() -> None:
    known = set(_sections())
    text = methods.methods_text()
    cited = set(re.findall(r"§(\d+(?:\.\d+)?)", text))
    # "§9.5–§9.7" style ranges are two references, both found by the pattern above.
    assert cited, "the document cites its own sections"
    assert cited <= known, sorted(cited - known)


def test_headings_inside_code_fences_are_not_sections() -> None:
    text = "## 1. One\n\nText.\n\n```\n## 2. Not a heading\n```\n\n### 1.1 Sub\n\nMore.\n"
    sections = methods._split(text)
    assert [(s.number, s.level) for s in sections] == [("1", 2), ("1.1", 3)]
    assert "## 2. Not a heading" in sections[0].text


# --------------------------------------------------------------------------------------
# The document against the code
# --------------------------------------------------------------------------------------


def _setting_rows() -> dict[str, list[str]]:
    rows = _table(_sections()["5.1"].text)
    out = {}
    for row in rows:
        match = re.fullmatch(r"`([a-z0-9_]+)`", row[0])
        assert match, f"setting cell {row[0]!r} is not a `name`"
        out[match[1]] = row
    return out


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(_setting_rows())
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert documented == fields, (
        f"undocumented settings: {sorted(fields - documented)}; "
        f"documented but absent: {sorted(documented - fields)}"
    )


def test_documented_defaults_are_the_code_defaults() -> None:
    defaults = Settings().to_dict()
    for name, row in _setting_rows().items():
        written = row[1].replace(",", "")
        value = defaults[name]
        if isinstance(value, list):
            assert written == "none" and value == [], name
        else:
            assert float(written) == pytest.approx(value), name


def test_settings_are_cited_by_name_where_they_act() -> None:
    # Each setting is named outside the settings table too, in the rule it governs.
    text = methods.methods_text().replace(_sections()["5.1"].text, "")
    for field in dataclasses.fields(Settings):
        assert f"`{field.name}`" in text, field.name


def _fact_rows() -> dict[str, tuple[str, str]]:
    return {row[0]: (row[1], row[2]) for row in _table(_sections()["3.1"].text)}


def test_instrument_thresholds_appear_with_their_numbers() -> None:
    facts = _fact_rows()
    for column, inst in enumerate((PHQ9, GAD7)):

        def cell(name: str, column: int = column) -> str:
            return facts[name][column]

        assert cell("items") == str(inst.n_items)
        assert cell("item score") == f"0–{ITEM_MAX}"
        assert cell("range") == f"0–{inst.max_score}"
        assert cell("caseness (eligible baseline)") == f"≥ {inst.caseness}"
        assert cell("remission") == f"< {inst.remission_below}"
        assert cell("reliable change") == f"{inst.reliable_change} points"
        assert float(cell("test–retest reliability")) == inst.reliability
        assert float(cell("general-population mean")) == inst.functional_mean
        assert float(cell("general-population SD")) == inst.functional_sd
        missing = "items that may be missing before no total is prorated"
        assert int(cell(missing)) == inst.max_missing_items
    assert facts["item 9 safety flag"][0] == f"≥ {SELF_HARM_FLAG} (high ≥ {SELF_HARM_HIGH})"


def test_severity_bands_are_those_of_the_instruments() -> None:
    rows = _table(_sections()["3.2"].text)
    for column, inst in ((1, PHQ9), (2, GAD7)):
        written = {row[0]: row[column] for row in rows if row[column] != "—"}
        assert written == {band.label: f"{band.low}–{band.high}" for band in inst.bands}


def test_thresholds_are_stated_where_they_are_defined() -> None:
    s = _sections()
    assert f"{JT_CRITICAL_VALUE}" in s["4.10"].text
    for inst in (PHQ9, GAD7):
        assert f"{inst.reliability}" in s["4.10"].text
        assert f"{inst.reliable_change}" in s["4.8"].text
        assert f"{inst.caseness}" in s["4.3"].text


def test_fixed_constants_are_documented() -> None:
    text = _sections()["5.3"].text.replace(",", "")
    for value in (
        BOOTSTRAP_REPLICATES,
        BOOTSTRAP_SEED,
        DEFAULT_IMPUTATIONS,
        IMPUTATION_SEED,
        MODEL_SEED,
        CV_FOLDS,
        MIN_MODEL_PATIENTS,
        MIN_GROUP_N,
        EPV_WARNING,
        TRD_MIN_FAILURES,
    ):
        assert re.search(rf"\b{value}\b", text), value
    for level in FUNNEL_LEVELS:
        assert f"{100 * level:g}%" in text
    assert f"{DEFAULT_MARGIN:.2f}" in text


def test_default_claims_are_the_packaged_claims() -> None:
    rows = _table(_sections()["10.6"].text)
    documented = {cid for row in rows for cid in re.findall(r"`([a-z0-9_]+)`", row[0])}
    claims = load_claims()
    assert documented == {c.id for c in claims}
    rules = {c.id: c.rule for c in claims}
    for row in rows:
        for cid in re.findall(r"`([a-z0-9_]+)`", row[0]):
            assert f"`{rules[cid]}`" in row[3], cid


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [s.number for s in methods_sections()])
def test_every_section_renders(number: str) -> None:
    section = _sections()[number]
    out = methods_html([number])
    tag = f"h{section.level}"
    first, _, rest = out.partition("\n")
    match = re.fullmatch(rf'<{tag} id="{section.anchor}">(.*)</{tag}>', first)
    assert match and html.unescape(match[1]) == section.heading
    # All of the text follows: every word of the markdown is in the rendered text.
    words = set(re.findall(r"[A-Za-z]{3,}", section.text))
    shown = set(re.findall(r"[A-Za-z]{3,}", html.unescape(re.sub(r"<[^>]+>", " ", rest))))
    assert words and words <= shown, sorted(words - shown)


def _visible_text(fragment: str) -> str:
    """The rendered HTML without code spans, code blocks and tags."""
    fragment = re.sub(r"<pre>.*?</pre>", " ", fragment, flags=re.DOTALL)
    fragment = re.sub(r"<code>.*?</code>", " ", fragment, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def test_html_has_no_raw_markdown() -> None:
    out = methods_html()
    text = _visible_text(out)
    for marker in ("**", "`", "](", "|---", "| ---", "\n#", "\n- ", "\n| "):
        assert marker not in text, marker
    assert not re.search(r"^\s*#{1,6} ", text, flags=re.MULTILINE)
    assert "<table>" in out and "<ul>" in out and "<strong>" in out


def test_all_sections_render_once_in_document_order() -> None:
    out = methods_html()
    ids = re.findall(r'<h[23] id="(methods-[0-9-]+)"', out)
    assert ids == [s.anchor for s in methods_sections()]


def test_chosen_sections_in_the_order_given_without_repeating_subsections() -> None:
    out = methods_html(["6.2", "4", "4.6", "6.2"])
    ids = re.findall(r'<h[23] id="(methods-[0-9-]+)"', out)
    four = [s.anchor for s in methods_sections() if s.number.split(".")[0] == "4"]
    assert ids == ["methods-6-2", *four]


def test_unknown_section_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown methods section\(s\) '99'.*4\.6"):
        methods_html(["99"])


def test_html_written_in_the_document_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "## 1. One\n\nA <script>alert(1)</script> and a | b.\n"
    monkeypatch.setattr(methods, "methods_text", lambda: text)
    out = methods_html(["1"])
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


# --------------------------------------------------------------------------------------
# Finding the file
# --------------------------------------------------------------------------------------


def test_packaged_copy_is_preferred(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "methods.md").write_text("## 1. Packaged\n", encoding="utf-8")
    assert methods_path(tmp_path) == tmp_path / "docs" / "methods.md"


def test_source_checkout_copy_is_found_without_a_packaged_one(tmp_path: Path) -> None:
    assert methods_path(tmp_path) == ROOT / "docs" / "methods.md"


def test_the_wheel_ships_the_document_where_methods_looks() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    force = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force["docs/methods.md"] == "katoutcomes/docs/methods.md"
    assert any(dep.startswith("markdown-it-py") for dep in config["project"]["dependencies"])


# --------------------------------------------------------------------------------------
# No citations of a document readers cannot open
# --------------------------------------------------------------------------------------


def test_readme_and_docs_cite_the_methods_document_not_design() -> None:
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bDESIGN\b", text), path.name


def test_readme_citations_of_the_methods_name_existing_sections() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"methods(?:\.md)?\]?\(?[^)\s]*\)? §(\d+(?:\.\d+)?)", text))
    cited |= set(re.findall(r"methods §(\d+(?:\.\d+)?)", text))
    assert cited, "the README cites the methods document"
    assert cited <= set(_sections()), sorted(cited - set(_sections()))


def test_every_author_year_citation_has_a_full_reference() -> None:
    sections = _sections()
    references = sections["14"].text
    body = methods.methods_text().split("## 14. References")[0]
    entries = [e for e in re.split(r"\n- ", references) if e.strip()]
    cited = set(re.findall(r"\b([A-Z][a-zà-ÿ][A-Za-zÀ-ÿ-]*) (\d{4})[ab]?\b", body))
    assert len(cited) > 30
    missing = [
        f"{name} {year}"
        for name, year in sorted(cited)
        if not any(name in entry and year in entry for entry in entries)
    ]
    assert not missing, missing


def test_references_link_to_sections_shown_in_the_same_fragment() -> None:
    # §4.9 says "All of §4.5–§4.9 are empty ..."; §4.5 is not rendered with it, §4.9 is.
    out = methods_html(["4.9"])
    assert '<a href="#methods-4-9">§4.9</a>' in out
    assert "§4.5" in out and 'href="#methods-4-5"' not in out
    everything = methods_html()
    assert 'href="#methods-6-1">§6.1</a>' in everything
    targets = set(re.findall(r'href="#(methods-[0-9-]+)"', everything))
    assert targets <= set(re.findall(r'<h[23] id="(methods-[0-9-]+)"', everything))
