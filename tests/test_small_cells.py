"""No count of 1 to k - 1 patients in anything meant to leave the clinic (methods §12).

The HTML report and the shareable zip of a 30-patient demo cohort are read back the way a
reader would read them: the visible text, the tables, the figures' data and hover texts,
and the CSV and JSON files. Every number that counts patients is collected by patterns
written here, independently of :mod:`katoutcomes.suppression`, and none may be 1 to 10
(k = 11). Each scan is first shown to find small counts in the same outputs made with
suppression off (k = 0), so that it cannot pass by finding nothing.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import sys
import zipfile
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from katoutcomes.analysis import Analysis
from katoutcomes.bundle import shareable_bundle
from katoutcomes.dataset import Dataset
from katoutcomes.report import build_report
from katoutcomes.settings import Settings

K = 11

#: Tables that hold no count of this clinic's patients: published studies, definitions
#: (thresholds), settings and input files.
_NOT_CLINIC_TABLES = ("benchmarks-table", "definitions-table", "settings-table", "files-table")

#: Phrases stating the rule or a threshold, not a count ("1 to 10 patients", "fewer than
#: 11", "≥ 10", "at least 2 prior treatment failures", "k = 11").
_RULE_PHRASES = re.compile(
    r"1 to \d+|fewer than \d+|at least \d+|minimum of \d+|\u2265 ?\d+|< ?\d+|k = \d+"
    r"|counts? 1\u2013\d+|\d+ or more|(?:PHQ|GAD)-\d+|item \d+|number \d+|\d+(?:st|nd|rd|th)"
)
#: A whole number as written ("2,158"), never a piece of one.
_WHOLE = r"(?<![\d.,])(\d+(?:,\d{3})*)(?![\d,]|\.\d)"
_A_OF_B = re.compile(_WHOLE + " of " + _WHOLE + r"(?! (?:sessions|doses|infusions))")
_N_NOUN = re.compile(
    _WHOLE + r" (?:[A-Za-z-]+ ){0,3}?(?:patients?|responders?|relapses?|events?|completers?)\b"
)
_N_EQUALS = re.compile(r"\bn = " + _WHOLE)
_SHARE_OF = re.compile(
    r"(\d+(?:\.\d+)?)% (?:\([^)]*\) )?of (?:an effective )?" + _WHOLE + r"(?! (?:sessions|doses))"
)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _small(value: float) -> bool:
    return 1 <= value < K


def text_counts(text: str) -> list[tuple[str, int]]:
    """Small patient counts stated or implied by a text: (phrase, count)."""
    found: list[tuple[str, int]] = []
    for match in _SHARE_OF.finditer(text):
        share, total = match.group(1), _int(match.group(2))
        digits = len(share.split(".")[1]) if "." in share else 0
        low = (float(share) - 0.5 * 10**-digits) / 100 * total
        high = (float(share) + 0.5 * 10**-digits) / 100 * total
        for count in range(max(0, math.ceil(low)), math.floor(high) + 1):
            for value in (count, total - count):
                if _small(value):
                    found.append((match.group(0), value))
    clean = _RULE_PHRASES.sub(" ", text)
    for match in _A_OF_B.finditer(clean):
        a, b = _int(match.group(1)), _int(match.group(2))
        found += [(match.group(0), v) for v in (a, b, b - a) if _small(v)]
    for pattern in (_N_NOUN, _N_EQUALS):
        for match in pattern.finditer(clean):
            if _small(_int(match.group(1))):
                found.append((match.group(0), _int(match.group(1))))
    return found


class _Reader(HTMLParser):
    """Visible text outside scripts, styles and non-clinic tables; numeric cells of the
    tables' patient columns; the scripts' text (for the figures)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.cells: list[tuple[str, str, str]] = []  # table id, header, cell text
        self._skip = 0
        self._script = False
        self._table: str | None = None
        self._excluded = 0
        self._headers: list[str] = []
        self._column = -1
        self._in_head = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("style", "script"):
            self._skip += 1
            self._script = tag == "script"
        elif tag == "table":
            self._table = str(found.get("id") or "")
            self._headers = []
            if self._table in _NOT_CLINIC_TABLES:
                self._excluded += 1
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._column = -1
        elif tag in ("td", "th"):
            self._column += 1
            self._cell = []
        elif tag in ("br", "p", "div", "li", "dd", "dt", "h1", "h2", "h3"):
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1
            self._script = False
        elif tag == "table":
            if self._table in _NOT_CLINIC_TABLES:
                self._excluded -= 1
            self._table = None
        elif tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            content = " ".join("".join(self._cell).split())
            if self._in_head:
                self._headers.append(content)
            elif self._table and not self._excluded and self._column < len(self._headers):
                self.cells.append((self._table, self._headers[self._column], content))
            self._cell = None
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            if self._script:
                self.scripts.append(data)
            return
        if self._cell is not None:
            self._cell.append(data)
        if not self._excluded:
            self.text.append(data)


