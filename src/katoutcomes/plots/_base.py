"""The look shared by every figure, and the drawing helpers more than one module uses.

Colours (:data:`COLORS`, :data:`SEVERITY_COLORS`), the common layout (:func:`_style`), the
"No data" figure, severity bands behind a score axis, the row layout of grouped dot plots,
and the Kaplan–Meier helpers: curves as steps starting at day 0 (:func:`_km_steps`) and one
curve drawn as its 95% band and step line (:func:`_add_km_curve`), used by the cohort's
curves and by the subgroup small multiples alike. :func:`figure_data` reads the points of
any figure back as a table.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from katoutcomes.instruments import INSTRUMENTS, Instrument, normalise_instrument_name
from katoutcomes.stats import no_event_lower_limit

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = ["COLORS", "KM_DRAWN_STEPS", "SEVERITY_COLORS", "figure_data"]

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

_FONT: Final = {"family": "Helvetica Neue, Arial, sans-serif", "size": 13, "color": "#222222"}
_MUTED: Final = "#6B6B6B"
_HEIGHT: Final = 480
#: Characters per subtitle line: fits a figure about 900 px wide.
_SUBTITLE_WIDTH: Final = 125
#: Right margin that leaves room for severity-band labels outside the plot.
_BAND_LABEL_MARGIN: Final = 112

_POPULATION_LABELS: Final = MappingProxyType(
    {
        "itt": "intention to treat",
        "completers": "completers",
        "eligible": "eligible patients",
    }
)

# --------------------------------------------------------------------------------------
# Layout helpers
# --------------------------------------------------------------------------------------


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
# Rows of grouped dot plots (forest plots)
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Kaplan–Meier curves
# --------------------------------------------------------------------------------------

_KM_COLUMNS: Final = ("instrument", "day", "at_risk", "events", "estimate", "ci_low", "ci_high")


def _km_steps(curves: pd.DataFrame, *, cumulative: bool) -> pd.DataFrame:
    """KM curves with a starting row at day 0, as ``S`` or as ``1 - S``.

    The starting row has every patient still followed and no event yet, so its interval
    is the exact one for 0 events among them, ``[0.025^(1/n), 1]`` (95%, methods §6.4), as
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


#: Most steps drawn per Kaplan–Meier curve: about one per pixel of a dashboard-wide figure.
KM_DRAWN_STEPS: Final = 800


def _km_drawn(curve: pd.DataFrame, steps: int = KM_DRAWN_STEPS) -> pd.DataFrame:
    """The rows of one curve that are drawn: all of them up to ``steps`` rows, else the last
    row of each of ``steps`` equal slices of its days (and the first row).

    On a large clinic a curve has one row per distinct event time (thousands, when times
    are in fractional days); drawn at one step per slice, a slice narrower than a pixel,
    the line looks the same and the figure is a tenth of the size. Every drawn point is a
    row of the curve (its estimate, interval and number at risk are exact at its day); a
    fall within a slice is drawn at the slice's last event. The figure's ``*_data`` table
    keeps every row.
    """
    if len(curve) <= steps:
        return curve
    day = curve["day"].to_numpy(dtype=np.float64)
    start, span = float(day[0]), float(day[-1] - day[0])
    if span <= 0:
        return curve.iloc[[0, -1]]
    slices = np.minimum(np.floor((day - start) / span * steps), steps - 1)
    keep = np.r_[slices[1:] != slices[:-1], True]
    keep[0] = True
    return curve[keep]


def _add_km_curve(
    fig: go.Figure,
    curve: pd.DataFrame,
    *,
    label: str,
    color: str,
    width: float,
    estimate_label: str,
    name: str,
    legendgroup: str | None,
    showlegend: bool | None,
    band_name: str,
    band_legendgroup: str | None,
    band_showlegend: bool,
    edge_legendgroup: str | None,
    row: int | None = None,
    col: int | None = None,
) -> None:
    """Draw one Kaplan–Meier curve: its 95% band as a shaded step area, then its step line.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        Modified in place (three traces added, in panel ``row``, ``col`` of a subplot grid
        when given).
    curve : pandas.DataFrame
        One curve of :func:`_km_steps` (``day, at_risk, estimate, ci_low, ci_high``).
    label : str
        The curve's group, in bold in the hover text.
    color : str
        Hex colour of the line; the band is the same colour at 18% opacity.
    width : float
        Line width.
    estimate_label : str
        What the estimate is, in the hover text (``"Reached response"``).
    name, legendgroup, showlegend : str, str or None, bool or None
        Legend entry of the step line.
    band_name, band_legendgroup, band_showlegend : str, str or None, bool
        Legend entry of the band.
    edge_legendgroup : str or None
        Legend group of the band's upper edge, an invisible line the band is filled to
        (never in the legend, skipped by hover and by :func:`figure_data`).
    row, col : int, optional
        Panel of a figure made with :func:`plotly.subplots.make_subplots`.

    Notes
    -----
    A curve of more than :data:`KM_DRAWN_STEPS` rows is drawn at that many steps
    (:func:`_km_drawn`).
    """
    curve = _km_drawn(curve)
    fig.add_trace(
        go.Scatter(
            x=curve["day"],
            y=curve["ci_high"],
            mode="lines",
            line={"width": 0, "shape": "hv"},
            hoverinfo="skip",
            showlegend=False,
            legendgroup=edge_legendgroup,
            name=f"{label} upper 95% limit",
        ),
        row=row,
        col=col,
    )
    fig.add_trace(
        go.Scatter(
            x=curve["day"],
            y=curve["ci_low"],
            mode="lines",
            line={"width": 0, "shape": "hv"},
            fill="tonexty",
            fillcolor=_rgba(color, 0.18),
            hoverinfo="skip",
            showlegend=band_showlegend,
            legendgroup=band_legendgroup,
            name=band_name,
        ),
        row=row,
        col=col,
    )
    custom = np.column_stack(
        [curve["ci_low"].to_numpy(), curve["ci_high"].to_numpy(), curve["at_risk"].to_numpy()]
    )
    fig.add_trace(
        go.Scatter(
            x=curve["day"],
            y=curve["estimate"],
            mode="lines",
            line={"color": color, "width": width, "shape": "hv"},
            customdata=custom,
            legendgroup=legendgroup,
            showlegend=showlegend,
            name=name,
            hovertemplate=(
                f"<b>{label}</b> day %{{x:.1f}}<br>{estimate_label}: %{{y:.1%}}<br>"
                "95% CI %{customdata[0]:.1%} to %{customdata[1]:.1%}<br>"
                "%{customdata[2]} patients at risk<extra></extra>"
            ),
        ),
        row=row,
        col=col,
    )


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
