"""Needs review (the therapist's and the clinical lead's list): patients at risk first, with
the reasons, the latest score against the expected-recovery band, and a link to each
patient's page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from views import common
from views.patient_model import reasons_text

view = common.current_view()
settings = view.settings

st.title("Needs review")
st.caption(
    "Each patient and questionnaire: the latest score against the expected-recovery band of "
    "the trajectory model, and whether the patient is at risk (off track, reliable "
    "deterioration, relapse, or item 9 scored 1 or more on one of the last three PHQ-9s). "
    f"{view.source.label} · {common.describe_filter(view.cohort)}."
)
if view.n_patients == 0:
    st.warning("No patient matches the filters in the sidebar. Clear a filter to see the list.")
    st.stop()

analysis = common.analysis(view)
with st.spinner("Fitting the trajectory model (once for these data, filter and settings)…"):
    alerts = analysis.alerts

clinicians = sorted(alerts["clinician_id"].dropna().astype(str).unique())
left, right = st.columns([1, 1])
chosen = left.selectbox(
    "Clinician of the latest dose",
    ["All clinicians", *clinicians],
    key="review_clinician",
    help="The sidebar filters (site, clinician of any dose, route, diagnosis) apply too.",
)
only_at_risk = right.toggle("At risk only", value=True, key="review_at_risk")
shown = alerts
if chosen != "All clinicians":
    shown = shown[shown["clinician_id"].astype(str) == chosen]
if only_at_risk:
    shown = shown[shown["at_risk"].astype(bool)]

at_risk = alerts[alerts["at_risk"].astype(bool)]
cols = st.columns(3)
cols[0].metric("Patients at risk", f"{at_risk['patient_id'].nunique():,}", border=True)
cols[1].metric(
    "Off track",
    f"{alerts.loc[alerts['status'] == 'off_track', 'patient_id'].nunique():,}",
    border=True,
)
cols[2].metric(
    "With a band (eligible, followed up)",
    f"{alerts.loc[alerts['status'].isin(['on_track', 'off_track']), 'patient_id'].nunique():,}",
    border=True,
)

if shown.empty:
    st.success("Nobody in this list.", icon=":material/check:")
else:
    table = pd.DataFrame(
        {
            "open": "patient?patient=" + shown["patient_id"].astype(str),
            "patient_id": shown["patient_id"].astype(str),
            "instrument": shown["instrument"],
            "at_risk": shown["at_risk"].astype(bool),
            "why": shown["reasons"].map(reasons_text),
            "last_day": shown["last_day"],
            "last_score": shown["last_score"],
            "expected": shown["expected"],
            "band_low": shown["band_low"],
            "band_high": shown["band_high"],
            "status": shown["status"].str.replace("_", " "),
            "clinician_id": shown["clinician_id"],
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "open": st.column_config.LinkColumn("Open", display_text="Open patient"),
            "patient_id": st.column_config.TextColumn("Patient"),
            "instrument": st.column_config.TextColumn("Questionnaire"),
            "at_risk": st.column_config.CheckboxColumn("At risk"),
            "why": st.column_config.TextColumn("Why", width="large"),
            "last_day": st.column_config.NumberColumn("Latest (day)", format="%.0f"),
            "last_score": st.column_config.NumberColumn("Latest score", format="%.0f"),
            "expected": st.column_config.NumberColumn("Expected", format="%.1f"),
            "band_low": st.column_config.NumberColumn("Band low", format="%.1f"),
            "band_high": st.column_config.NumberColumn("Band high", format="%.1f"),
            "status": st.column_config.TextColumn("Status"),
            "clinician_id": st.column_config.TextColumn("Clinician (latest dose)"),
        },
        key="review_table",
    )
common.download_csv(
    shown, "needs_review.csv", label="Download the list (CSV)", key="download_needs_review"
)
level = settings.band_level
parts, folds = [], 0
for name in sorted(alerts["instrument"].astype(str).unique()):
    calibration = analysis.band_calibration(name)
    if calibration is not None:
        folds = calibration.folds
        parts.append(
            f"{name} {calibration.coverage:.1%} of {calibration.n_scores:,} held-out scores"
        )
if parts:
    st.caption(
        f"The {level:.0%} expected-recovery band held, in {folds}-fold patient-level "
        "cross-validation: " + "; ".join(parts) + "."
    )
else:
    st.caption(f"No trajectory model could be fitted, so there is no {level:.0%} band.")
