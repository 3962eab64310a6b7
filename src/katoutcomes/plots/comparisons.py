"""Figures that compare groups of patients: subgroups, sites and clinicians.

:func:`subgroup_forest` (an outcome rate by level of a patient attribute),
:func:`km_small_multiples` (the Kaplan–Meier curve of each group beside all patients),
:func:`funnel_plot` (each site's or clinician's response rate within funnel limits, crude or
case-mix adjusted) and :func:`predictors_forest` (odds ratios of one multivariable model).
Each figure has a ``*_data`` function returning the numbers it draws, where the numbers
are not already a table of :mod:`katoutcomes.comparisons` or :mod:`katoutcomes.funnel`.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from katoutcomes.cohort import RATE_OUTCOME_LABELS, UNKNOWN_LEVEL
from katoutcomes.comparisons import Predictors
from katoutcomes.funnel import FunnelTable, funnel_limits
from katoutcomes.instruments import PHQ9
from katoutcomes.plots._base import (
    _POPULATION_LABELS,
    COLORS,
    _add_km_curve,
    _km_steps,
    _no_data,
    _row_layout,
    _style,
)

__all__ = [
    "SMALL_MULTIPLES_ABOVE",
    "funnel_plot",
    "funnel_plot_data",
    "km_small_multiples",
    "predictors_forest",
    "subgroup_forest",
    "subgroup_forest_data",
]

# --------------------------------------------------------------------------------------
# Subgroups: an outcome rate and Kaplan–Meier curves by patient group
# --------------------------------------------------------------------------------------

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

#: Subgroup Kaplan-Meier curves are drawn as small multiples above this many groups:
#: more overlapping bands cannot be told apart (issue 12).
SMALL_MULTIPLES_ABOVE: Final = 3


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


def km_small_multiples(
    curves: pd.DataFrame,
    overall: pd.DataFrame,
    *,
    cumulative: bool = True,
    event_label: str = "response",
    title: str | None = None,
    columns: int = 3,
) -> go.Figure:
    """Kaplan-Meier curves of several groups as small multiples, one panel per group.

    Parameters
    ----------
    curves : pandas.DataFrame
        Kaplan-Meier curves in the shape of :func:`katoutcomes.cohort.time_to_event`, with
        the group's label in the ``instrument`` column (one curve per label), as the
        dashboard's subgroup curves are built.
    overall : pandas.DataFrame
        The curve of all patients together (same shape, one curve).
    cumulative : bool, default True
        Draw ``1 - S(t)`` (time to response); ``S(t)`` when False (staying in response).
    event_label : str, default "response"
        Word for titles and hover text.
    title : str, optional
        Figure title.
    columns : int, default 3
        Panels per row.

    Returns
    -------
    plotly.graph_objects.Figure
        One panel per group, in the order of ``curves``: the group's step line with its 95%
        band and, in grey behind it, the curve of all patients, so that each group is
        compared with the whole clinic rather than with overlapping bands of the others.
        Shared axes; each panel's title gives the group's patients and events.
    """
    title = title or f"Time to {event_label} by group (Kaplan\u2013Meier)"
    data = _km_steps(curves, cumulative=cumulative)
    if data.empty:
        return _no_data(title, "no group has a curve to draw.")
    everyone = _km_steps(overall, cumulative=cumulative)
    groups = list(dict.fromkeys(data["instrument"]))
    columns = max(1, min(columns, len(groups)))
    rows = math.ceil(len(groups) / columns)
    titles = []
    for group in groups:
        part = data[data["instrument"] == group]
        titles.append(
            f"{group} ({int(part['at_risk'].iloc[0])} patients, {int(part['events'].sum())} events)"
        )
    fig = make_subplots(
        rows=rows,
        cols=columns,
        shared_xaxes=True,
        shared_yaxes=True,
        subplot_titles=titles,
        horizontal_spacing=0.04,
        vertical_spacing=0.12 if rows > 1 else 0.1,
    )
    colour = COLORS["clinic"]
    estimate = f"{'Reached' if cumulative else 'Still in'} {event_label}"
    for i, group in enumerate(groups):
        row, col = i // columns + 1, i % columns + 1
        part = data[data["instrument"] == group]
        if not everyone.empty:
            fig.add_trace(
                go.Scatter(
                    x=everyone["day"],
                    y=everyone["estimate"],
                    mode="lines",
                    line={"color": "#A6A6A6", "width": 1.6, "shape": "hv"},
                    name="All patients",
                    legendgroup="all",
                    showlegend=i == 0,
                    hovertemplate="All patients, day %{x:.1f}: %{y:.1%}<extra></extra>",
                ),
                row=row,
                col=col,
            )
        _add_km_curve(
            fig,
            part,
            label=group,
            color=colour,
            width=2.2,
            estimate_label=estimate,
            name="Group",
            legendgroup="group",
            showlegend=i == 0,
            band_name="95% confidence interval",
            band_legendgroup="band",
            band_showlegend=i == 0,
            edge_legendgroup=None,
            row=row,
            col=col,
        )
    subtitle = (
        "One panel per group: the group's Kaplan\u2013Meier curve with its 95% band "
        "(log-scale Greenwood); grey: all patients together."
    )
    _style(fig, title, subtitle, height=max(360, 150 + 230 * rows), legend="top")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], zeroline=False)
    fig.update_xaxes(zeroline=False)
    for col in range(1, columns + 1):
        fig.update_xaxes(title_text="Days", row=rows, col=col)
    return fig


# --------------------------------------------------------------------------------------
# Sites and clinicians: funnel plots
# --------------------------------------------------------------------------------------

_UNIT_WORDS: Final = {"site": "site", "clinician": "clinician of the first dose"}
_INSIDE: Final = "#1F4E79"
_OUTSIDE: Final = "#D55E00"  # Okabe-Ito vermillion
_LIMIT_COLORS: Final = {"95": "#7F7F7F", "998": "#3B3B3B"}
#: Points on each limit curve: the interpolated limits are smooth in n.
_CURVE_POINTS: Final = 200


def funnel_plot_data(funnel: FunnelTable, *, adjusted: bool = True, min_n: int = 0) -> pd.DataFrame:
    """The units a funnel plot draws: ``unit, n, rate, outside`` and the limits at ``n``.

    Parameters
    ----------
    funnel : FunnelTable
        Output of :func:`katoutcomes.funnel.funnel_table`.
    adjusted : bool, default True
        Plot the case-mix adjusted rate (the crude one when False, or when no adjustment
        could be made).
    min_n : int, default 0
        Units with fewer patients are left out (small-cell suppression for outputs that
        are shared, :attr:`katoutcomes.settings.Settings.suppression_k`).
    """
    units = funnel.units
    use_adjusted = adjusted and funnel.adjustment is None
    rate = units["adjusted_rate"] if use_adjusted else units["rate"]
    out = units.assign(plotted_rate=rate.to_numpy())
    return out[out["n"] >= min_n].reset_index(drop=True)


def funnel_plot(funnel: FunnelTable, *, adjusted: bool = True, min_n: int = 0) -> go.Figure:
    """Funnel plot of each unit's ITT response rate against its number of patients.

    Parameters
    ----------
    funnel : FunnelTable
        Output of :func:`katoutcomes.funnel.funnel_table`.
    adjusted : bool, default True
        Case-mix adjusted rates (indirect standardisation); crude when False.
    min_n : int, default 0
        Units with fewer patients are not drawn (the subtitle says how many).

    Returns
    -------
    plotly.graph_objects.Figure
        The clinic rate as the centre line, the 95% and 99.8% exact binomial limits
        (:func:`katoutcomes.funnel.funnel_limits`) as curves, one labelled marker per unit,
        units outside the 99.8% limits in vermillion with a larger marker.
    """
    kind = "case-mix adjusted" if adjusted and funnel.adjustment is None else "crude"
    who = _UNIT_WORDS.get(funnel.by, funnel.by)
    title = f"{funnel.instrument} response by {who}: funnel plot ({kind})"
    data = funnel_plot_data(funnel, adjusted=adjusted, min_n=min_n)
    hidden = len(funnel.units) - len(data)
    if data.empty:
        return _no_data(title, f"no {funnel.by} has at least {min_n} patients.")
    top = max(int(data["n"].max() * 1.1), int(data["n"].max()) + 2)
    grid = np.unique(np.linspace(1, top, _CURVE_POINTS).round().astype(np.int64))
    limits = funnel_limits(grid, funnel.clinic_rate)
    fig = go.Figure()
    for level, label, dash in (("998", "99.8% limits", "solid"), ("95", "95% limits", "dash")):
        for side in ("lower", "upper"):
            fig.add_trace(
                go.Scatter(
                    x=limits["n"],
                    y=limits[f"{side}{level}"],
                    mode="lines",
                    line={"color": _LIMIT_COLORS[level], "width": 1.3, "dash": dash},
                    name=label,
                    legendgroup=level,
                    showlegend=side == "lower",
                    hovertemplate=f"{label}: %{{y:.1%}} at n = %{{x}}<extra></extra>",
                )
            )
    fig.add_trace(
        go.Scatter(
            x=[1, top],
            y=[funnel.clinic_rate] * 2,
            mode="lines",
            line={"color": COLORS["clinic"], "width": 1.5},
            name=f"Clinic rate {funnel.clinic_rate:.1%}",
            hovertemplate=f"Clinic rate {funnel.clinic_rate:.1%}<extra></extra>",
        )
    )
    is_out = (data["outside"] != "").to_numpy()
    for mask, name, color, size in (
        (~is_out, f"{who.capitalize()} within the 99.8% limits", _INSIDE, 10),
        (is_out, "Outside the 99.8% limits", _OUTSIDE, 14),
    ):
        part = data[mask]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["n"],
                y=part["plotted_rate"],
                mode="markers+text",
                text=part["unit"],
                textposition="top center",
                marker={"size": size, "color": color, "line": {"color": "white", "width": 1}},
                name=name,
                customdata=np.column_stack(
                    [
                        part["responders"].to_numpy(),
                        part["rate"].to_numpy(),
                        part["expected"].to_numpy(),
                    ]
                ),
                hovertemplate=(
                    "<b>%{text}</b><br>%{customdata[0]} of %{x} responded "
                    "(crude %{customdata[1]:.1%})<br>"
                    + (
                        "expected %{customdata[2]:.1f}; adjusted %{y:.1%}"
                        if kind != "crude"
                        else "crude rate %{y:.1%}"
                    )
                    + "<extra></extra>"
                ),
            )
        )
    outside_names = ", ".join(data.loc[is_out, "unit"]) or "none"
    subtitle = (
        f"Intention-to-treat response rate ({kind}) against the number of patients; lines: "
        "the clinic rate with 95% and 99.8% exact binomial limits (Spiegelhalter 2005). "
        f"Outside the 99.8% limits: {outside_names}."
    )
    if kind == "case-mix adjusted":
        subtitle += (
            " Adjusted = observed / expected x clinic rate, expected from a model of "
            "baseline severity and patient characteristics."
        )
    elif adjusted and funnel.adjustment:
        subtitle += f" No case-mix adjustment: {funnel.adjustment}"
    if hidden:
        subtitle += f" {hidden} unit(s) with fewer than {min_n} patients not shown."
    _style(fig, title, subtitle, legend="bottom", legend_rows=2)
    fig.update_xaxes(title_text="Patients (intention to treat)", range=[0, top], rangemode="tozero")
    fig.update_yaxes(title_text="Response rate", tickformat=".0%", range=[0, 1.05])
    return fig


# --------------------------------------------------------------------------------------
# Predictors of response: one multivariable model
# --------------------------------------------------------------------------------------


def predictors_forest(predictors: Predictors) -> go.Figure:
    """Forest plot of the odds ratios of :func:`katoutcomes.comparisons.predictors_of_response`.

    Returns
    -------
    plotly.graph_objects.Figure
        One row per model term with its odds ratio and 95% Wald interval on a log axis, a
        line at 1; the subtitle gives n, events and events per variable (with the warning
        below 10).
    """
    title = f"Predictors of {predictors.instrument} response (one multivariable model)"
    table = predictors.table[predictors.table["odds_ratio"].notna()].reset_index(drop=True)
    if table.empty:
        return _no_data(title, "no odds ratio could be estimated.")
    labels = table["label"].astype(str) + np.where(
        table["reference"] != "", " (vs " + table["reference"].astype(str) + ")", " (per point)"
    )
    y = np.arange(len(table))
    fig = go.Figure(
        go.Scatter(
            x=table["odds_ratio"],
            y=y,
            mode="markers",
            marker={"symbol": "square", "size": 10, "color": COLORS["clinic"]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (table["ci_high"] - table["odds_ratio"]).to_numpy(),
                "arrayminus": (table["odds_ratio"] - table["ci_low"]).to_numpy(),
                "color": COLORS["clinic"],
                "thickness": 1.6,
                "width": 4,
            },
            customdata=np.column_stack([table["ci_low"], table["ci_high"], table["p_value"]]),
            text=labels,
            name="Odds ratio (95% CI)",
            hovertemplate=(
                "<b>%{text}</b><br>OR %{x:.2f} (95% CI %{customdata[0]:.2f} to "
                "%{customdata[1]:.2f}), p = %{customdata[2]:.3f}<extra></extra>"
            ),
        )
    )
    fig.add_vline(x=1.0, line={"color": COLORS["reference"], "dash": "dash", "width": 1})
    subtitle = (
        f"Odds ratios of intention-to-treat response, each adjusted for every other term; "
        f"n = {predictors.n:,} patients, {predictors.events:,} responders, "
        f"{predictors.events_per_variable:.1f} events per variable."
    )
    if predictors.warning:
        subtitle += f" Caution: {predictors.warning}"
    _style(fig, title, subtitle, height=max(360, 170 + 28 * len(table)), legend="none")
    fig.update_xaxes(type="log", title_text="Odds ratio (log scale, 95% CI)")
    fig.update_yaxes(
        tickvals=y, ticktext=labels, range=[len(table) - 0.4, -0.6], showgrid=False, zeroline=False
    )
    return fig
