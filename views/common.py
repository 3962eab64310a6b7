"""What every dashboard page shares: the view (data source, sidebar filters, settings),
its analysis, and the helpers that show a table or a chart with its numbers one click away.

Caching
-------
- Datasets are cached with ``st.cache_resource`` in :mod:`views.sources` (one object
  shared by every session), keyed by the source and, for a filtered cohort, the filter.
- Every number a page shows comes from one :class:`katoutcomes.analysis.Analysis` per
  view, cached with ``st.cache_resource`` keyed by :attr:`View.key` (source, filter,
  settings): the analysis computes each result once, on first use, and a filter already
  seen is served without recomputing or copying anything. Results are shared between
  sessions: pages must not modify the frames they receive.
- Figures are cached per view key and name (:func:`figure`).

Nothing here computes a statistic: numbers come from the analysis; this module reshapes,
labels and formats them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from katoutcomes import formatting as fmt
from katoutcomes import plots
from katoutcomes.analysis import Analysis
from katoutcomes.claims import Claim, load_claims
from katoutcomes.dataset import Dataset
from katoutcomes.errors import KatoutcomesError
from katoutcomes.exports import csv_text
from katoutcomes.filters import FILTER_ATTRIBUTES, CohortFilter, filter_dataset, filter_options
from katoutcomes.settings import Settings
from katoutcomes.timebase import patient_origins
from views.labels import (
    EVENT_LABELS,
    FILTER_LABELS,
    POPULATION_LABELS,
    RULE_SHORT,
    RULE_TEXT,
    SUBGROUP_LABELS,
    column_label,
    describe_filter,
    level_label,
    recolour_groups,
)
from views.sources import (
    DEMO_PATIENTS,
    ENV_DATA,
    ENV_DB,
    SOURCE_ERROR_KEY,
    SOURCE_KEY,
    Source,
    current_settings,
    current_source,
    demo_source,
    export_frames,
    for_this_page,
    ingest_progress,
    load_dataset,
    path_source,
    progress_feedback,
    remove_stale_uploads,
    session_upload_folders,
    source_mapping,
    store_source,
    use_settings,
    use_source,
    validated,
    with_mapping,
)

__all__ = [
    "DEMO_PATIENTS",
    "ENV_DATA",
    "ENV_DB",
    "EVENT_LABELS",
    "POPULATION_LABELS",
    "RULE_TEXT",
    "SECTION_KEY",
    "SUBGROUP_LABELS",
    "Source",
    "View",
    "analysis",
    "chart",
    "claims",
    "column_label",
    "current_settings",
    "current_view",
    "demo_source",
    "describe_filter",
    "export_frames",
    "for_this_page",
    "ingest_progress",
    "level_label",
    "load_dataset",
    "open_tab",
    "path_source",
    "progress_feedback",
    "recolour_groups",
    "session_upload_folders",
    "sidebar",
    "source_mapping",
    "store_source",
    "use_settings",
    "use_source",
    "validated",
    "with_mapping",
]

_VIEW_KEY: Final = "katoutcomes_view"
#: Session-state key of the overview's open section (the label of its tab).
SECTION_KEY: Final = "overview_section"


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
def _filtered(source_key: str, key: str, _source: Source, _cohort: CohortFilter) -> Dataset:
    return filter_dataset(load_dataset(_source), _cohort)


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
        st.session_state[SOURCE_ERROR_KEY] = (
            f"Could not load {source.label}: {for_this_page(str(exc))}"
        )
        source = demo_source()
        st.session_state[SOURCE_KEY] = source
        full = load_dataset(source)
    settings = current_settings()
    bar = st.sidebar
    bar.markdown("**Data**")
    bar.caption(source.label)
    if st.session_state.get(SOURCE_ERROR_KEY):
        bar.error(st.session_state[SOURCE_ERROR_KEY])

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
    dataset = full if cohort.is_empty else _filtered(source.key, cohort_key(cohort), source, cohort)
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


# --------------------------------------------------------------------------------------
# The view's analysis: every number a page shows
# --------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def packaged_claims() -> tuple[Claim, ...]:
    return load_claims()


@st.cache_resource(show_spinner=False, max_entries=32)
def _analysis(key: str, _dataset: Dataset, _settings: Settings, label: str) -> Analysis:
    return Analysis(_dataset, _settings, packaged_claims(), source_label=label)


def analysis(view: View) -> Analysis:
    """The analysis of the view's data, filter and settings (one per key, shared by every
    session; results are computed on first use)."""
    return _analysis(view.key, view.dataset, view.settings, view.source.label)


def outcomes(view: View) -> pd.DataFrame:
    return analysis(view).outcomes


def rates(view: View) -> pd.DataFrame:
    return analysis(view).rates


def claims(view: View) -> pd.DataFrame:
    return analysis(view).scorecard


def curves(view: View, event: str) -> pd.DataFrame:
    return analysis(view).curves(event)


@st.cache_resource(show_spinner=False)
def benchmarks() -> pd.DataFrame:
    """Published benchmark results with their intervals (the same for every view)."""
    from katoutcomes.benchmarks import benchmark_intervals, load_published_benchmarks

    return benchmark_intervals(load_published_benchmarks())


def subgroups(
    view: View, by: str, outcome: str = "response", instrument: str = "PHQ-9", population="itt"
) -> pd.DataFrame:
    """:meth:`Analysis.subgroups`; raises NotMeasurableError as it does."""
    return analysis(view).subgroups(by, outcome, instrument, population)


def subgroup_curves(view: View, by: str, instrument: str, event: str) -> pd.DataFrame:
    """Kaplan–Meier curves of one instrument per level of ``by``; the ``instrument`` column
    holds the level's label, so the plots draw one line per level."""
    frame = analysis(view).subgroup_curves(by, instrument, event)
    if frame.empty:
        return frame
    return frame.assign(instrument=frame["level"].map(level_label)).drop(columns="level")


