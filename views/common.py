"""What every dashboard page shares: the data source, the sidebar filters, cached results
and the helpers that show a table or a chart with its numbers one click away.

Caching
-------
- Datasets are cached with ``st.cache_resource`` (one object shared by every session), keyed
  by the source (kind, location and a content token: file sizes and modification times,
  so an edited file is read again) and, for a filtered cohort, by the filter.
- Everything computed from a dataset (outcomes, claims, rates, curves, subgroups) is cached
  with ``st.cache_data`` keyed by :attr:`View.key`, which names the source, the filter and
  the settings. The dataset itself is passed unhashed (``_dataset``): hashing a large
  DataFrame on every rerun would cost more than it saves.

Nothing here computes a statistic: numbers come from the library; this module reshapes,
labels and formats them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import json
import os
import platform
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import katoutcomes
from katoutcomes import plots
from katoutcomes.adherence import INDUCTION_DAYS, dose_mg_per_kg, doses_within
from katoutcomes.benchmarks import benchmark_intervals, load_published_benchmarks
from katoutcomes.claims import Claim, claims_to_dict, evaluate_claims, load_claims
from katoutcomes.cohort import (
    RATE_OUTCOME_LABELS,
    SUBGROUPS,
    NotMeasurableError,
    cluster_bootstrap_median,
    median_ci,
    outcome_rates,
    patient_attributes,
    subgroup_rates,
    time_to_event,
)
from katoutcomes.dataset import Dataset
from katoutcomes.errors import KatoutcomesError
from katoutcomes.exports import csv_text
from katoutcomes.filters import FILTER_ATTRIBUTES, CohortFilter, filter_dataset, filter_options
from katoutcomes.ingest import IngestProgress, IngestResult, ProgressCallback, validate_path
from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.mapping import ColumnMapping, mapping_from_text, mapping_to_toml
from katoutcomes.mapping_builder import BUILT_SOURCE, read_export
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.settings import Settings
from katoutcomes.store import Store
from katoutcomes.timebase import patient_origins
from katoutcomes.uploads import UploadFolders, remove_stale_upload_folders

__all__ = [
    "DEMO_PATIENTS",
    "ENV_DATA",
    "ENV_DB",
    "Source",
    "View",
    "chart",
    "claims",
    "current_view",
    "sidebar",
]

DEMO_PATIENTS: Final = 400
ENV_DATA: Final = "KATOUTCOMES_DATA"
ENV_DB: Final = "KATOUTCOMES_DB"

_SOURCE_KEY: Final = "katoutcomes_source"
_SETTINGS_KEY: Final = "katoutcomes_settings"
_VIEW_KEY: Final = "katoutcomes_view"
_SOURCE_ERROR_KEY: Final = "katoutcomes_source_error"


# --------------------------------------------------------------------------------------
# Labels a reader sees
# --------------------------------------------------------------------------------------

#: Column headers for every table the dashboard shows (snake_case stays in downloads).
COLUMN_LABELS: Final[Mapping[str, str]] = {
    "patient_id": "Patient",
    "instrument": "Instrument",
    "baseline": "Baseline score",
    "baseline_day": "Baseline day",
    "endpoint": "Endpoint score",
    "endpoint_day": "Endpoint day",
    "eligible": "Eligible (baseline at caseness)",
    "completer": "Completer",
    "change": "Change (points)",
    "pct_change": "Change (%)",
    **RATE_OUTCOME_LABELS,
    "jt_rci": "Reliable change index",
    "jt_category": "Jacobson–Truax category",
    "first_response_day": "First response (day)",
    "response_observed": "Responded",
    "first_early_improvement_day": "First early improvement (day)",
    "early_improvement_observed": "Early improvement",
    "relapse": "Relapse",
    "days_to_relapse": "Days to relapse (or censoring)",
    "n_assessments": "Assessments",
    "n_doses": "Doses",
    "n_acute_doses": "Doses in acute window",
    "n_maintenance_doses": "Maintenance doses",
    "item9_flags": "Item-9 flags",
    "week": "Week",
    "first_day": "From day",
    "last_day": "To day",
    "n": "Patients",
    "k": "Patients with outcome",
    "mean": "Mean score",
    "sd": "SD",
    "se": "Standard error",
    "estimate": "Estimate",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "rank": "Rank",
    "category": "Result",
    "day": "Day",
    "at_risk": "At risk",
    "events": "Events",
    "group": "Group",
    "group_label": "Group",
    "source": "Source",
    "label": "Study or clinic",
    "detail": "Detail",
    "outcome": "Outcome",
    "has_interval": "Has interval",
    "comparable": "Same instrument",
    "arm": "Trial arm",
    "timepoint": "Timepoint",
    "setting": "Setting",
    "route": "Route",
    "citation": "Citation",
    "event": "Event code",
    "sessions_with_event": "Sessions with event",
    "patients": "Patients with event",
    "sessions": "Sessions",
    "per_100": "Per 100 sessions",
    "share_of_patients": "Share of treated patients",
    "level": "Level",
    "level_label": "Level",
    "diff": "Difference",
    "diff_ci_low": "Difference 95% CI low",
    "diff_ci_high": "Difference 95% CI high",
    "compared_with": "Compared with",
    "group_rate": "All patients",
    "layer": "Layer",
    "value": "Value",
    "table": "Table",
    "file": "File",
    "line": "Line",
    "field": "Column",
    "reason": "Reason",
    "layout": "Layout",
    "rows_read": "Rows read",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "duplicates": "Exact duplicates",
    "sha256": "Content hash",
    "ingest_id": "Ingest",
    "table_name": "Table",
    "ingested_at": "Ingested at (UTC)",
    "package_version": "katoutcomes version",
    "time": "Day",
    "survival": "Survival",
    "std_err": "Standard error",
}

#: Attribute levels as a reader sees them (codes not listed are shown as recorded).
LEVEL_LABELS: Final[Mapping[str, str]] = {
    "IM": "Intramuscular (IM)",
    "IV": "Intravenous (IV)",
    "intranasal": "Intranasal",
    "sublingual": "Sublingual",
    "oral": "Oral",
    "other": "Other",
    "bipolar_depression": "Bipolar depression",
    "MDD": "Major depression (MDD)",
    "TRD": "Treatment-resistant depression (TRD)",
    "GAD": "Generalised anxiety (GAD)",
    "PTSD": "PTSD",
    "yes": "Yes",
    "no": "No",
    "unknown": "Not recorded",
}

FILTER_LABELS: Final[Mapping[str, str]] = {
    "site": "Site",
    "clinician": "Clinician",
    "route": "Route",
    "diagnosis": "Primary diagnosis",
}

SUBGROUP_LABELS: Final[Mapping[str, str]] = {
    "site": "Site",
    "clinician": "Clinician",
    "route": "Route of administration",
    "diagnosis": "Primary diagnosis",
    "ssri": "Concurrent SSRI",
    "psychotherapy": "Integrated psychotherapy",
    "treatment_resistance": "Treatment resistance (2+ prior failures)",
}

POPULATION_LABELS: Final[Mapping[str, str]] = {
    "itt": "Intention to treat",
    "completers": "Completers",
    "eligible": "All eligible patients",
}

EVENT_LABELS: Final[Mapping[str, str]] = {
    "response": "Time to response",
    "early_improvement": "Time to early improvement",
    "relapse": "Response duration (time to relapse)",
}

#: Decision rules of the claims file in plain words (katoutcomes.claims module docstring).
RULE_TEXT: Final[Mapping[str, str]] = {
    "two_sided": "A claim of about a value p0 is judged against an equivalence margin δ "
    "(10 percentage points unless the claim says otherwise): supported when the 95% interval "
    "lies inside p0 ± δ; contradicted when it lies wholly above or wholly below that band; "
    "otherwise inconclusive, with the number of patients that would likely settle it. An "
    "interval that merely contains p0 is not support.",
    "above": "Supported when the 95% interval lies wholly above the bound; contradicted when "
    "it lies at or below it; otherwise inconclusive.",
    "below": "Supported when the 95% interval lies wholly below the bound; "
    "contradicted when its lower end reaches it; otherwise inconclusive.",
    "difference_positive": "Supported when the 95% interval of the difference lies above 0; "
    "contradicted when at or below 0; otherwise inconclusive.",
    "difference_nonzero": "Supported when the 95% interval of the difference excludes 0; "
    "otherwise inconclusive.",
    "descriptive": "No verdict: the claim gives no testable number, so the estimate is reported.",
}


def column_label(column: str) -> str:
    """The header a reader sees for a column."""
    return COLUMN_LABELS.get(column, column.replace("_", " ").capitalize())


def level_label(value: object) -> str:
    text = str(value)
    return LEVEL_LABELS.get(text, text.replace("_", " "))


# --------------------------------------------------------------------------------------
# Number formatting (display only; full precision stays in the data)
# --------------------------------------------------------------------------------------


def pct(value: float, decimals: int = 0) -> str:
    return "–" if pd.isna(value) else f"{100.0 * float(value):.{decimals}f}%"


def format_value(value: float, unit: str) -> str:
    """A claim's estimate or claimed value in its unit (claims ``unit`` column)."""
    if pd.isna(value):
        return "–"
    value = float(value)
    if unit == "share":
        return pct(value, 1)
    if unit == "difference":
        return f"{100.0 * value:+.1f} points"
    if unit == "mg/kg":
        return f"{value:.3f} mg/kg"
    if unit == "usd":
        return f"${value:,.0f}"
    return f"{value:,.3g}"


