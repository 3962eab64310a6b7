"""Figures of the trajectory model: the expected-recovery band on a patient's chart and the
mean course of symptoms with its confidence band.

The band and the curve come from :class:`katoutcomes.trajectories.TrajectoryModel`
(:meth:`~katoutcomes.trajectories.TrajectoryModel.expected`,
:meth:`~katoutcomes.trajectories.TrajectoryModel.mean_curve`); these functions only draw.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from katoutcomes import formatting as fmt
from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.plots._base import _instrument_color, _rgba, _style

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


def mean_curve_figure(curve: pd.DataFrame, instrument: str, n_patients: int) -> go.Figure:
    """The trajectory model's mean curve with its 95% confidence band.

    Parameters
    ----------
    curve : DataFrame
        :meth:`katoutcomes.trajectories.TrajectoryModel.mean_curve` (``day, mean,
        ci_low, ci_high``).
    instrument : str
    n_patients : int
        Patients the model was fitted on (named in the subtitle).
    """
    color = _instrument_color(instrument)
    inst = INSTRUMENTS[instrument]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([curve["day"], curve["day"][::-1]]),
            y=np.concatenate([curve["ci_high"], curve["ci_low"][::-1]]),
            fill="toself",
            fillcolor=_rgba(color, 0.18),
            line={"width": 0},
            hoverinfo="skip",
            name="95% confidence band",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=curve["day"],
            y=curve["mean"],
            mode="lines",
            line={"color": color, "width": 2.5},
            name="Expected score at the mean baseline",
            customdata=np.column_stack([curve["ci_low"], curve["ci_high"]]),
            hovertemplate=(
                "Day %{x:.0f}: %{y:.1f} (95% CI %{customdata[0]:.1f} to "
                "%{customdata[1]:.1f})<extra></extra>"
            ),
        )
    )
    _style(
        fig,
        f"{instrument}: modelled course of symptoms",
        "Linear mixed model of the scores after the first dose (random intercept and slope "
        f"per patient), fitted on {fmt.count(n_patients, 'patients')}; the band is the 95% "
        "confidence interval of the mean, not the range of patients' scores.",
        legend="bottom",
    )
    fig.update_xaxes(title_text="Days since the first dose", rangemode="tozero")
    fig.update_yaxes(title_text=f"{instrument} score", range=[0, inst.max_score])
    return fig
