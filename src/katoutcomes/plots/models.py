"""Figures of the trajectory model: the expected-recovery band on a patient's chart and the
mean course of symptoms with its confidence band.

The band and the curve come from :class:`katoutcomes.trajectories.TrajectoryModel`
(:meth:`~katoutcomes.trajectories.TrajectoryModel.expected`,
:meth:`~katoutcomes.trajectories.TrajectoryModel.mean_curve`); these functions only draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import pandas as pd
import plotly.graph_objects as go

from katoutcomes.plots._base import COLORS

__all__ = ["BAND_COLOR", "add_expected_band", "mean_curve_figure"]

#: The band's grey: quiet behind the scores, which stay the figure's subject.
BAND_COLOR: Final = "rgba(95, 107, 115, 0.16)"
_LINE: Final = "#5F6B73"


def add_expected_band(
    fig: go.Figure, band: pd.DataFrame, *, row: int, level: float, name: str
) -> go.Figure:
    """Draw a patient's expected-recovery band (``day, expected, band_low, band_high``)
    behind the scores of panel ``row``; returns ``fig``, changed in place."""
    if band.empty:
        return fig
    label = f"Expected recovery ({level:.0%} band)"
    hover = (
        f"{name} day %{{x:.0f}}: expected %{{customdata[0]:.1f}}, "
        f"{level:.0%} band %{{customdata[1]:.1f}} to %{{customdata[2]:.1f}}<extra></extra>"
    )
    custom = band[["expected", "band_low", "band_high"]].to_numpy()
    low = go.Scatter(
        x=band["day"],
        y=band["band_low"],
        mode="lines",
        line={"width": 0},
        hoverinfo="skip",
        showlegend=False,
        legendgroup="expected",
    )
    high = go.Scatter(
        x=band["day"],
        y=band["band_high"],
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor=BAND_COLOR,
        name=label,
        legendgroup="expected",
        showlegend=row == 1,
        hoverinfo="skip",
    )
    middle = go.Scatter(
        x=band["day"],
        y=band["expected"],
        mode="lines",
        line={"color": _LINE, "width": 1, "dash": "dot"},
        name="Expected score",
        legendgroup="expected",
        showlegend=False,
        customdata=custom,
        hovertemplate=hover,
    )
    before = len(fig.data)
    for trace in (low, high, middle):
        fig.add_trace(trace, row=row, col=1)
    # Behind everything else: the band is context, the patient's scores the subject.
    added = fig.data[before:]
    fig.data = (*added, *fig.data[:before])
    return fig


def mean_curve_figure(
    curves: Mapping[str, pd.DataFrame], *, notes: Mapping[str, str] | None = None
) -> go.Figure:
    """The model's mean course of each instrument at the mean baseline, with its 95%
    confidence band (``day, mean, ci_low, ci_high`` per instrument)."""
    fig = go.Figure()
    for name, curve in curves.items():
        if curve.empty:
            continue
        color = COLORS.get(name, COLORS["other_instrument"])
        red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
        fig.add_trace(
            go.Scatter(
                x=curve["day"],
                y=curve["ci_low"],
                mode="lines",
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=curve["day"],
                y=curve["ci_high"],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=f"rgba({red},{green},{blue},0.15)",
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=curve["day"],
                y=curve["mean"],
                mode="lines+markers",
                line={"color": color, "width": 2},
                name=name,
                legendgroup=name,
                customdata=curve[["ci_low", "ci_high"]].to_numpy(),
                hovertemplate=f"{name} day %{{x:.0f}}: %{{y:.1f}} (95% CI "
                "%{customdata[0]:.1f} to %{customdata[1]:.1f})<extra></extra>",
            )
        )
    subtitle = " ".join((notes or {}).values())
    fig.update_layout(
        title={
            "text": "Expected course of symptoms (trajectory model, mean baseline)"
            + (f"<br><sup>{subtitle}</sup>" if subtitle else ""),
        },
        template="plotly_white",
        height=420,
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
        legend={"orientation": "h", "y": -0.2},
        font={"family": "Helvetica Neue, Arial, sans-serif", "size": 13, "color": "#222222"},
    )
    fig.update_xaxes(title_text="Days since the first dose", type="log")
    fig.update_yaxes(title_text="Score", rangemode="tozero")
    return fig
