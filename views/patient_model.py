"""The patient page's expected-recovery part: the status badge per instrument (on track,
off track, at risk with its reasons), the band on the chart and its measured calibration.

Everything comes from the view's :class:`~katoutcomes.analysis.Analysis` (the trajectory
model, the at-risk list, the band's cross-validated coverage); this module lays it out.
"""

from __future__ import annotations

from typing import Final

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from katoutcomes import formatting as fmt
from katoutcomes.analysis import Analysis
from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.plots import add_expected_band
from katoutcomes.settings import Settings
from katoutcomes.trajectories import TrajectoryModel

__all__ = ["REASON_TEXT", "add_bands", "band_caption", "patient_model_status", "show_status"]

#: At-risk reasons in words (codes of :data:`katoutcomes.trajectories.REASONS`).
REASON_TEXT: Final = {
    "off_track": "latest score above the expected-recovery band",
    "reliable_deterioration": "latest score at least the reliable-change points above baseline",
    "relapse": "relapsed after a response",
    "item9": "item 9 (self-harm) scored 1 or more on one of the last three PHQ-9s",
}

_STATUS_TEXT: Final = {
    "on_track": "on track",
    "off_track": "off track",
    "not_eligible": "no band: baseline below caseness",
    "no_baseline": "no band: no baseline score",
    "no_followup": "no band yet: no score after the first dose",
}


def patient_model_status(analysis: Analysis, patient_id: str) -> pd.DataFrame:
    """The patient's rows of the at-risk list, one per instrument, in instrument order."""
    alerts = analysis.alerts
    mine = alerts[alerts["patient_id"].astype(str) == patient_id]
    order = {name: i for i, name in enumerate(INSTRUMENTS)}
    return mine.sort_values("instrument", key=lambda s: s.map(order))


def reasons_text(reasons: object) -> str:
    codes = [c for c in str(reasons or "").split(";") if c]
    return "; ".join(REASON_TEXT.get(c, c.replace("_", " ")) for c in codes)


def show_status(rows: pd.DataFrame, settings: Settings) -> None:
    """One badge per instrument; an at-risk patient's reasons spelled out."""
    if rows.empty:
        return
    cols = st.columns(len(rows))
    for column, row in zip(cols, rows.itertuples(index=False), strict=True):
        status = str(row.status)
        with column:
            if bool(row.at_risk):
                st.badge(f"{row.instrument}: at risk", icon=":material/priority_high:", color="red")
                st.caption("Needs review: " + reasons_text(row.reasons) + ".")
            elif status == "on_track":
                st.badge(f"{row.instrument}: on track", icon=":material/check:", color="green")
            elif status == "off_track":
                st.badge(
                    f"{row.instrument}: off track", icon=":material/trending_up:", color="orange"
                )
            else:
                st.badge(f"{row.instrument}: {_STATUS_TEXT.get(status, status)}", color="gray")
            if status in ("on_track", "off_track"):
                st.caption(
                    f"Latest {fmt.number(row.last_score)} on day {fmt.number(round(row.last_day))}"
                    f"; expected {row.expected:.1f} ({settings.band_level:.0%} band "
                    f"{row.band_low:.1f} to {row.band_high:.1f})."
                )


def add_bands(fig: go.Figure, rows: pd.DataFrame, analysis: Analysis, patient_id: str) -> None:
    """Draw each instrument's band behind the patient's scores (panels in instrument order,
    as :func:`katoutcomes.plots.patient_trajectory` lays them out)."""
    scores = analysis.dataset.assessments
    present = set(scores.loc[scores["patient_id"].astype(str) == patient_id, "instrument"])
    panels = [name for name in INSTRUMENTS if name in present]
    for row, name in enumerate(panels, start=1):
        band = analysis.expected_band(patient_id, name)
        add_expected_band(fig, band, row=row, level=analysis.settings.band_level, name=name)


def band_caption(rows: pd.DataFrame, analysis: Analysis) -> str:
    """What the band is and how often it holds the scores it should: its coverage measured
    by patient-level cross-validation, per instrument."""
    parts = []
    for name in rows["instrument"].astype(str):
        model = analysis.trajectory_model(name)
        if not isinstance(model, TrajectoryModel):
            parts.append(f"{name}: no model ({model}).")
            continue
        calibration = analysis.band_calibration(name)
        if calibration is None:
            continue
        parts.append(
            f"{name}: {fmt.pct(calibration.coverage)} of {calibration.n_scores:,} held-out "
            f"scores fell inside their band ({calibration.folds}-fold cross-validation over "
            f"{calibration.n_patients:,} patients)."
        )
    level = analysis.settings.band_level
    return (
        f"Grey: the {level:.0%} expected-recovery band, where {level:.0%} of scores of "
        "patients with this baseline are expected at each day (trajectory model of this "
        "clinic's patients). " + " ".join(parts)
    )
