"""The codebook: what every column of every exported table means.

Each exported table (:mod:`katoutcomes.bundle`) is described column by column: name,
type (from the table itself), unit, definition and the source of the definition, so that a
researcher who receives the bundle can read it without the software. Definitions follow
the code (:mod:`katoutcomes.outcomes`, :mod:`katoutcomes.cohort`,
:mod:`katoutcomes.claims`, :mod:`katoutcomes.suppression`); each source names the section of
``docs/methods.md`` that gives the full rule and its references.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple

import pandas as pd

__all__ = ["CODEBOOK_COLUMNS", "Entry", "codebook", "describe_column"]


class Entry(NamedTuple):
    """One column's meaning: its unit, definition and the source of the definition."""

    unit: str
    definition: str
    source: str


_OUTCOMES: Final = "docs/methods.md §4"
_RATES: Final = "docs/methods.md §6.1-6.2; Wilson 1927"
_KM: Final = "docs/methods.md §4.11-4.12, §6.4; Kaplan & Meier 1958, Greenwood 1926"
_CLAIMS: Final = "docs/methods.md §10"
_SUPP: Final = "docs/methods.md §12"
_SUBGROUPS: Final = "docs/methods.md §6.3, §6.8; Newcombe 1998"
_SAFETY: Final = "docs/methods.md §2.1 (adverse_events), §6.7"
_ADHERENCE: Final = "docs/methods.md §6.5-6.7, §10.6"
_ADJUSTED: Final = "docs/methods.md §9.2-9.3"

#: Column meanings shared by several tables (a table's own entry wins).
_COMMON: Final[Mapping[str, Entry]] = {
    "patient_id": Entry("", "Pseudonymous patient code as given in the data.", "data contract"),
    "instrument": Entry("", "Questionnaire: PHQ-9 (depression) or GAD-7 (anxiety).", _OUTCOMES),
    "k": Entry("patients", "Patients with the outcome (the numerator).", _RATES),
    "n": Entry("patients", "Patients in the denominator.", _RATES),
    "estimate": Entry("share 0-1", "The rate k / n.", _RATES),
    "ci_low": Entry("share 0-1", "Lower end of the 95% Wilson score interval.", _RATES),
    "ci_high": Entry("share 0-1", "Upper end of the 95% Wilson score interval.", _RATES),
    "suppressed": Entry(
        "yes/no",
        "True when the row's counts would disclose a group of 1 to k-1 patients (k = the "
        "setting suppression_k): its numbers are left empty.",
        _SUPP,
    ),
}

