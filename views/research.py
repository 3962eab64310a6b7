"""Research view: settings, the per-patient outcome table, subgroups and exports."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from katoutcomes import plots
from katoutcomes.cohort import RATE_OUTCOME_LABELS, RATE_OUTCOMES, SUBGROUPS, NotMeasurableError
from katoutcomes.errors import SettingsError
from katoutcomes.exports import csv_text, json_text, parquet_bytes
from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.settings import Settings
from katoutcomes.trajectories import TrajectoryModel
from views import common

view = common.current_view()
settings = view.settings

st.title("Research")
st.caption(f"{view.source.label} · {common.describe_filter(view.cohort)}")
if view.n_patients == 0:
    st.warning("No patient matches the filters in the sidebar. Clear a filter to see results.")
    st.stop()

# ---------------------------------------------------------------- settings
st.header("Settings", divider="gray")

_FIELDS = (
    # key, label, kind, help
    (
        "acute_days",
        "Acute window (days)",
        float,
        "Doses within this many days of the first are acute; the endpoint is read at its end.",
    ),
    (
        "visit_window_days",
        "Visit window (days after the acute window)",
        float,
        "Endpoint: the last score up to this many days after the acute window (visits slip).",
    ),
    ("response", "Response: fall of at least (%)", "percent", "Share of the baseline score."),
    (
        "baseline_window_days",
        "Baseline window (days before first dose)",
        float,
        "Baseline: the last score in this window up to the first dose.",
    ),
    (
        "early_improvement",
        "Early improvement: fall of at least (%)",
        "percent",
        "Share of the baseline score.",
    ),
    ("min_n", "Minimum patients for a claim verdict", int, "Fewer → inconclusive."),
    (
        "suppression_k",
        "Small-cell suppression k (shared outputs)",
        int,
        "Cells with fewer patients are suppressed in shared reports; 0 turns it off.",
    ),
)


def _apply_settings() -> None:
    changes = {}
    for key, _label, kind, _help in _FIELDS:
        value = st.session_state[f"setting_{key}"]
        if kind == "percent":
            value = value / 100.0
        elif kind is int:
            value = int(value)
        else:
            value = float(value)
        changes[key] = value
    try:
        common.use_settings(common.current_settings().replace(**changes))
        st.session_state.pop("settings_error", None)
    except SettingsError as exc:
        st.session_state["settings_error"] = str(exc)


def _reset_settings() -> None:
    common.use_settings(Settings())
    st.session_state.pop("settings_error", None)
    for key, *_ in _FIELDS:
        st.session_state.pop(f"setting_{key}", None)


with st.form("settings_form"):
    st.caption("Every page uses these settings. Submit to recompute outcomes, claims and figures.")
    cols = st.columns(3)
    for i, (key, label, kind, help_text) in enumerate(_FIELDS):
        value = getattr(settings, key)
        with cols[i % 3]:
            if kind == "percent":
                st.number_input(
                    label,
                    1.0,
                    100.0,
                    value * 100.0,
                    5.0,
                    format="%.0f",
                    help=help_text,
                    key=f"setting_{key}",
                )
            elif kind is int:
                st.number_input(
                    label, 0, 10_000, int(value), 1, help=help_text, key=f"setting_{key}"
                )
            else:
                st.number_input(
                    label,
                    0.0,
                    3650.0,
                    float(value),
                    1.0,
                    format="%.0f",
                    help=help_text,
                    key=f"setting_{key}",
                )
    st.form_submit_button("Recompute with these settings", on_click=_apply_settings, type="primary")
if st.session_state.get("settings_error"):
    st.error(st.session_state["settings_error"])
if settings != Settings():
    st.button("Back to the default settings", on_click=_reset_settings)
with st.expander("All settings in use (as saved in exports)"):
    st.json(settings.to_dict())

# ---------------------------------------------------------------- outcome table
st.header("Per-patient outcomes", divider="gray")
frame = common.outcomes(view)
st.caption(
    f"One row per patient and instrument ({len(frame):,} rows). Internal use: per-patient "
    "rows are never suppressed, so do not share them outside the clinic."
)
search = st.text_input("Search patient ids", placeholder="e.g. P0001", key="outcome_search")
shown = (
    frame[frame["patient_id"].astype(str).str.contains(search.strip(), case=False, regex=False)]
    if search.strip()
    else frame
)
if shown.empty:
    st.info(f"No patient id contains “{search}”.")
else:
    common.show_table(
        shown,
        percent=("pct_change",),
        formats={
            "baseline_day": "%.2f",
            "baseline": "%.0f",
            "endpoint": "%.0f",
            "change": "%.0f",
            "jt_rci": "%.2f",
        },
        height=380,
        key="outcome_table",
    )
cols = st.columns(4)
cols[0].download_button(
    "CSV",
    data=lambda: csv_text(frame),
    file_name="patient_outcomes.csv",
    mime="text/csv",
    icon=":material/download:",
)
cols[1].download_button(
    "Parquet",
    data=lambda: parquet_bytes(frame),
    file_name="patient_outcomes.parquet",
    mime="application/vnd.apache.parquet",
    icon=":material/download:",
)
cols[2].download_button(
    "JSON",
    data=lambda: json_text(frame),
    file_name="patient_outcomes.json",
    mime="application/json",
    icon=":material/download:",
)
cols[3].download_button(
    "Everything (zip)",
    data=lambda: common.research_zip(view),
    file_name="katoutcomes_research_export.zip",
    mime="application/zip",
    icon=":material/folder_zip:",
    type="primary",
    help="Outcomes (CSV, Parquet), rates, claims, Kaplan–Meier curves, subgroup rates and "
    "provenance.json (settings, data files and their SHA-256, package version).",
)
st.download_button(
    "Shareable summary (aggregates only, small cells suppressed)",
    data=lambda: common.shareable_zip(view),
    file_name="katoutcomes_shareable_summary.zip",
    mime="application/zip",
    icon=":material/shield:",
    help=f"Rates, subgroup rates (no clinicians) and the scorecard, without per-patient rows; "
    f"every count of 1 to {view.settings.suppression_k - 1} patients, and every figure that "
    "would give one back, is suppressed (setting suppression_k). A README names the data, "
    "the filter and the rule.",
)

st.subheader("Rates with 95% intervals")
common.show_table(
    common.rates(view).assign(
        outcome=lambda d: d["outcome"].map(RATE_OUTCOME_LABELS),
        population=lambda d: d["population"].map(common.POPULATION_LABELS),
    ),
    percent=("estimate", "ci_low", "ci_high"),
    key="rates_table",
)

# ---------------------------------------------------------------- subgroups
st.header("Subgroups", divider="gray")
cols = st.columns(4)
by = cols[0].selectbox(
    "Compare by", SUBGROUPS, format_func=common.SUBGROUP_LABELS.get, key="subgroup_by"
)
outcome = cols[1].selectbox(
    "Outcome", RATE_OUTCOMES, format_func=RATE_OUTCOME_LABELS.get, key="subgroup_outcome"
)
instrument = cols[2].selectbox("Instrument", list(INSTRUMENTS), key="subgroup_instrument")
population = cols[3].selectbox(
    "Patients",
    ("itt", "completers"),
    format_func=common.POPULATION_LABELS.get,
    key="subgroup_population",
)
try:
    table = common.subgroups(view, by, outcome, instrument, population)
except NotMeasurableError as exc:
    st.info(f"Cannot compare by {common.SUBGROUP_LABELS[by].lower()}: {exc}")
else:
    common.chart(
        plots.subgroup_forest(table, outcome=outcome, instrument=instrument, population=population),
        plots.subgroup_forest_data(table),
        f"subgroups_{by}_{outcome}_{instrument}",
        empty=f"No eligible {instrument} patient in this population, so there is no rate.",
        percent=(
            "estimate",
            "ci_low",
            "ci_high",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "group_rate",
        ),
        hide=("group", "level", "group_label"),
    )

    st.subheader("Kaplan–Meier by subgroup")
    event = st.radio(
        "Curve",
        ("response", "early_improvement", "relapse"),
        format_func=common.EVENT_LABELS.get,
        horizontal=True,
        key="km_event",
    )
    km = common.subgroup_curves(view, by, instrument, event)
    if km.empty:
        st.info(f"No {instrument} patient is in a {common.EVENT_LABELS[event].lower()} curve.")
    else:
        title = (
            f"{common.EVENT_LABELS[event]} by {common.SUBGROUP_LABELS[by].lower()} ({instrument})"
        )
        if event == "relapse":
            numbers = plots.response_duration_data(km)
        else:
            numbers = plots.cumulative_response_data(km)
        if km["instrument"].nunique() > plots.SMALL_MULTIPLES_ABOVE:
            # More than three groups: one panel each, the whole clinic in grey behind,
            # instead of overlapping bands.
            overall = common.curves(view, event)
            fig = plots.km_small_multiples(
                km,
                overall[overall["instrument"] == instrument],
                cumulative=event != "relapse",
                event_label=event.replace("_", " "),
                title=title,
            )
        else:
            if event == "relapse":
                fig = plots.response_duration(km)
            else:
                fig = plots.cumulative_response(km, event_label=event.replace("_", " "))
            fig.update_layout(title_text=title)
            fig = common.recolour_groups(fig)
        common.chart(
            fig,
            numbers.rename(columns={"instrument": "level"}),
            f"km_{by}_{instrument}_{event}",
            empty="No curve to draw.",
            percent=("estimate", "ci_low", "ci_high"),
        )

# ---------------------------------------------------------------- trajectory model
st.header("Trajectory model and missing data", divider="gray")
st.caption(
    "A linear mixed model of eligible patients' scores after the first dose (score ~ "
    "baseline + piecewise log time, random intercept and slope per patient, REML): its "
    "fixed effects, the mean course with its 95% band, the expected-recovery band's "
    "measured coverage, and response and remission under four assumptions about missing "
    "endpoints (docs/methods.md, trajectory model and missing data)."
)
if st.toggle(
    "Fit the model and the sensitivity analysis",
    key="research_models",
    help="Takes a few seconds the first time for these data, filter and settings; the "
    "results are then kept.",
):
    analysis = common.analysis(view)
    models = analysis.trajectory_models
    fitted = {name: m for name, m in models.items() if isinstance(m, TrajectoryModel)}
    for name, model in models.items():
        if not isinstance(model, TrajectoryModel):
            st.info(f"{name}: no model. {model}")
    if fitted:
        columns = st.columns(len(fitted))
        for column, (name, model) in zip(columns, fitted.items(), strict=True):
            with column:
                curve = model.mean_curve()
                common.chart(
                    plots.mean_curve_figure(curve, name, model.n_patients),
                    curve,
                    f"mean_curve_{name}",
                    empty="No model could be fitted.",
                )
        chosen = st.selectbox("Instrument", list(fitted), key="research_model_instrument")
        model = fitted[chosen]
        details = model.to_dict()
        sample = (
            f" (a seeded sample of the {details['n_eligible']:,} eligible)"
            if details["sampled"]
            else ""
        )
        st.markdown(
            f"**{chosen}**: `{details['formula']}`, {details['n_patients']:,} patients{sample}, "
            f"{details['n_observations']:,} scores; converged: {details['converged']}."
        )
        effects = model.fit.fixed_effects
        common.show_table(effects, formats={"p_value": "%.3g"}, key="model_effects")
        variances = pd.DataFrame(
            {
                "component": list(details["variance_components"]),
                "value": list(details["variance_components"].values()),
            }
        )
        common.show_table(variances, formats={"value": "%.3f"}, key="model_variances")
        calibration = analysis.band_calibration(chosen)
        if calibration is not None:
            st.caption(
                f"Expected-recovery band ({calibration.band_level:.0%}): "
                f"{calibration.coverage:.1%} of {calibration.n_scores:,} held-out scores inside "
                f"their band ({calibration.folds}-fold patient-level cross-validation, "
                f"{calibration.n_patients:,} patients, seed {calibration.seed})."
            )
        sensitivity = analysis.sensitivity(chosen)
        table = sensitivity.table[sensitivity.table["instrument"] == chosen]
        st.subheader("Response and remission under missing-data assumptions")
        common.show_table(
            table.drop(columns=["instrument"]),
            percent=("estimate", "ci_low", "ci_high"),
            key="model_sensitivity",
        )
        tip = sensitivity.tipping_point
        tip = tip[tip["instrument"] == chosen]
        if not tip.empty:
            st.info(str(tip["statement"].iloc[0]), icon=":material/balance:")
        st.caption(
            f"Multiple imputation: {sensitivity.imputations} imputations, seed "
            f"{sensitivity.seed}; Rubin's rules on the logit scale."
        )
        common.download_csv(table, f"sensitivity_{chosen}.csv", key="download_sensitivity")
