"""Populations, outcome rates and subgroup rates (methods §6).

Which patients a statistic counts (:func:`in_population`), the response, remission and
reliable-change rates of each instrument with Wilson intervals (:func:`outcome_rates`),
and an outcome rate per level of a patient attribute with Newcombe differences
(:func:`patient_attributes`, :func:`subgroup_rates`). See :mod:`katoutcomes.cohort` for
the populations.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from katoutcomes.errors import KatoutcomesError
from katoutcomes.instruments import INSTRUMENTS, PHQ9
from katoutcomes.stats import (
    proportion_ci,
    risk_difference_ci,
)

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset


__all__ = [
    "POPULATIONS",
    "PSYCHOTHERAPY_MIN_SHARE",
    "RATE_OUTCOMES",
    "RATE_OUTCOME_LABELS",
    "SUBGROUPS",
    "TRD_MIN_FAILURES",
    "UNKNOWN_LEVEL",
    "NotMeasurableError",
    "in_population",
    "outcome_rates",
    "patient_attributes",
    "subgroup_rates",
]


#: Yes/no outcomes reported as rates, in display order (definitions: methods §4.6–§4.9).
RATE_OUTCOMES: Final = (
    "response",
    "remission",
    "reliable_improvement",
    "reliable_deterioration",
    "recovery",
    "reliable_recovery",
)

#: How the outcomes of :data:`RATE_OUTCOMES` are named in figures, tables and reports.
RATE_OUTCOME_LABELS: Final = MappingProxyType(
    {
        "response": "Response",
        "remission": "Remission",
        "reliable_improvement": "Reliable improvement",
        "reliable_deterioration": "Reliable deterioration",
        "recovery": "Recovery",
        "reliable_recovery": "Reliable recovery",
    }
)

#: Populations accepted by :func:`in_population` (see the module docstring).
POPULATIONS: Final = ("eligible", "itt", "completers")


#: Patient attributes :func:`subgroup_rates` can split by.
SUBGROUPS: Final = (
    "site",
    "clinician",
    "route",
    "diagnosis",
    "ssri",
    "psychotherapy",
    "treatment_resistance",
)

#: Attributes with two levels, ``"yes"`` compared with the reference ``"no"``.
_TWO_LEVEL: Final = frozenset({"ssri", "psychotherapy", "treatment_resistance"})

#: Treatment-resistant depression: at least two failed adequate treatment trials
#: (Gaynes BN et al. J Clin Psychiatry 2020;81:19cs13021; the definition the
#: esketamine trials used; methods §6.8).
TRD_MIN_FAILURES: Final = 2

#: Integrated psychotherapy: in at least half of the patient's doses (methods §6.8).
PSYCHOTHERAPY_MIN_SHARE: Final = 0.5

#: Patients-table column each patient-level attribute comes from.
_PATIENT_COLUMNS: Final = {
    "diagnosis": "primary_diagnosis",
    "ssri": "concurrent_ssri",
    "treatment_resistance": "prior_treatment_failures",
}

#: Level of a patient whose attribute is not recorded.
UNKNOWN_LEVEL: Final = "unknown"


_RATE_COLUMNS: Final = (
    "instrument",
    "outcome",
    "population",
    "k",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
)
_SUBGROUP_COLUMNS: Final = (
    "group",
    "level",
    "k",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "compared_with",
)


class NotMeasurableError(KatoutcomesError):
    """The data lack what a statistic needs (a table, a column's values, a diagnosis).

    The message names exactly what is missing; the claims engine turns it into a
    ``not_measurable`` verdict.
    """


# --------------------------------------------------------------------------------------
# Populations
# --------------------------------------------------------------------------------------


def in_population(outcomes: pd.DataFrame, population: str = "itt") -> pd.Series:
    """Which rows of a per-patient outcome table belong to a population.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes` (reads ``eligible``,
        ``completer`` and ``n_doses``).
    population : {"eligible", "itt", "completers"}, default "itt"
        See the module docstring.

    Returns
    -------
    pandas.Series of bool
        Aligned with ``outcomes``, named after the population.

    Notes
    -----
    ``eligible`` = eligible; ``itt`` = eligible and (``n_doses >= 1`` or ``n_doses`` NA,
    i.e. no treatments table); ``completers`` = eligible and ``completer`` (an endpoint),
    regardless of doses (methods §6.1: "eligible with an endpoint").

    Examples
    --------
    >>> frame = pd.DataFrame({"eligible": pd.array([True, True, False, None], "boolean"),
    ...                       "completer": pd.array([True, True, True, None], "boolean"),
    ...                       "n_doses": pd.array([3, 0, 2, 1], "Int64")})
    >>> in_population(frame, "itt").tolist()
    [True, False, False, False]
    >>> in_population(frame, "completers").tolist()
    [True, True, False, False]
    """
    if population not in POPULATIONS:
        raise ValueError(f"Unknown population {population!r}; use one of {', '.join(POPULATIONS)}.")
    mask = outcomes["eligible"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    if population == "itt":
        doses = outcomes["n_doses"].to_numpy(dtype=np.float64, na_value=np.nan)
        # n_doses is NA for everyone exactly when there is no treatments table.
        started = np.isnan(doses) | (doses >= 1)
        mask = mask & started
    elif population == "completers":
        mask = mask & outcomes["completer"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return pd.Series(mask, index=outcomes.index, name=population)


def _instrument_order(names: pd.Series) -> list[str]:
    """Instruments present, in the order of ``INSTRUMENTS`` (PHQ-9 first)."""
    present = set(names.dropna().astype(str).unique())
    return [name for name in INSTRUMENTS if name in present] + sorted(present - set(INSTRUMENTS))


def _flag(values: pd.Series) -> pd.Series:
    """A yes/no column as 0/1 integers, NA counting as 0 (not achieved)."""
    return values.astype("boolean").fillna(False).astype(np.int64)


# --------------------------------------------------------------------------------------
# Outcome rates
# --------------------------------------------------------------------------------------


def outcome_rates(
    outcomes: pd.DataFrame, *, method: str = "wilson", alpha: float = 0.05
) -> pd.DataFrame:
    """Response, remission and reliable-change rates per instrument, ITT and completers.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes`. Not modified.
    method : {"wilson", "clopper-pearson", "exact"}, default "wilson"
        Interval for each share (:func:`katoutcomes.stats.proportion_ci`).
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        Columns ``instrument, outcome, population, k, n, estimate, ci_low, ci_high``: one
        row per instrument present (PHQ-9 first) × outcome of :data:`RATE_OUTCOMES` ×
        population (``"itt"`` then ``"completers"``). ``k`` patients achieved the outcome
        out of ``n`` in the population; NaN estimate and interval where ``n = 0``.

    Notes
    -----
    Intention to treat: ``n`` = eligible patients with at least one dose (all eligible
    patients without a treatments table); a patient without an endpoint counts as not
    achieving the outcome. Completers: ``n`` = eligible patients with an endpoint, whether
    or not a dose is recorded.
    Intention to treat is the primary analysis (methods §6.1). Wilson interval::

        (k + z^2/2) / (n + z^2)  -/+  z sqrt(n) / (n + z^2) * sqrt(p (1 - p) + z^2 / (4n))

    References
    ----------
    Wilson EB. J Am Stat Assoc 1927;22:209-212. Newcombe RG. Stat Med 1998;17:857-872.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.outcomes import patient_outcomes
    >>> rates = outcome_rates(patient_outcomes(Dataset.demo(patients=60)))
    >>> rates.columns.tolist()
    ['instrument', 'outcome', 'population', 'k', 'n', 'estimate', 'ci_low', 'ci_high']
    """
    instruments = _instrument_order(outcomes["instrument"])
    flags = pd.DataFrame({name: _flag(outcomes[name]) for name in RATE_OUTCOMES})
    pieces = []
    for population in ("itt", "completers"):
        mask = in_population(outcomes, population).to_numpy()
        by = outcomes["instrument"].to_numpy()[mask]
        k = flags[mask].groupby(by).sum().reindex(instruments, fill_value=0)
        n = pd.Series(1, index=by).groupby(level=0).sum().reindex(instruments, fill_value=0)
        long = (
            k.rename_axis("instrument")
            .reset_index()
            .melt(id_vars="instrument", var_name="outcome", value_name="k")
        )
        long["n"] = long["instrument"].map(n).astype(np.int64)
        long["population"] = population
        pieces.append(long)
    counts = pd.concat(pieces, ignore_index=True)
    counts["_i"] = counts["instrument"].map({name: i for i, name in enumerate(instruments)})
    counts["_o"] = counts["outcome"].map({name: i for i, name in enumerate(RATE_OUTCOMES)})
    counts["_p"] = (counts["population"] == "completers").astype(int)
    counts = counts.sort_values(["_i", "_o", "_p"], kind="stable").reset_index(drop=True)
    ci = proportion_ci(counts["k"].to_numpy(), counts["n"].to_numpy(), method=method, alpha=alpha)
    out = pd.concat(
        [counts[["instrument", "outcome", "population"]], ci.reset_index(drop=True)], axis=1
    )
    out["instrument"] = out["instrument"].astype("str")
    return out[list(_RATE_COLUMNS)]


# --------------------------------------------------------------------------------------
# Subgroups
# --------------------------------------------------------------------------------------


def _most_frequent(pairs: pd.DataFrame, key: str, value: str) -> pd.Series:
    """Per ``key``, its most frequent non-missing ``value`` (ties: alphabetical first)."""
    pairs = pairs.dropna(subset=[value])
    counts = pairs.groupby([key, value], sort=False).size().rename("count").reset_index()
    counts[value] = counts[value].astype(str)
    top = counts.sort_values(
        [key, "count", value], ascending=[True, False, True], kind="stable"
    ).drop_duplicates(key)
    return pd.Series(top[value].to_numpy(), index=top[key].astype(str).to_numpy(), dtype="str")


def _yes_no(flag: pd.Series) -> pd.Series:
    """A nullable boolean per patient as ``"yes"``/``"no"`` (NA stays missing)."""
    out = pd.Series(np.where(flag.fillna(False).to_numpy(dtype=bool), "yes", "no"), dtype="str")
    out.index = flag.index
    return out.mask(flag.isna().to_numpy())


def patient_attributes(
    dataset: Dataset,
    by: str,
    *,
    min_failures: int = TRD_MIN_FAILURES,
    psychotherapy_share: float = PSYCHOTHERAPY_MIN_SHARE,
) -> pd.Series:
    """One attribute per patient, derived from the dataset's tables, for subgroups.

    Parameters
    ----------
    dataset : Dataset
        Reads ``assessments`` and ``treatments`` (``site_id``, ``clinician_id``, ``route``,
        ``psychotherapy``) and ``patients`` (``primary_diagnosis``, ``concurrent_ssri``,
        ``prior_treatment_failures``). Nothing is modified.
    by : {"site", "clinician", "route", "diagnosis", "ssri", "psychotherapy", \
"treatment_resistance"}
        The attribute.
    min_failures : int, default 2
        ``treatment_resistance`` is ``"yes"`` with at least this many prior treatment
        failures (Gaynes 2020: two failed adequate trials).
    psychotherapy_share : float, default 0.5
        ``psychotherapy`` is ``"yes"`` when at least this share of the patient's doses
        with a recorded value had integrated psychotherapy.

    Returns
    -------
    pandas.Series of str
        Indexed by ``patient_id``, named ``by``; only patients whose attribute is known
        (a patient missing from the index has an unknown attribute).

    Raises
    ------
    NotMeasurableError
        When the table the attribute comes from is absent, or no patient has a value.

    Notes
    -----
    - ``site`` / ``clinician``: the patient's most frequent ``site_id`` /
      ``clinician_id`` across their assessment and treatment rows (ties broken
      alphabetically).
    - ``route``: the most frequent route of the patient's treatments (same tie rule).
    - ``diagnosis``: ``patients.primary_diagnosis``.
    - ``ssri``: ``patients.concurrent_ssri`` as ``"yes"``/``"no"``.
    - ``psychotherapy``: ``"yes"`` when psychotherapy was given in at least
      ``psychotherapy_share`` of the doses with a recorded value, ``"no"`` otherwise.
    - ``treatment_resistance``: ``"yes"`` when ``prior_treatment_failures >=
      min_failures``, ``"no"`` otherwise.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> patient_attributes(Dataset.demo(patients=30), "ssri").isin(["yes", "no"]).all()
    np.True_
    """
    if by not in SUBGROUPS:
        raise ValueError(f"Unknown subgroup {by!r}; use one of {', '.join(SUBGROUPS)}.")
    if by in ("site", "clinician"):
        column = f"{by}_id"
        rows = pd.concat(
            [
                dataset.assessments[["patient_id", column]],
                dataset.treatments[["patient_id", column]],
            ],
            ignore_index=True,
        )
        values = _most_frequent(rows, "patient_id", column)
        if values.empty:
            raise NotMeasurableError(
                f"No {column} is recorded in the assessments or treatments table."
            )
    elif by in ("route", "psychotherapy"):
        if not dataset.has_treatments:
            raise NotMeasurableError(f"There is no treatments table (needed for {by}).")
        treatments = dataset.treatments
        if by == "route":
            values = _most_frequent(treatments[["patient_id", "route"]], "patient_id", "route")
        else:
            given = treatments["psychotherapy"].astype("boolean")
            recorded = given.notna().to_numpy()
            share = (
                given[recorded]
                .astype(np.float64)
                .groupby(treatments["patient_id"].astype(str).array[recorded])
                .mean()
            )
            values = pd.Series(
                np.where(share.to_numpy() >= psychotherapy_share, "yes", "no"),
                index=share.index,
                dtype="str",
            )
        if values.empty:
            raise NotMeasurableError(f"No treatment row has a {by} value.")
    else:
        if not dataset.has_patients:
            raise NotMeasurableError(
                f"There is no patients table (needed for {_PATIENT_COLUMNS[by]})."
            )
        patients = dataset.patients.drop_duplicates("patient_id")
        index = patients["patient_id"].astype(str).to_numpy()
        if by == "diagnosis":
            values = pd.Series(patients["primary_diagnosis"].to_numpy(), index=index, dtype="str")
            source = "primary_diagnosis"
        elif by == "ssri":
            values = _yes_no(
                pd.Series(patients["concurrent_ssri"].astype("boolean").to_numpy(), index=index)
            )
            source = "concurrent_ssri"
        else:
            failures = patients["prior_treatment_failures"].to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            values = pd.Series(
                np.where(failures >= min_failures, "yes", "no"), index=index, dtype="str"
            ).mask(np.isnan(failures))
            source = "prior_treatment_failures"
        values = values.dropna()
        if values.empty:
            raise NotMeasurableError(f"No patient has a {source} value in the patients table.")
    values.index.name = "patient_id"
    return values.rename(by)


def subgroup_rates(
    outcomes: pd.DataFrame,
    dataset: Dataset,
    by: str,
    outcome: str = "response",
    instrument: str = PHQ9.name,
    *,
    population: str = "itt",
    min_failures: int = TRD_MIN_FAILURES,
    psychotherapy_share: float = PSYCHOTHERAPY_MIN_SHARE,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """An outcome rate per level of a patient attribute, with Newcombe differences.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes` for ``dataset``.
    dataset : Dataset
        Where the attribute comes from (see :func:`patient_attributes`).
    by : str
        One of :data:`SUBGROUPS`.
    outcome : str, default "response"
        One of :data:`RATE_OUTCOMES`.
    instrument : str, default "PHQ-9"
        Instrument whose outcome is counted.
    population : {"itt", "completers", "eligible"}, default "itt"
        Patients counted (module docstring); ``"itt"`` counts a missing endpoint as not
        achieving the outcome.
    min_failures, psychotherapy_share
        Passed to :func:`patient_attributes`.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, level, k, n, estimate, ci_low, ci_high, diff, diff_ci_low,
        diff_ci_high, compared_with``. ``group`` is ``by``; one row per level with at
        least one patient, ``"unknown"`` last for patients whose attribute is not
        recorded. Two-level attributes (``ssri``, ``psychotherapy``,
        ``treatment_resistance``) list ``"yes"`` then ``"no"``; other levels are sorted.

    Raises
    ------
    NotMeasurableError
        When the data lack the table or values the attribute needs (the message says
        which).

    Notes
    -----
    Shares have Wilson intervals. The difference ``diff = p_level - p_other`` has the
    Newcombe hybrid score interval (Newcombe 1998, method 10):

    - two-level attributes: ``"yes"`` minus the reference ``"no"``, on the ``"yes"``
      row (the ``"no"`` row has no difference);
    - other attributes: each level minus all other patients with a known level.

    Patients with an unknown level are shown but never enter a difference.

    References
    ----------
    Newcombe RG. Stat Med 1998;17:873-890.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.outcomes import patient_outcomes
    >>> data = Dataset.demo(patients=60)
    >>> subgroup_rates(patient_outcomes(data), data, "ssri")["level"].tolist()
    ['yes', 'no']
    """
    if outcome not in RATE_OUTCOMES:
        raise ValueError(f"Unknown outcome {outcome!r}; use one of {', '.join(RATE_OUTCOMES)}.")
    attribute = patient_attributes(
        dataset, by, min_failures=min_failures, psychotherapy_share=psychotherapy_share
    )
    rows = in_population(outcomes, population).to_numpy() & (
        outcomes["instrument"] == instrument
    ).to_numpy(dtype=bool, na_value=False)
    members = outcomes.loc[rows, ["patient_id", outcome]]
    # Each patient's level (the attribute holds each patient once), unknown when absent.
    found = attribute.index.get_indexer(members["patient_id"].astype(str))
    level = pd.Series(attribute.array.take(found, allow_fill=True)).fillna(UNKNOWN_LEVEL)
    table = (
        pd.DataFrame({"level": level.to_numpy(), "k": _flag(members[outcome]).to_numpy()})
        .groupby("level")["k"]
        .agg(["sum", "size"])
        .rename(columns={"sum": "k", "size": "n"})
    )
    if by in _TWO_LEVEL:
        known = [name for name in ("yes", "no") if name in table.index]
    else:
        known = sorted(name for name in table.index if name != UNKNOWN_LEVEL)
    order = known + ([UNKNOWN_LEVEL] if UNKNOWN_LEVEL in table.index else [])
    table = table.reindex(order)
    k = table["k"].to_numpy(dtype=np.int64)
    n = table["n"].to_numpy(dtype=np.int64)
    ci = proportion_ci(k, n, alpha=alpha)

    is_known = table.index.to_numpy() != UNKNOWN_LEVEL
    if by in _TWO_LEVEL:
        reference = table.index.to_numpy() == "no"
        k_ref = int(k[reference].sum())
        n_ref = int(n[reference].sum())
        with_diff = (table.index.to_numpy() == "yes") & (n_ref > 0)
        k_other = np.full(k.shape, k_ref)
        n_other = np.full(n.shape, n_ref)
        compared_label = "no"
    else:
        k_other = int(k[is_known].sum()) - k
        n_other = int(n[is_known].sum()) - n
        with_diff = is_known & (n_other > 0)
        compared_label = "all other patients"
    diff = risk_difference_ci(k, n, np.where(with_diff, k_other, 0), n_other * with_diff, alpha)
    out = pd.DataFrame(
        {
            "group": by,
            "level": table.index.astype(str),
            "k": k,
            "n": n,
            "estimate": ci["estimate"].to_numpy(),
            "ci_low": ci["ci_low"].to_numpy(),
            "ci_high": ci["ci_high"].to_numpy(),
            "diff": np.where(with_diff, diff["estimate"], np.nan),
            "diff_ci_low": np.where(with_diff, diff["ci_low"], np.nan),
            "diff_ci_high": np.where(with_diff, diff["ci_high"], np.nan),
            "compared_with": pd.Series(compared_label, index=range(len(k)), dtype="str").where(
                with_diff
            ),
        }
    )
    return out[list(_SUBGROUP_COLUMNS)]