#: Per table: column → meaning.
_TABLES: Final[Mapping[str, Mapping[str, Entry]]] = {
    "patient_outcomes": {
        "baseline": Entry(
            "score points",
            "Last valid score from baseline_window_days before the first dose to the first "
            "dose day (t from -30 to 0 days by default).",
            _OUTCOMES,
        ),
        "baseline_day": Entry("days since first dose", "Day of the baseline score.", _OUTCOMES),
        "endpoint": Entry(
            "score points",
            "Last valid score with 0 < t <= acute_days + visit_window_days (49 days by default).",
            _OUTCOMES,
        ),
        "endpoint_day": Entry("days since first dose", "Day of the endpoint score.", _OUTCOMES),
        "eligible": Entry(
            "yes/no",
            "Baseline at or above caseness (PHQ-9 >= 10, GAD-7 >= 8); empty without a baseline.",
            _OUTCOMES + "; Kroenke 2001, Spitzer 2006",
        ),
        "completer": Entry("yes/no", "An endpoint exists; empty without a baseline.", _OUTCOMES),
        "change": Entry("score points", "endpoint - baseline (negative = better).", _OUTCOMES),
        "pct_change": Entry(
            "share", "change / baseline (-0.5 = half the baseline score).", _OUTCOMES
        ),
        "response": Entry(
            "yes/no",
            "endpoint <= (1 - response) x baseline: a fall of at least 50% by default.",
            _OUTCOMES + "; McMillan 2010",
        ),
        "remission": Entry(
            "yes/no", "endpoint below 5 (PHQ-9 and GAD-7).", _OUTCOMES + "; Kroenke 2001"
        ),
        "reliable_improvement": Entry(
            "yes/no",
            "Fall of at least the reliable-change points (PHQ-9 6, GAD-7 4).",
            _OUTCOMES + "; NHS Talking Therapies manual",
        ),
        "reliable_deterioration": Entry(
            "yes/no",
            "Rise of at least the reliable-change points (PHQ-9 6, GAD-7 4).",
            _OUTCOMES + "; NHS Talking Therapies manual",
        ),
        "recovery": Entry(
            "yes/no", "Baseline at or above caseness and endpoint below it.", _OUTCOMES
        ),
        "reliable_recovery": Entry("yes/no", "Recovery and reliable improvement.", _OUTCOMES),
        "jt_rci": Entry(
            "index",
            "Jacobson-Truax reliable change index over the eligible completers.",
            _OUTCOMES + "; Jacobson & Truax 1991",
        ),
        "jt_category": Entry(
            "",
            "Jacobson-Truax category: recovered, improved, unchanged or deteriorated.",
            _OUTCOMES + "; Jacobson & Truax 1991",
        ),
        "first_response_day": Entry(
            "days since first dose",
            "First day a score meets the response criterion; else censored at the last "
            "score after day 0.",
            _KM,
        ),
        "response_observed": Entry(
            "yes/no", "True when first_response_day is a response, False when censored.", _KM
        ),
        "first_early_improvement_day": Entry(
            "days since first dose",
            "First day a score is at least 20% below baseline (early_improvement); else "
            "censored at the last score.",
            _KM,
        ),
        "early_improvement_observed": Entry(
            "yes/no", "True when first_early_improvement_day is an event.", _KM
        ),
        "relapse": Entry(
            "yes/no",
            "After a first response: two consecutive scores that fail the response "
            "criterion and are at or above caseness.",
            _KM,
        ),
        "days_to_relapse": Entry(
            "days",
            "Days from the first response to the relapse, or to censoring.",
            _KM,
        ),
        "n_assessments": Entry("assessments", "Valid scores of the instrument.", _OUTCOMES),
        "n_doses": Entry("doses", "The patient's recorded doses.", _OUTCOMES),
        "n_acute_doses": Entry(
            "doses", "Doses from day 0 to acute_days (42 by default).", _OUTCOMES
        ),
        "n_maintenance_doses": Entry("doses", "Doses after acute_days.", _OUTCOMES),
        "item9_flags": Entry(
            "questionnaires",
            "PHQ-9 questionnaires with item 9 (thoughts of self-harm) scored 1 or more; "
            "empty for GAD-7 and when item 9 was never recorded.",
            _OUTCOMES + "; Kroenke 2001",
        ),
    },
    "outcome_rates": {
        "outcome": Entry(
            "",
            "Yes/no outcome of patient_outcomes (response, remission, reliable "
            "improvement or deterioration, recovery, reliable recovery).",
            _RATES,
        ),
        "population": Entry(
            "",
            "itt: eligible patients who started treatment, no endpoint = no outcome; "
            "completers: eligible patients with an endpoint; eligible: all eligible.",
            _RATES,
        ),
    },
    "time_to_event": {
        "event": Entry("", "response, early_improvement or relapse.", _KM),
        "time": Entry(
            "days",
            "Day of the step (days since the first dose; since the first response for relapse).",
            _KM,
        ),
        "at_risk": Entry("patients", "Patients still followed and without the event.", _KM),
        "events": Entry("patients", "Events on this day.", _KM),
        "survival": Entry("share 0-1", "Kaplan-Meier probability of no event yet.", _KM),
        "std_err": Entry("share", "Greenwood standard error of survival.", _KM),
        "ci_low": Entry("share 0-1", "Lower end of the 95% interval of survival.", _KM),
        "ci_high": Entry("share 0-1", "Upper end of the 95% interval of survival.", _KM),
    },
    "subgroup_rates": {
        "group": Entry("", "Attribute the patients are grouped by.", _SUBGROUPS),
        "level": Entry("", "Level of the attribute (unknown = not recorded).", _SUBGROUPS),
        "diff": Entry(
            "share",
            "Level's rate minus the rate of all other patients with a recorded level.",
            _SUBGROUPS,
        ),
        "diff_ci_low": Entry("share", "Lower end of the Newcombe 95% interval.", _SUBGROUPS),
        "diff_ci_high": Entry("share", "Upper end of the Newcombe 95% interval.", _SUBGROUPS),
        "compared_with": Entry("", "Which patients the difference compares with.", _SUBGROUPS),
        "outcome": Entry("", "Outcome whose rate is shown.", _SUBGROUPS),
    },
    "claims": {
        "id": Entry("", "Claim identifier in the claims file.", _CLAIMS),
        "claim": Entry("", "The claim as quoted.", _CLAIMS),
        "quantity": Entry("", "What is measured to test the claim.", _CLAIMS),
        "estimate": Entry("in unit", "The clinic's estimate of the quantity.", _CLAIMS),
        "ci_low": Entry("in unit", "Lower end of the 95% interval of the estimate.", _CLAIMS),
        "ci_high": Entry("in unit", "Upper end of the 95% interval of the estimate.", _CLAIMS),
        "n": Entry("patients", "Patients the estimate counts.", _CLAIMS),
        "claimed": Entry("in unit", "The value the claim states (empty if none).", _CLAIMS),
        "verdict": Entry(
            "",
            "supported, contradicted, inconclusive, not_measurable or descriptive, by the "
            "claim's rule.",
            _CLAIMS,
        ),
        "note": Entry("", "What the data say, in words.", _CLAIMS),
        "margin": Entry("in unit", "Equivalence margin of a claim of about a value.", _CLAIMS),
        "population": Entry("", "The patients the claim is tested on.", _CLAIMS),
        "unit": Entry("", "Unit of estimate, interval and claimed value.", _CLAIMS),
        "direction": Entry("", "For a contradicted claim, which way the data lie.", _CLAIMS),
        "news": Entry(
            "",
            "Whether the result is good, bad, neutral or unclear news for patients.",
            _CLAIMS,
        ),
        "adjusted_estimate": Entry(
            "share",
            "For claims comparing groups: the case-mix adjusted difference in response "
            "(standardised risk difference by g-computation from a logistic model on "
            "baseline score, prior failures, diagnosis, age band and sex).",
            _ADJUSTED,
        ),
        "adjusted_ci_low": Entry("share", "Lower end of its 95% delta-method interval.", _ADJUSTED),
        "adjusted_ci_high": Entry(
            "share", "Upper end of its 95% delta-method interval.", _ADJUSTED
        ),
        "adjusted_n": Entry("patients", "Patients with every covariate in the model.", _ADJUSTED),
        "adjusted_or": Entry("odds ratio", "Adjusted odds ratio of the exposure.", _ADJUSTED),
    },
    "adherence": {
        "measure": Entry("", "Protocol measure.", _ADHERENCE),
        "estimate": Entry("in unit", "Median or share, as the measure says.", _ADHERENCE),
        "ci_low": Entry("in unit", "Lower end of the 95% interval.", _ADHERENCE),
        "ci_high": Entry("in unit", "Upper end of the 95% interval.", _ADHERENCE),
        "unit": Entry("", "share, doses, minutes or mg/kg.", _ADHERENCE),
        "patients": Entry("patients", "Treated patients the measure counts.", _ADHERENCE),
        "note": Entry("", "How it was computed.", _ADHERENCE),
    },
    "adverse_events": {
        "event": Entry("", "Adverse-event code (any = at least one event).", _SAFETY),
        "label": Entry("", "Event name as shown.", _SAFETY),
        "sessions_with_event": Entry("sessions", "Sessions recording the event.", _SAFETY),
        "patients": Entry("patients", "Treated patients with the event at least once.", _SAFETY),
        "sessions": Entry("sessions", "All recorded sessions.", _SAFETY),
        "per_100": Entry("per 100 sessions", "Sessions with the event per 100 sessions.", _SAFETY),
        "share_of_patients": Entry("share 0-1", "patients / treated patients.", _SAFETY),
    },
}