def adherence(view: View) -> pd.DataFrame:
    """Protocol adherence for reading: each measure's value and interval as text."""
    table = analysis(view).adherence
    if table.empty:
        return pd.DataFrame()
    units = table["unit"].tolist()
    return pd.DataFrame(
        {
            "measure": table["measure"],
            "value": [fmt.value(v, u) for v, u in zip(table["estimate"], units, strict=True)],
            "interval": [
                fmt.interval(lo, hi, u)
                for lo, hi, u in zip(table["ci_low"], table["ci_high"], units, strict=True)
            ],
            "patients": table["patients"],
            "note": table["note"],
        }
    )


def adverse_events_table(view: View) -> pd.DataFrame:
    """Adverse events per type with the share of treated patients."""
    return analysis(view).adverse_events


def headline(rates_frame: pd.DataFrame, instrument: str) -> dict[str, pd.Series]:
    """The intention-to-treat rows of the rates for one instrument, by outcome."""
    rows = rates_frame[
        (rates_frame["instrument"] == instrument) & (rates_frame["population"] == "itt")
    ]
    return {row["outcome"]: row for _, row in rows.iterrows()}


# --------------------------------------------------------------------------------------
# Exports (the bundles `katoutcomes export` writes)
# --------------------------------------------------------------------------------------


def research_zip(view: View) -> bytes:
    """Every table of the view with a codebook and provenance (``katoutcomes export``)."""
    from katoutcomes.bundle import research_bundle

    return research_bundle(analysis(view))


def shareable_zip(view: View) -> bytes:
    """Aggregates only, small cells suppressed (``katoutcomes export --shareable``)."""
    from katoutcomes.bundle import shareable_bundle

    return shareable_bundle(analysis(view))


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


#: Figures kept: about two for each of the 32 analyses kept (each view draws the figures of
#: its open section only), so that memory stops growing once the caches are full.
_FIGURES_KEPT: Final = 64


@st.cache_resource(show_spinner=False, max_entries=_FIGURES_KEPT)
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


def open_tab(labels: Sequence[str], key: str) -> tuple[Any, str]:
    """Tabs whose content is drawn only when opened: the tabs, and the container and label
    of the open one (the first, until the reader picks another; kept under ``key``).

    Choosing a tab reruns the page (``st.tabs(on_change="rerun")``), and only the open
    tab's content runs: a page of several heavy tabs costs one tab's figures.
    """
    tabs = st.tabs(list(labels), key=key, on_change="rerun")
    return next((tab, label) for tab, label in zip(tabs, labels, strict=True) if tab.open)


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
    # The table is drawn when asked for: a page of charts would otherwise send every
    # chart's numbers (tens of thousands of rows on a large clinic) to each new session.
    left, right = st.columns([3, 1])
    shown = left.toggle("Numbers behind this chart", key=f"numbers_{name}")
    with right:
        download_csv(data, f"{name}.csv")
    if shown:
        show_table(data, percent=percent, formats=formats, hide=hide)


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
                fmt.verdict(v, way) for v, way in zip(verdicts, card["direction"], strict=True)
            ],
            "Clinic's data (95% CI)": [
                (fmt.estimate(e, lo, hi, u) if pd.notna(e) else "Not estimated")
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
            # Comparisons of groups: the case-mix adjusted difference beside the crude one.
            "Adjusted for case mix (95% CI)": [
                ""
                if fmt.is_missing(a)
                else fmt.estimate(a, lo, hi, "difference") + f", {int(n):,} patients"
                for a, lo, hi, n in zip(
                    card["adjusted_estimate"],
                    card["adjusted_ci_low"],
                    card["adjusted_ci_high"],
                    card["adjusted_n"],
                    strict=True,
                )
            ],
            "Claimed": [
                fmt.value(c, u, claimed=True) + ("" if pd.isna(m) else f" ± {fmt.margin(m, u)}")
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
