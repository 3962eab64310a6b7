"""Claims scorecard: public claims about ketamine treatment tested on the clinic's data.

Claims are data (docs/methods.md §10). A TOML file lists them; one engine, :func:`evaluate_claims`,
computes each claim's quantity from a :class:`~katoutcomes.dataset.Dataset`, applies the
claim's decision rule and explains the verdict in plain words. The default file,
``katoutcomes/data/claims.toml``, holds the claims of methods §10.6; a researcher tests another
article's claims by writing another file, without code.

Claims file
-----------
Top-level keys ``title``, ``source`` and ``description`` (optional text) and an array of
``[[claims]]`` tables, each with:

``id`` (required)
    Unique name: letters, digits, ``_``, ``.`` or ``-``.
``claim`` (required)
    The claim as quoted.
``quantity`` (required)
    A name from :data:`QUANTITIES` (see :func:`describe_quantities`).
``params`` (optional)
    Inline table of the quantity's parameters, e.g. ``{ instrument = "GAD-7", time = 84 }``;
    omitted parameters take their defaults.
``claimed`` (required by the rules ``two_sided``, ``above`` and ``below``)
    The value the claim states, in the quantity's unit (:attr:`QuantitySpec.unit`): a
    share or a probability as a fraction between 0 and 1 (50% is ``0.5``), a difference of
    shares as a fraction between -1 and 1, mg/kg, US dollars. A share outside [0, 1] is
    rejected (``claimed = 50`` is almost always meant as ``0.50``).
``rule`` (required)
    One of :data:`RULES`:

    - ``two_sided``: a claim of *about* ``claimed`` (p0), judged against the equivalence
      band ``[p0 - margin, p0 + margin]`` (methods §10.3): the interval inside the band →
      supported; wholly above ``p0 + margin`` or wholly below ``p0 - margin`` →
      contradicted, with the direction and whether that is better or worse for patients;
      otherwise inconclusive, and for a share the note gives the number of patients that
      would likely settle it (:func:`patients_to_settle`). An interval that merely
      contains p0 is not support: with few patients every claim would pass, with many
      every claim would fail.
    - ``above``: a claim of more than a bound ("usually": more than half). The interval
      wholly above ``claimed`` (``ci_low > claimed``) → supported; at or below it
      (``ci_high <= claimed``) → contradicted; otherwise inconclusive.
    - ``below``: a claim of less than a bound ("less than 1%"). ``ci_high < claimed`` →
      supported; ``ci_low >= claimed`` → contradicted; otherwise inconclusive.
    - ``difference_positive``: ``above`` for a difference (default bound 0).
    - ``difference_nonzero``: the interval excludes ``claimed`` (default 0) → supported;
      otherwise inconclusive.
    - ``descriptive``: no decision; the estimate is reported.

    :func:`judge_interval` applies these rules; its docstring gives the handling of an
    interval that touches a bound or a band edge.
``margin`` (optional; rule ``two_sided`` only)
    The equivalence margin δ, in the quantity's unit. Default 0.10 for a share or a
    probability; required for a ``two_sided`` claim of another kind (a difference, mg/kg,
    dollars). Bounds (``above``, ``below``, the difference rules) are judged against the
    bound itself and take no margin.
``min_n`` (optional)
    Fewer than this many patients (for a session-level quantity, patients contributing
    sessions) → ``inconclusive``; default the ``min_n`` setting (10).

Verdicts
--------
``supported``, ``contradicted``, ``inconclusive`` (too few patients, an interval that
cannot decide, or a Kaplan–Meier time beyond the last follow-up), ``not_measurable`` (the
data lack something the claim needs; the note names it) and ``descriptive``. Each row
also says whether the result is good or bad news for patients (``news``, see
:data:`NEWS`): the word says the verdict, the colour of a display the news, so
"contradicted — better than claimed" is not shown as bad news.

Populations (methods §10.5; the ``population`` column says which one each claim used): outcome
claims use eligible patients, intention to treat for rates (eligible patients with at
least one dose, or all eligible patients without a treatments table). Claims about
treatment delivery and safety (``nth_dose_within``, ``adverse_event_share``,
``first_dose_mg_per_kg``, ``monitoring_share``, ``median_session_cost``) use the *safety
population* by default: every patient with at least one recorded dose, eligible or not,
as trials report safety. ``treatment_resistance_share`` uses every patient with the
diagnosis who started treatment (every one with the diagnosis without a treatments
table), whatever their baseline. Intervals: Wilson intervals for shares, Newcombe for differences,
log-scale Greenwood intervals for Kaplan–Meier probabilities (``1 - S`` has the interval
``1 -`` that of ``S``; where no event has happened yet, the exact interval for 0 events,
:func:`katoutcomes.stats.kaplan_meier`), binomial order-statistic intervals for medians
over patients.
``n`` is the number of patients the quantity is computed over (for a Kaplan–Meier
quantity, the patients in the curve; for a difference, both groups together; for a
session-level quantity, the patients contributing sessions, the number of sessions being
given in the note).

Session-level quantities (``monitoring_share``, ``median_session_cost``) take the patient
as the unit, because sessions of one patient are alike: the share of sessions has a
patient-level (cluster-robust) standard error and a Wilson interval on the effective
sample size (:func:`katoutcomes.cohort.clustered_share`); the median per session has a
percentile interval from resampling patients with a fixed seed
(:func:`katoutcomes.cohort.cluster_bootstrap_median`).

Modules
-------
:mod:`~katoutcomes.claims.definitions` (claims, quantities, verdicts and rules as data),
:mod:`~katoutcomes.claims.loading` (the claims file), :mod:`~katoutcomes.claims.context`
(what claims share), :mod:`~katoutcomes.claims.quantities` (the measurements),
:mod:`~katoutcomes.claims.verdicts` (the rules and notes),
:mod:`~katoutcomes.claims.engine` (the scorecard) and
:mod:`~katoutcomes.claims.formatting` (the notes' number formats); every name is
importable from :mod:`katoutcomes.claims`.
"""

from __future__ import annotations

from katoutcomes.claims.definitions import (
    CLAIM_COLUMNS,
    DEFAULT_MARGIN,
    NEWS,
    RULES,
    VERDICTS,
    Claim,
    ClaimsFileError,
    QuantityResult,
    QuantitySpec,
)
from katoutcomes.claims.engine import (
    claims_to_dict,
    evaluate_claims,
)
from katoutcomes.claims.loading import (
    load_claims,
)
from katoutcomes.claims.quantities import (
    QUANTITIES,
    describe_quantities,
)
from katoutcomes.claims.verdicts import (
    describe_rule,
    judge_interval,
    patients_to_settle,
)

__all__ = [
    "CLAIM_COLUMNS",
    "DEFAULT_MARGIN",
    "NEWS",
    "QUANTITIES",
    "RULES",
    "VERDICTS",
    "Claim",
    "ClaimsFileError",
    "QuantityResult",
    "QuantitySpec",
    "claims_to_dict",
    "describe_quantities",
    "describe_rule",
    "evaluate_claims",
    "judge_interval",
    "load_claims",
    "patients_to_settle",
]
