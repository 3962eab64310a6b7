"""What a reader sees instead of codes: column headers, attribute levels, filter and
subgroup names, decision rules in words, and the colours of subgroup lines.

Labels only: no data is read and nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import plotly.graph_objects as go

from katoutcomes.cohort import RATE_OUTCOME_LABELS
from katoutcomes.filters import FILTER_ATTRIBUTES, CohortFilter

__all__ = [
    "COLUMN_LABELS",
    "EVENT_LABELS",
    "FILTER_LABELS",
    "LEVEL_LABELS",
    "POPULATION_LABELS",
    "RULE_SHORT",
    "RULE_TEXT",
    "SUBGROUP_LABELS",
    "column_label",
    "describe_filter",
    "level_label",
    "recolour_groups",
]

# --------------------------------------------------------------------------------------
# Labels a reader sees
# --------------------------------------------------------------------------------------

#: Column headers for every table the dashboard shows (snake_case stays in downloads).
COLUMN_LABELS: Final[Mapping[str, str]] = {
    "patient_id": "Patient",
    "instrument": "Instrument",
    "baseline": "Baseline score",
    "baseline_day": "Baseline day",
    "endpoint": "Endpoint score",
    "endpoint_day": "Endpoint day",
    "eligible": "Eligible (baseline at caseness)",
    "completer": "Completer",
    "change": "Change (points)",
    "pct_change": "Change (%)",
    **RATE_OUTCOME_LABELS,
    "jt_rci": "Reliable change index",
    "jt_category": "Jacobson–Truax category",
    "first_response_day": "First response (day)",
    "response_observed": "Responded",
    "first_early_improvement_day": "First early improvement (day)",
    "early_improvement_observed": "Early improvement",
    "relapse": "Relapse",
    "days_to_relapse": "Days to relapse (or censoring)",
    "n_assessments": "Assessments",
    "n_doses": "Doses",
    "n_acute_doses": "Doses in acute window",
    "n_maintenance_doses": "Maintenance doses",
    "item9_flags": "Item-9 flags",
    "week": "Week",
    "first_day": "From day",
    "last_day": "To day",
    "n": "Patients",
    "k": "Patients with outcome",
    "mean": "Mean score",
    "sd": "SD",
    "se": "Standard error",
    "estimate": "Estimate",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "rank": "Rank",
    "category": "Result",
    "day": "Day",
    "at_risk": "At risk",
    "events": "Events",
    "group": "Group",
    "group_label": "Group",
    "source": "Source",
    "label": "Study or clinic",
    "detail": "Detail",
    "outcome": "Outcome",
    "has_interval": "Has interval",
    "comparable": "Same instrument",
    "arm": "Trial arm",
    "timepoint": "Timepoint",
    "setting": "Setting",
    "route": "Route",
    "citation": "Citation",
    "event": "Event code",
    "sessions_with_event": "Sessions with event",
    "patients": "Patients with event",
    "sessions": "Sessions",
    "per_100": "Per 100 sessions",
    "share_of_patients": "Share of treated patients",
    "level": "Level",
    "level_label": "Level",
    "diff": "Difference",
    "diff_ci_low": "Difference 95% CI low",
    "diff_ci_high": "Difference 95% CI high",
    "compared_with": "Compared with",
    "group_rate": "All patients",
    "layer": "Layer",
    "value": "Value",
    "table": "Table",
    "file": "File",
    "line": "Line",
    "field": "Column",
    "reason": "Reason",
    "layout": "Layout",
    "rows_read": "Rows read",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "duplicates": "Exact duplicates",
    "sha256": "Content hash",
    "ingest_id": "Ingest",
    "table_name": "Table",
    "ingested_at": "Ingested at (UTC)",
    "package_version": "katoutcomes version",
    "time": "Day",
    "survival": "Survival",
    "std_err": "Standard error",
    "term": "Term",
    "coef": "Coefficient",
    "p_value": "p",
    "component": "Variance component",
    "method": "Missing-data method",
    "note": "Note",
}

#: Attribute levels as a reader sees them (codes not listed are shown as recorded).
LEVEL_LABELS: Final[Mapping[str, str]] = {
    "IM": "Intramuscular (IM)",
    "IV": "Intravenous (IV)",
    "intranasal": "Intranasal",
    "sublingual": "Sublingual",
    "oral": "Oral",
    "other": "Other",
    "bipolar_depression": "Bipolar depression",
    "MDD": "Major depression (MDD)",
    "TRD": "Treatment-resistant depression (TRD)",
    "GAD": "Generalised anxiety (GAD)",
    "PTSD": "PTSD",
    "yes": "Yes",
    "no": "No",
    "unknown": "Not recorded",
}

FILTER_LABELS: Final[Mapping[str, str]] = {
    "site": "Site",
    "clinician": "Clinician",
    "route": "Route",
    "diagnosis": "Primary diagnosis",
}

SUBGROUP_LABELS: Final[Mapping[str, str]] = {
    "site": "Site",
    "clinician": "Clinician",
    "route": "Route of administration",
    "diagnosis": "Primary diagnosis",
    "ssri": "Concurrent SSRI",
    "psychotherapy": "Integrated psychotherapy",
    "treatment_resistance": "Treatment resistance (2+ prior failures)",
}

POPULATION_LABELS: Final[Mapping[str, str]] = {
    "itt": "Intention to treat",
    "completers": "Completers",
    "eligible": "All eligible patients",
}

EVENT_LABELS: Final[Mapping[str, str]] = {
    "response": "Time to response",
    "early_improvement": "Time to early improvement",
    "relapse": "Response duration (time to relapse)",
}

#: Decision rules of the claims file in plain words (katoutcomes.claims module docstring).
RULE_TEXT: Final[Mapping[str, str]] = {
    "two_sided": "A claim of about a value p0 is judged against an equivalence margin δ "
    "(10 percentage points unless the claim says otherwise): supported when the 95% interval "
    "lies inside p0 ± δ; contradicted when it lies wholly above or wholly below that band; "
    "otherwise inconclusive, with the number of patients that would likely settle it. An "
    "interval that merely contains p0 is not support.",
    "above": "Supported when the 95% interval lies wholly above the bound; contradicted when "
    "it lies at or below it; otherwise inconclusive.",
    "below": "Supported when the 95% interval lies wholly below the bound; "
    "contradicted when its lower end reaches it; otherwise inconclusive.",
    "difference_positive": "Supported when the 95% interval of the difference lies above 0; "
    "contradicted when at or below 0; otherwise inconclusive.",
    "difference_nonzero": "Supported when the 95% interval of the difference excludes 0; "
    "otherwise inconclusive.",
    "descriptive": "No verdict: the claim gives no testable number, so the estimate is reported.",
}


def column_label(column: str) -> str:
    """The header a reader sees for a column."""
    return COLUMN_LABELS.get(column, column.replace("_", " ").capitalize())


def level_label(value: object) -> str:
    text = str(value)
    return LEVEL_LABELS.get(text, text.replace("_", " "))


#: Decision rules in a few words, for the scorecard column (full text: RULE_TEXT).
RULE_SHORT: Final[Mapping[str, str]] = {
    "two_sided": "CI inside the claim ± margin",
    "above": "CI above the bound",
    "below": "CI below the bound",
    "difference_positive": "CI of difference above 0",
    "difference_nonzero": "CI of difference excludes 0",
    "descriptive": "No test (descriptive)",
}


def describe_filter(cohort: CohortFilter) -> str:
    if cohort.is_empty:
        return "all patients"
    parts = []
    if cohort.start or cohort.end:
        start = cohort.start.isoformat() if cohort.start else "the start"
        end = cohort.end.isoformat() if cohort.end else "the end"
        parts.append(f"first dose from {start} to {end}")
    for attribute in FILTER_ATTRIBUTES:
        levels = getattr(cohort, attribute)
        if levels:
            names = ", ".join(level_label(v) for v in levels)
            parts.append(f"{FILTER_LABELS[attribute].lower()} {names}")
    return "; ".join(parts)


#: Qualitative palette for subgroup lines (Okabe & Ito 2008, as in plots.COLORS).
GROUP_PALETTE: Final = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)


def recolour_groups(fig: go.Figure) -> go.Figure:
    """Give each legend group of a Kaplan–Meier figure its own colour (line and band)."""
    groups = list(dict.fromkeys(trace.legendgroup for trace in fig.data))
    for trace in fig.data:
        colour = GROUP_PALETTE[groups.index(trace.legendgroup) % len(GROUP_PALETTE)]
        if trace.fill == "tonexty":
            red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
            trace.fillcolor = f"rgba({red},{green},{blue},0.12)"
        elif trace.line.width:
            trace.line.color = colour
    return fig
