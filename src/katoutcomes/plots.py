"""Figures for the dashboard and the report: tidy data in, :class:`plotly.graph_objects.Figure` out.

Every figure has a companion ``*_data`` function that returns the tidy DataFrame the figure
draws (``cohort_trajectory_data`` for :func:`cohort_trajectory`, and so on). The figure
function calls it, so a table shown "one click away" from a chart holds exactly the numbers
in the chart. Nothing here reads files, touches a database or imports Streamlit; the
dashboard and the HTML report only lay the figures out.

Conventions
-----------
- One look: the ``plotly_white`` template, the colours in :data:`COLORS` (Okabe–Ito based,
  readable by people with colour-vision deficiency), severity bands in
  :data:`SEVERITY_COLORS`, the legend above the plotting area, left-aligned titles with a
  plain-words subtitle.
- Shares are kept as fractions and shown as percentages (axis ticks with no decimals, hover
  text with one); days are days since the first dose (DESIGN 3.5).
- Severity bands, thresholds and caseness come from
  :data:`katoutcomes.instruments.INSTRUMENTS`; the response fraction from
  :class:`katoutcomes.settings.Settings`. Nothing clinical is restated here.
- Empty input never raises: the figure says "No data" and why, in the middle of the chart.
- Severity-band shapes are named ``"severity band: <label>"`` and "No data" annotations
  start with ``"No data"``, so tests and callers can find them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats as sps

from katoutcomes.benchmarks import benchmark_intervals
from katoutcomes.cohort import RATE_OUTCOME_LABELS, UNKNOWN_LEVEL, in_population
from katoutcomes.instruments import INSTRUMENTS, PHQ9, Instrument, normalise_instrument_name
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.schema import load_schema
from katoutcomes.settings import Settings
from katoutcomes.stats import no_event_lower_limit

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = [
    "COLORS",
    "NEWS_BACKGROUNDS",
    "NEWS_COLORS",
    "NEWS_LABELS",
    "PATIENT_LAYERS",
    "SEVERITY_COLORS",
    "VERDICT_LABELS",
    "adverse_events",
    "adverse_events_data",
    "cohort_trajectory",
    "cohort_trajectory_data",
    "cumulative_response",
    "cumulative_response_data",
    "figure_data",
    "forest",
    "forest_data",
    "news_color",
    "news_css",
    "news_legend_html",
    "patient_trajectory",
    "patient_trajectory_data",
    "response_duration",
    "response_duration_data",
    "scorecard_colors",
    "subgroup_forest",
    "subgroup_forest_data",
    "waterfall",
    "waterfall_data",
]

# --------------------------------------------------------------------------------------
# Look and feel
# --------------------------------------------------------------------------------------

#: Colours used across figures (Okabe & Ito 2008 palette where a hue carries meaning).
COLORS: Final = MappingProxyType(
    {
        "clinic": "#1F4E79",
        "PHQ-9": "#0072B2",
        "GAD-7": "#A1467E",
        "other_instrument": "#5A5A5A",
        "published": "#4D4D4D",
        "published_other_scale": "#8C8C8C",
        "remission": "#1B7837",
        "response": "#8CC084",
        "no_response": "#BDBDBD",
        "reference": "#3B3B3B",
        "self_harm": "#D7191C",
        "dose": "#4D4D4D",
        "dose_adverse_event": "#E66101",
        "first_response": "#1B7837",
        "response_line": "#2F7F3F",
        "relapse": "#8E0152",
        "event_any": "#1F4E79",
        "event": "#6A9FCB",
    }
)

#: Fill of each severity band (pale, so that data drawn over them stays readable).
SEVERITY_COLORS: Final = MappingProxyType(
    {
        "minimal": "#EAF5EA",
        "mild": "#F8F6DD",
        "moderate": "#FCEEDB",
        "moderately severe": "#FADFD2",
        "severe": "#F6D2D2",
    }
)

#: Scorecard colours by the news for patients (:data:`katoutcomes.claims.NEWS`), not by
#: the verdict: the word says the verdict, the colour whether it is good or bad news
#: (DESIGN 6), so "contradicted — better than claimed" is green. Strong colours, for text;
#: each passes WCAG 2.1 AA (contrast at least 4.5:1) on white and on its pale background
#: in :data:`NEWS_BACKGROUNDS` (measured in tests/test_plots.py).
NEWS_COLORS: Final = MappingProxyType(
    {
        "good": "#1B7837",
        "bad": "#B0281A",
        "neutral": "#245A94",
        "unclear": "#5F6B73",
    }
)

#: Pale backgrounds matching :data:`NEWS_COLORS`, for badges and table cells.
NEWS_BACKGROUNDS: Final = MappingProxyType(
    {
        "good": "#E3F1E5",
        "bad": "#F8E0DD",
        "neutral": "#E1EBF7",
        "unclear": "#ECEEEF",
    }
)

#: The legend of :data:`NEWS_COLORS`.
NEWS_LABELS: Final = MappingProxyType(
    {
        "good": "good news for patients",
        "bad": "bad news for patients",
        "neutral": "neither good nor bad news (descriptive, or no better direction)",
        "unclear": "the data cannot tell yet",
    }
)

#: Verdicts as a reader sees them.
VERDICT_LABELS: Final = MappingProxyType(
    {
        "supported": "Supported",
        "contradicted": "Contradicted",
        "inconclusive": "Inconclusive",
        "not_measurable": "Not measurable",
        "descriptive": "Descriptive",
    }
)

_FONT: Final = {"family": "Helvetica Neue, Arial, sans-serif", "size": 13, "color": "#222222"}
_MUTED: Final = "#6B6B6B"
_HEIGHT: Final = 480
#: Default 95% intervals, as everywhere in katoutcomes (DESIGN 5).
_ALPHA: Final = 0.05
#: Weeks with fewer patients than this are left out of the cohort trajectory: a mean of a
#: handful of patients is noise (and a t-interval from n < 2 does not exist).
_MIN_WEEK_PATIENTS: Final = 10
#: Characters per subtitle line: fits a figure about 900 px wide.
_SUBTITLE_WIDTH: Final = 125
#: Right margin that leaves room for severity-band labels outside the plot.
_BAND_LABEL_MARGIN: Final = 112

_GROUP_LABELS: Final = MappingProxyType(
    {
        "site": "Site",
        "clinician": "Clinician",
        "route": "Route of administration",
        "diagnosis": "Primary diagnosis",
        "ssri": "Concurrent SSRI",
        "psychotherapy": "Integrated psychotherapy (in at least half of doses)",
        "treatment_resistance": "Treatment resistant (2 or more prior failures)",
    }
)
_GROUP_TITLES: Final = MappingProxyType(
    {
        "site": "site",
        "clinician": "clinician",
        "route": "route of administration",
        "diagnosis": "primary diagnosis",
        "ssri": "concurrent SSRI",
        "psychotherapy": "integrated psychotherapy",
        "treatment_resistance": "treatment resistance",
    }
)
_LEVEL_LABELS: Final = MappingProxyType(
    {
        "yes": "Yes",
        "no": "No",
        UNKNOWN_LEVEL: "Not recorded",
        "bipolar_depression": "Bipolar depression",
        "other": "Other",
        "intranasal": "Intranasal",
        "sublingual": "Sublingual",
        "oral": "Oral",
    }
)
_POPULATION_LABELS: Final = MappingProxyType(
    {
        "itt": "intention to treat",
        "completers": "completers",
        "eligible": "eligible patients",
    }
)


def _wrap(text: str, width: int = _SUBTITLE_WIDTH) -> str:
    """Break a subtitle into lines (plotly does not wrap text)."""
    return "<br>".join(textwrap.wrap(text, width)) if text else ""


def _style(
    fig: go.Figure,
    title: str,
    subtitle: str | None = None,
    *,
    height: int = _HEIGHT,
    legend: str = "top",
    legend_rows: int = 1,
    right: int = 40,
) -> go.Figure:
    """The shared layout: white template, left title with subtitle, legend placed clear.

    ``legend`` is ``"top"`` (one row between the subtitle and the plot), ``"bottom"``
    (below the x axis title, for legends that wrap onto several rows) or ``"none"``.
    Margins are computed from the number of subtitle lines and legend rows, so nothing
    overlaps.
    """
    wrapped = _wrap(subtitle or "")
    lines = wrapped.count("<br>") + 1 if wrapped else 0
    top = 52 + 18 * lines + (30 * legend_rows if legend == "top" else 0) + 8
    bottom = 70 + (26 * legend_rows + 10 if legend == "bottom" else 0)
    legend_layout: dict[str, object] = {
        "orientation": "h",
        "x": 0.0,
        "xanchor": "left",
        "font": {"size": 12},
        "bgcolor": "rgba(255,255,255,0)",
    }
    if legend == "bottom":
        legend_layout |= {"yref": "container", "y": 0.0, "yanchor": "bottom", "xref": "paper"}
    else:
        legend_layout |= {"y": 1.0, "yanchor": "bottom", "yref": "paper"}
    fig.update_layout(
        template="plotly_white",
        font=_FONT,
        height=height,
        margin={"l": 80, "r": right, "t": top, "b": bottom},
        showlegend=legend != "none",
        title={
            "text": title,
            # Anchored to the figure, not the plotting area: long y labels (forest plots)
            # push the plotting area right and would clip the subtitle.
            "x": 0.0,
            "xref": "container",
            "xanchor": "left",
            "pad": {"t": 14, "l": 16},
            "y": 1.0,
            "yref": "container",
            "yanchor": "top",
            "font": {"size": 18},
            "subtitle": {"text": wrapped, "font": {"size": 12.5, "color": _MUTED}},
        },
        legend=legend_layout,
        hoverlabel={"bgcolor": "white", "font": {"size": 12.5, "family": _FONT["family"]}},
    )
    return fig


def _no_data(title: str, reason: str) -> go.Figure:
    """A figure that says there is nothing to draw, and why."""
    fig = go.Figure()
    fig.add_annotation(
        text=f"No data: {reason}",
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 15, "color": _MUTED},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title, height=320, legend="none")


def _instrument(name: str) -> Instrument:
    canonical = normalise_instrument_name(name)
    if canonical is None:
        raise ValueError(f"Unknown instrument {name!r}; use one of {', '.join(INSTRUMENTS)}.")
    return INSTRUMENTS[canonical]


def _instrument_color(name: str) -> str:
    return COLORS.get(name, COLORS["other_instrument"])


def _rgba(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _add_severity_bands(
    fig: go.Figure, instrument: Instrument, *, row: int | None = None, col: int | None = None
) -> None:
    """Shade the instrument's severity bands behind the data, labelled in the right margin.

    Totals are whole numbers, so a band ``low..high`` is drawn from ``low - 0.5`` to
    ``high + 0.5`` (clipped to the score range): a mean of 4.7 sits in "mild", as a total
    of 5 would. Labels sit outside the plotting area so that data never covers them
    (callers leave a right margin of :data:`_BAND_LABEL_MARGIN`).
    """
    for band in instrument.bands:
        y0 = max(band.low - 0.5, 0.0)
        y1 = min(band.high + 0.5, float(instrument.max_score))
        fig.add_hrect(
            y0=y0,
            y1=y1,
            fillcolor=SEVERITY_COLORS.get(band.label, "#F2F2F2"),
            line_width=0,
            layer="below",
            name=f"severity band: {band.label}",
            row=row,
            col=col,
            exclude_empty_subplots=False,
        )
        shape = fig.layout.shapes[-1]
        fig.add_annotation(
            text=f"{band.label}<br>{band.low}\u2013{band.high}",
            xref=shape.xref,
            yref=shape.yref,
            x=1.008,
            xanchor="left",
            align="left",
            y=(y0 + y1) / 2.0,
            yanchor="middle",
            showarrow=False,
            font={"size": 11, "color": "#7A7A7A"},
            name=f"severity label: {band.label}",
        )


def _time_origin_label(dataset: Dataset) -> str:
    return "first dose" if dataset.has_treatments else "first assessment"


# --------------------------------------------------------------------------------------
# 1. Cohort trajectory
# --------------------------------------------------------------------------------------

_TRAJECTORY_COLUMNS: Final = (
    "instrument",
    "week",
    "first_day",
    "last_day",
    "n",
    "mean",
    "sd",
    "se",
    "ci_low",
    "ci_high",
)


def cohort_trajectory_data(
    dataset: Dataset,
    instrument: str = PHQ9.name,
    settings: Settings | None = None,
    *,
    outcomes: pd.DataFrame | None = None,
    population: str | None = "itt",
    min_n: int = _MIN_WEEK_PATIENTS,
    alpha: float = _ALPHA,
) -> pd.DataFrame:
    """Mean score by week since the first dose, with a t-based confidence interval.

    Parameters
    ----------
    dataset : Dataset
        Reads ``assessments`` (``patient_id, instrument, t, total``). Not modified.
    instrument : str, default "PHQ-9"
        ``"PHQ-9"`` or ``"GAD-7"`` (aliases such as ``"phq9"`` are accepted).
    settings : Settings, optional
        ``baseline_window_days`` bounds week 0; also used to compute ``outcomes`` when not
        given.
    outcomes : pandas.DataFrame, optional
        :func:`katoutcomes.outcomes.patient_outcomes` of ``dataset`` (computed when
        omitted and ``population`` is not None); it picks the patients.
    population : {"itt", "completers", "eligible"} or None, default "itt"
        Patients included (see :mod:`katoutcomes.cohort`); None includes every patient
        with a valid assessment of the instrument.
    min_n : int, default 10
        Weeks with fewer patients are left out.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per week with at least ``min_n`` patients: ``instrument``, ``week``,
        ``first_day`` and ``last_day`` (the days the week covers), ``n`` (patients),
        ``mean``, ``sd``, ``se``, ``ci_low``, ``ci_high``.

    Notes
    -----
    Weeks: ``week = ceil(t / 7)`` for ``t > 0``, so week ``k >= 1`` holds days
    ``7(k - 1) < t <= 7k`` (week 6 ends exactly at the default 42-day acute window).
    Week 0 is the baseline: each patient's baseline as :func:`patient_outcomes` defines
    it (the last valid assessment with ``-baseline_window_days <= t <= 0``). In weeks
    ``k >= 1`` a patient with several questionnaires counts once, with the mean of their
    scores that week, so that ``n`` counts independent patients. Then, over the ``n``
    patients of a week::

        mean +/- t_{1 - alpha/2, n - 1} * sd / sqrt(n)

    with ``sd`` the sample standard deviation (``n - 1``). Later weeks hold only the
    patients still being followed, who are not a random subset of the cohort.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> weeks = cohort_trajectory_data(Dataset.demo(patients=60))
    >>> int(weeks.loc[0, "week"]), float(weeks.loc[0, "first_day"])
    (0, -30.0)
    """
    settings = settings or Settings()
    inst = _instrument(instrument)
    assessments = dataset.assessments
    score = assessments["total"].to_numpy(dtype=np.float64, na_value=np.nan)
    t = assessments["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    keep = (
        (assessments["instrument"].to_numpy() == inst.name)
        & ~np.isnan(score)
        & ~np.isnan(t)
        & (t >= -settings.baseline_window_days)
    )
    if population is not None and keep.any():
        if outcomes is None:
            outcomes = patient_outcomes(dataset, settings)
        members = in_population(outcomes, population).to_numpy() & (
            outcomes["instrument"].to_numpy() == inst.name
        )
        keep &= assessments["patient_id"].isin(outcomes["patient_id"][members]).to_numpy()

    rows = pd.DataFrame(
        {
            "patient_id": assessments["patient_id"].to_numpy()[keep],
            "t": t[keep],
            "score": score[keep],
        }
    )
    rows["week"] = np.ceil(rows["t"].to_numpy() / 7.0).clip(min=0).astype(np.int64)
    # Week 0 is each patient's baseline: the last assessment in the window (stable sort,
    # so ties keep the stored order, as in patient_outcomes).
    baseline = (
        rows[rows["week"] == 0]
        .sort_values(["patient_id", "t"], kind="stable")
        .drop_duplicates("patient_id", keep="last")
    )
    later = rows[rows["week"] > 0].groupby(["patient_id", "week"], as_index=False)["score"].mean()
    per_patient = pd.concat([baseline[["patient_id", "week", "score"]], later], ignore_index=True)

    weeks = per_patient.groupby("week")["score"].agg(["size", "mean", "std"]).reset_index()
    weeks = weeks.rename(columns={"size": "n", "std": "sd"})
    weeks = weeks[weeks["n"] >= max(min_n, 1)].reset_index(drop=True)
    n = weeks["n"].to_numpy(dtype=np.float64)
    se = weeks["sd"].to_numpy(dtype=np.float64) / np.sqrt(n)
    with np.errstate(invalid="ignore"):
        quantile = sps.t.ppf(1.0 - alpha / 2.0, n - 1.0)
    half = np.where(n >= 2, quantile * se, np.nan)
    week = weeks["week"].to_numpy(dtype=np.int64)
    out = pd.DataFrame(
        {
            "instrument": pd.Series(inst.name, index=weeks.index, dtype="str"),
            "week": week,
            "first_day": np.where(week == 0, -settings.baseline_window_days, 7.0 * week - 7.0),
            "last_day": 7.0 * week,
            "n": weeks["n"].to_numpy(dtype=np.int64),
            "mean": weeks["mean"].to_numpy(dtype=np.float64),
            "sd": weeks["sd"].to_numpy(dtype=np.float64),
            "se": se,
            "ci_low": weeks["mean"].to_numpy(dtype=np.float64) - half,
            "ci_high": weeks["mean"].to_numpy(dtype=np.float64) + half,
        }
    )
    return out[list(_TRAJECTORY_COLUMNS)]


def cohort_trajectory(
    dataset: Dataset,
    instrument: str = PHQ9.name,
    settings: Settings | None = None,
    *,
    outcomes: pd.DataFrame | None = None,
    population: str | None = "itt",
    min_n: int = _MIN_WEEK_PATIENTS,
) -> go.Figure:
    """Mean score by week since the first dose, with its 95% band, over the severity bands.

    Parameters are those of :func:`cohort_trajectory_data`, which computes the numbers
    drawn (see its Notes for the week bins and the interval).

    Returns
    -------
    plotly.graph_objects.Figure
        A shaded 95% confidence band, the weekly mean (hover: week, days covered, mean,
        interval, number of patients), the severity bands of the instrument and a dotted
        line at the end of the acute window.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> fig = cohort_trajectory(Dataset.demo(patients=60), "GAD-7")
    >>> fig.layout.title.text
    'GAD-7 over time: mean score by week since first dose'
    """
    settings = settings or Settings()
    inst = _instrument(instrument)
    origin = _time_origin_label(dataset)
    title = f"{inst.name} over time: mean score by week since {origin}"
    data = cohort_trajectory_data(
        dataset, inst.name, settings, outcomes=outcomes, population=population, min_n=min_n
    )
    if data.empty:
        return _no_data(title, f"no week has {min_n} or more patients with a {inst.name} score.")

    color = _instrument_color(inst.name)
    custom = np.column_stack(
        [
            data["n"].to_numpy(),
            data["ci_low"].to_numpy(),
            data["ci_high"].to_numpy(),
            data["first_day"].to_numpy(),
            data["last_day"].to_numpy(),
        ]
    )
    fig = go.Figure()
    _add_severity_bands(fig, inst)
    fig.add_trace(
        go.Scatter(
            x=data["week"],
            y=data["ci_high"],
            mode="lines",
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
            name="upper 95% limit",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data["week"],
            y=data["ci_low"],
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=_rgba(color, 0.22),
            hoverinfo="skip",
            name="95% confidence interval",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data["week"],
            y=data["mean"],
            mode="lines+markers",
            line={"color": color, "width": 2.5},
            marker={"size": 7, "color": color},
            customdata=custom,
            name=f"Mean {inst.name} score",
            hovertemplate=(
                "<b>Week %{x}</b> (days %{customdata[3]:.0f} to %{customdata[4]:.0f})<br>"
                f"Mean {inst.name}: %{{y:.1f}}<br>"
                "95% CI %{customdata[1]:.1f} to %{customdata[2]:.1f}<br>"
                "%{customdata[0]} patients<extra></extra>"
            ),
        )
    )
    acute_week = settings.acute_days / 7.0
    if data["week"].min() < acute_week < data["week"].max():
        fig.add_vline(
            x=acute_week,
            line={"color": COLORS["reference"], "width": 1, "dash": "dot"},
            annotation_text=f"end of acute phase (day {settings.acute_days:g})",
            annotation_position="top right",
            annotation_font={"size": 11, "color": _MUTED},
        )
    last_week = int(data["week"].max())
    n_patients = int(data.loc[data["week"] == 0, "n"].sum()) if (data["week"] == 0).any() else 0
    who = (
        f"{_POPULATION_LABELS.get(population, population)} population"
        if population
        else "all patients"
    )
    subtitle = (
        f"{n_patients} patients at baseline ({who}). Week 0 = baseline; week k = days "
        "7k\u22126 to 7k. Band: 95% confidence interval. Weeks with fewer than "
        f"{min_n} patients are not shown; later weeks hold only patients still followed."
    )
    _style(fig, title, subtitle, right=_BAND_LABEL_MARGIN)
    fig.update_xaxes(
        title_text=f"Weeks since {origin}",
        range=[-0.3, last_week + 0.3],
        dtick=1 if last_week <= 16 else (2 if last_week <= 32 else 4),
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(
        title_text=f"{inst.name} total score (0\u2013{inst.max_score})",
        range=[0, inst.max_score],
        dtick=5,
        showgrid=False,
        zeroline=False,
    )
    return fig


# --------------------------------------------------------------------------------------
# 2. Waterfall
# --------------------------------------------------------------------------------------

_WATERFALL_COLUMNS: Final = (
    "rank",
    "patient_id",
    "instrument",
    "baseline",
    "endpoint",
    "pct_change",
    "response",
    "remission",
    "category",
)
_WATERFALL_CATEGORIES: Final = ("Remission", "Response", "No response")


def waterfall_data(outcomes: pd.DataFrame, instrument: str = PHQ9.name) -> pd.DataFrame:
    """Each eligible completer's percent change from baseline to endpoint, sorted.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes`. Not modified.
    instrument : str, default "PHQ-9"

    Returns
    -------
    pandas.DataFrame
        One row per completer (the ``"completers"`` population of
        :mod:`katoutcomes.cohort`: eligible, treated, with an endpoint), from the largest
        rise (or smallest fall) to the largest fall: ``rank`` (1 = leftmost bar),
        ``patient_id``, ``instrument``, ``baseline``, ``endpoint``, ``pct_change`` (a
        fraction: -0.5 is a 50% fall), ``response``, ``remission`` and ``category``
        (``"Remission"``, ``"Response"`` for a response without remission, or
        ``"No response"``).

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> bars = waterfall_data(patient_outcomes(Dataset.demo(patients=60)))
    >>> bars["pct_change"].is_monotonic_decreasing
    True
    """
    inst = _instrument(instrument)
    rows = in_population(outcomes, "completers").to_numpy() & (
        outcomes["instrument"].to_numpy() == inst.name
    )
    pct = outcomes["pct_change"].to_numpy(dtype=np.float64, na_value=np.nan)
    rows &= ~np.isnan(pct)
    part = outcomes.loc[rows, ["patient_id", "instrument", "baseline", "endpoint", "pct_change"]]
    response = outcomes.loc[rows, "response"].astype("boolean").fillna(False).to_numpy(bool)
    remission = outcomes.loc[rows, "remission"].astype("boolean").fillna(False).to_numpy(bool)
    out = part.assign(
        response=response,
        remission=remission,
        category=np.select(
            [remission, response], list(_WATERFALL_CATEGORIES[:2]), _WATERFALL_CATEGORIES[2]
        ),
    )
    out = out.sort_values(["pct_change", "patient_id"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1, dtype=np.int64)
    out["patient_id"] = out["patient_id"].astype("str")
    out["instrument"] = out["instrument"].astype("str")
    out["category"] = out["category"].astype("str")
    return out[list(_WATERFALL_COLUMNS)]


def waterfall(
    outcomes: pd.DataFrame,
    instrument: str = PHQ9.name,
    settings: Settings | None = None,
    *,
    show_patient_ids: bool = True,
) -> go.Figure:
    """Waterfall of percent change per completer, coloured by response and remission.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes`.
    instrument : str, default "PHQ-9"
    settings : Settings, optional
        ``response`` places the dashed response line (default a 50% fall); use the
        settings ``outcomes`` was computed with.
    show_patient_ids : bool, default True
        Pseudonymous codes in the hover text; turn off for figures that leave the clinic.

    Returns
    -------
    plotly.graph_objects.Figure
        One bar per completer (numbers: :func:`waterfall_data`) and a dashed line at the
        response threshold.
    """
    settings = settings or Settings()
    inst = _instrument(instrument)
    title = f"{inst.name}: change from baseline to endpoint, one bar per patient"
    data = waterfall_data(outcomes, inst.name)
    if data.empty:
        return _no_data(title, f"no eligible patient completed the acute phase on {inst.name}.")

    legend_names = {
        "Remission": f"Remission (endpoint below {inst.remission_below})",
        "Response": f"Response, not remission (fall of {settings.response:.0%} or more)",
        "No response": "No response",
    }
    colors = {
        "Remission": COLORS["remission"],
        "Response": COLORS["response"],
        "No response": COLORS["no_response"],
    }
    fig = go.Figure()
    who = "Patient %{customdata[0]}<br>" if show_patient_ids else ""
    for category in _WATERFALL_CATEGORIES:
        part = data[data["category"] == category]
        if part.empty:
            continue
        custom = np.column_stack(
            [
                part["patient_id"].to_numpy(dtype=object)
                if show_patient_ids
                else np.full(len(part), "", dtype=object),
                part["baseline"].to_numpy(),
                part["endpoint"].to_numpy(),
            ]
        )
        fig.add_trace(
            go.Bar(
                x=part["rank"],
                y=part["pct_change"],
                name=legend_names[category],
                marker={"color": colors[category], "line": {"width": 0}},
                customdata=custom,
                hovertemplate=(
                    f"{who}{inst.name} %{{customdata[1]:.0f}} \u2192 %{{customdata[2]:.0f}}<br>"
                    f"Change %{{y:+.1%}}<br>{category}<extra></extra>"
                ),
            )
        )
    threshold = -settings.response
    fig.add_hline(
        y=threshold,
        line={"color": COLORS["reference"], "width": 1.5, "dash": "dash"},
        annotation_text=f"{settings.response:.0%} response",
        annotation_position="bottom left",
        annotation_font={"size": 12, "color": COLORS["reference"]},
    )
    n = len(data)
    n_response = int(data["response"].sum())
    n_remission = int(data["remission"].sum())
    subtitle = (
        f"{n} eligible patients with an endpoint (completers). Response {n_response} "
        f"({n_response / n:.0%}), remission {n_remission} ({n_remission / n:.0%}). "
        "Bars below zero are improvements."
    )
    _style(fig, title, subtitle)
    low = float(min(data["pct_change"].min(), -1.0))
    high = float(max(data["pct_change"].max(), 0.25))
    fig.update_layout(bargap=0.15 if n <= 60 else 0.0, barmode="overlay")
    fig.update_xaxes(
        title_text="Patients, sorted by percent change",
        showticklabels=False,
        showgrid=False,
        range=[0.5, n + 0.5],
    )
    fig.update_yaxes(
        title_text="Change from baseline (%)",
        tickformat=".0%",
        range=[low - 0.05, high + 0.05],
        zeroline=True,
        zerolinecolor="#9E9E9E",
        zerolinewidth=1,
    )
    return fig


# --------------------------------------------------------------------------------------
# 3 and 4. Kaplan–Meier curves
# --------------------------------------------------------------------------------------

_KM_COLUMNS: Final = ("instrument", "day", "at_risk", "events", "estimate", "ci_low", "ci_high")


def _km_steps(curves: pd.DataFrame, *, cumulative: bool) -> pd.DataFrame:
    """KM curves with a starting row at day 0, as ``S`` or as ``1 - S``.

    The starting row has every patient still followed and no event yet, so its interval
    is the exact one for 0 events among them, ``[0.025^(1/n), 1]`` (95%, DESIGN 5), as
    :func:`katoutcomes.cohort.survival_at` reads the curve before its first time.
    """
    if curves.empty:
        return pd.DataFrame(
            {
                "instrument": pd.Series(dtype="str"),
                "day": pd.Series(dtype=np.float64),
                "at_risk": pd.Series(dtype=np.int64),
                "events": pd.Series(dtype=np.int64),
                "estimate": pd.Series(dtype=np.float64),
                "ci_low": pd.Series(dtype=np.float64),
                "ci_high": pd.Series(dtype=np.float64),
            }
        )
    frame = curves.copy()
    if "instrument" not in frame.columns:
        frame.insert(0, "instrument", "")
    frame["instrument"] = frame["instrument"].astype("str")
    order = {name: i for i, name in enumerate(INSTRUMENTS)}
    first = frame.drop_duplicates("instrument")
    start = pd.DataFrame(
        {
            "instrument": first["instrument"].to_numpy(),
            "time": 0.0,
            "at_risk": first["at_risk"].to_numpy(dtype=np.int64),
            "events": 0,
            "survival": 1.0,
            "ci_low": no_event_lower_limit(first["at_risk"].to_numpy(dtype=np.int64)),
            "ci_high": 1.0,
        }
    )
    # A curve whose first time is 0 already starts there; keep its own row.
    start = start[~start["instrument"].isin(frame.loc[frame["time"] <= 0, "instrument"])]
    steps = pd.concat([start, frame[list(start.columns)]], ignore_index=True)
    steps["_order"] = steps["instrument"].map(order).fillna(len(order))
    steps = steps.sort_values(["_order", "instrument", "time"], kind="stable")
    survival = steps["survival"].to_numpy(dtype=np.float64)
    low = steps["ci_low"].to_numpy(dtype=np.float64)
    high = steps["ci_high"].to_numpy(dtype=np.float64)
    out = pd.DataFrame(
        {
            "instrument": steps["instrument"].astype("str").to_numpy(),
            "day": steps["time"].to_numpy(dtype=np.float64),
            "at_risk": steps["at_risk"].to_numpy(dtype=np.int64),
            "events": steps["events"].to_numpy(dtype=np.int64),
            "estimate": 1.0 - survival if cumulative else survival,
            "ci_low": 1.0 - high if cumulative else low,
            "ci_high": 1.0 - low if cumulative else high,
        }
    )
    return out[list(_KM_COLUMNS)]


def cumulative_response_data(curves: pd.DataFrame) -> pd.DataFrame:
    """Cumulative share responded, ``1 - S(t)``, from Kaplan–Meier time-to-response curves.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.time_to_event` (``event="response"`` or
        ``"early_improvement"``), or of :func:`katoutcomes.stats.kaplan_meier`. Not
        modified.

    Returns
    -------
    pandas.DataFrame
        ``instrument, day, at_risk, events, estimate, ci_low, ci_high`` with
        ``estimate = 1 - S`` and the interval ``(1 - ci_high(S), 1 - ci_low(S))``; a row
        at day 0 (estimate 0) starts each instrument's curve.

    Notes
    -----
    ``S`` and its interval are those of :func:`katoutcomes.stats.kaplan_meier`: log-scale
    Greenwood, undefined (NaN) where ``S = 0`` as in R, and the exact interval for 0
    events where no event has happened yet (the day-0 row included).

    Examples
    --------
    >>> from katoutcomes.stats import kaplan_meier
    >>> cumulative_response_data(kaplan_meier([9, 13, 13, 18], [1, 1, 0, 1]))[
    ...     "estimate"].tolist()
    [0.0, 0.25, 0.5, 1.0]
    """
    return _km_steps(curves, cumulative=True)


def response_duration_data(curves: pd.DataFrame) -> pd.DataFrame:
    """Probability of still being in response, ``S(t)``, from response-duration curves.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.time_to_event` with ``event="relapse"``. Not
        modified.

    Returns
    -------
    pandas.DataFrame
        ``instrument, day, at_risk, events, estimate, ci_low, ci_high`` with
        ``estimate = S`` (days since the first response) and its log-scale interval; a row
        at day 0 (estimate 1) starts each instrument's curve.
    """
    return _km_steps(curves, cumulative=False)


def _km_figure(
    data: pd.DataFrame,
    *,
    title: str,
    subtitle: str,
    x_title: str,
    y_title: str,
    estimate_label: str,
    max_day: float | None,
) -> go.Figure:
    fig = go.Figure()
    for name, part in data.groupby("instrument", sort=False):
        color = _instrument_color(str(name))
        n = int(part["at_risk"].iloc[0])
        events = int(part["events"].sum())
        label = f"{name} ({n} patients, {events} events)" if name else f"{n} patients"
        fig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["ci_high"],
                mode="lines",
                line={"width": 0, "shape": "hv"},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=str(name),
                name=f"{name} upper 95% limit",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["ci_low"],
                mode="lines",
                line={"width": 0, "shape": "hv"},
                fill="tonexty",
                fillcolor=_rgba(color, 0.18),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=str(name),
                name=f"{name} 95% confidence interval",
            )
        )
        custom = np.column_stack(
            [part["ci_low"].to_numpy(), part["ci_high"].to_numpy(), part["at_risk"].to_numpy()]
        )
        fig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["estimate"],
                mode="lines",
                line={"color": color, "width": 2.5, "shape": "hv"},
                customdata=custom,
                legendgroup=str(name),
                name=label,
                hovertemplate=(
                    f"<b>{name}</b> day %{{x:.1f}}<br>{estimate_label}: %{{y:.1%}}<br>"
                    "95% CI %{customdata[0]:.1%} to %{customdata[1]:.1%}<br>"
                    "%{customdata[2]} patients at risk<extra></extra>"
                ),
            )
        )
    last = float(data["day"].max())
    if max_day is None:
        # After the last event the curves are flat: end the axis a little after it, so the
        # weeks where things happen are not squeezed into the left edge. Zoom out (or pass
        # max_day) for the full follow-up, which the hover's "at risk" also shows.
        event_days = data.loc[data["events"] > 0, "day"]
        last_event = float(event_days.max()) if not event_days.empty else last
        max_day = min(last, max(last_event * 1.15, last_event + 7.0))
        if max_day < last:
            subtitle += f" Axis ends after the last event; follow-up runs to day {last:.0f}."
    _style(fig, title, subtitle)
    fig.update_xaxes(title_text=x_title, range=[0, max(max_day, 1.0)], zeroline=False)
    fig.update_yaxes(title_text=y_title, tickformat=".0%", range=[0, 1.02], zeroline=False)
    return fig


def cumulative_response(
    curves: pd.DataFrame,
    *,
    max_day: float | None = None,
    event_label: str = "response",
) -> go.Figure:
    """Kaplan–Meier cumulative response, ``1 - S(t)``, by day since the first dose.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.time_to_event` (``event="response"``).
    max_day : float, optional
        Right end of the x axis (default: the last follow-up time).
    event_label : str, default "response"
        Word used in titles (``"early improvement"`` for that curve).

    Returns
    -------
    plotly.graph_objects.Figure
        One step line per instrument with its 95% band (numbers:
        :func:`cumulative_response_data`).
    """
    title = f"Time to first {event_label} (Kaplan\u2013Meier)"
    data = cumulative_response_data(curves)
    if data.empty:
        return _no_data(title, "no treated patient with a baseline and a later assessment.")
    subtitle = (
        f"Share of patients who have reached {event_label} by each day; patients are counted "
        "until their last assessment. Band: 95% confidence interval (log-scale Greenwood)."
    )
    return _km_figure(
        data,
        title=title,
        subtitle=subtitle,
        x_title="Days since first dose",
        y_title=f"Patients with {event_label} (%)",
        estimate_label=f"Reached {event_label}",
        max_day=max_day,
    )


def response_duration(curves: pd.DataFrame, *, max_day: float | None = None) -> go.Figure:
    """Kaplan–Meier probability of staying in response, ``S(t)``, since the first response.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.time_to_event` with ``event="relapse"``.
    max_day : float, optional
        Right end of the x axis (default: the last follow-up time).

    Returns
    -------
    plotly.graph_objects.Figure
        One step line per instrument with its 95% band (numbers:
        :func:`response_duration_data`).
    """
    title = "How long response lasts (Kaplan\u2013Meier)"
    data = response_duration_data(curves)
    if data.empty:
        return _no_data(title, "no patient has reached a response yet.")
    subtitle = (
        "Among patients who responded: share not yet relapsed (two consecutive assessments "
        "without response and at or above caseness). Band: 95% confidence interval."
    )
    return _km_figure(
        data,
        title=title,
        subtitle=subtitle,
        x_title="Days since first response",
        y_title="Still in response (%)",
        estimate_label="Still in response",
        max_day=max_day,
    )


# --------------------------------------------------------------------------------------
# 5. Forest plot: the clinic beside published studies
# --------------------------------------------------------------------------------------

_FOREST_COLUMNS: Final = (
    "group",
    "instrument",
    "source",
    "label",
    "detail",
    "outcome",
    "estimate",
    "ci_low",
    "ci_high",
    "k",
    "n",
    "has_interval",
    "comparable",
    "arm",
    "timepoint",
    "setting",
    "route",
    "citation",
)
_SELF_REPORT: Final = frozenset(INSTRUMENTS)
_FOREST_OUTCOMES: Final = ("response", "remission")


def _group_heading(instrument: str) -> str:
    if instrument in _SELF_REPORT:
        return f"{instrument} (self-report)"
    return f"{instrument} (clinician-rated: other scale)"


def _shorten(text: pd.Series, width: int) -> pd.Series:
    text = text.fillna("").astype("str")
    long = text.str.len() > width
    return text.where(~long, text.str.slice(0, width - 1).str.rstrip() + "\u2026")


def forest_data(
    clinic_rates: pd.DataFrame,
    benchmarks: pd.DataFrame | None = None,
    *,
    clinic_label: str = "This clinic",
) -> pd.DataFrame:
    """The clinic's intention-to-treat response and remission beside published studies.

    Parameters
    ----------
    clinic_rates : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.outcome_rates` (its ``"itt"`` rows are used).
    benchmarks : pandas.DataFrame, optional
        Output of :func:`katoutcomes.benchmarks.benchmark_intervals` (or of
        :func:`~katoutcomes.benchmarks.load_published_benchmarks`; the intervals are then
        added here). Rows with neither a response nor a remission rate are left out.
    clinic_label : str, default "This clinic"

    Returns
    -------
    pandas.DataFrame
        One row per (row of the chart, outcome), in display order: instruments PHQ-9,
        GAD-7, then others; the clinic first, then studies by year. Columns ``group``
        (heading), ``instrument``, ``source`` (``"clinic"`` or ``"published"``),
        ``label`` (the study, without its trial arm), ``detail`` (arm and timepoint,
        shortened for the axis), ``outcome``, ``estimate``,
        ``ci_low``, ``ci_high``, ``k``, ``n``, ``has_interval`` (False where a study
        gives no denominator), ``comparable`` (False for instruments other than
        PHQ-9/GAD-7, such as the clinician-rated MADRS), ``arm`` (the trial arm named after
        a colon in ``study``, else empty), ``timepoint``, ``setting``, ``route`` and
        ``citation``.

    Notes
    -----
    Clinic intervals are the Wilson intervals of :func:`outcome_rates`; study intervals are
    Wilson intervals on the reconstructed count ``round(rate * n)``
    (:func:`katoutcomes.benchmarks.benchmark_intervals`). Response and remission
    definitions differ between studies (see each row's citation).
    """
    pieces: list[pd.DataFrame] = []
    if not clinic_rates.empty:
        itt = clinic_rates[
            (clinic_rates["population"] == "itt")
            & clinic_rates["outcome"].isin(_FOREST_OUTCOMES)
            & (clinic_rates["n"] > 0)
        ]
        if not itt.empty:
            pieces.append(
                pd.DataFrame(
                    {
                        "instrument": itt["instrument"].astype("str").to_numpy(),
                        "source": "clinic",
                        "label": clinic_label,
                        "detail": "intention to treat, end of acute phase",
                        "outcome": itt["outcome"].astype("str").to_numpy(),
                        "estimate": itt["estimate"].to_numpy(dtype=np.float64),
                        "ci_low": itt["ci_low"].to_numpy(dtype=np.float64),
                        "ci_high": itt["ci_high"].to_numpy(dtype=np.float64),
                        "k": itt["k"].to_numpy(dtype=np.float64),
                        "n": itt["n"].to_numpy(dtype=np.float64),
                        "year": np.inf,
                        "arm": "",
                        "timepoint": "end of acute phase",
                        "setting": "this clinic",
                        "route": "",
                        "citation": "",
                    }
                )
            )
    if benchmarks is not None and not benchmarks.empty:
        table = (
            benchmarks
            if "response_ci_low" in benchmarks.columns
            else benchmark_intervals(benchmarks)
        )
        for outcome in _FOREST_OUTCOMES:
            rate = pd.to_numeric(table[outcome], errors="coerce").astype("float64")
            part = table[rate.notna().to_numpy()]
            if part.empty:
                continue
            # "TRANSFORM-2 (Popova 2019): esketamine + AD" -> study label and trial arm.
            study = part["study"].astype("str").str.partition(": ")
            arm = study[2].where(study[2] != "", None)
            timepoint = part["timepoint"].astype("str")
            detail = (arm + " \u00b7 " + timepoint).fillna(timepoint)
            pieces.append(
                pd.DataFrame(
                    {
                        "instrument": part["instrument"].astype("str").to_numpy(),
                        "source": "published",
                        "label": study[0].to_numpy(),
                        "detail": _shorten(detail, 48).to_numpy(),
                        "outcome": outcome,
                        "estimate": rate[rate.notna()].to_numpy(),
                        "ci_low": part[f"{outcome}_ci_low"].to_numpy(
                            dtype=np.float64, na_value=np.nan
                        ),
                        "ci_high": part[f"{outcome}_ci_high"].to_numpy(
                            dtype=np.float64, na_value=np.nan
                        ),
                        "k": part[f"{outcome}_k"].to_numpy(dtype=np.float64, na_value=np.nan),
                        "n": part["n"].to_numpy(dtype=np.float64, na_value=np.nan),
                        "year": part["year"].to_numpy(dtype=np.float64, na_value=np.nan),
                        "arm": arm.fillna("").to_numpy(),
                        "timepoint": timepoint.to_numpy(),
                        "setting": part["setting"].fillna("").astype("str").to_numpy(),
                        "route": part["route"].fillna("").astype("str").to_numpy(),
                        "citation": part["citation"].fillna("").astype("str").to_numpy(),
                    }
                )
            )
    if not pieces:
        empty = pd.DataFrame({name: pd.Series(dtype="str") for name in _FOREST_COLUMNS})
        return empty.astype(
            {
                c: np.float64
                for c in ("estimate", "ci_low", "ci_high", "k", "n")
                if c in _FOREST_COLUMNS
            }
            | {"has_interval": bool, "comparable": bool}
        )
    out = pd.concat(pieces, ignore_index=True)
    known = {name: i for i, name in enumerate(INSTRUMENTS)}
    out["_i"] = out["instrument"].map(known).fillna(len(known))
    out["_s"] = (out["source"] != "clinic").astype(int)
    out["_o"] = out["outcome"].map({name: i for i, name in enumerate(_FOREST_OUTCOMES)})
    out = out.sort_values(["_i", "instrument", "_s", "year", "_o"], kind="stable")
    out["group"] = out["instrument"].map(_group_heading)
    out["has_interval"] = out["ci_low"].notna() & out["ci_high"].notna()
    out["comparable"] = out["instrument"].isin(_SELF_REPORT)
    out = out.reset_index(drop=True)
    for column in ("group", "instrument", "source", "label", "detail", "outcome"):
        out[column] = out[column].astype("str")
    return out[list(_FOREST_COLUMNS)]


def _row_layout(
    data: pd.DataFrame, group: str, keys: Sequence[str], tick: pd.Series
) -> tuple[pd.Series, list[float], list[str]]:
    """Numeric y positions for a grouped dot plot: a heading row, then one row per key.

    Returns each data row's position and the tick positions and labels (headings bold).
    Rows are counted downwards from 0; the caller reverses the axis.
    """
    key = data[list(keys)].astype(str).agg("\u241f".join, axis=1)
    first = ~key.duplicated()
    group_start = data[group] != data[group].shift()
    # Heading rows push every later row down by one; each new key adds one more.
    position = (group_start.cumsum() + first.cumsum() - 1).astype(np.float64)
    position = position.groupby(key, sort=False).transform("first")
    heading_pos = (position[group_start] - 1).to_numpy()
    tick_pos = np.r_[heading_pos, position[first].to_numpy()]
    tick_text = [f"<b>{text}</b>" for text in data.loc[group_start, group]] + list(tick[first])
    ordering = np.argsort(tick_pos, kind="stable")
    return position, [float(tick_pos[i]) for i in ordering], [tick_text[i] for i in ordering]


def forest(
    clinic_rates: pd.DataFrame,
    benchmarks: pd.DataFrame | None = None,
    *,
    clinic_label: str = "This clinic",
    reference: float = 0.5,
) -> go.Figure:
    """Forest plot: the clinic's response and remission beside published studies.

    Parameters
    ----------
    clinic_rates : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.outcome_rates`.
    benchmarks : pandas.DataFrame, optional
        Output of :func:`katoutcomes.benchmarks.benchmark_intervals`.
    clinic_label : str, default "This clinic"
    reference : float, default 0.5
        Vertical reference line on the response panel (the "50% response rate" claim).

    Returns
    -------
    plotly.graph_objects.Figure
        Two panels (response, remission) sharing one row per clinic or study, grouped
        under an instrument heading; studies on another scale (MADRS) are marked as such
        and drawn in grey; studies without a denominator are open circles without an
        interval (numbers: :func:`forest_data`).
    """
    title = "Response and remission: this clinic beside published studies"
    data = forest_data(clinic_rates, benchmarks, clinic_label=clinic_label)
    if data.empty:
        return _no_data(title, "no clinic rate and no published benchmark to show.")

    tick = (
        data["label"]
        + np.where(
            data["source"] == "clinic",
            " (n = " + data["n"].fillna(0).astype(int).astype(str) + ")",
            "",
        )
        + "<br><span style='font-size:11px;color:#6B6B6B'>"
        + data["detail"]
        + "</span>"
    )
    position, tick_pos, tick_text = _row_layout(
        data, "group", ["group", "source", "label", "detail", "timepoint"], tick
    )
    data = data.assign(_y=position.to_numpy())

    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.08,
        subplot_titles=(
            f"<b>Response</b> (dashed line: {reference:.0%})",
            "<b>Remission</b>",
        ),
    )
    published = data["source"] == "published"
    grey = COLORS["published_other_scale"]
    kinds = (
        (
            "clinic",
            data["source"] == "clinic",
            f"{clinic_label} (intention to treat)",
            {"symbol": "diamond", "size": 13, "color": COLORS["clinic"]},
        ),
        (
            "published",
            published & data["has_interval"] & data["comparable"],
            "Published study",
            {"symbol": "circle", "size": 9, "color": COLORS["published"]},
        ),
        (
            "no denominator",
            published & ~data["has_interval"] & data["comparable"],
            "Published, no denominator given (no interval)",
            {
                "symbol": "circle-open",
                "size": 10,
                "color": COLORS["published"],
                "line": {"width": 2},
            },
        ),
        (
            "other scale",
            published & data["has_interval"] & ~data["comparable"],
            "Other scale (MADRS)",
            {"symbol": "square", "size": 9, "color": grey},
        ),
        (
            "other scale, no denominator",
            published & ~data["has_interval"] & ~data["comparable"],
            "Other scale, no denominator",
            {"symbol": "square-open", "size": 10, "color": grey, "line": {"width": 2}},
        ),
    )
    for kind, mask, legend_name, marker in kinds:
        shown = False
        for col, outcome in enumerate(_FOREST_OUTCOMES, start=1):
            part = data[mask & (data["outcome"] == outcome)]
            if part.empty:
                continue
            scale = np.where(
                part["comparable"],
                "",
                "<br><i>" + part["instrument"] + " is clinician-rated: not the same scale</i>",
            )
            n_text = np.select(
                [part["source"] == "clinic", part["n"].notna()],
                [
                    part["k"].fillna(0).astype(int).astype(str)
                    + " of "
                    + part["n"].fillna(0).astype(int).astype(str)
                    + " patients",
                    "n = " + part["n"].fillna(0).astype(int).astype(str),
                ],
                "no denominator given",
            )
            custom = np.column_stack(
                [
                    part["ci_low"].to_numpy(),
                    part["ci_high"].to_numpy(),
                    (part["label"] + " \u00b7 " + part["instrument"]).to_numpy(dtype=object),
                    (
                        part["arm"].where(part["arm"] == "", part["arm"] + ", ") + part["timepoint"]
                    ).to_numpy(dtype=object),
                    n_text.astype(object),
                    scale.astype(object),
                ]
            )
            interval = (
                "<br>95% CI %{customdata[0]:.1%} to %{customdata[1]:.1%}"
                if "no denominator" not in kind
                else ""
            )
            fig.add_trace(
                go.Scatter(
                    x=part["estimate"],
                    y=part["_y"],
                    mode="markers",
                    marker=marker,
                    error_x=(
                        {
                            "type": "data",
                            "symmetric": False,
                            "array": (part["ci_high"] - part["estimate"]).to_numpy(),
                            "arrayminus": (part["estimate"] - part["ci_low"]).to_numpy(),
                            "thickness": 1.8,
                            "width": 4,
                            "color": marker["color"],
                        }
                        if "no denominator" not in kind
                        else None
                    ),
                    name=legend_name,
                    legendgroup=kind,
                    showlegend=not shown,
                    customdata=custom,
                    hovertemplate=(
                        "<b>%{customdata[2]}</b><br>%{customdata[3]}<br>"
                        f"{RATE_OUTCOME_LABELS[outcome]} %{{x:.1%}}{interval}<br>"
                        "%{customdata[4]}%{customdata[5]}<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
            shown = True
    fig.add_vline(
        x=reference,
        line={"color": COLORS["reference"], "width": 1.2, "dash": "dash"},
        row=1,
        col=1,
    )
    n_rows = len(tick_pos)
    subtitle = (
        "Dots: rate; bars: 95% confidence interval. Clinic: intention to treat (eligible "
        "patients who started treatment; no endpoint counts as no response). Definitions "
        "and timepoints differ between studies (hover for each)."
    )
    _style(fig, title, subtitle, height=max(380, 190 + 44 * n_rows), legend="bottom", legend_rows=2)
    fig.update_xaxes(tickformat=".0%", range=[-0.02, 1.02], dtick=0.25, zeroline=False)
    fig.update_xaxes(title_text="Response rate (95% CI)", row=1, col=1)
    fig.update_xaxes(title_text="Remission rate (95% CI)", row=1, col=2)
    fig.update_yaxes(
        tickvals=tick_pos,
        ticktext=tick_text,
        range=[max(tick_pos) + 0.7, min(tick_pos) - 0.7],
        showgrid=False,
        zeroline=False,
        row=1,
        col=1,
    )
    fig.update_yaxes(showgrid=False, zeroline=False, row=1, col=2)
    fig.update_annotations(font={"size": 13, "color": COLORS["reference"]})
    return fig


# --------------------------------------------------------------------------------------
# 6. One patient's trajectory (the therapist view)
# --------------------------------------------------------------------------------------

_PATIENT_COLUMNS: Final = ("layer", "instrument", "day", "value", "detail")
_LINE_LABELS: Final = MappingProxyType(
    {
        "remission threshold": "remission: below {value:g}",
        "response threshold": "response: {value:g} or lower",
        "baseline": "baseline {value:g}",
    }
)
#: Layers of :func:`patient_trajectory_data`, in display order.
PATIENT_LAYERS: Final = (
    "score",
    "baseline",
    "response threshold",
    "remission threshold",
    "first response",
    "relapse",
    "item 9 flag",
    "dose",
)


def _patient_frame(rows: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in rows if not frame.empty]
    if not frames:
        return pd.DataFrame(
            {
                "layer": pd.Series(dtype="str"),
                "instrument": pd.Series(dtype="str"),
                "day": pd.Series(dtype=np.float64),
                "value": pd.Series(dtype=np.float64),
                "detail": pd.Series(dtype="str"),
            }
        )
    out = pd.concat(frames, ignore_index=True)
    out["_layer"] = out["layer"].map({name: i for i, name in enumerate(PATIENT_LAYERS)})
    out["_i"] = out["instrument"].map({name: i for i, name in enumerate(INSTRUMENTS)})
    out = out.sort_values(["_i", "_layer", "day"], kind="stable", na_position="last")
    out = out.reset_index(drop=True)
    out["layer"] = out["layer"].astype("str")
    out["instrument"] = out["instrument"].astype("str")
    out["detail"] = out["detail"].astype("str")
    out["day"] = out["day"].astype(np.float64)
    out["value"] = out["value"].astype(np.float64)
    return out[list(_PATIENT_COLUMNS)]


def _one(layer: str, instrument: str, day: float, value: float, detail: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": [layer],
            "instrument": [instrument],
            "day": [day],
            "value": [value],
            "detail": [detail],
        }
    )


def _nearest_score(scores: pd.DataFrame, day: float) -> float:
    if scores.empty or not np.isfinite(day):
        return np.nan
    position = int(np.argmin(np.abs(scores["day"].to_numpy() - day)))
    return float(scores["value"].to_numpy()[position])


def patient_trajectory_data(
    dataset: Dataset,
    patient_id: str,
    outcomes: pd.DataFrame,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Everything the therapist view draws for one patient, as one tidy table.

    Parameters
    ----------
    dataset : Dataset
        Reads the patient's assessments (``t, total, item_9, item9_flag, item9_high,
        total_source``) and treatments (``t, route, dose_mg, weight_kg, adverse_events``).
    patient_id : str
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes` (the patient's rows are
        used); gives baseline, first response and relapse.
    settings : Settings, optional
        ``response`` sets the response threshold (use the settings ``outcomes`` was
        computed with).

    Returns
    -------
    pandas.DataFrame
        Columns ``layer, instrument, day, value, detail``; one row per drawn element, with
        ``layer`` one of :data:`PATIENT_LAYERS`:

        - ``score``: each valid assessment (``value`` = total; ``detail`` = severity band,
          and "prorated" where the total was prorated from items);
        - ``baseline``, ``response threshold`` (``(1 - response) * baseline``),
          ``remission threshold`` (the instrument's ``remission_below``; remission is a
          score strictly below it): ``day`` is NaN;
        - ``first response`` and ``relapse`` (from ``outcomes``; ``value`` = the score on
          that day);
        - ``item 9 flag``: PHQ-9 assessments with item 9 >= 1, valid or incomplete
          (``value`` = the total, NaN when incomplete; ``detail`` names the answer and
          whether it is high, item 9 >= 2);
        - ``dose``: each treatment (``value`` = dose in mg; ``detail`` = route, dose,
          mg/kg when the weight is known, adverse events); ``instrument`` is empty.
    """
    settings = settings or Settings()
    pid = str(patient_id)
    assessments = dataset.assessments
    mine = assessments[assessments["patient_id"].astype(str).to_numpy() == pid]
    total = mine["total"].to_numpy(dtype=np.float64, na_value=np.nan)
    t = mine["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    instrument = mine["instrument"].astype(str).to_numpy()
    valid = ~np.isnan(total) & ~np.isnan(t)

    pieces: list[pd.DataFrame] = []
    band = np.full(len(mine), "", dtype=object)
    for name, inst in INSTRUMENTS.items():
        here = valid & (instrument == name)
        if here.any():
            edges = np.array([b.high for b in inst.bands], dtype=np.float64)
            labels = np.array([b.label for b in inst.bands], dtype=object)
            band[here] = labels[np.searchsorted(edges, total[here], side="left")]
    prorated = (mine["total_source"].astype("str").to_numpy() == "prorated") & valid
    scores = pd.DataFrame(
        {
            "layer": "score",
            "instrument": instrument[valid],
            "day": t[valid],
            "value": total[valid],
            "detail": np.where(prorated[valid], band[valid] + " (prorated)", band[valid]),
        }
    )
    pieces.append(scores)

    flag = mine["item9_flag"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    flag &= ~np.isnan(t)
    if flag.any():
        item9 = mine["item_9"].to_numpy(dtype=np.float64, na_value=np.nan)[flag]
        high = mine["item9_high"].astype("boolean").fillna(False).to_numpy(dtype=bool)[flag]
        answer = pd.Series(item9).map("{:.0f}".format).to_numpy(dtype=object)
        detail = np.where(
            high,
            "item 9 = " + answer + " (\u2265 2, high)",
            "item 9 = " + answer + " (\u2265 1)",
        )
        incomplete = np.isnan(total[flag])
        detail = np.where(incomplete, detail + "; questionnaire incomplete", detail)
        pieces.append(
            pd.DataFrame(
                {
                    "layer": "item 9 flag",
                    "instrument": instrument[flag],
                    "day": t[flag],
                    "value": total[flag],
                    "detail": detail,
                }
            )
        )

    mine_outcomes = outcomes[outcomes["patient_id"].astype(str).to_numpy() == pid]
    for _, row in mine_outcomes.iterrows():  # at most one row per instrument
        name = str(row["instrument"])
        if name not in INSTRUMENTS:
            continue
        inst = INSTRUMENTS[name]
        own = scores[scores["instrument"] == name]
        if pd.notna(row["baseline"]):
            base = float(row["baseline"])
            pieces.append(_one("baseline", name, np.nan, base, f"baseline {base:.0f}"))
            threshold = (1.0 - settings.response) * base
            pieces.append(
                _one(
                    "response threshold",
                    name,
                    np.nan,
                    threshold,
                    f"{settings.response:.0%} below baseline: {threshold:g} or lower",
                )
            )
        pieces.append(
            _one(
                "remission threshold",
                name,
                np.nan,
                float(inst.remission_below),
                f"remission: below {inst.remission_below}",
            )
        )
        if bool(pd.array([row["response_observed"]], dtype="boolean").fillna(False)[0]):
            day = float(row["first_response_day"])
            pieces.append(
                _one("first response", name, day, _nearest_score(own, day), "first response")
            )
            if bool(pd.array([row["relapse"]], dtype="boolean").fillna(False)[0]):
                relapse_day = day + float(row["days_to_relapse"])
                pieces.append(
                    _one(
                        "relapse",
                        name,
                        relapse_day,
                        _nearest_score(own, relapse_day),
                        f"relapse, {float(row['days_to_relapse']):.0f} days after first response",
                    )
                )

    treatments = dataset.treatments
    if dataset.has_treatments:
        doses = treatments[treatments["patient_id"].astype(str).to_numpy() == pid]
        doses = doses[doses["t"].notna()]
        if not doses.empty:
            mg = doses["dose_mg"].to_numpy(dtype=np.float64, na_value=np.nan)
            kg = doses["weight_kg"].to_numpy(dtype=np.float64, na_value=np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_kg = mg / kg
            route = doses["route"].fillna("route not recorded").astype(str)
            dose_text = (
                pd.Series(mg).map("{:g} mg".format).where(~np.isnan(mg), "dose not recorded")
            )
            kg_text = pd.Series(per_kg).map(" ({:.2f} mg/kg)".format).where(~np.isnan(per_kg), "")
            events = (
                doses["adverse_events"]
                .fillna("")
                .astype(str)
                .str.replace(";", ", ", regex=False)
                .to_numpy(dtype=object)
            )
            ae_text = np.where(
                events == "", "no adverse event recorded", "adverse events: " + events
            )
            pieces.append(
                pd.DataFrame(
                    {
                        "layer": "dose",
                        "instrument": "",
                        "day": doses["t"].to_numpy(dtype=np.float64),
                        "value": mg,
                        "detail": (
                            route.to_numpy(dtype=object)
                            + " "
                            + dose_text.to_numpy(dtype=object)
                            + kg_text.to_numpy(dtype=object)
                            + "; "
                            + ae_text
                        ),
                    }
                )
            )
    return _patient_frame(pieces)


def patient_trajectory(
    dataset: Dataset,
    patient_id: str,
    outcomes: pd.DataFrame,
    settings: Settings | None = None,
) -> go.Figure:
    """One patient's PHQ-9 and GAD-7 over time, with doses, thresholds and safety flags.

    Parameters
    ----------
    dataset, patient_id, outcomes, settings
        As for :func:`patient_trajectory_data`, which computes everything drawn.

    Returns
    -------
    plotly.graph_objects.Figure
        One panel per instrument the patient has (PHQ-9 above GAD-7) over shaded severity
        bands, sharing the x axis (days since first dose); in each, the scores, dashed
        lines for baseline, response threshold and remission threshold, a star at the
        first response and a cross at a confirmed relapse, and for PHQ-9 a large red
        marker with the label "item 9 \u2265 1" or "item 9 \u2265 2 (high)" at each item-9
        flag. A strip below shows each dose (orange when an adverse event was recorded;
        hover for route, mg, mg/kg and events).
    """
    pid = str(patient_id)
    title = f"Patient {pid}"
    data = patient_trajectory_data(dataset, pid, outcomes, settings)
    drawable = data["layer"].isin(["score", "item 9 flag"])
    if not drawable.any():
        return _no_data(title, f"no assessment is recorded for patient {pid}.")

    present = [name for name in INSTRUMENTS if (data["instrument"] == name).any()]  # panel order
    doses = data[data["layer"] == "dose"]
    rows = len(present) + (1 if not doses.empty else 0)
    heights = [1.0] * len(present) + ([0.16] if not doses.empty else [])
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07 if len(present) > 1 else 0.09,
        row_heights=heights,
    )
    origin = _time_origin_label(dataset)
    days = data["day"].dropna()
    x_low = float(min(days.min(), 0.0)) - 1.0
    x_high = float(max(days.max(), 1.0)) + 2.0
    shown: set[str] = set()

    def legend_once(key: str) -> bool:
        first = key not in shown
        shown.add(key)
        return first

    for row, name in enumerate(present, start=1):
        inst = INSTRUMENTS[name]
        color = _instrument_color(name)
        _add_severity_bands(fig, inst, row=row, col=1)
        panel_x, panel_y = fig.layout.shapes[-1].xref, fig.layout.shapes[-1].yref
        mine = data[data["instrument"] == name]

        previous = -np.inf
        for layer, dash, line_color, legend_name in (
            ("remission threshold", "dashdot", COLORS["remission"], "Remission threshold"),
            ("response threshold", "dash", COLORS["response_line"], "Response threshold"),
            ("baseline", "dot", COLORS["reference"], "Baseline"),
        ):
            line = mine[mine["layer"] == layer]
            if line.empty:
                continue
            value = float(line["value"].iloc[0])
            detail = str(line["detail"].iloc[0])
            # Lines from lowest to highest; a label goes just above its line, unless the
            # line below is closer than ~1.5 points, whose label is then moved under it.
            if value - previous < 1.5 and fig.layout.annotations:
                fig.layout.annotations[-1].yanchor = "top"
            previous = value
            fig.add_annotation(
                text=_LINE_LABELS[layer].format(value=value),
                xref=panel_x,
                yref=panel_y,
                x=0.995,
                xanchor="right",
                y=value,
                yanchor="bottom",
                showarrow=False,
                font={"size": 10.5, "color": line_color},
                bgcolor="rgba(255,255,255,0.7)",
                name=f"line label: {layer}",
            )
            fig.add_trace(
                go.Scatter(
                    x=[x_low, x_high],
                    y=[value, value],
                    mode="lines",
                    line={"color": line_color, "width": 1.3, "dash": dash},
                    name=legend_name,
                    legendgroup=layer,
                    showlegend=legend_once(layer),
                    hovertemplate=f"{name} {detail}<extra></extra>",
                ),
                row=row,
                col=1,
            )

        scores = mine[mine["layer"] == "score"]
        fig.add_trace(
            go.Scatter(
                x=scores["day"],
                y=scores["value"],
                mode="lines+markers",
                line={"color": color, "width": 2.2},
                marker={"size": 7, "color": color, "line": {"width": 1, "color": "white"}},
                name=f"{name} score",
                customdata=scores["detail"].to_numpy(dtype=object),
                hovertemplate=(
                    f"<b>{name} %{{y:.0f}}</b> (%{{customdata}})<br>day %{{x:.1f}}<extra></extra>"
                ),
            ),
            row=row,
            col=1,
        )
        for layer, symbol, marker_color, legend_name in (
            ("first response", "star", COLORS["first_response"], "First response"),
            ("relapse", "x", COLORS["relapse"], "Relapse"),
        ):
            points = mine[(mine["layer"] == layer) & mine["value"].notna()]
            if points.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=points["day"],
                    y=points["value"],
                    mode="markers",
                    marker={
                        "symbol": symbol,
                        "size": 17,
                        "color": marker_color,
                        "line": {"width": 1.5, "color": "white"},
                    },
                    name=legend_name,
                    legendgroup=layer,
                    showlegend=legend_once(layer),
                    customdata=points["detail"].to_numpy(dtype=object),
                    hovertemplate=(
                        f"{name}: %{{customdata}}<br>day %{{x:.1f}}, score %{{y:.0f}}"
                        "<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
            )
        flags = mine[mine["layer"] == "item 9 flag"]
        if not flags.empty:
            # An incomplete questionnaire has no total: show its flag at the top of the panel.
            y = flags["value"].fillna(float(inst.max_score) - 1.0)
            fig.add_trace(
                go.Scatter(
                    x=flags["day"],
                    y=y,
                    mode="markers",
                    marker={
                        "symbol": "diamond",
                        "size": 20,
                        "color": COLORS["self_harm"],
                        "line": {"width": 2, "color": "white"},
                    },
                    name="PHQ-9 item 9 (self-harm thoughts) flag",
                    legendgroup="item 9 flag",
                    showlegend=legend_once("item 9 flag"),
                    customdata=flags["detail"].to_numpy(dtype=object),
                    hovertemplate=(
                        "<b>Self-harm item flagged</b><br>%{customdata}<br>day %{x:.1f}"
                        "<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
            )
            high = flags["detail"].str.contains("high", regex=False).to_numpy()
            # Label below a marker in the top third of the panel, above it otherwise, so the
            # label stays inside the panel.
            below = (y >= inst.max_score * 2.0 / 3.0).to_numpy()
            # Neighbouring flags get staggered label heights, and a flag at the left edge
            # gets its label nudged right, clear of the axis.
            stagger = np.where(np.arange(len(flags)) % 2 == 1, 26, 0)
            near_left = (flags["day"].to_numpy() - x_low) < 0.04 * (x_high - x_low)
            for day, value, is_high, under, extra, left in zip(
                flags["day"], y, high, below, stagger, near_left, strict=True
            ):
                fig.add_annotation(
                    x=day,
                    y=value,
                    text="<b>item 9 \u2265 2 (high)</b>" if is_high else "<b>item 9 \u2265 1</b>",
                    showarrow=True,
                    arrowhead=2,
                    arrowcolor=COLORS["self_harm"],
                    ax=28 if left else 0,
                    ay=(36 + extra) if under else -(36 + extra),
                    font={"color": COLORS["self_harm"], "size": 12},
                    bgcolor="rgba(255,255,255,0.9)",
                    bordercolor=COLORS["self_harm"],
                    borderwidth=1,
                    row=row,
                    col=1,
                )
        fig.update_yaxes(
            title_text=f"{name} (0\u2013{inst.max_score})",
            range=[0, inst.max_score + 0.5],
            dtick=5,
            showgrid=False,
            zeroline=False,
            row=row,
            col=1,
        )

    if not doses.empty:
        has_event = ~doses["detail"].str.contains("no adverse event", regex=False)
        for mask, marker_color, legend_name in (
            (~has_event, COLORS["dose"], "Dose"),
            (has_event, COLORS["dose_adverse_event"], "Dose with adverse event"),
        ):
            part = doses[mask]
            if part.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=part["day"],
                    y=np.zeros(len(part)),
                    mode="markers",
                    marker={"symbol": "triangle-up", "size": 12, "color": marker_color},
                    name=legend_name,
                    customdata=part["detail"].to_numpy(dtype=object),
                    hovertemplate="<b>Dose</b> day %{x:.1f}<br>%{customdata}<extra></extra>",
                ),
                row=rows,
                col=1,
            )
        fig.update_yaxes(
            visible=True,
            showticklabels=False,
            showgrid=False,
            zeroline=False,
            range=[-0.6, 0.8],
            title_text="Doses",
            title_standoff=8,
            row=rows,
            col=1,
        )

    fig.update_xaxes(range=[x_low, x_high], showgrid=True, gridcolor="#EFEFEF", zeroline=False)
    fig.update_xaxes(title_text=f"Days since {origin}", row=rows, col=1)
    summary = _patient_summary(data, present, outcomes, pid)
    _style(
        fig,
        f"Patient {pid}: {' and '.join(present)} since {origin}",
        summary,
        height=250 + 260 * len(present) + (60 if not doses.empty else 0),
        legend="bottom",
        legend_rows=2,
        right=_BAND_LABEL_MARGIN,
    )
    return fig


def _is_true(value: object) -> bool:
    """A nullable yes/no cell as a plain bool (NA is False)."""
    return bool(pd.notna(value) and value)


def _patient_summary(
    data: pd.DataFrame, present: Sequence[str], outcomes: pd.DataFrame, pid: str
) -> str:
    """One clause per instrument: baseline -> endpoint, what it means, response and relapse."""
    rows = outcomes[outcomes["patient_id"].astype(str).to_numpy() == pid].set_index("instrument")
    parts = []
    for name in present:
        if name not in rows.index or pd.isna(rows.loc[name, "baseline"]):
            parts.append(f"{name}: no baseline")
            continue
        row = rows.loc[name]
        text = f"{name} {float(row['baseline']):.0f}"
        if pd.notna(row["endpoint"]):
            text += f" \u2192 {float(row['endpoint']):.0f} at day {float(row['endpoint_day']):.0f}"
            if pd.notna(row["pct_change"]):
                # Signed, minus as U+2212, with the meaning in words (higher = worse).
                pct = round(100 * float(row["pct_change"]))
                way = " worse" if pct > 0 else " better" if pct < 0 else ""
                text += f" ({pct:+d}%{way})".replace("-", "\u2212").replace("+0%", "0%")
            if _is_true(row["remission"]):
                text += ": remission"
            elif _is_true(row["response"]):
                text += ": response"
            else:
                text += ": no response at endpoint"
        else:
            text += ", no endpoint yet"
        if _is_true(row["response_observed"]):
            text += f"; first response day {float(row['first_response_day']):.0f}"
            if _is_true(row["relapse"]):
                relapse_day = float(row["first_response_day"]) + float(row["days_to_relapse"])
                text += f", relapse day {relapse_day:.0f}"
        parts.append(text)
    flags = int((data["layer"] == "item 9 flag").sum())
    if flags:
        parts.append(f"\u26a0 {flags} item-9 flag{'s' if flags > 1 else ''}")
    return " \u00b7 ".join(parts)


# --------------------------------------------------------------------------------------
# 7. Adverse events
# --------------------------------------------------------------------------------------

_AE_COLUMNS: Final = ("event", "label", "sessions_with_event", "patients", "sessions", "per_100")
_ANY_EVENT: Final = "any"


def _event_codes() -> tuple[str, ...]:
    codes = load_schema("treatments").field("adverse_events").item_enum
    return tuple(codes or ())


def adverse_events_data(dataset: Dataset) -> pd.DataFrame:
    """Adverse events per 100 sessions, by type, with counts.

    Parameters
    ----------
    dataset : Dataset
        Reads ``treatments`` (``patient_id, adverse_events``). Not modified.

    Returns
    -------
    pandas.DataFrame
        One row for "any adverse event", then one per event code of the treatments schema
        (even when never recorded) and any other code found, most frequent first:
        ``event`` (code, ``"any"`` for the first row), ``label``, ``sessions_with_event``,
        ``patients`` (with at least one such session), ``sessions`` (all sessions) and
        ``per_100`` (``100 * sessions_with_event / sessions``). Empty without treatments.

    Notes
    -----
    A session listing one code twice counts once for that code. A blank
    ``adverse_events`` is "none recorded", which is not the same as "none occurred".
    Sessions of one patient are not independent, so no interval is drawn.
    """
    if not dataset.has_treatments:
        return pd.DataFrame(
            {
                "event": pd.Series(dtype="str"),
                "label": pd.Series(dtype="str"),
                "sessions_with_event": pd.Series(dtype=np.int64),
                "patients": pd.Series(dtype=np.int64),
                "sessions": pd.Series(dtype=np.int64),
                "per_100": pd.Series(dtype=np.float64),
            }
        )
    treatments = dataset.treatments
    sessions = len(treatments)
    codes = (
        treatments["adverse_events"]
        .astype("str")
        .str.split(";")
        .rename("event")
        .to_frame()
        .assign(
            patient_id=treatments["patient_id"].astype(str).to_numpy(),
            session=np.arange(sessions),
        )
        .explode("event")
    )
    # A column with no code at all explodes to floats (NaN): back to text before .str.
    codes["event"] = codes["event"].astype("str").str.strip().str.lower()
    codes = codes[codes["event"].notna() & (codes["event"] != "")]
    codes = codes.drop_duplicates(["session", "event"])
    per_event = codes.groupby("event").agg(
        sessions_with_event=("session", "size"), patients=("patient_id", "nunique")
    )
    known = _event_codes()
    order = list(known) + sorted(set(per_event.index) - set(known))
    per_event = per_event.reindex(order, fill_value=0).reset_index()
    per_event = per_event.sort_values(
        ["sessions_with_event", "event"], ascending=[False, True], kind="stable"
    )
    any_event = pd.DataFrame(
        {
            "event": [_ANY_EVENT],
            "sessions_with_event": [codes["session"].nunique()],
            "patients": [codes["patient_id"].nunique()],
        }
    )
    out = pd.concat([any_event, per_event], ignore_index=True)
    out["label"] = np.where(
        out["event"] == _ANY_EVENT,
        "Any adverse event",
        out["event"].str.replace("_", " ", regex=False).str.capitalize(),
    )
    out["sessions"] = sessions
    out["per_100"] = 100.0 * out["sessions_with_event"] / sessions
    out = out.astype(
        {
            "event": "str",
            "label": "str",
            "sessions_with_event": np.int64,
            "patients": np.int64,
            "sessions": np.int64,
        }
    )
    return out[list(_AE_COLUMNS)]


def adverse_events(dataset: Dataset) -> go.Figure:
    """Horizontal bars: adverse events per 100 sessions by type, counts in the hover.

    Parameters
    ----------
    dataset : Dataset

    Returns
    -------
    plotly.graph_objects.Figure
        "Any adverse event" on top in a darker colour, then each type, most frequent first
        (numbers: :func:`adverse_events_data`).
    """
    title = "Adverse events recorded per 100 sessions"
    data = adverse_events_data(dataset)
    if data.empty:
        return _no_data(title, "no treatment sessions are recorded.")
    colors = np.where(data["event"] == _ANY_EVENT, COLORS["event_any"], COLORS["event"])
    custom = np.column_stack(
        [data["sessions_with_event"].to_numpy(), data["patients"].to_numpy(), data["sessions"]]
    )
    fig = go.Figure(
        go.Bar(
            x=data["per_100"],
            y=data["label"],
            orientation="h",
            marker={"color": colors},
            customdata=custom,
            text=data["per_100"].map("{:.1f}".format),
            textposition="outside",
            cliponaxis=False,
            name="Events per 100 sessions",
            showlegend=False,
            hovertemplate=(
                "<b>%{y}</b><br>%{x:.1f} per 100 sessions<br>"
                "%{customdata[0]} of %{customdata[2]} sessions, %{customdata[1]} patients"
                "<extra></extra>"
            ),
        )
    )
    sessions = int(data["sessions"].iloc[0])
    any_row = data.iloc[0]
    subtitle = (
        f"{sessions} sessions; {int(any_row['sessions_with_event'])} with at least one adverse "
        f"event recorded, in {int(any_row['patients'])} patients. A blank record counts as "
        "none recorded."
    )
    _style(fig, title, subtitle, height=max(360, 150 + 34 * len(data)), legend="none")
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=list(data["label"]),
        autorange="reversed",
        showgrid=False,
        ticklabelstandoff=6,
    )
    top = float(data["per_100"].max())
    fig.update_xaxes(
        title_text="Sessions with the event, per 100 sessions",
        range=[0, max(top * 1.15, 1.0)],
        zeroline=False,
    )
    return fig


# --------------------------------------------------------------------------------------
# 8. Subgroups
# --------------------------------------------------------------------------------------

_SUBGROUP_PLOT_COLUMNS: Final = (
    "group",
    "group_label",
    "level",
    "level_label",
    "k",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "compared_with",
    "group_rate",
)


def subgroup_forest_data(subgroup_frame: pd.DataFrame) -> pd.DataFrame:
    """Subgroup rates with the labels a reader sees and each group's overall rate.

    Parameters
    ----------
    subgroup_frame : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.subgroup_rates`, or several concatenated.
        Not modified.

    Returns
    -------
    pandas.DataFrame
        The input's columns with ``group_label`` and ``level_label`` (plain words) and
        ``group_rate`` (``sum k / sum n`` over every level of the group, the unknown level
        included: the rate of the whole population).
    """
    if subgroup_frame.empty:
        return pd.DataFrame({name: pd.Series(dtype="str") for name in _SUBGROUP_PLOT_COLUMNS})
    out = subgroup_frame.copy()
    out["group_label"] = out["group"].map(lambda g: _GROUP_LABELS.get(g, str(g)))
    out["level_label"] = out["level"].map(lambda v: _LEVEL_LABELS.get(v, str(v)))
    totals = out.groupby("group", sort=False)[["k", "n"]].transform("sum")
    out["group_rate"] = totals["k"] / totals["n"].where(totals["n"] > 0)
    for column in ("group", "group_label", "level", "level_label"):
        out[column] = out[column].astype("str")
    return out[list(_SUBGROUP_PLOT_COLUMNS)].reset_index(drop=True)


def subgroup_forest(
    subgroup_frame: pd.DataFrame,
    *,
    outcome: str = "response",
    instrument: str = PHQ9.name,
    population: str = "itt",
) -> go.Figure:
    """Dot-and-interval plot of an outcome rate by subgroup level.

    Parameters
    ----------
    subgroup_frame : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.subgroup_rates` (one or several groups).
    outcome, instrument, population : str
        What the frame holds, for the title (pass what ``subgroup_rates`` was called with).

    Returns
    -------
    plotly.graph_objects.Figure
        One row per level (``n`` in the label), grouped under each attribute's heading,
        with the Wilson interval and a dashed line at the group's overall rate (numbers:
        :func:`subgroup_forest_data`). The hover gives the Newcombe difference with its
        comparison group.
    """
    outcome_label = RATE_OUTCOME_LABELS.get(outcome, outcome.replace("_", " ").capitalize())
    data = subgroup_forest_data(subgroup_frame)
    groups = list(dict.fromkeys(data["group_label"])) if not data.empty else []
    codes = list(dict.fromkeys(data["group"])) if not data.empty else []
    by = _GROUP_TITLES.get(codes[0], codes[0]) if len(codes) == 1 else "patient group"
    title = f"{instrument} {outcome_label.lower()} by {by}"
    if data.empty:
        return _no_data(title, "no subgroup rates to show.")

    tick = data["level_label"] + " (n = " + data["n"].astype(int).astype(str) + ")"
    position, tick_pos, tick_text = _row_layout(data, "group_label", ["group", "level"], tick)
    single_group = len(groups) == 1
    if single_group:
        # One attribute: its name is in the title, so drop the heading row.
        keep = [i for i, text in enumerate(tick_text) if not text.startswith("<b>")]
        tick_pos = [tick_pos[i] - 1 for i in keep]
        tick_text = [tick_text[i] for i in keep]
        position = position - 1
    data = data.assign(_y=position.to_numpy())
    has_ci = data["ci_low"].notna()
    diff_text = np.where(
        data["diff"].notna(),
        "<br>Difference vs "
        + data["compared_with"].map(lambda v: _LEVEL_LABELS.get(v, v)).fillna("").astype(str)
        + ": "
        + (100 * data["diff"]).map("{:+.1f}".format)
        + " points (95% CI "
        + (100 * data["diff_ci_low"]).map("{:+.1f}".format)
        + " to "
        + (100 * data["diff_ci_high"]).map("{:+.1f}".format)
        + ")",
        "",
    )
    custom = np.column_stack(
        [
            data["k"].to_numpy(),
            data["n"].to_numpy(),
            data["ci_low"].to_numpy(),
            data["ci_high"].to_numpy(),
            data["level_label"].to_numpy(dtype=object),
            diff_text.astype(object),
        ]
    )
    fig = go.Figure(
        go.Scatter(
            x=data["estimate"].where(has_ci),
            y=data["_y"],
            mode="markers",
            marker={"symbol": "diamond", "size": 12, "color": COLORS["clinic"]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (data["ci_high"] - data["estimate"]).to_numpy(),
                "arrayminus": (data["estimate"] - data["ci_low"]).to_numpy(),
                "thickness": 1.8,
                "width": 4,
                "color": COLORS["clinic"],
            },
            customdata=custom,
            name=f"{outcome_label} rate (95% CI)",
            hovertemplate=(
                f"<b>%{{customdata[4]}}</b><br>{outcome_label} %{{x:.1%}} "
                "(%{customdata[0]} of %{customdata[1]})<br>"
                "95% CI %{customdata[2]:.1%} to %{customdata[3]:.1%}%{customdata[5]}"
                "<extra></extra>"
            ),
        )
    )
    for label, part in data.groupby("group_label", sort=False):
        rate = float(part["group_rate"].iloc[0])
        if not np.isfinite(rate):
            continue
        top = float(part["_y"].min()) - 0.45
        bottom = float(part["_y"].max()) + 0.45
        fig.add_trace(
            go.Scatter(
                x=[rate, rate],
                y=[top, bottom],
                mode="lines",
                line={"color": COLORS["reference"], "width": 1.2, "dash": "dash"},
                name="All patients",
                legendgroup="all",
                showlegend=label == groups[0],
                hovertemplate=f"All patients: {rate:.1%}<extra></extra>",
            )
        )
    population_label = _POPULATION_LABELS.get(population, population)
    subtitle = (
        f"{outcome_label} rate with 95% Wilson interval ({population_label}); dashed line: all "
        "patients. Small groups have wide intervals: compare intervals, not ranks."
    )
    _style(fig, title, subtitle, height=max(320, 170 + 40 * len(tick_pos)))
    fig.update_xaxes(
        title_text=f"{outcome_label} rate (95% CI)",
        tickformat=".0%",
        range=[-0.02, 1.02],
        dtick=0.1,
        zeroline=False,
    )
    fig.update_yaxes(
        tickvals=tick_pos,
        ticktext=tick_text,
        range=[max(tick_pos) + 0.7, min(tick_pos) - 0.7],
        showgrid=False,
        zeroline=False,
    )
    return fig


# --------------------------------------------------------------------------------------
# 9. Scorecard colours
# --------------------------------------------------------------------------------------


def news_color(news: str, *, background: bool = False) -> str:
    """Colour of a scorecard row by its news for patients: good green, bad red, neither
    blue, unclear grey (:data:`NEWS_COLORS`).

    Parameters
    ----------
    news : str
        One of :data:`katoutcomes.claims.NEWS`; anything else is grey ("unclear").
    background : bool, default False
        The pale variant, for a badge or a table cell behind text in the strong colour.

    Examples
    --------
    >>> news_color("good")
    '#1B7837'
    """
    palette = NEWS_BACKGROUNDS if background else NEWS_COLORS
    return palette.get(str(news), palette["unclear"])


def scorecard_colors(news: Iterable[str], *, background: bool = False) -> list[str]:
    """:func:`news_color` for each row's news, e.g. for a ``go.Table`` cell fill.

    Examples
    --------
    >>> scorecard_colors(["good", "bad"])
    ['#1B7837', '#B0281A']
    """
    return [news_color(n, background=background) for n in news]


def news_css(news: str) -> str:
    """CSS for a verdict cell (pale background, coloured bold text), for pandas ``Styler``.

    Examples
    --------
    >>> news_css("unclear")
    'background-color: #ECEEEF; color: #5F6B73; font-weight: 600'
    """
    return (
        f"background-color: {news_color(news, background=True)}; "
        f"color: {news_color(news)}; font-weight: 600"
    )


def news_legend_html() -> str:
    """The colour legend of the scorecard as HTML: one badge per kind of news.

    Examples
    --------
    >>> "good news for patients" in news_legend_html()
    True
    """
    badges = " ".join(
        f'<span style="color:{NEWS_COLORS[key]};background:{NEWS_BACKGROUNDS[key]};'
        f'font-weight:600;padding:1px 6px;border-radius:4px">{label}</span>'
        for key, label in NEWS_LABELS.items()
    )
    return f"Colour: {badges}. The word is the verdict."


# --------------------------------------------------------------------------------------
# Numbers behind any figure
# --------------------------------------------------------------------------------------


def figure_data(fig: go.Figure) -> pd.DataFrame:
    """The points of every visible data trace of a figure, as one long table.

    Prefer the ``*_data`` function of the figure (the tidy table it was drawn from); this
    is the generic fallback for any figure.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure

    Returns
    -------
    pandas.DataFrame
        Columns ``trace`` (the legend name), ``x`` and ``y``, one row per point of every
        trace that has hover text (band edges drawn only for shading are skipped).
    """
    pieces = []
    for trace in fig.data:
        if getattr(trace, "hoverinfo", None) == "skip":
            continue
        x = getattr(trace, "x", None)
        y = getattr(trace, "y", None)
        if x is None or y is None:
            continue
        x_values = np.asarray(x, dtype=object)
        y_values = np.asarray(y, dtype=object)
        if x_values.shape != y_values.shape:
            continue
        pieces.append(pd.DataFrame({"trace": trace.name or "", "x": x_values, "y": y_values}))
    if not pieces:
        return pd.DataFrame(
            {
                "trace": pd.Series(dtype="str"),
                "x": pd.Series(dtype=object),
                "y": pd.Series(dtype=object),
            }
        )
    out = pd.concat(pieces, ignore_index=True)
    out["trace"] = out["trace"].astype("str")
    return out