def format_margin(margin: float, unit: str) -> str:
    """A claim's equivalence margin in its unit: percentage points for shares."""
    if unit in ("share", "difference"):
        return f"{100.0 * float(margin):g} percentage points"
    if unit == "usd":
        return f"${float(margin):,.0f}"
    return format_value(margin, unit)


def format_estimate(value: float, low: float, high: float, unit: str) -> str:
    """An estimate with its 95% interval in brackets, compactly, in the claim's unit."""
    if pd.isna(value):
        return "–"
    if pd.isna(low) or pd.isna(high):
        return format_value(value, unit)
    nbsp = "\u00a0"
    if unit == "share":
        inside = f"{100 * low:.1f}–{100 * high:.1f}%"
    elif unit == "difference":
        inside = f"{100 * low:+.1f} to {100 * high:+.1f}"
    elif unit == "mg/kg":
        inside = f"{low:.3f}–{high:.3f}"
    elif unit == "usd":
        inside = f"${low:,.0f}–${high:,.0f}"
    else:
        inside = f"{low:,.3g}–{high:,.3g}"
    return f"{format_value(value, unit)} ({inside.replace(' ', nbsp)})"


def format_interval(low: float, high: float, unit: str) -> str:
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"{format_value(low, unit)} to {format_value(high, unit)}"


# --------------------------------------------------------------------------------------
# Data sources
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where the dashboard's data come from.

    kind : ``"demo"``, ``"path"`` (a dataset folder or file, validated on load) or
        ``"store"`` (a DuckDB store written by ``katoutcomes ingest``).
    location : the path (empty for the demo).
    label : what the sidebar says.
    token : changes when the content changes (sizes and modification times).
    mapping : the text of the mapping file the path is read with (``""``: none).
    """

    kind: str
    location: str = ""
    label: str = ""
    token: str = ""
    mapping: str = ""

    @property
    def key(self) -> str:
        key = f"{self.kind}|{self.location}|{self.token}"
        if self.mapping:
            key += "|mapping:" + hashlib.sha256(self.mapping.encode()).hexdigest()[:16]
        return key

    @property
    def short_key(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()[:10]


def content_token(path: str | Path) -> str:
    """Sizes and modification times of a file or of a folder's files."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.glob("*") if p.is_file())
    parts = []
    for file in files:
        stat = file.stat()
        parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def demo_source() -> Source:
    return Source(
        "demo",
        label=f"Built-in demo cohort ({DEMO_PATIENTS} synthetic patients)",
        token=str(DEMO_PATIENTS),
    )


def path_source(path: str | Path, label: str | None = None) -> Source:
    path = Path(path).expanduser()
    return Source("path", str(path), label or f"Dataset: {path}", content_token(path))


def with_mapping(source: Source, mapping: str) -> Source:
    """The same files read with the mapping file ``mapping`` (text; ``""``: none)."""
    base = source.label.removesuffix(_WITH_MAPPING)
    return replace(source, mapping=mapping, label=base + (_WITH_MAPPING if mapping else ""))


_WITH_MAPPING: Final = " (with a column mapping)"


def source_mapping(source: Source) -> ColumnMapping | None:
    """The mapping a source is read with (None: names as they are)."""
    return mapping_from_text(source.mapping, BUILT_SOURCE) if source.mapping else None


#: A sentence of advice aimed at the command line (it names ``--mapping``).
_CLI_MAPPING_ADVICE: Final = re.compile(r"(?:^|(?<=[.:;]))\s*[^.:;]*--mapping[^.]*\.?")
_PAGE_MAPPING_ADVICE: Final = (
    "Say which column is which under “Column names and values” on this page (build a "
    "mapping there, or upload a mapping file), or rename the column in the file."
)


def for_this_page(message: str) -> str:
    """A file-level message as the Data page gives it: a sentence advising ``--mapping``
    on the command line becomes a pointer to the page's own mapping controls."""
    if "--mapping" not in message:
        return message
    return _CLI_MAPPING_ADVICE.sub("", message).rstrip() + " " + _PAGE_MAPPING_ADVICE


