"""Cohort statistics: outcome rates, time to event and subgroups (docs/methods.md §6).

Every function takes the per-patient outcome table of
:func:`katoutcomes.outcomes.patient_outcomes` (and, for subgroups, the
:class:`~katoutcomes.dataset.Dataset` it came from) and returns a tidy DataFrame. Nothing
here loops over patients: counts come from group-wise pandas operations and the
intervals from the vectorised functions of :mod:`katoutcomes.stats`.

Populations
-----------
All cohort statistics use *eligible* patients (baseline at or above caseness, methods §4.3).

- ``"eligible"``: every eligible patient.
- ``"itt"`` (intention to treat, the primary population): eligible patients with at least
  one dose; every eligible patient when the dataset has no treatments table (then
  ``n_doses`` is NA for everyone and dosing is unknown). A patient with no endpoint counts
  as not achieving the outcome.
- ``"completers"``: eligible patients with an endpoint (a valid assessment with
  ``0 < t <= acute_days + visit_window_days``), whatever their doses (methods §6.1). An
  eligible patient with an endpoint but no recorded dose is a completer without being in
  the intention-to-treat population, so completers are not always a subset of it.

Intervals
---------
Wilson for shares, Newcombe (hybrid score) for differences of shares, log-scale Greenwood
intervals for Kaplan–Meier survival probabilities; see :mod:`katoutcomes.stats` for the
formulas and references.

Statistics over sessions (doses) treat the patient as the unit: sessions of one patient are
not independent. :func:`clustered_share` gives a share of sessions with a patient-level
(cluster-robust) standard error, :func:`cluster_bootstrap_median` a median over sessions
with a patient-level bootstrap interval.

Modules
-------
:mod:`~katoutcomes.cohort.rates` (populations, outcome rates, subgroups),
:mod:`~katoutcomes.cohort.intervals` (medians, statistics over sessions) and
:mod:`~katoutcomes.cohort.survival` (time to event); every name is importable from
:mod:`katoutcomes.cohort`.
"""

from __future__ import annotations

from katoutcomes.cohort.intervals import (
    BOOTSTRAP_REPLICATES,
    BOOTSTRAP_SEED,
    ClusteredMedian,
    ClusteredShare,
    MedianCI,
    cluster_bootstrap_median,
    clustered_share,
    median_ci,
)
from katoutcomes.cohort.rates import (
    POPULATIONS,
    PSYCHOTHERAPY_MIN_SHARE,
    RATE_OUTCOME_LABELS,
    RATE_OUTCOMES,
    SUBGROUPS,
    TRD_MIN_FAILURES,
    UNKNOWN_LEVEL,
    NotMeasurableError,
    in_population,
    outcome_rates,
    patient_attributes,
    subgroup_rates,
)
from katoutcomes.cohort.survival import (
    EVENTS,
    SurvivalPoint,
    survival_at,
    time_to_event,
    time_to_event_medians,
)

__all__ = [
    "BOOTSTRAP_REPLICATES",
    "BOOTSTRAP_SEED",
    "EVENTS",
    "POPULATIONS",
    "PSYCHOTHERAPY_MIN_SHARE",
    "RATE_OUTCOMES",
    "RATE_OUTCOME_LABELS",
    "SUBGROUPS",
    "TRD_MIN_FAILURES",
    "UNKNOWN_LEVEL",
    "ClusteredMedian",
    "ClusteredShare",
    "MedianCI",
    "NotMeasurableError",
    "SurvivalPoint",
    "cluster_bootstrap_median",
    "clustered_share",
    "in_population",
    "median_ci",
    "outcome_rates",
    "patient_attributes",
    "subgroup_rates",
    "survival_at",
    "time_to_event",
    "time_to_event_medians",
]
