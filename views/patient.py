"""Patient view (the therapist's): one patient's scores, doses and safety flags."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from katoutcomes import patient_record as record
from katoutcomes import plots
from views import common
from views import patient_model as pm
from views import patient_text as pt

view = common.current_view()
dataset, settings = view.dataset, view.settings

st.title("Patient")
ids = record.patient_ids(dataset)

# The address names the patient shown (?patient=P00012): a link a therapist copies or
# bookmarks opens that patient, and nobody else.
key = f"patient_{view.source.short_key}"
asked = st.query_params.get("patient")
if asked is None and st.session_state.get(pt.LAST_PATIENT_KEY) in ids:
    asked = st.session_state[pt.LAST_PATIENT_KEY]  # back from another page
status = pt.patient_status(asked, ids, record.patient_ids(view.full))
if status == "unknown":
    named = pt.id_text(asked)
    st.warning(
        f"There is no patient {named} in {view.source.label}. Check the id, or choose a "
        "patient below."
        if named
        else "The address does not hold a patient id (letters, digits, `.`, `_` or `-`). "
        "Choose a patient below.",
        icon=":material/person_off:",
    )
elif status == "filtered":
    st.warning(
        f"Patient {pt.id_text(asked)} is hidden by the sidebar filter "
        f"({common.describe_filter(view.cohort)}). Clear the filter to see them, or choose a "
        "patient below.",
        icon=":material/filter_alt_off:",
    )
# The address wins over what the picker last held.
st.session_state[key] = asked if status == "shown" else None
if not ids:
    st.warning("No patient matches the filters in the sidebar. Clear a filter to pick a patient.")
    st.stop()


def _show_chosen() -> None:
    chosen = st.session_state.get(key)
    if chosen:
        st.query_params["patient"] = chosen
    else:
        st.query_params.pop("patient", None)
        st.session_state.pop(pt.LAST_PATIENT_KEY, None)


chosen = st.selectbox(
    "Patient (pseudonymous id; type to search)",
    ids,
    index=None,
    key=key,
    placeholder="Choose a patient",
    on_change=_show_chosen,
    help="Only patients matching the sidebar filters are listed.",
)
if chosen is None:
    if status == "none":
        st.info("Choose a patient to see their scores, doses and safety flags.")
    st.stop()
patient_id = str(chosen)
if st.query_params.get("patient") != patient_id:
    st.query_params["patient"] = patient_id
st.session_state[pt.LAST_PATIENT_KEY] = patient_id
frame = common.outcomes(view)

flags = record.item9_flags(dataset, patient_id)
answers = record.item9_answers(dataset, patient_id)
coverage = pt.item9_coverage_text(answers, len(flags))
if len(flags):
    listed = "\n".join(
        f"- **{pt.when(row, dataset, 'assessed_at')}**: item 9 = {row['item_9']:.0f}"
        f"{' (high)' if pt.is_yes(row['item9_high']) else ''}, PHQ-9 total {row['total']:.0f}"
        for _, row in flags.iterrows()
    )
    st.error(
        f"**PHQ-9 item 9 (thoughts of self-harm or of being better off dead) was scored "
        f"at least 1 on {len(flags)} occasion{'s' if len(flags) > 1 else ''}.** Review risk "
        f"before the next session.\n\n{listed}\n\n{coverage}",
        icon=":material/warning:",
    )
elif answers.unanswered:
    st.warning(coverage, icon=":material/help:")
else:
    st.caption(coverage)

sessions = record.patient_sessions(dataset, patient_id, common.level_label)
n_doses = int((dataset.treatments["patient_id"].astype(str) == patient_id).sum())
n_assessments = int((dataset.assessments["patient_id"].astype(str) == patient_id).sum())
mine = frame[frame["patient_id"].astype(str) == patient_id].set_index("instrument")

cols = st.columns(4)
cols[0].metric("Dosing sessions", f"{n_doses}", border=True)
cols[1].metric("Questionnaires", f"{n_assessments}", border=True)
for column, name in zip(cols[2:], ("PHQ-9", "GAD-7"), strict=True):
    if name in mine.index and pd.notna(mine.loc[name, "baseline"]):
        row = mine.loc[name]
        latest = record.patient_latest_score(dataset, patient_id, name)
        column.metric(
            f"{name}: baseline → latest",
            f"{pt.score_text(row['baseline'])} → {pt.score_text(latest)}",
            border=True,
            help="Baseline: the last score in the "
            f"{settings.baseline_window_days:.0f} days up to the first dose.",
        )
        if pd.notna(row["pct_change"]):
            column.caption(
                f"Endpoint {pt.score_text(row['endpoint'])} on day "
                f"{row['endpoint_day']:.0f}: {pt.signed_change(row['pct_change'])} "
                "from baseline"
            )
    else:
        column.metric(f"{name}: baseline → latest", "–", border=True, help="No baseline score.")

# ---------------------------------------------------------------- expected recovery
analysis = common.analysis(view)
with st.spinner("Fitting the trajectory model (once for these data, filter and settings)…"):
    model_rows = pm.patient_model_status(analysis, patient_id)
pm.show_status(model_rows, settings)

fig = plots.patient_trajectory(dataset, patient_id, frame, settings)
pm.add_bands(fig, model_rows, analysis, patient_id)
st.plotly_chart(fig, key="patient_trajectory", theme=None, config={"displaylogo": False})
st.caption(pm.band_caption(model_rows, analysis))
with st.expander("Numbers behind this chart"):
    numbers = plots.patient_trajectory_data(dataset, patient_id, frame, settings)
    common.show_table(numbers, formats={"day": "%.1f", "value": "%.2f"})
    common.download_csv(numbers, f"patient_{patient_id}_chart.csv")

st.subheader("Sessions and questionnaires")
st.caption("One row per day with a questionnaire or a dose; day 0 is the first dose.")
if sessions.empty:
    st.info("No session or questionnaire is recorded for this patient.")
else:
    st.dataframe(
        sessions,
        hide_index=True,
        column_config={
            "Day": st.column_config.NumberColumn(format="%d"),
            "Dose (mg)": st.column_config.NumberColumn(format="%.0f"),
            "Dose (mg/kg)": st.column_config.NumberColumn(format="%.2f"),
            "Monitoring (min)": st.column_config.NumberColumn(format="%.0f"),
        },
        placeholder="",
        key="patient_sessions",
    )

st.download_button(
    "Printable one-page summary (HTML)",
    data=lambda: pt.patient_summary_html(view, patient_id),
    file_name=f"patient_{patient_id}_summary.html",
    mime="text/html",
    icon=":material/print:",
    help="A self-contained page (chart included) to print or save as PDF from the browser.",
)