def store_source(path: str | Path) -> Source:
    path = Path(path).expanduser()
    token = content_token(path) if path.exists() else "missing"
    return Source("store", str(path), f"DuckDB store: {path}", token)


def default_source() -> Source:
    """``KATOUTCOMES_DATA`` (a dataset path), else ``KATOUTCOMES_DB`` (a store), else demo."""
    if os.environ.get(ENV_DATA):
        return path_source(os.environ[ENV_DATA])
    if os.environ.get(ENV_DB):
        return store_source(os.environ[ENV_DB])
    return demo_source()


def _release_uploads(folders: UploadFolders) -> None:
    folders.remove_all()


@st.cache_resource(scope="session", on_release=_release_uploads, show_spinner=False)
def session_upload_folders() -> UploadFolders:
    """This session's upload folders, removed when the session ends."""
    return UploadFolders()


@st.cache_resource(show_spinner=False)
def remove_stale_uploads() -> int:
    """Once per server: remove upload folders left by servers that no longer run."""
    return len(remove_stale_upload_folders())


@st.cache_resource(show_spinner=False, max_entries=8)
def _validated(
    location: str, token: str, mapping: str, _progress: ProgressCallback | None = None
) -> IngestResult:
    return validate_path(
        location, mapping=mapping_from_text(mapping, BUILT_SOURCE), progress=_progress
    )


def validated(source: Source, progress: ProgressCallback | None = None) -> IngestResult:
    """:func:`katoutcomes.ingest.validate_path` of a path source with its mapping, cached
    while the files and the mapping are unchanged; ``progress`` hears from a validation
    that runs (not from a cached result)."""
    return _validated(source.location, source.token, source.mapping, progress)


def ingest_progress(report: Callable[[float, str], None]) -> ProgressCallback:
    """A progress callback for :func:`validate_path` or ``Store.ingest`` that moves the bar
    of :func:`progress_feedback` with the rows read and the rate."""

    def callback(progress: IngestProgress) -> None:
        rate = progress.rows_per_second
        speed = f" ({rate:,.0f} rows/s)" if rate else ""
        report(progress.fraction, f"{progress.rows_done:,} rows {progress.stage}{speed}")

    return callback


@contextmanager
def progress_feedback(label: str) -> Iterator[Callable[[float, str], None]]:
    """A spinner (after half a second) while work runs.

    Yields ``report(fraction, text)``: work that reports its progress calls it with the
    fraction done (0 to 1) and a line such as "120,000 rows read (40,000 rows/s)", and the
    spinner gains a progress bar. The bar is removed when the work ends.
    """
    bar: Any = None

    def report(fraction: float, text: str = "") -> None:
        nonlocal bar
        done = min(max(float(fraction), 0.0), 1.0)
        if bar is None:
            bar = st.progress(done, text=text or label)
        else:
            bar.progress(done, text=text or label)

    with st.spinner(label, show_time=True):
        try:
            yield report
        finally:
            if bar is not None:
                bar.empty()


@st.cache_resource(show_spinner=False, max_entries=4)
def _export_frames(location: str, token: str, mapping: str) -> dict[str, pd.DataFrame]:
    return read_export(location, mapping=mapping_from_text(mapping, BUILT_SOURCE))


def export_frames(source: Source, reading: ColumnMapping) -> dict[str, pd.DataFrame]:
    """Each table's file of a path source as text, read as the ingest reads it under the
    mapping ``reading`` (sheet, header row), for building a mapping. Shared, not copied:
    do not modify."""
    return _export_frames(source.location, source.token, mapping_to_toml(reading))


@st.cache_resource(show_spinner="Loading the data…", max_entries=8)
def _load(kind: str, location: str, token: str, mapping: str = "") -> Dataset:
    if kind == "demo":
        return Dataset.demo(patients=DEMO_PATIENTS)
    if kind == "path":
        return Dataset.from_result(_validated(location, token, mapping))
    if kind == "store":
        if not Path(location).exists():
            raise KatoutcomesError(f"The store {location} does not exist yet.")
        # Read everything and close at once: the Data page may open the same file to write.
        with Store(location, read_only=True) as store:
            return Dataset.from_store(store)
    raise ValueError(f"Unknown data source kind {kind!r}.")


def load_dataset(source: Source) -> Dataset:
    return _load(source.kind, source.location, source.token, source.mapping)


def current_source() -> Source:
    if _SOURCE_KEY not in st.session_state:
        st.session_state[_SOURCE_KEY] = default_source()
    return st.session_state[_SOURCE_KEY]


def use_source(source: Source) -> None:
    """Switch the whole dashboard to ``source`` (from the Data page)."""
    st.session_state[_SOURCE_KEY] = source
    st.session_state.pop(_SOURCE_ERROR_KEY, None)


def current_settings() -> Settings:
    if _SETTINGS_KEY not in st.session_state:
        st.session_state[_SETTINGS_KEY] = Settings()
    return st.session_state[_SETTINGS_KEY]


def use_settings(settings: Settings) -> None:
    st.session_state[_SETTINGS_KEY] = settings