#: Columns of :func:`codebook`.
CODEBOOK_COLUMNS: Final = ("table", "column", "type", "unit", "definition", "source")


def describe_column(table: str, column: str) -> Entry | None:
    """The meaning of ``column`` in ``table`` (a table's own entry first), or None."""
    own = _TABLES.get(table, {})
    return own.get(column) or _COMMON.get(column)


def _base(table: str) -> str:
    """The codebook name of an exported table (``time_to_relapse`` → ``time_to_event``)."""
    if table.startswith("time_to_"):
        return "time_to_event"
    if table.startswith("subgroup_"):
        return "subgroup_rates"
    return table


def codebook(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per column of every table in ``tables``.

    Raises
    ------
    KeyError
        When a column has no definition: an export must never ship a column nobody has
        described.
    """
    rows = []
    for name, frame in tables.items():
        for column in frame.columns:
            entry = describe_column(_base(name), str(column))
            if entry is None:
                raise KeyError(f"The codebook has no definition of {name}.{column}.")
            rows.append(
                {
                    "table": name,
                    "column": str(column),
                    "type": str(frame[column].dtype),
                    "unit": entry.unit,
                    "definition": entry.definition,
                    "source": entry.source,
                }
            )
    return pd.DataFrame(rows, columns=list(CODEBOOK_COLUMNS))
