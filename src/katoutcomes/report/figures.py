"""Figures of the report: rendering, and the small-cell rule applied to what they draw.

The figures themselves come from :mod:`katoutcomes.plots` and
:mod:`katoutcomes.plots`, drawn from the analysis's results; this module
renders them (plotly.js embedded once) and takes out of them what the small-cell rule
hides: Kaplan–Meier steps with few patients at risk, the numbers at risk, adverse-event
bars of small groups, suppressed subgroups, the waterfall when its bars would count a
small group, and funnel-plot units with fewer than ``k`` patients.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from katoutcomes import formatting as fmt
from katoutcomes.instruments import PHQ9
from katoutcomes.plots import cohort_trajectory, subgroup_forest, waterfall_data
from katoutcomes.suppression import SUPPRESSED_COLUMN, small_cell_mask

__all__ = [
    "PLOT_CONFIG",
    "Figures",
    "hide_at_risk",
    "mask_adverse_events",
    "subgroup_figure",
    "trajectory_min_n",
    "truncate_curves",
    "waterfall_hidden",
]

#: The plotly mode bar without the selection tools (nothing to select in a report).
PLOT_CONFIG: Final = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}


@dataclass
class Figures:
    """Renders figures to HTML fragments; plotly.js goes into the first one only."""

    count: int = 0

    def render(self, fig: go.Figure, div_id: str) -> dict[str, str]:
        """A figure block for the templates: ``{"kind": "figure", "html": ...}``."""
        first = self.count == 0
        self.count += 1
        body = fig.to_html(
            full_html=False,
            include_plotlyjs=first,
            include_mathjax=False,
            div_id=div_id,
            config=dict(PLOT_CONFIG),
        )
        return {"kind": "figure", "html": body}


def trajectory_min_n(k: int) -> int:
    """Fewest patients for a weekly mean: the figure's default, at least ``k``."""
    default = inspect.signature(cohort_trajectory).parameters["min_n"].default
    return max(int(default), k)


def truncate_curves(curves: pd.DataFrame, k: int) -> tuple[pd.DataFrame, list[str]]:
    """Kaplan–Meier rows with at least ``k`` patients at risk; an instrument is dropped
    whole when none is left, or when the rows left hold 1 to ``k - 1`` events (a reader can
    count the steps)."""
    if k <= 1 or curves.empty:
        return curves, []
    keep = curves["at_risk"].to_numpy(dtype=np.float64) >= k
    events = curves.loc[keep].groupby("instrument", sort=False)["events"].sum()
    kept = {name for name, total in events.items() if not 1 <= total < k}
    keep &= curves["instrument"].isin(kept).to_numpy()
    dropped = [str(name) for name in dict.fromkeys(curves["instrument"]) if name not in kept]
    return curves[keep].reset_index(drop=True), dropped


def waterfall_hidden(outcomes: pd.DataFrame, rates: pd.DataFrame, k: int) -> str:
    """Why the PHQ-9 waterfall may not be shown (empty when it may).

    Its bars can be counted: completers, and by colour those in remission, responding
    without remission and not responding (with the response and remission totals).
    """
    if k <= 1:
        return ""
    bars = waterfall_data(outcomes, PHQ9.name)
    response = bars["response"].to_numpy(dtype=bool)
    remission = bars["remission"].to_numpy(dtype=bool)
    counts = [
        len(bars),
        int(response.sum()),
        int(remission.sum()),
        int((remission | response).sum()),
        int((response & ~remission).sum()),
        int((~response & ~remission).sum()),
    ]
    if small_cell_mask(counts, k).any():
        return (
            f"counting its bars by colour would give a group of 1 to {k - 1} patients (PHQ-9 "
            "completers, responders, patients in remission or without response)"
        )
    if (PHQ9.name, "completers") in rates.attrs.get("hidden_populations", []):
        return (
            "its bars would count the completers, which with the intention-to-treat "
            f"population gives a group of 1 to {k - 1} patients"
        )
    return ""


def hide_at_risk(fig: go.Figure) -> None:
    """Take the numbers at risk out of a Kaplan–Meier figure's hover text."""
    for trace in fig.data:
        template = getattr(trace, "hovertemplate", None)
        if template and "patients at risk" in template:
            custom = np.asarray(trace.customdata, dtype=object).copy()
            custom[:, 2] = ""
            trace.update(
                customdata=custom,
                hovertemplate=template.replace("<br>%{customdata[2]} patients at risk", ""),
            )


def mask_adverse_events(fig: go.Figure, data: pd.DataFrame, hidden: np.ndarray, k: int) -> bool:
    """Hide the bars of suppressed event types in the figure; False if it has another shape."""
    if len(fig.data) != 1 or fig.data[0].type != "bar":
        return False
    bar = fig.data[0]
    labels = list(bar.y)
    if labels != list(data["label"]):
        return False
    x = np.asarray(bar.x, dtype=np.float64)
    text = np.asarray(bar.text, dtype=object)
    custom = np.asarray(bar.customdata, dtype=object)
    templates = np.full(len(labels), bar.hovertemplate, dtype=object)
    x[hidden] = 0.0
    text[hidden] = "suppressed (small-cell rule)"
    custom[hidden, 0] = ""
    custom[hidden, 1] = ""
    templates[hidden] = (
        f"<b>%{{y}}</b><br>Suppressed: 1 to {k - 1} patients with or without it<extra></extra>"
    )
    bar.update(x=x, text=text, customdata=custom, hovertemplate=list(templates))
    return True


def subgroup_figure(frame: pd.DataFrame, shown: pd.DataFrame, overall_shown: bool) -> go.Figure:
    """The PHQ-9 response forest of one attribute with suppressed levels left out.

    ``frame`` is the analysis's subgroup table, ``shown`` the same rows marked by the
    small-cell rule (at least one level must be visible). The dashed "All patients" line
    is the rate of every patient, hidden levels included (it is the intention-to-treat
    rate shown above); when that rate is itself suppressed, the line is left out.
    """
    visible = frame[~shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)]
    fig = subgroup_forest(visible, outcome="response", instrument=PHQ9.name)
    total_n = float(frame["n"].sum())
    if not overall_shown:
        fig.data = tuple(trace for trace in fig.data if trace.name != "All patients")
    elif total_n > 0:
        rate = float(frame["k"].sum()) / total_n
        for trace in fig.data:
            if trace.name == "All patients":
                trace.update(
                    x=[rate, rate],
                    hovertemplate=f"All patients: {fmt.pct(rate)}<extra></extra>",
                )
    return fig