# --------------------------------------------------------------------------------------
# The view: a filtered dataset with the settings, and its cache key
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What a page shows: the source, the cohort filter, the settings and the data."""

    source: Source
    full: Dataset
    dataset: Dataset
    cohort: CohortFilter
    settings: Settings

    @property
    def data_key(self) -> str:
        return f"{self.source.key}|{cohort_key(self.cohort)}"

    @property
    def key(self) -> str:
        settings = json.dumps(self.settings.to_dict(), sort_keys=True)
        return f"{self.data_key}|{settings}"

    @property
    def n_patients(self) -> int:
        return count_patients(self.dataset)

    @property
    def is_demo(self) -> bool:
        return self.source.kind == "demo"


def cohort_key(cohort: CohortFilter) -> str:
    return repr(cohort)


def count_patients(dataset: Dataset) -> int:
    return int(dataset.assessments["patient_id"].nunique())


def eligible_patients(outcomes_frame: pd.DataFrame) -> int:
    """Patients eligible (baseline at caseness) on at least one instrument."""
    eligible = outcomes_frame["eligible"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return int(outcomes_frame.loc[eligible, "patient_id"].nunique())


@st.cache_resource(max_entries=32, show_spinner=False)
def _filtered(
    kind: str, location: str, token: str, mapping: str, key: str, _cohort: CohortFilter
) -> Dataset:
    return filter_dataset(_load(kind, location, token, mapping), _cohort)


@st.cache_data(show_spinner=False, max_entries=8)
def _filter_choices(source_key: str, _dataset: Dataset) -> dict[str, list[str]]:
    return filter_options(_dataset)


@st.cache_data(show_spinner=False, max_entries=8)
def first_dose_range(source_key: str, _dataset: Dataset) -> tuple[dt.date, dt.date] | None:
    """Earliest and latest first dose (patients' origins), for the date filter."""
    if _dataset.time_representation != "datetime" or _dataset.assessments.empty:
        return None
    origins = patient_origins(_dataset.assessments, _dataset.treatments, "datetime")["origin"]
    origins = pd.to_datetime(origins).dropna()
    if origins.empty:
        return None
    return origins.min().date(), origins.max().date()


def sidebar() -> View:
    """Render the shared sidebar (source, filters, selection count) and return the view.

    Called from ``app.py`` before the page runs, so the filters keep their values when the
    reader moves between pages.
    """
    remove_stale_uploads()
    source = current_source()
    try:
        full = load_dataset(source)
    except (KatoutcomesError, OSError) as exc:
        st.session_state[_SOURCE_ERROR_KEY] = (
            f"Could not load {source.label}: {for_this_page(str(exc))}"
        )
        source = demo_source()
        st.session_state[_SOURCE_KEY] = source
        full = load_dataset(source)
    settings = current_settings()
    bar = st.sidebar
    bar.markdown("**Data**")
    bar.caption(source.label)
    if st.session_state.get(_SOURCE_ERROR_KEY):
        bar.error(st.session_state[_SOURCE_ERROR_KEY])

    bar.markdown("**Filter patients**")
    suffix = source.short_key
    cohort = CohortFilter()
    bounds = first_dose_range(source.key, full)
    if bounds is not None:
        low, high = bounds
        picked = bar.date_input(
            "First dose between",
            value=(low, high),
            min_value=low,
            max_value=high,
            key=f"filter_dates_{suffix}",
            format="YYYY-MM-DD",
        )
        if isinstance(picked, Sequence) and len(picked) == 2:
            start, end = picked
            cohort = CohortFilter(
                start=start if start > low else None, end=end if end < high else None
            )
    choices = _filter_choices(source.key, full)
    for attribute in FILTER_ATTRIBUTES:
        options = choices.get(attribute)
        if not options:
            continue
        chosen = bar.multiselect(
            FILTER_LABELS[attribute],
            options,
            format_func=level_label,
            placeholder="All",
            key=f"filter_{attribute}_{suffix}",
        )
        if chosen:
            cohort = cohort.with_levels(attribute, chosen)
    dataset = (
        full
        if cohort.is_empty
        else _filtered(
            source.kind, source.location, source.token, source.mapping, cohort_key(cohort), cohort
        )
    )
    view = View(source, full, dataset, cohort, settings)
    total = count_patients(full)
    bar.markdown(f"**{view.n_patients:,}** of {total:,} patients selected")
    if settings != Settings():
        changed = [
            f"{key} = {value}"
            for key, value in settings.to_dict().items()
            if value != Settings().to_dict()[key]
        ]
        bar.caption("Settings changed on the Research page: " + ", ".join(changed))
    st.session_state[_VIEW_KEY] = view
    return view


def current_view() -> View:
    """The view the sidebar computed in this run (pages call this)."""
    view = st.session_state.get(_VIEW_KEY)
    if view is None:
        view = sidebar()
    return view


def describe_filter(cohort: CohortFilter) -> str:
    if cohort.is_empty:
        return "all patients"
    parts = []
    if cohort.start or cohort.end:
        start = cohort.start.isoformat() if cohort.start else "the start"
        end = cohort.end.isoformat() if cohort.end else "the end"
        parts.append(f"first dose from {start} to {end}")
    for attribute in FILTER_ATTRIBUTES:
        levels = getattr(cohort, attribute)
        if levels:
            names = ", ".join(level_label(v) for v in levels)
            parts.append(f"{FILTER_LABELS[attribute].lower()} {names}")
    return "; ".join(parts)


# --------------------------------------------------------------------------------------
# Cached results (keyed by View.key; the dataset is passed unhashed)
# --------------------------------------------------------------------------------------


@st.cache_data(show_spinner="Computing outcomes…", max_entries=32)
def _outcomes(key: str, _dataset: Dataset, _settings: Settings) -> pd.DataFrame:
    return patient_outcomes(_dataset, _settings)


def outcomes(view: View) -> pd.DataFrame:
    return _outcomes(view.key, view.dataset, view.settings)


@st.cache_data(show_spinner=False, max_entries=32)
def _rates(key: str, _dataset: Dataset, _settings: Settings) -> pd.DataFrame:
    return outcome_rates(_outcomes(key, _dataset, _settings))


def rates(view: View) -> pd.DataFrame:
    return _rates(view.key, view.dataset, view.settings)


@st.cache_resource(show_spinner=False)
def packaged_claims() -> tuple[Claim, ...]:
    return load_claims()


@st.cache_data(show_spinner="Testing the claims…", max_entries=32)
def _claims(key: str, _dataset: Dataset, _settings: Settings) -> pd.DataFrame:
    return evaluate_claims(_dataset, _settings, packaged_claims())


def claims(view: View) -> pd.DataFrame:
    return _claims(view.key, view.dataset, view.settings)


@st.cache_data(show_spinner=False, max_entries=64)
def _curves(key: str, event: str, _dataset: Dataset, _settings: Settings) -> pd.DataFrame:
    return time_to_event(_outcomes(key, _dataset, _settings), event)


def curves(view: View, event: str) -> pd.DataFrame:
    return _curves(view.key, event, view.dataset, view.settings)


@st.cache_data(show_spinner=False)
def benchmarks() -> pd.DataFrame:
    return benchmark_intervals(load_published_benchmarks())


@st.cache_data(show_spinner=False, max_entries=64)
def _subgroups(
    key: str,
    by: str,
    outcome: str,
    instrument: str,
    population: str,
    _dataset: Dataset,
    _settings: Settings,
) -> pd.DataFrame:
    frame = _outcomes(key, _dataset, _settings)
    return subgroup_rates(frame, _dataset, by, outcome, instrument, population=population)


def subgroups(
    view: View, by: str, outcome: str = "response", instrument: str = "PHQ-9", population="itt"
) -> pd.DataFrame:
    """:func:`katoutcomes.cohort.subgroup_rates`; raises NotMeasurableError as it does."""
    return _subgroups(view.key, by, outcome, instrument, population, view.dataset, view.settings)


@st.cache_data(show_spinner=False, max_entries=64)
def _subgroup_curves(
    key: str, by: str, instrument: str, event: str, _dataset: Dataset, _settings: Settings
) -> pd.DataFrame:
    frame = _outcomes(key, _dataset, _settings)
    levels = patient_attributes(_dataset, by)
    level = frame["patient_id"].astype(str).map(levels).fillna("unknown")
    pieces = []
    for value in sorted(level.unique(), key=lambda v: (v == "unknown", v)):
        part = time_to_event(frame[(level == value).to_numpy()], event)
        part = part[part["instrument"] == instrument]
        if not part.empty:
            pieces.append(part.assign(instrument=level_label(value)))
    if not pieces:
        return pd.DataFrame()
    return pd.concat(pieces, ignore_index=True)


def subgroup_curves(view: View, by: str, instrument: str, event: str) -> pd.DataFrame:
    """Kaplan–Meier curves (:func:`time_to_event`) of one instrument per level of ``by``;
    the ``instrument`` column holds the level's label, so the plots draw one line per level."""
    return _subgroup_curves(view.key, by, instrument, event, view.dataset, view.settings)


#: Qualitative palette for subgroup lines (Okabe & Ito 2008, as in plots.COLORS).
GROUP_PALETTE: Final = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)


