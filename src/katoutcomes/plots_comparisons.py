"""Figures of the adjusted comparisons: funnel plots and the predictors' forest plot.

Same conventions as :mod:`katoutcomes.plots` (its look, colours and "No data" figures):
tidy data in, :class:`plotly.graph_objects.Figure` out; each figure has a ``*_data``
function returning the numbers it draws.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from katoutcomes.comparisons import Predictors
from katoutcomes.funnel import FunnelTable, funnel_limits
from katoutcomes.plots import (
    COLORS,
    _no_data,
    _rgba,
    _style,
    cumulative_response_data,
    response_duration_data,
)

__all__ = [
    "SMALL_MULTIPLES_ABOVE",
    "funnel_plot",
    "funnel_plot_data",
    "km_small_multiples",
    "predictors_forest",
]

#: Subgroup Kaplan-Meier curves are drawn as small multiples above this many groups:
#: more overlapping bands cannot be told apart (issue 12).
SMALL_MULTIPLES_ABOVE: Final = 3

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
    steps = cumulative_response_data if cumulative else response_duration_data
    title = title or f"Time to {event_label} by group (Kaplan\u2013Meier)"
    data = steps(curves)
    if data.empty:
        return _no_data(title, "no group has a curve to draw.")
    everyone = steps(overall)
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
        fig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["ci_high"],
                mode="lines",
                line={"width": 0, "shape": "hv"},
                hoverinfo="skip",
                showlegend=False,
                name=f"{group} upper 95% limit",
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["ci_low"],
                mode="lines",
                line={"width": 0, "shape": "hv"},
                fill="tonexty",
                fillcolor=_rgba(colour, 0.18),
                hoverinfo="skip",
                name="95% confidence interval",
                legendgroup="band",
                showlegend=i == 0,
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["estimate"],
                mode="lines",
                line={"color": colour, "width": 2.2, "shape": "hv"},
                name="Group",
                legendgroup="group",
                showlegend=i == 0,
                customdata=np.column_stack([part["ci_low"], part["ci_high"], part["at_risk"]]),
                hovertemplate=(
                    f"<b>{group}</b> day %{{x:.1f}}<br>{estimate}: %{{y:.1%}}<br>"
                    "95% CI %{customdata[0]:.1%} to %{customdata[1]:.1%}<br>"
                    "%{customdata[2]} patients at risk<extra></extra>"
                ),
            ),
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
