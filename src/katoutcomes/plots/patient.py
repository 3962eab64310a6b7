"""One patient's figure, the therapist view: scores over time with doses and safety flags.

:func:`patient_trajectory` draws what :func:`patient_trajectory_data` computes: each
instrument's scores over its severity bands, the patient's baseline, response and remission
thresholds, first response and relapse, PHQ-9 item-9 flags and a strip of doses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.plots._base import (
    _BAND_LABEL_MARGIN,
    COLORS,
    _add_severity_bands,
    _instrument_color,
    _no_data,
    _style,
    _time_origin_label,
)
from katoutcomes.settings import Settings

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = ["PATIENT_LAYERS", "patient_trajectory", "patient_trajectory_data"]

# --------------------------------------------------------------------------------------
# One patient's trajectory (the therapist view)
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
