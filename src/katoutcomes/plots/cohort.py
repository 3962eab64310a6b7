"""Figures of the whole cohort: scores over time, change per patient, time to response.

:func:`cohort_trajectory` (mean score by week), :func:`waterfall` (percent change per
completer), and the Kaplan–Meier curves :func:`cumulative_response` (time to response or
early improvement) and :func:`response_duration` (staying in response), each with its
``*_data`` companion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from katoutcomes.cohort import in_population
from katoutcomes.instruments import PHQ9
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.plots._base import (
    _BAND_LABEL_MARGIN,
    _MUTED,
    _POPULATION_LABELS,
    COLORS,
    _add_km_curve,
    _add_severity_bands,
    _instrument,
    _instrument_color,
    _km_steps,
    _no_data,
    _rgba,
    _style,
    _time_origin_label,
)
from katoutcomes.settings import Settings

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = [
    "WATERFALL_BARS",
    "cohort_trajectory",
    "cohort_trajectory_data",
    "cumulative_response",
    "cumulative_response_data",
    "response_duration",
    "response_duration_data",
    "waterfall",
    "waterfall_data",
]

#: Default 95% intervals, as everywhere in katoutcomes (methods §1.2).
_ALPHA: Final = 0.05
#: Weeks with fewer patients than this are left out of the cohort trajectory: a mean of a
#: handful of patients is noise (and a t-interval from n < 2 does not exist).
_MIN_WEEK_PATIENTS: Final = 10


# --------------------------------------------------------------------------------------
# Cohort trajectory
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
    # scipy.special, not scipy.stats: the same t quantile for a tenth of the import time.
    from scipy.special import stdtrit

    with np.errstate(invalid="ignore"):
        quantile = stdtrit(n - 1.0, 1.0 - alpha / 2.0)
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
        f"{n_patients:,} patients at baseline ({who}). Week 0 = baseline; week k = days "
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
# Waterfall
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


#: Most bars a waterfall draws: about one per pixel of a dashboard-wide figure.
WATERFALL_BARS: Final = 500


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
        response threshold. Beyond :data:`WATERFALL_BARS` completers, the completers at
        that many evenly spaced ranks of the sorted order, each bar as wide as the
        patients it stands for (the subtitle says so; the counts use every patient).
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
    n = len(data)
    # A bar per patient up to WATERFALL_BARS; beyond, the patients at evenly spaced ranks of
    # the sorted order (the same shape: the bars would be narrower than a pixel).
    drawn = data
    if n > WATERFALL_BARS:
        ranks = np.unique(np.round(np.linspace(0, n - 1, WATERFALL_BARS)).astype(np.int64))
        drawn = data.iloc[ranks]
        title = f"{inst.name}: change from baseline to endpoint, patients sorted by change"
    width = n / len(drawn)
    fig = go.Figure()
    who = "Patient %{customdata[0]}<br>" if show_patient_ids else ""
    for category in _WATERFALL_CATEGORIES:
        part = drawn[drawn["category"] == category]
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
                width=None if drawn is data else width,
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
    n_response = int(data["response"].sum())
    n_remission = int(data["remission"].sum())
    subtitle = (
        f"{n:,} eligible patients with an endpoint (completers). Response {n_response:,} "
        f"({n_response / n:.0%}), remission {n_remission:,} ({n_remission / n:.0%}). "
        "Bars below zero are improvements."
    )
    if drawn is not data:
        subtitle += (
            f" Drawn: the patients at {len(drawn):,} evenly spaced ranks of the {n:,}, each "
            "bar as wide as the patients it stands for (the numbers behind the chart list "
            "every patient)."
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
# Kaplan–Meier curves: time to response, how long response lasts
# --------------------------------------------------------------------------------------


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
        label = f"{name} ({n:,} patients, {events:,} events)" if name else f"{n:,} patients"
        group = str(name)
        _add_km_curve(
            fig,
            part,
            label=group,
            color=color,
            width=2.5,
            estimate_label=estimate_label,
            name=label,
            legendgroup=group,
            showlegend=None,
            band_name=f"{group} 95% confidence interval",
            band_legendgroup=group,
            band_showlegend=False,
            edge_legendgroup=group,
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
