"""Per-patient outcomes: one row per patient × instrument (docs/methods.md §4).

:func:`patient_outcomes` turns a :class:`~katoutcomes.dataset.Dataset` into a tidy table of
baseline, endpoint, response, remission, reliable change, recovery, Jacobson–Truax
category, time to first response and early improvement, relapse, dosing counts and PHQ-9
item 9 flags. Everything is computed group-wise with NumPy over the sorted assessments;
there is no per-patient Python loop, so a million assessments take a fraction of a second.

Where the numbers come from
---------------------------
- Caseness, remission threshold, reliable-change points, test–retest reliability and the
  functional-population norm are the instrument facts in
  :data:`katoutcomes.instruments.INSTRUMENTS` (NHS Talking Therapies manual; ORKA-1,
  SUSTAIN-3; Kroenke 2001; Spitzer 2006; Kocalevent 2013; Löwe 2008; see that module's
  docstring).
- The baseline window, the acute window, the visit window, the response fraction and the
  early-improvement fraction are :class:`katoutcomes.settings.Settings` fields (defaults
  30 days, 42 days, 7 days, 0.50 and 0.20, methods §5.1).
- The Jacobson–Truax RCI and category come from :func:`katoutcomes.stats.jacobson_truax`
  (Jacobson & Truax 1991).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from katoutcomes.instruments import INSTRUMENTS, PHQ9
from katoutcomes.settings import Settings
from katoutcomes.stats import JT_CATEGORIES, jacobson_truax
from katoutcomes.timebase import runs, sorted_codes, time_order

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = ["OUTCOME_COLUMNS", "meets_fraction", "patient_outcomes"]

#: Columns of :func:`patient_outcomes`, in order.
OUTCOME_COLUMNS: Final = (
    "patient_id",
    "instrument",
    "baseline",
    "baseline_day",
    "endpoint",
    "endpoint_day",
    "eligible",
    "completer",
    "change",
    "pct_change",
    "response",
    "remission",
    "reliable_improvement",
    "reliable_deterioration",
    "recovery",
    "reliable_recovery",
    "jt_rci",
    "jt_category",
    "first_response_day",
    "response_observed",
    "first_early_improvement_day",
    "early_improvement_observed",
    "relapse",
    "days_to_relapse",
    "n_assessments",
    "n_doses",
    "n_acute_doses",
    "n_maintenance_doses",
    "item9_flags",
)

#: ``(1 - fraction) * baseline`` is a product of binary floats and could land a hair below
#: a whole number that is exactly a fall of ``fraction``; "a fall of at least the fraction"
#: is therefore tested with this slack, in points, far below the one-point resolution of a
#: total.
_FRACTION_TOLERANCE: Final = 1e-9

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


# --------------------------------------------------------------------------------------
# Group-wise helpers over rows sorted by (group, t)
# --------------------------------------------------------------------------------------


def _run_ends(groups: IndexArray, mask: BoolArray, n_groups: int, *, last: bool) -> IndexArray:
    """Row position of the first (or last) masked row of each group; -1 where none.

    ``groups`` must be sorted ascending, so the masked rows of a group form one run.
    """
    out = np.full(n_groups, -1, dtype=np.int64)
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return out
    g = groups[rows]
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]  # of each group's run in rows
    pick = np.r_[starts[1:] - 1, rows.size - 1] if last else starts
    out[g[pick]] = rows[pick]
    return out


def _take(values: FloatArray, positions: IndexArray) -> FloatArray:
    """``values[positions]`` with NaN where the position is -1."""
    found = positions >= 0
    return np.where(found, values[np.where(found, positions, 0)], np.nan)


def meets_fraction(score: ArrayLike, baseline: ArrayLike, fraction: float) -> BoolArray:
    """Score fell by at least ``fraction`` of the baseline: ``score <= (1 - f) * baseline``.

    The test of response (``fraction`` 0.50) and early improvement (0.20), methods §4, with
    1e-9 points of slack so that a fall of exactly the fraction is never lost to binary
    rounding. False where the score or the baseline is missing.

    Examples
    --------
    >>> meets_fraction([10, 11, 16], [20, 20, 20], 0.5).tolist()
    [True, False, False]
    >>> meets_fraction([16], [20], 0.2).tolist()
    [True]
    """
    score = np.asarray(score, dtype=np.float64)
    baseline = np.asarray(baseline, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return score - (1.0 - fraction) * baseline <= _FRACTION_TOLERANCE


def _boolean(values: BoolArray, missing: BoolArray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(values.astype(bool), missing.astype(bool))


def _counts(values: NDArray[np.integer], missing: BoolArray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(values.astype(np.int64), missing.astype(bool))


def _instrument_fact(names: pd.Index, codes: IndexArray, attribute: str) -> FloatArray:
    """One instrument fact (e.g. ``caseness``) per code into ``names``, looked up in
    ``INSTRUMENTS``."""
    facts = [float(getattr(INSTRUMENTS[name], attribute)) for name in names]
    return np.array(facts, dtype=np.float64)[codes]


def _pair_numbers(
    patient_codes: IndexArray, instrument_codes: IndexArray, n_instruments: int
) -> tuple[IndexArray, IndexArray, IndexArray]:
    """Number the (patient, instrument) pairs of the rows in sorted order.

    Returns each row's pair number, and each pair's patient code and instrument code.
    """
    key = patient_codes * n_instruments + instrument_codes
    if (key[1:] >= key[:-1]).all():
        # Rows as the Dataset sorts them: each pair is one run of equal keys.
        new_pair = np.ones(key.size, dtype=bool)
        new_pair[1:] = key[1:] != key[:-1]
        pair_keys, row_pair = key[new_pair], np.cumsum(new_pair) - 1
    else:  # a Dataset built by hand, in another order
        pair_keys, row_pair = np.unique(key, return_inverse=True)
    pair_patient, pair_instrument = np.divmod(pair_keys, n_instruments)
    return row_pair, pair_patient, pair_instrument


def _time_to_event(
    t: FloatArray,
    first: IndexArray,
    censor_at: IndexArray,
    defined: BoolArray,
) -> tuple[FloatArray, pd.arrays.BooleanArray]:
    """Time of the first event per group (at row ``first``, -1 for none), else the
    censoring time; and whether observed."""
    observed = first >= 0
    day = np.where(observed, _take(t, first), _take(t, censor_at))
    day = np.where(defined, day, np.nan)
    return day, _boolean(observed, ~defined)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def patient_outcomes(dataset: Dataset, settings: Settings | None = None) -> pd.DataFrame:
    """Outcomes for every patient × instrument: baseline, endpoint, response, relapse, ….

    Parameters
    ----------
    dataset : Dataset
        Accepted rows with ``t`` (days since each patient's origin, methods §2.3). Reads
        ``assessments`` (``patient_id, instrument, t, total, item9_flag``) and
        ``treatments`` (``patient_id, t``). Neither is modified.
    settings : Settings, optional
        ``baseline_window_days``, ``acute_days``, ``visit_window_days``, ``response`` and
        ``early_improvement`` (defaults 30, 42, 7, 0.50, 0.20). ``Settings()`` when
        omitted.

    Returns
    -------
    pandas.DataFrame
        One row for every (patient, instrument) pair with at least one assessment row
        (valid or not), sorted by ``patient_id`` then ``instrument``, with the columns of
        :data:`OUTCOME_COLUMNS`. Scores and days are ``float64`` (NaN where undefined),
        yes/no outcomes are nullable ``boolean`` (NA where undefined), counts are
        nullable ``Int64`` and ``jt_category`` is ``str`` (one of
        :data:`katoutcomes.stats.JT_CATEGORIES`, NaN where undefined).

    Notes
    -----
    A *valid* assessment has a ``total`` and a ``t``; incomplete rows (no total) count
    only towards ``item9_flags``. Assessments are ordered by ``t`` within each patient
    and instrument; assessments on one day with a date-only first dose (equal ``t``) are
    ordered by the time written, and ties beyond that keep the stored order. Per
    instrument, ``caseness``, ``remission_below`` and ``reliable_change`` come from
    :data:`~katoutcomes.instruments.INSTRUMENTS` (PHQ-9: 10, 5, 6; GAD-7: 8, 5, 4).

    - ``baseline`` / ``baseline_day``: the last valid assessment with
      ``-baseline_window_days <= t <= 0``. An assessment on the first dose day
      (``t = 0``) is therefore the baseline, never the endpoint.
    - ``endpoint`` / ``endpoint_day``: the last valid assessment with
      ``0 < t <= acute_days + visit_window_days`` (an assessment exactly on the last day
      is included), shown with or without a baseline. Visit schedules slip: with the
      defaults a "week 6" visit on day 45 is the endpoint (methods §4.4).
    - ``eligible``: ``baseline >= caseness``. ``completer``: an endpoint exists. Both are
      NA without a baseline: such patients belong to the data-quality counts, not to the
      denominators of rates (methods §4.2).
    - ``change = endpoint - baseline``; ``pct_change = change / baseline`` (NaN for a
      baseline of 0).
    - ``response``: ``endpoint <= (1 - response) * baseline`` (a fall of exactly the
      fraction counts). A fall from a baseline of 0 is undefined, so ``response``, the
      onset columns and the relapse columns are NA for a baseline of 0 (methods §4.15).
      ``remission``: ``endpoint < remission_below``.
      ``reliable_improvement``: ``baseline - endpoint >= reliable_change``;
      ``reliable_deterioration``: ``endpoint - baseline >= reliable_change``.
      ``recovery``: ``baseline >= caseness`` and ``endpoint < caseness``;
      ``reliable_recovery``: recovery and reliable improvement. All NA without a baseline
      or an endpoint.
    - ``jt_rci`` / ``jt_category``: :func:`katoutcomes.stats.jacobson_truax` with the
      instrument's ``reliability`` and functional norm, cut-off c, over the eligible
      completers of that instrument (``SD_pre`` from their baselines). NA for everyone
      else, and for all of an instrument's patients when it has fewer than two eligible
      completers or their baselines are all equal (``SD_pre = 0``, RCI undefined).
    - ``first_response_day``: the smallest valid ``t > 0`` (not limited to the acute
      window) whose score meets the response criterion against the baseline, with
      ``response_observed`` True; otherwise censored at the last valid ``t > 0`` with
      ``response_observed`` False. NA without a baseline, with a baseline of 0, or
      without any valid ``t > 0``. ``first_early_improvement_day`` / ``early_improvement_observed``
      likewise with ``score <= (1 - early_improvement) * baseline``.
    - ``relapse``: among patients with a first response, the first valid assessment
      ``t_r`` after it such that it and the next valid assessment both fail the response
      criterion and are both ``>= caseness``. ``days_to_relapse = t_r -
      first_response_day``. Without a confirmed relapse, ``relapse`` is False and the
      patient is censored at the last time a relapse could still have been confirmed:
      with valid assessments ``t_1 < ... < t_m`` after the first response,
      ``days_to_relapse = t_(m-1) - first_response_day``, and 0 when ``m < 2`` (a
      relapse needs two assessments, so a patient with one later assessment was never
      followed while a relapse could be seen). Both NA for patients who never
      responded.
    - ``n_assessments``: valid assessments of the instrument.
    - ``n_doses``: the patient's treatment rows; ``n_acute_doses``: those with
      ``0 <= t <= acute_days`` (the first dose is ``t = 0``, and a dose on the last day
      of the acute window belongs to it; the visit window extends the endpoint, not the
      course);
      ``n_maintenance_doses``: those with ``t > acute_days``. A patient without treatment
      rows has 0 of each. When the dataset holds no treatment rows at all (no treatments
      table), dosing is unknown and the three counts are NA.
    - ``item9_flags``: PHQ-9 assessments, valid or incomplete, with ``item9_flag`` True
      (item 9 >= 1; item 9 is never imputed, so an incomplete questionnaire still
      raises its flag). NA for GAD-7, which has no item 9, and NA for a PHQ-9 pair whose
      item 9 was never recorded (totals only): "no flags" would be a claim the data do
      not support.

    Comparisons with ``(1 - fraction) * baseline`` allow 1e-9 points of floating-point
    slack, so a fall of exactly the fraction is never lost to binary rounding.

    References
    ----------
    docs/methods.md §4. NHS Talking Therapies for anxiety and depression manual (v7,
    2024): caseness, reliable change, recovery. Jacobson NS, Truax P. J Consult Clin
    Psychol 1991;59:12-19.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.ingest import validate_frames
    >>> scores = pd.DataFrame({"patient_id": ["p1", "p1", "p1"],
    ...                        "instrument": ["PHQ-9"] * 3,
    ...                        "study_day": [0, 14, 42], "total": [20, 12, 9]})
    >>> doses = pd.DataFrame({"patient_id": ["p1", "p1"], "study_day": [0, 7]})
    >>> data = Dataset.from_result(validate_frames({"assessments": scores,
    ...                                             "treatments": doses}))
    >>> out = patient_outcomes(data)
    >>> out[["baseline", "endpoint", "response", "first_response_day", "n_doses"]]
       baseline  endpoint  response  first_response_day  n_doses
    0      20.0       9.0      True                42.0        2
    """
    settings = settings or Settings()
    assessments = dataset.assessments

    # Pairs, numbered in sorted (patient_id, instrument) order.
    patient_codes, patient_ids = sorted_codes(assessments["patient_id"])
    instrument_codes, instruments = sorted_codes(assessments["instrument"])
    if (patient_codes < 0).any() or (instrument_codes < 0).any():
        raise ValueError(
            "Assessments without a patient_id or an instrument. Build the Dataset through "
            "katoutcomes.ingest, which rejects such rows."
        )
    instrument_names = instruments.astype("str")
    unknown = sorted(set(instrument_names) - set(INSTRUMENTS))
    if unknown:
        raise ValueError(
            f"Unknown instrument(s) {', '.join(unknown)}; expected one of "
            f"{', '.join(INSTRUMENTS)}. Build the Dataset through katoutcomes.ingest, which "
            "normalises instrument names."
        )
    row_group, pair_patient, pair_instrument = _pair_numbers(
        patient_codes, instrument_codes, len(instruments)
    )
    n_pairs = len(pair_patient)
    caseness = _instrument_fact(instrument_names, pair_instrument, "caseness")
    remission_below = _instrument_fact(instrument_names, pair_instrument, "remission_below")
    reliable_change = _instrument_fact(instrument_names, pair_instrument, "reliable_change")

    # Valid assessments, sorted by pair then time (stably: ties keep the dataset's order,
    # which orders same-day rows by the time written).
    total_all = assessments["total"].to_numpy(dtype=np.float64, na_value=np.nan)
    t_all = assessments["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    valid = ~np.isnan(total_all) & ~np.isnan(t_all)
    order = np.flatnonzero(valid)
    g, t = row_group[order], t_all[order]
    by_time = time_order(g, t)
    if by_time is not None:
        order, g, t = order[by_time], g[by_time], t[by_time]
    score = total_all[order]

    # Baseline and endpoint.
    in_baseline = (t >= -settings.baseline_window_days) & (t <= 0)
    in_endpoint_window = (t > 0) & (t <= settings.acute_days + settings.visit_window_days)
    baseline_at = _run_ends(g, in_baseline, n_pairs, last=True)
    endpoint_at = _run_ends(g, in_endpoint_window, n_pairs, last=True)
    baseline = _take(score, baseline_at)
    endpoint = _take(score, endpoint_at)
    no_baseline = baseline_at < 0
    no_pair = no_baseline | (endpoint_at < 0)
    # A fall from a baseline of 0 is undefined (methods §4.6): response and everything built
    # on a fall from baseline (onset, early improvement, relapse) are left empty.
    no_fall = no_baseline | (baseline == 0)

    change = endpoint - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        pct_change = np.where(baseline == 0, np.nan, change / baseline)
    eligible = baseline >= caseness
    response = meets_fraction(endpoint, baseline, settings.response)
    reliable_improvement = baseline - endpoint >= reliable_change
    recovery = eligible & (endpoint < caseness)

    # Jacobson–Truax over each instrument's eligible completers (at most two groups).
    jt_rci = np.full(n_pairs, np.nan)
    jt_category = np.full(n_pairs, -1, dtype=np.int64)  # into JT_CATEGORIES; -1: undefined
    for code, name in enumerate(instrument_names):
        inst = INSTRUMENTS[name]
        members = np.flatnonzero((pair_instrument == code) & eligible & ~no_pair)
        pre, post = baseline[members], endpoint[members]
        if members.size < 2 or np.ptp(pre) == 0:
            continue
        jt = jacobson_truax(
            pre,
            post,
            reliability=inst.reliability,
            functional_mean=inst.functional_mean,
            functional_sd=inst.functional_sd,
        )
        jt_rci[members] = jt["rci"].to_numpy(dtype=np.float64)
        jt_category[members] = pd.Categorical(jt["category"], categories=JT_CATEGORIES).codes

    # Onset: first response / early improvement at any t > 0, censored at the last t > 0.
    row_baseline = baseline[g]
    after_origin = t > 0
    last_after_origin = _run_ends(g, after_origin, n_pairs, last=True)
    onset_defined = ~no_fall & (last_after_origin >= 0)
    meets_response = meets_fraction(score, row_baseline, settings.response)
    first_response_at = _run_ends(g, after_origin & meets_response, n_pairs, last=False)
    first_response_day, response_observed = _time_to_event(
        t, first_response_at, last_after_origin, onset_defined
    )
    improved = after_origin & meets_fraction(score, row_baseline, settings.early_improvement)
    first_early_day, early_observed = _time_to_event(
        t, _run_ends(g, improved, n_pairs, last=False), last_after_origin, onset_defined
    )

    # Relapse: two consecutive valid assessments after the first response, both failing
    # the response criterion and both at or above caseness.
    responded = (first_response_at >= 0) & onset_defined
    fails = ~meets_response & (score >= caseness[g])
    same_pair_next = np.r_[g[1:] == g[:-1], False]
    fails_twice = fails & np.r_[fails[1:], False] & same_pair_next
    after_response = responded[g] & (np.arange(g.size) > first_response_at[g])
    # Rows are sorted by pair, so a pair's last valid row is its running count minus one.
    n_assessments = np.bincount(g, minlength=n_pairs)
    last_valid = np.where(n_assessments > 0, np.cumsum(n_assessments) - 1, -1)
    relapse_at = _run_ends(g, fails_twice & after_response, n_pairs, last=False)
    # Without a confirmed relapse, censor at the second-to-last valid assessment after the
    # first response (the last one at which a relapse could still have been confirmed);
    # with fewer than two assessments after it, at the first response itself (0 days).
    second_to_last = last_valid - 1
    relapse_censor_at = np.where(
        second_to_last > first_response_at, second_to_last, first_response_at
    )
    relapse_day, relapse = _time_to_event(t, relapse_at, relapse_censor_at, responded)
    days_to_relapse = relapse_day - _take(t, first_response_at)

    # Counts.
    flag = assessments["item9_flag"].astype("boolean")
    flagged = np.bincount(row_group[flag.fillna(False).to_numpy(bool)], minlength=n_pairs)
    recorded = np.bincount(row_group[flag.notna().to_numpy(bool)], minlength=n_pairs)
    is_phq9 = np.asarray(instrument_names == PHQ9.name, dtype=bool)[pair_instrument]
    item9_missing = ~is_phq9 | (recorded == 0)
    doses = _dose_counts(dataset, patient_ids, pair_patient, settings)

    def with_pair(values: FloatArray) -> FloatArray:
        return np.where(no_pair, np.nan, values)

    out = pd.DataFrame(
        {
            "patient_id": patient_ids.take(pair_patient).astype("str"),
            "instrument": instrument_names.take(pair_instrument),
            "baseline": baseline,
            "baseline_day": _take(t, baseline_at),
            "endpoint": endpoint,
            "endpoint_day": _take(t, endpoint_at),
            "eligible": _boolean(eligible, no_baseline),
            "completer": _boolean(endpoint_at >= 0, no_baseline),
            "change": with_pair(change),
            "pct_change": with_pair(pct_change),
            "response": _boolean(response, no_pair | no_fall),
            "remission": _boolean(endpoint < remission_below, no_pair),
            "reliable_improvement": _boolean(reliable_improvement, no_pair),
            "reliable_deterioration": _boolean(endpoint - baseline >= reliable_change, no_pair),
            "recovery": _boolean(recovery, no_pair),
            "reliable_recovery": _boolean(recovery & reliable_improvement, no_pair),
            "jt_rci": jt_rci,
            "jt_category": pd.array(JT_CATEGORIES, dtype="str").take(jt_category, allow_fill=True),
            "first_response_day": first_response_day,
            "response_observed": response_observed,
            "first_early_improvement_day": first_early_day,
            "early_improvement_observed": early_observed,
            "relapse": relapse,
            "days_to_relapse": days_to_relapse,
            "n_assessments": _counts(n_assessments, np.zeros(n_pairs, bool)),
            **doses,
            "item9_flags": _counts(flagged, item9_missing),
        },
    )
    return out[list(OUTCOME_COLUMNS)]


def _dose_counts(
    dataset: Dataset, patient_ids: pd.Index, pair_patient: IndexArray, settings: Settings
) -> dict[str, pd.arrays.IntegerArray]:
    """``n_doses``, ``n_acute_doses`` and ``n_maintenance_doses`` of each pair's patient
    (``patient_ids[pair_patient]``)."""
    n = len(pair_patient)
    names = ("n_doses", "n_acute_doses", "n_maintenance_doses")
    if not dataset.has_treatments:
        unknown = np.ones(n, bool)
        return {name: _counts(np.zeros(n, np.int64), unknown) for name in names}
    treatments = dataset.treatments
    t = treatments["t"].to_numpy(dtype=np.float64, na_value=np.nan)
    # Each dose's position in patient_ids (-1, not counted, for a patient without
    # assessments), looked up once per run of doses of the same patient.
    ids = treatments["patient_id"]
    starts, lengths = runs(ids)
    patient = np.repeat(patient_ids.get_indexer(ids.take(starts)), lengths)
    counted = patient >= 0
    doses = {
        "n_doses": counted,
        "n_acute_doses": counted & (t >= 0) & (t <= settings.acute_days),
        "n_maintenance_doses": counted & (t > settings.acute_days),
    }
    known = np.zeros(n, bool)
    return {
        name: _counts(np.bincount(patient[rows], minlength=len(patient_ids))[pair_patient], known)
        for name, rows in doses.items()
    }