def recolour_groups(fig: go.Figure) -> go.Figure:
    """Give each legend group of a Kaplan–Meier figure its own colour (line and band)."""
    groups = list(dict.fromkeys(trace.legendgroup for trace in fig.data))
    for trace in fig.data:
        colour = GROUP_PALETTE[groups.index(trace.legendgroup) % len(GROUP_PALETTE)]
        if trace.fill == "tonexty":
            red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
            trace.fillcolor = f"rgba({red},{green},{blue},0.12)"
        elif trace.line.width:
            trace.line.color = colour
    return fig


# --------------------------------------------------------------------------------------
# Counts and small reshapes the pages show
# --------------------------------------------------------------------------------------


def headline(rates_frame: pd.DataFrame, instrument: str) -> dict[str, pd.Series]:
    """The intention-to-treat rows of :func:`outcome_rates` for one instrument, by outcome."""
    rows = rates_frame[
        (rates_frame["instrument"] == instrument) & (rates_frame["population"] == "itt")
    ]
    return {row["outcome"]: row for _, row in rows.iterrows()}


def adverse_events_table(dataset: Dataset) -> pd.DataFrame:
    """:func:`plots.adverse_events_data` with the share of treated patients per event."""
    data = plots.adverse_events_data(dataset)
    treated = int(dataset.treatments["patient_id"].nunique()) if dataset.has_treatments else 0
    return data.assign(share_of_patients=data["patients"] / treated if treated else np.nan)


#: Protocol measures computed by the claims engine (descriptive claims).
_ADHERENCE_CLAIMS: Final = (
    Claim(
        id="sixth_dose_within_21_days",
        claim="Patients whose 6th dose came within 21 days of the first",
        quantity="nth_dose_within",
        rule="descriptive",
        params={"doses": 6, "days": 21},
    ),
    Claim(
        id="monitoring_120",
        claim="Sessions monitored for at least 2 hours",
        quantity="monitoring_share",
        rule="descriptive",
        params={"minutes": 120},
    ),
    Claim(
        id="first_dose_mg_per_kg",
        claim="First dose, mg/kg (median)",
        quantity="first_dose_mg_per_kg",
        rule="descriptive",
    ),
)


@st.cache_data(show_spinner=False, max_entries=32)
def _adherence(key: str, _dataset: Dataset, _settings: Settings) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    if not _dataset.has_treatments:
        return pd.DataFrame()
    card = evaluate_claims(_dataset, _settings, _ADHERENCE_CLAIMS)
    units = dict(zip(card["id"], card["unit"], strict=True))
    for _, row in card.iterrows():
        rows.append(
            {
                "measure": row["claim"],
                "value": format_value(row["estimate"], units[row["id"]]),
                "interval": format_interval(row["ci_low"], row["ci_high"], units[row["id"]]),
                "patients": row["n"],
                "note": row["note"],
            }
        )
    treatments = _dataset.treatments
    early = median_ci(doses_within(treatments, INDUCTION_DAYS).to_numpy(dtype=float))
    rows.insert(
        1,
        {
            "measure": f"Doses in the first {INDUCTION_DAYS:.0f} days (median per patient)",
            "value": f"{early.median:g}" if early.n else "–",
            "interval": "–"
            if pd.isna(early.ci_low)
            else f"{early.ci_low:.0f} to {early.ci_high:.0f}",
            "patients": early.n,
            "note": "Doses on days 0 to 21 after the first dose, counted per treated patient; "
            "distribution-free interval for the median.",
        },
    )
    patient = treatments["patient_id"].astype(str).to_numpy()
    minutes = cluster_bootstrap_median(treatments["monitoring_minutes"], patient)
    rows.insert(
        3,
        {
            "measure": "Monitoring time per session, minutes (median)",
            "value": "–" if pd.isna(minutes.median) else f"{minutes.median:.0f} min",
            "interval": "–"
            if pd.isna(minutes.ci_low)
            else f"{minutes.ci_low:.0f} to {minutes.ci_high:.0f} min",
            "patients": minutes.n_clusters,
            "note": f"Over {minutes.n_units:,} sessions with a recorded time; interval from "
            "resampling patients.",
        },
    )
    mg_per_kg = dose_mg_per_kg(treatments)
    dose = cluster_bootstrap_median(mg_per_kg, patient)
    rows.append(
        {
            "measure": "Dose per session, mg/kg (median)",
            "value": format_value(dose.median, "mg/kg"),
            "interval": format_interval(dose.ci_low, dose.ci_high, "mg/kg"),
            "patients": dose.n_clusters,
            "note": f"Over {dose.n_units:,} sessions with a dose and a weight; interval from "
            "resampling patients.",
        }
    )
    out = pd.DataFrame(rows)
    out["patients"] = out["patients"].astype("Int64")
    return out


def adherence(view: View) -> pd.DataFrame:
    """Protocol adherence: induction doses, monitoring time and dose (empty without
    treatments)."""
    return _adherence(view.key, view.dataset, view.settings)


def patient_ids(dataset: Dataset) -> list[str]:
    return sorted(dataset.assessments["patient_id"].astype(str).unique())


#: Session key of the patient last shown (reopened when the address names nobody).
LAST_PATIENT_KEY: Final = "katoutcomes_last_patient"


#: A pseudonymous patient id (DESIGN 3.1).
_PATIENT_ID: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def id_text(asked: str | None) -> str | None:
    """A patient id from the address as markdown that shows it and nothing else (in code
    style); None for anything that is not a well-formed id, which is not repeated (it
    could carry markdown or a link)."""
    if asked and _PATIENT_ID.match(asked):
        return f"`{asked}`"
    return None


def patient_status(asked: str | None, shown: Sequence[str], known: Sequence[str]) -> str:
    """Whether the patient the address asks for can be shown.

    ``"shown"`` (listed under the current filter), ``"filtered"`` (in the data but hidden
    by the sidebar filter), ``"unknown"`` (not in the data at all) or ``"none"`` (no patient
    asked for). Only ``"shown"`` may show anybody: never fall back to another patient.
    """
    if not asked:
        return "none"
    if asked in shown:
        return "shown"
    return "filtered" if asked in known else "unknown"