def _figures(scripts: list[str]) -> dict[str, tuple[list[dict], dict]]:
    """Every Plotly.newPlot call: div id -> (traces, layout)."""
    decoder = json.JSONDecoder()
    out = {}
    for script in scripts:
        for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', script):
            traces, end = decoder.raw_decode(script, match.end())
            rest = re.match(r"\s*,\s*", script[end:])
            assert rest is not None
            layout, _ = decoder.raw_decode(script, end + rest.end())
            out[match.group(1)] = (traces, layout)
    return out


#: A customdata column a hover text presents as a count of patients.
_HOVER_COUNT = r"%\{customdata\[(\d)\]\}(?: of %\{customdata\[\d\]\})? (?:patients|sessions, )"


def _array(value: object) -> list:
    """A trace's array as a list; plotly writes numeric arrays as base64 "bdata"."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if shape:
            dims = [int(d) for d in str(shape).split(",")]
            return flat.reshape(dims).tolist()
        return flat.tolist()
    return list(value) if isinstance(value, list | tuple) else []


def _figure_counts(figures: dict[str, tuple[list[dict], dict]]) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for div, (traces, layout) in figures.items():
        texts = [str(layout.get("title", {}).get("text", ""))]
        texts += [str(a.get("text", "")) for a in layout.get("annotations", [])]
        bars = 0
        for trace in traces:
            texts.append(str(trace.get("name", "")))
            text = trace.get("text")
            texts += [str(t) for t in text] if isinstance(text, list) else [str(text or "")]
            template = str(trace.get("hovertemplate", ""))
            columns = set(re.findall(_HOVER_COUNT, template))
            columns |= set(re.findall(r"\(%\{customdata\[(\d)\]\} of", template))
            columns |= set(re.findall(r"of %\{customdata\[(\d)\]\}\)", template))
            custom = _array(trace.get("customdata"))
            for column in columns:
                for row in custom:
                    value = row[int(column)] if isinstance(row, list) else None
                    if isinstance(value, int | float) and _small(value):
                        found.append((f"{div} hover: {template[:40]}", int(value)))
            if trace.get("type") == "bar" and div.startswith("fig-waterfall"):
                count = len(_array(trace.get("x")))
                bars += count
                if _small(count):
                    found.append((f"{div}: bars of {trace.get('name')}", count))
        if _small(bars):
            found.append((f"{div}: bars", bars))
        for text in texts:
            found += [(f"{div}: {phrase}", v) for phrase, v in text_counts(text)]
    return found


def scan_report(page: str) -> list[tuple[str, int]]:
    reader = _Reader()
    reader.feed(page)
    found = text_counts("".join(reader.text))
    for table, header, cell in reader.cells:
        if re.search(r"patients|responders|^n$", header, re.IGNORECASE):
            for number in re.findall(r"^\d[\d,]*$", cell):
                if _small(_int(number)):
                    found.append((f"{table} {header}: {cell}", _int(number)))
    return found + _figure_counts(_figures(reader.scripts))


_COUNT_COLUMNS = ("k", "n", "patients", "at_risk", "events")


def scan_archive(data: bytes) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    archive = zipfile.ZipFile(io.BytesIO(data))
    for name in archive.namelist():
        raw = archive.read(name).decode("utf-8")
        if name.endswith(".csv"):
            table = pd.read_csv(io.StringIO(raw))
            for column in _COUNT_COLUMNS:
                if column in table.columns:
                    values = pd.to_numeric(table[column], errors="coerce")
                    found += [(f"{name} {column}", int(v)) for v in values if _small(v)]
            if {"k", "n"} <= set(table.columns):
                rest = pd.to_numeric(table["n"], errors="coerce") - pd.to_numeric(
                    table["k"], errors="coerce"
                )
                found += [(f"{name} n - k", int(v)) for v in rest if _small(v)]
            if {"estimate", "n", "unit"} <= set(table.columns):
                share = table[table["unit"] == "share"]
                implied = (share["estimate"] * share["n"]).round()
                for value in pd.concat([implied, share["n"] - implied]):
                    if _small(value):
                        found.append((f"{name} estimate x n", int(value)))
            for column in table.columns:
                if table[column].dtype == object:
                    for text in table[column].dropna().astype(str):
                        found += [(f"{name} {column}: {p}", v) for p, v in text_counts(text)]
        else:
            found += [(f"{name}: {p}", v) for p, v in text_counts(raw)]
            if name == "provenance.json":
                patients = json.loads(raw).get("patients")
                if isinstance(patients, int) and _small(patients):
                    found.append(("provenance.json patients", patients))
    return found


@pytest.fixture(scope="module")
def small_cohort() -> Dataset:
    return Dataset.demo(patients=30)


@pytest.fixture(scope="module")
def report_30(small_cohort: Dataset) -> str:
    return build_report(small_cohort)


def test_the_scan_finds_small_counts_when_suppression_is_off(small_cohort: Dataset):
    # The same cohort with k = 0: the scans must see the small cells (e.g. 6 of 27 PHQ-9
    # patients in remission), or finding none below would prove nothing.
    page = build_report(small_cohort, Settings(suppression_k=0))
    found = scan_report(page)
    assert any("6 of 27" in phrase for phrase, _ in found), found[:20]
    assert any(phrase.startswith("fig-") for phrase, _ in found)
    archive = shareable_bundle(Analysis(small_cohort, Settings(suppression_k=0)))
    assert scan_archive(archive)


def test_the_report_of_a_30_patient_cohort_shows_no_count_below_11(report_30: str):
    assert scan_report(report_30) == []


def test_the_shareable_zip_of_a_30_patient_cohort_holds_no_count_below_11(
    small_cohort: Dataset,
):
    assert scan_archive(shareable_bundle(Analysis(small_cohort))) == []


def test_the_dashboards_shareable_zip_holds_no_count_below_11_and_no_clinician(
    small_cohort: Dataset,
):
    sys.path.insert(0, str(ROOT))  # the dashboard's modules live beside app.py
    from katoutcomes.filters import CohortFilter
    from views import common

    view = common.View(
        source=common.Source("demo", label="test", token="share-30-scan"),
        full=small_cohort,
        dataset=small_cohort,
        cohort=CohortFilter(),
        settings=Settings(),
    )
    data = common.shareable_zip(view)
    assert scan_archive(data) == []
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert "patient_outcomes.csv" not in archive.namelist()
    subgroups = pd.read_csv(archive.open("subgroup_response_rates.csv"))
    assert "clinician" not in set(subgroups["group"])
    assert "per-clinician results" in archive.read("README.txt").decode()


@pytest.mark.parametrize("patients", [60, 150])
def test_larger_cohorts_show_no_count_below_11_either(patients: int):
    data = Dataset.demo(patients=patients)
    assert scan_report(build_report(data)) == []
    assert scan_archive(shareable_bundle(Analysis(data))) == []


def test_a_filtered_shareable_zip_names_its_filter():
    from katoutcomes.filters import CohortFilter, filter_dataset

    site = filter_dataset(Dataset.demo(patients=400), CohortFilter(site=("S3",)))
    archive = zipfile.ZipFile(io.BytesIO(shareable_bundle(Analysis(site))))
    readme = archive.read("README.txt").decode()
    assert readme.splitlines()[0] == "katoutcomes shareable summary (site S3)"
    assert "FILTERED: only the patients with site S3" in readme
    assert json.loads(archive.read("provenance.json"))["filter"] == "site S3"
    assert scan_archive(archive.fp.getvalue()) == []  # type: ignore[union-attr]