def patient_latest_score(dataset: Dataset, patient_id: str, instrument: str) -> float:
    """The patient's most recent total on an instrument (NaN when none)."""
    a = dataset.assessments
    rows = a[(a["patient_id"].astype(str) == patient_id) & (a["instrument"] == instrument)]
    rows = rows.dropna(subset=["total"]).sort_values("t")
    return float(rows["total"].iloc[-1]) if len(rows) else float("nan")


def item9_flags(dataset: Dataset, patient_id: str) -> pd.DataFrame:
    """The patient's PHQ-9 assessments with item 9 (thoughts of self-harm) flagged."""
    rows = dataset.assessments[
        (dataset.assessments["patient_id"].astype(str) == patient_id)
        & dataset.assessments["item9_flag"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    ]
    return rows.sort_values("t")


def when(row: pd.Series, dataset: Dataset, column: str) -> str:
    """A row's date (or study day) as text."""
    if dataset.time_representation == "datetime" and pd.notna(row.get(column)):
        return pd.Timestamp(row[column]).strftime("%Y-%m-%d")
    return f"study day {row['t']:.0f}"


def patient_sessions(dataset: Dataset, patient_id: str) -> pd.DataFrame:
    """One row per day with an assessment or a dose: scores and dose details side by side.

    Columns (already labelled for display): Date, Day (since the first dose), PHQ-9, GAD-7,
    PHQ-9 item 9, Dose (mg), Dose (mg/kg), Route, Monitoring (min), Psychotherapy,
    Adverse events.
    """
    datetime = dataset.time_representation == "datetime"
    a = dataset.assessments[dataset.assessments["patient_id"].astype(str) == patient_id]
    t = dataset.treatments[dataset.treatments["patient_id"].astype(str) == patient_id]

    def day_key(frame: pd.DataFrame, column: str) -> pd.Series:
        if datetime:
            return pd.to_datetime(frame[column]).dt.normalize()
        return np.floor(frame["t"])

    a = a.sort_values("t").assign(_key=day_key(a, "assessed_at"))
    # Several questionnaires on one day are all shown, in order ("27 → 17"): keeping only
    # one could hide the score that raised an item-9 flag.
    scores = a.pivot_table(
        index="_key", columns="instrument", values="total", aggfunc=_in_order, dropna=False
    )
    scores = scores.reindex(columns=[c for c in INSTRUMENTS if c in scores.columns])
    item9 = (
        a[a["instrument"] == "PHQ-9"]
        .groupby("_key")["item_9"]
        .agg(_in_order)
        .rename("PHQ-9 item 9")
    )
    t = t.sort_values("t").assign(_key=day_key(t, "administered_at"))
    doses = pd.DataFrame(index=pd.Index([], name="_key"))
    if not t.empty:
        t = t.assign(mg_per_kg=t["dose_mg"] / t["weight_kg"])
        doses = t.groupby("_key").agg(
            **{
                "Dose (mg)": ("dose_mg", "sum"),
                "Dose (mg/kg)": ("mg_per_kg", "sum"),
                "Route": ("route", lambda s: ", ".join(level_label(v) for v in s.dropna())),
                "Monitoring (min)": ("monitoring_minutes", "max"),
                "Psychotherapy": ("psychotherapy", lambda s: _yes_no(s)),
                "Adverse events": ("adverse_events", _events_text),
            }
        )
    pieces = [scores, item9] + ([doses] if not t.empty else [])
    out = pd.concat(pieces, axis=1, sort=True)
    if datetime and not out.empty:
        # Calendar days since the date of the first dose (a questionnaire filled in an hour
        # before the first dose is on day 0, not day -1).
        stamps = pd.concat(
            [pd.to_datetime(a["assessed_at"]), pd.to_datetime(t["administered_at"])],
            ignore_index=True,
        )
        times = pd.to_timedelta(pd.concat([a["t"], t["t"]], ignore_index=True), unit="D")
        origin = (stamps - times).dropna().dt.round("min").dt.normalize().min()
        day = pd.Series((pd.DatetimeIndex(out.index) - origin).days, index=out.index)
    else:
        day = pd.Series(out.index, index=out.index)
    out.insert(0, "Day", day.astype("Int64"))
    if datetime:
        out.insert(0, "Date", pd.DatetimeIndex(out.index).strftime("%Y-%m-%d"))
    return out.reset_index(drop=True)


def _in_order(values: pd.Series) -> str:
    return " → ".join(f"{v:.0f}" for v in values.dropna())


def _yes_no(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    return "Yes" if bool(values.astype(bool).any()) else "No"


def _events_text(values: pd.Series) -> str:
    codes = [c.strip() for v in values.dropna().astype(str) for c in v.split(";") if c.strip()]
    return ", ".join(dict.fromkeys(c.replace("_", " ") for c in codes))


def patient_summary_html(view: View, patient_id: str) -> str:
    """A printable one-page summary: facts, item-9 flags, the figure and the sessions."""
    dataset, settings = view.dataset, view.settings
    frame = outcomes(view)
    fig = plots.patient_trajectory(dataset, patient_id, frame, settings)
    fig.update_layout(width=900, height=680)
    figure = fig.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})
    sessions = patient_sessions(dataset, patient_id)
    n_doses = int((dataset.treatments["patient_id"].astype(str) == patient_id).sum())
    facts = [("Dosing sessions", f"{n_doses}")]
    mine = frame[frame["patient_id"].astype(str) == patient_id]
    order = {name: i for i, name in enumerate(INSTRUMENTS)}
    mine = mine.sort_values("instrument", key=lambda s: s.map(order))
    for _, row in mine.iterrows():
        name = str(row["instrument"])
        endpoint_day = "" if pd.isna(row["endpoint_day"]) else f" (day {row['endpoint_day']:.0f})"
        facts.append((f"{name} baseline", score_text(row["baseline"])))
        facts.append((f"{name} endpoint{endpoint_day}", score_text(row["endpoint"])))
        facts.append((f"{name} change, baseline to endpoint", signed_change(row["pct_change"])))
        # The endpoint closes the acute window; a later score may tell another story.
        facts.append(
            (f"{name} latest", score_text(patient_latest_score(dataset, patient_id, name)))
        )
    flags = item9_flags(dataset, patient_id)
    flag_items = "".join(
        f"<li>{html.escape(when(row, dataset, 'assessed_at'))}: item 9 = "
        f"{score_text(row['item_9'])}{' (high)' if is_yes(row['item9_high']) else ''}, "
        f"PHQ-9 total {score_text(row['total'])}</li>"
        for _, row in flags.iterrows()
    )
    answered = item9_answers(dataset, patient_id)
    coverage = html.escape(item9_coverage_text(answered, len(flags)))
    if len(flags):
        flag_block = (
            f'<div class="flag"><strong>PHQ-9 item 9 (thoughts of self-harm) scored at least 1 '
            f"on {len(flags)} occasion(s):</strong><ul>{flag_items}</ul>"
            + (f"<p>{coverage}</p>" if answered.unanswered else "")
            + "</div>"
        )
    elif answered.unanswered:
        flag_block = f'<div class="gap"><strong>{coverage}</strong></div>'
    else:
        flag_block = f"<p>{coverage}</p>"
    fact_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
    )
    table = sessions.to_html(
        index=False, na_rep="", float_format=lambda x: f"{x:.2f}".rstrip("0").rstrip("."), border=0
    )
    generated = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Patient {html.escape(patient_id)} – katoutcomes summary</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; color: #222; margin: 24px; font-size: 13px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
.muted {{ color: #666; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
th, td {{ padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: left; }}
.flag {{ border: 2px solid #C0392B; background: #F8E0DD; padding: 8px 12px; margin: 12px 0; }}
.gap {{ border: 2px solid #B9770E; background: #FCF3CF; padding: 8px 12px; margin: 12px 0; }}
@page {{ size: A4; margin: 10mm; }}
@media print {{ body {{ margin: 0; font-size: 11px; }} .plotly-graph-div {{ zoom: 0.78; }} }}
</style></head><body>
<h1>Patient {html.escape(patient_id)}</h1>
<p class="muted">{html.escape(view.source.label)} · generated {generated} by katoutcomes
{html.escape(katoutcomes.__version__)} · response = a fall of at least
{settings.response:.0%} from baseline within {settings.endpoint_days:.0f} days</p>
{flag_block}
<table>{fact_rows}</table>
{figure}
<h2 style="font-size:16px">Sessions</h2>
{table}
</body></html>"""


#: U+2212, the minus sign: a hyphen before a number is easily missed or misread in print.
MINUS: Final = "\u2212"


def signed_change(fraction: object) -> str:
    """A change in score as a signed percentage with its meaning in words.

    Higher PHQ-9 and GAD-7 scores mean more symptoms, so a rise is worse and a fall is
    better: ``0.56`` gives ``"+56% (worse)"``, ``-0.82`` gives ``"−82% (better)"`` (with
    the minus sign U+2212), a change that rounds to 0% gives ``"0% (no change)"``.
    """
    if fraction is None or pd.isna(fraction):  # type: ignore[call-overload]
        return "–"
    percent = round(100.0 * float(fraction))  # type: ignore[arg-type]
    if percent > 0:
        return f"+{percent}% (worse)"
    if percent < 0:
        return f"{MINUS}{-percent}% (better)"
    return "0% (no change)"


@dataclass(frozen=True)
class Item9Answers:
    """How many of a patient's PHQ-9 questionnaires answered item 9."""

    questionnaires: int
    answered: int

    @property
    def unanswered(self) -> int:
        return self.questionnaires - self.answered


def item9_answers(dataset: Dataset, patient_id: str) -> Item9Answers:
    """PHQ-9 questionnaires of the patient, and those with item 9 (self-harm) answered."""
    a = dataset.assessments
    mine = a[(a["patient_id"].astype(str) == patient_id) & (a["instrument"] == "PHQ-9")]
    return Item9Answers(len(mine), int(mine["item_9"].notna().sum()))


def item9_coverage_text(answers: Item9Answers, flagged: int = 0) -> str:
    """What the item-9 record says, counting the questionnaires where it was not answered:
    a missing answer is not a reassurance. ``flagged``: occasions scored 1 or more."""
    n, missing = answers.questionnaires, answers.unanswered
    if n == 0:
        return "No PHQ-9 questionnaire recorded: item 9 (thoughts of self-harm) was never asked."
    plural = "s" if n > 1 else ""
    if missing == 0:
        if flagged:
            return f"Item 9 answered on all {n} PHQ-9 questionnaire{plural}."
        return f"No item-9 flag: item 9 answered 0 on all {n} PHQ-9 questionnaire{plural}."
    text = (
        f"Item 9 (thoughts of self-harm) not answered on {missing} of {n} PHQ-9 "
        f"questionnaire{plural}"
    )
    if flagged or answers.answered == 0:
        return text + "."
    return text + f"; answered 0 on the other {answers.answered}."


def is_yes(value: object) -> bool:
    """A nullable yes/no cell as a plain bool (missing is no)."""
    return bool(pd.notna(value) and value)


def score_text(value: object) -> str:
    return "–" if pd.isna(value) else f"{float(value):.0f}"


# --------------------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------------------


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def json_text(frame: pd.DataFrame) -> str:
    return frame.to_json(orient="records", date_format="iso", indent=1)


def provenance(view: View) -> dict[str, Any]:
    """Settings, data provenance (files and their hashes), filter and versions."""
    import streamlit

    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "package": "katoutcomes",
        "package_version": katoutcomes.__version__,
        "python": platform.python_version(),
        "streamlit": streamlit.__version__,
        "pandas": pd.__version__,
        "data_source": view.source.label,
        "data": _jsonable(dict(view.dataset.provenance)),
        "filter": describe_filter(view.cohort),
        "patients": view.n_patients,
        "settings": view.settings.to_dict(),
        "small_cell_suppression": (
            "not applied: these are per-patient, internal research exports; suppress cells "
            f"with fewer than {view.settings.suppression_k} patients before sharing"
        ),
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def research_zip(view: View) -> bytes:
    """Every table of the research view and a provenance.json, as one zip archive."""
    frame = outcomes(view)
    card = claims(view)
    files: dict[str, bytes] = {
        "patient_outcomes.csv": csv_text(frame).encode(),
        "patient_outcomes.parquet": parquet_bytes(frame),
        "outcome_rates.csv": csv_text(rates(view)).encode(),
        "claims.csv": csv_text(card).encode(),
        "claims.json": json.dumps(
            claims_to_dict(card, view.settings, view.dataset.provenance), indent=1, default=str
        ).encode(),
    }
    for event in ("response", "early_improvement", "relapse"):
        files[f"time_to_{event}.csv"] = csv_text(curves(view, event)).encode()
    pieces = []
    for by in SUBGROUPS:
        for outcome in ("response", "remission"):
            for instrument in INSTRUMENTS:
                try:
                    part = subgroups(view, by, outcome, instrument)
                except NotMeasurableError:
                    continue
                pieces.append(part.assign(outcome=outcome, instrument=instrument))
    if pieces:
        files["subgroup_rates.csv"] = csv_text(pd.concat(pieces, ignore_index=True)).encode()
    meta = provenance(view)
    meta["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    files["provenance.json"] = json.dumps(meta, indent=1).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def shareable_zip(view: View) -> bytes:
    """Aggregate tables only, with small cells suppressed (DESIGN 9), a README naming the
    data, the filter and the rule, and provenance: :func:`katoutcomes.exports.
    shareable_archive` on the view's (filtered) data. No per-patient rows and no
    per-clinician results."""
    from katoutcomes.exports import shareable_archive

    meta = provenance(view)
    extra = {key: meta[key] for key in ("package", "package_version", "python", "streamlit")}
    label = view.source.label if view.source.kind != "demo" else None
    return shareable_archive(
        view.dataset,
        view.settings,
        claims=packaged_claims(),
        source_label=label,
        provenance=extra,
    )


# --------------------------------------------------------------------------------------
# Showing tables and charts
# --------------------------------------------------------------------------------------


def show_table(
    frame: pd.DataFrame,
    *,
    percent: Iterable[str] = (),
    formats: Mapping[str, str] | None = None,
    hide: Iterable[str] = (),
    height: int | str = "auto",
    key: str | None = None,
) -> None:
    """``st.dataframe`` with human headers and formatted numbers (data unchanged)."""
    percent = {c for c in percent if c in frame.columns}
    formats = dict(formats or {})
    shown = frame.drop(columns=[c for c in hide if c in frame.columns])
    # Fractions shown as percentages with one decimal (Streamlit's "percent" preset drops
    # trailing zeros, so a column would mix 57.5% and 56.22%).
    shown = shown.assign(**{c: 100.0 * shown[c].astype("float64") for c in percent})
    config: dict[str, Any] = {}
    for column in shown.columns:
        label = column_label(str(column))
        if column in percent:
            config[column] = st.column_config.NumberColumn(label, format="%.1f%%")
        elif column in formats:
            config[column] = st.column_config.NumberColumn(label, format=formats[column])
        elif pd.api.types.is_float_dtype(shown[column]):
            config[column] = st.column_config.NumberColumn(label, format="%.1f")
        else:
            config[column] = st.column_config.Column(label)
    st.dataframe(shown, hide_index=True, column_config=config, height=height, key=key)


def download_csv(
    frame: pd.DataFrame, file_name: str, *, label: str = "Download CSV", key: str | None = None
) -> None:
    """A CSV download button; ``key`` (default: from the file name) must be unique on the page."""
    st.download_button(
        label,
        data=lambda: csv_text(frame),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        key=key or f"download_{file_name}",
    )


@st.cache_resource(show_spinner=False, max_entries=256)
def _figure(
    key: str, name: str, _build: Callable[[], tuple[go.Figure, pd.DataFrame]]
) -> tuple[go.Figure, pd.DataFrame]:
    return _build()


def figure(
    view: View, name: str, build: Callable[[], tuple[go.Figure, pd.DataFrame]]
) -> tuple[go.Figure, pd.DataFrame]:
    """``build()`` (a figure and the table it draws), cached for the view's data, filter and
    settings under ``name``. Shared, not copied: callers must not modify the figure."""
    return _figure(view.key, name, build)


def chart(
    fig: go.Figure,
    data: pd.DataFrame,
    name: str,
    *,
    empty: str,
    percent: Iterable[str] = (),
    formats: Mapping[str, str] | None = None,
    hide: Iterable[str] = (),
) -> None:
    """A figure with the table it was drawn from one click away, or why there is none."""
    if data.empty:
        st.info(empty, icon=":material/info:")
        return
    st.plotly_chart(fig, key=f"chart_{name}", theme=None, config={"displaylogo": False})
    with st.expander("Numbers behind this chart"):
        show_table(data, percent=percent, formats=formats, hide=hide)
        download_csv(data, f"{name}.csv")


#: Decision rules in a few words, for the scorecard column (full text: RULE_TEXT).
RULE_SHORT: Final[Mapping[str, str]] = {
    "two_sided": "CI inside the claim ± margin",
    "above": "CI above the bound",
    "below": "CI below the bound",
    "difference_positive": "CI of difference above 0",
    "difference_nonzero": "CI of difference excludes 0",
    "descriptive": "No test (descriptive)",
}


def claim_titles(card: pd.DataFrame, claims: Sequence[Claim]) -> pd.Series:
    """The quoted claims, with the instrument added where two claims read the same."""
    instruments = {c.id: str(c.params.get("instrument", "")) for c in claims}
    text = card["claim"].astype(str)
    repeated = text.duplicated(keep=False)
    suffix = card["id"].map(lambda i: f" ({instruments.get(i)})" if instruments.get(i) else "")
    return text.where(~repeated, text + suffix)


def scorecard_table(card: pd.DataFrame, claims: Sequence[Claim]) -> pd.io.formats.style.Styler:
    """The claims scorecard for reading: plain headers, values in their unit; the verdict
    cell's colour says whether the news is good or bad for patients, its word the verdict."""
    rules = {c.id: c.rule for c in claims}
    verdicts = card["verdict"].astype(str)
    news = card["news"].astype(str)
    table = pd.DataFrame(
        {
            "Claim": claim_titles(card, claims).map(lambda t: f"“{t}”"),
            # A contradicted claim says which way the data lie: doing better than claimed
            # should not read as bad news.
            "Verdict": [
                plots.VERDICT_LABELS.get(v, v) + (f" ({way})" if way else "")
                for v, way in zip(verdicts, card["direction"], strict=True)
            ],
            "Clinic's data (95% CI)": [
                (format_estimate(e, lo, hi, u) if pd.notna(e) else "Not estimated")
                + ("" if pd.isna(n) else f", {int(n):,} patients")
                for e, lo, hi, u, n in zip(
                    card["estimate"],
                    card["ci_low"],
                    card["ci_high"],
                    card["unit"],
                    card["n"],
                    strict=True,
                )
            ],
            "Claimed": [
                format_value(c, u) + ("" if pd.isna(m) else f" ± {format_margin(m, u)}")
                for c, u, m in zip(card["claimed"], card["unit"], card["margin"], strict=True)
            ],
            "What the data say": card["note"].astype(str),
            "Population": card["population"].astype(str),
            "Supported when": card["id"].map(lambda i: RULE_SHORT.get(rules.get(i, ""), "")),
            "ID": card["id"].astype(str),
        }
    )
    css = [plots.news_css(n) for n in news]
    return (
        table.style.hide(axis="index")
        .apply(lambda column: css, subset=["Verdict"])
        # st.table sizes columns to their content; give the long texts room to read.
        .set_properties(subset=["Claim"], **{"font-weight": "600", "min-width": "11em"})
        .set_properties(subset=["Clinic's data (95% CI)"], **{"min-width": "8em"})
        .set_properties(
            subset=["What the data say"], **{"font-size": "0.85em", "min-width": "25em"}
        )
        .set_properties(subset=["Supported when", "Population"], **{"font-size": "0.85em"})
        .set_properties(
            subset=["ID"], **{"font-size": "0.75em", "color": "#6B6B6B", "word-break": "break-all"}
        )
    )
