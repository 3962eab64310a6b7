"""Small-cell suppression for aggregates that leave the tool (methods §12).

A table shared outside the clinic (the HTML report, exports meant for sharing) must not let
a reader single out a patient. The rule here is the common "cells of 1 to 10 are
suppressed" rule: a statistic based on 1 to ``k - 1`` patients is replaced by a missing
value, with ``k = 11`` by default (:attr:`katoutcomes.settings.Settings.suppression_k`;
``k = 0`` turns suppression off for internal use).

Choices
-------
- **Zero is shown.** A count of 0 describes nobody, so it cannot identify anybody; the CMS
  policy says so explicitly ("A value of zero does not violate the minimum cell size
  policy").
- **Counts 1 to k - 1 are suppressed**, and with them every statistic of the row (rate,
  interval, mean, difference), because a rate and its denominator give the numerator back.
- **Numerators, denominators and complements.** A rate "k of n" shows three counts of
  patients: the ``k`` with the outcome, the ``n`` in the group and, by subtraction, the
  ``n - k`` without it. The row is suppressed when any of the three is 1 to k - 1
  (:func:`suppress_rates`): 5 of 379 hides the 5 responders, and 374 of 379 hides the 5
  non-responders. :func:`suppress_small_cells` applies the plain rule to the columns the
  caller names.
- **Nested groups.** A count minus a count it contains is a count too: 15 recovered and
  14 reliably recovered (a subset) give 1 patient recovered without reliable improvement.
  :func:`protect_nested_counts` finds such pairs among the patient groups an output
  shows and hides the smaller group (or a group the caller marks as expendable).
- **Complementary suppression.** A suppressed count that can be recovered by subtraction
  from a total shown elsewhere is no protection: with the levels of a subgroup summing to
  the cohort total shown in the report, one suppressed level equals the total minus the
  others. Within each group of ``complementary_by``, once one row is suppressed, more rows
  are suppressed, smallest count first, until at least two rows are suppressed *and* the
  suppressed rows together hold at least ``k`` (their sum, which a reader can still work
  out, is then itself a cell of ``k`` or more). :func:`suppress_subgroup_rates` applies
  this to the subgroup table of :func:`katoutcomes.cohort.subgroup_rates` and also blanks
  the differences between levels in such a group (a level compared with "all other
  patients" would otherwise give the suppressed levels' rate back).

References
----------
Centers for Medicare & Medicaid Services. CMS Cell Size Suppression Policy (ResDAC,
version of 2017-05-08, updated 2024-01-26): "no cell (e.g. admissions, discharges,
patients, services, etc.) containing a value of 1 to 10 can be reported directly. A value
of zero does not violate the minimum cell size policy. In addition, no cell can be reported
that allows a value of 1 to 10 to be derived from other reported cells or information."
https://resdac.org/articles/cms-cell-size-suppression-policy
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SUPPRESSED_COLUMN",
    "SUPPRESSION_NOTE",
    "claim_suppression_note",
    "hidden_rate_counts",
    "protect_nested_counts",
    "rate_cell_mask",
    "small_cell_mask",
    "suppress_claims",
    "suppress_linked_claims",
    "suppress_outcome_rates",
    "suppress_rates",
    "suppress_small_cells",
    "suppress_subgroup_rates",
    "suppression_note",
    "text_discloses_small_count",
]

#: Boolean column added by the functions here: True where a row's values were suppressed.
SUPPRESSED_COLUMN: Final = "suppressed"

#: Columns of :func:`katoutcomes.cohort.subgroup_rates` that compare a level with others.
_COMPARISON_COLUMNS: Final = ("diff", "diff_ci_low", "diff_ci_high", "compared_with")


def suppression_note(k: int) -> str:
    """The rule in plain words, for a report or an export's header.

    Examples
    --------
    >>> suppression_note(11)[:46]
    'Counts of 1 to 10 patients are suppressed, wit'
    >>> suppression_note(0)
    'Small-cell suppression is off (suppression_k = 0): counts of any size are shown.'
    """
    if k <= 1:
        return f"Small-cell suppression is off (suppression_k = {k}): counts of any size are shown."
    counts = "A count of 1 patient is" if k == 2 else f"Counts of 1 to {k - 1} patients are"
    return (
        f"{counts} suppressed, with every figure that would give one back (a rate, an "
        f"interval, a difference, a complementary cell): small-cell rule, k = {k}."
    )


#: The rule at the default threshold (11, as in the CMS cell size suppression policy).
SUPPRESSION_NOTE: Final = suppression_note(11)


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(
            f"k must be a whole number >= 0 (0 turns suppression off), got {k!r}; "
            "use Settings.suppression_k."
        )


def small_cell_mask(counts: ArrayLike, k: int) -> NDArray[np.bool_]:
    """Which counts are small cells: ``1 <= count < k`` (missing counts are not).

    Parameters
    ----------
    counts : array-like of numbers
        Patient counts (missing values allowed).
    k : int
        Threshold; 0 or 1 suppresses nothing.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> small_cell_mask([0, 1, 10, 11, None], 11).tolist()
    [False, True, True, False, False]
    """
    _check_k(k)
    values = pd.to_numeric(pd.Series(counts, dtype="object"), errors="coerce")
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return (array >= 1) & (array < k)


def rate_cell_mask(count: ArrayLike, total: ArrayLike, k: int) -> NDArray[np.bool_]:
    """Which rates "count of total" show a small cell: the count, the total or the
    complement ``total - count`` is between 1 and ``k - 1``.

    Examples
    --------
    >>> rate_cell_mask([5, 374, 0, 200], [379, 379, 20, 379], 11).tolist()
    [True, True, False, False]
    """
    _check_k(k)
    numerator = pd.to_numeric(pd.Series(count, dtype="object"), errors="coerce")
    denominator = pd.to_numeric(pd.Series(total, dtype="object"), errors="coerce")
    complement = denominator.to_numpy(dtype=np.float64, na_value=np.nan) - numerator.to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return (
        small_cell_mask(numerator, k)
        | small_cell_mask(denominator, k)
        | small_cell_mask(complement, k)
    )


def _group_is_safe(hidden: NDArray[np.bool_], counts: NDArray[np.float64], k: int) -> bool:
    """At least two rows hidden, the hidden sizes (first column) adding to ``k`` or more,
    and every other hidden count adding to 0 or ``k`` or more (the sums of hidden cells
    can be worked out from the totals, so they must not be small cells themselves)."""
    if hidden.sum() < 2:
        return False
    sums = np.nansum(counts[hidden], axis=0)
    if sums[0] < k:
        return False
    return bool(np.all((sums[1:] == 0) | (sums[1:] >= k)))


def _complement(
    counts: NDArray[np.float64],
    hidden: NDArray[np.bool_],
    small: NDArray[np.bool_],
    codes: NDArray[np.intp],
    k: int,
) -> NDArray[np.bool_]:
    """Add complementary suppressions in each group holding a small cell.

    ``counts`` has one row per table row and one column per count (the first, the group
    size, orders the candidates); ``hidden`` marks rows already hidden (small cells and
    earlier suppressions), ``small`` the small cells found now: only their groups are
    examined, so that suppressing a table twice changes nothing.
    """
    if counts.ndim == 1:
        counts = counts[:, None]
    out = hidden.copy()
    for code in np.unique(codes[small]):
        rows = np.flatnonzero(codes == code)
        group = out[rows]
        # Candidates smallest first; zero and missing counts last (they protect nobody).
        size = counts[rows, 0]
        order = np.lexsort((size, ~(size > 0)))
        for position in order:
            if group[position]:
                continue
            if _group_is_safe(group, counts[rows], k):
                break
            group[position] = True
        out[rows] = group
    return out


def suppress_small_cells(
    frame: pd.DataFrame,
    *,
    k: int,
    count_columns: Sequence[str] = ("n",),
    value_columns: Sequence[str] | None = None,
    complementary_by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """A copy of an aggregate table with small cells replaced by missing values.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per cell (a rate, a count, a mean). Not modified.
    k : int
        Rows whose count in any of ``count_columns`` is between 1 and ``k - 1`` are
        suppressed. 0 turns suppression off (every row is kept as is).
    count_columns : sequence of str, default ("n",)
        The patient counts each row is based on.
    value_columns : sequence of str, optional
        Columns blanked in a suppressed row, besides ``count_columns``. Default: every
        numeric (non-boolean) column except the ``complementary_by`` keys.
    complementary_by : str or sequence of str, optional
        Columns that define groups whose counts add up to a total shown elsewhere (e.g.
        ``"group"`` of a subgroup table). Within such a group, rows are added to the
        suppressed ones, smallest count first, until at least two rows holding
        ``k`` or more patients together are suppressed.

    Returns
    -------
    pandas.DataFrame
        The input's columns, with integer columns that may be blanked as nullable
        ``Int64``, plus a boolean ``suppressed`` column (ORed with an existing one, so
        suppressing twice changes nothing).

    Raises
    ------
    ValueError
        If ``k`` is negative or a named column is missing.

    Notes
    -----
    Zero counts are shown and ``count 1..k-1`` are not; the reasons and the source (CMS
    cell size suppression policy) are in the module docstring.

    Examples
    --------
    >>> rates = pd.DataFrame({"level": ["a", "b", "c"], "n": [10, 11, 0],
    ...                       "estimate": [0.5, 0.4, float("nan")]})
    >>> out = suppress_small_cells(rates, k=11)
    >>> out["suppressed"].tolist(), out["n"].tolist()
    ([True, False, False], [<NA>, 11, 0])
    """
    _check_k(k)
    keys = _keys(complementary_by)
    _check_columns(frame, count_columns=count_columns, keys=keys, value_columns=value_columns)
    small = np.zeros(len(frame), dtype=bool)
    if k > 1:
        for column in count_columns:
            small |= small_cell_mask(frame[column], k)
    sizes = pd.to_numeric(frame[count_columns[0]], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return _apply(frame, k, small, sizes[:, None], keys, count_columns, value_columns)


def suppress_rates(
    frame: pd.DataFrame,
    *,
    k: int,
    count: str = "k",
    total: str = "n",
    value_columns: Sequence[str] | None = None,
    complementary_by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """A copy of a table of rates "count of total" with every small cell suppressed.

    A row is suppressed when its numerator ``count``, its denominator ``total`` or its
    complement ``total - count`` is between 1 and ``k - 1``: a rate and its denominator
    give the numerator back, and a shown numerator and total give the complement.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per rate. Not modified.
    k : int
        Threshold (0 turns suppression off).
    count, total : str, default "k" and "n"
        Columns holding the numerator and the denominator (patients).
    value_columns : sequence of str, optional
        As in :func:`suppress_small_cells` (default: every numeric column but the keys).
    complementary_by : str or sequence of str, optional
        Groups whose rows add up to a total shown elsewhere (levels of a subgroup).
        Within a group holding a suppressed row, more rows are suppressed, smallest
        ``total`` first, until at least two are hidden, the hidden totals add up to ``k``
        or more, and the hidden numerators and complements each add up to 0 or ``k`` or
        more (these sums can be worked out from the shown totals).

    Returns
    -------
    pandas.DataFrame
        As :func:`suppress_small_cells`.

    Examples
    --------
    >>> rates = pd.DataFrame({"k": [5, 374, 200], "n": [379, 379, 379],
    ...                       "estimate": [5 / 379, 374 / 379, 200 / 379]})
    >>> suppress_rates(rates, k=11)["suppressed"].tolist()
    [True, True, False]
    """
    _check_k(k)
    keys = _keys(complementary_by)
    _check_columns(frame, count_columns=[count, total], keys=keys, value_columns=value_columns)
    small = rate_cell_mask(frame[count], frame[total], k) if k > 1 else np.zeros(len(frame), bool)
    numerator = pd.to_numeric(frame[count], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    denominator = pd.to_numeric(frame[total], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    counts = np.column_stack([denominator, numerator, denominator - numerator])
    return _apply(frame, k, small, counts, keys, [total, count], value_columns)


def _keys(complementary_by: str | Sequence[str] | None) -> list[str]:
    if isinstance(complementary_by, str):
        return [complementary_by]
    return list(complementary_by or [])


def _check_columns(
    frame: pd.DataFrame,
    *,
    count_columns: Sequence[str],
    keys: Sequence[str],
    value_columns: Sequence[str] | None,
) -> None:
    columns = list(frame.columns)
    named = {"count_columns": list(count_columns), "complementary_by": list(keys)}
    if value_columns is not None:
        named["value_columns"] = list(value_columns)
    for argument, names in named.items():
        missing = [name for name in names if name not in columns]
        if missing:
            raise ValueError(
                f"{argument} names column(s) {', '.join(missing)} that the table does not "
                f"have; its columns are {', '.join(map(str, columns))}."
            )
    if not count_columns:
        raise ValueError("count_columns is empty; name the column(s) holding patient counts.")


def _apply(
    frame: pd.DataFrame,
    k: int,
    small: NDArray[np.bool_],
    counts: NDArray[np.float64],
    keys: Sequence[str],
    count_columns: Sequence[str],
    value_columns: Sequence[str] | None,
) -> pd.DataFrame:
    """Hide the ``small`` rows, add complements within ``keys`` groups, blank values."""
    columns = list(frame.columns)
    out = frame.copy()
    already = (
        out[SUPPRESSED_COLUMN].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if SUPPRESSED_COLUMN in out.columns
        else np.zeros(len(out), dtype=bool)
    )
    hidden = already | small
    if k > 1 and keys and small.any():
        codes = out.groupby(list(keys), sort=False, dropna=False).ngroup().to_numpy(dtype=np.intp)
        hidden = _complement(counts, hidden, small, codes, k)

    if value_columns is None:
        value_columns = [
            name
            for name in columns
            if name not in keys
            and name != SUPPRESSED_COLUMN
            and pd.api.types.is_numeric_dtype(out[name])
            and not pd.api.types.is_bool_dtype(out[name])
        ]
    blank = list(dict.fromkeys([*count_columns, *value_columns]))
    if hidden.any():
        for name in blank:
            values = out[name]
            if pd.api.types.is_integer_dtype(values) and not isinstance(
                values.dtype, pd.api.extensions.ExtensionDtype
            ):
                values = values.astype("Int64")
            elif pd.api.types.is_bool_dtype(values):
                values = values.astype("boolean")
            out[name] = values.mask(hidden)
    out[SUPPRESSED_COLUMN] = hidden
    return out


def suppress_subgroup_rates(frame: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """Small-cell and complementary suppression of a subgroup table.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.subgroup_rates` (``group, level, k, n,
        estimate, ci_low, ci_high, diff, diff_ci_low, diff_ci_high, compared_with``), or
        several concatenated. Not modified.
    k : int
        Threshold (0 turns suppression off).

    Returns
    -------
    pandas.DataFrame
        The input with a ``suppressed`` column. A level whose patients, patients with
        the outcome or patients without it number 1 to ``k - 1`` is suppressed (``k``,
        ``n``, the rate, its interval and its difference missing); in its group further
        levels are suppressed, smallest first, until at least two levels are hidden that
        hold ``k`` or more patients together, and whose patients with and without the
        outcome each add up to 0 or ``k`` or more (:func:`suppress_rates`); and every
        difference between levels of that group (``diff``, its interval,
        ``compared_with``) is blanked.

    Notes
    -----
    The levels of a group add up to the population of the whole table (intention to
    treat, say), which a report shows, so one hidden level could be recovered by
    subtraction; and a level compared with "all other patients" would give away the
    pooled rate of the hidden ones. See the module docstring for the rule and its source.

    Examples
    --------
    >>> table = pd.DataFrame({"group": "route", "level": ["IM", "IV", "oral"],
    ...                       "k": [14, 33, 3], "n": [36, 63, 6]})
    >>> suppress_subgroup_rates(table, k=11)["suppressed"].tolist()
    [True, False, True]
    """
    out = suppress_rates(frame, k=k, count="k", total="n", complementary_by="group")
    if out[SUPPRESSED_COLUMN].any():
        touched = out.groupby("group", sort=False, dropna=False)[SUPPRESSED_COLUMN].transform("any")
        mask = touched.to_numpy(dtype=bool)
        for name in _COMPARISON_COLUMNS:
            if name in out.columns:
                out[name] = out[name].mask(mask)
    return out


def protect_nested_counts(
    members: Mapping[str, ArrayLike],
    *,
    k: int,
    expendable: Collection[str] = (),
    hidden: Collection[str] = (),
    together: Mapping[str, str] | None = None,
) -> set[str]:
    """Which of the patient groups an output shows must be hidden.

    Parameters
    ----------
    members : mapping of name to boolean array
        Every group of patients whose size the output shows, as a membership mask over
        the same patients (one entry per patient, in the same order).
    k : int
        Threshold (0 turns suppression off).
    expendable : collection of str
        Groups to hide in preference to the group they contain (a header's total, say,
        rather than every rate of the population it contains).
    hidden : collection of str
        Groups already hidden (they constrain nothing).
    together : mapping of name to bundle, optional
        Groups shown together (a rate's patients with and without the outcome): hiding
        one hides every group of its bundle.

    Returns
    -------
    set of str
        Groups of 1 to ``k - 1`` patients, and, for every shown group ``A`` containing a
        shown group ``B`` with ``|A| - |B|`` between 1 and ``k - 1`` (the patients in
        ``A`` but not in ``B``, a count a reader can work out), ``B`` (or ``A`` where
        ``A`` is expendable and ``B`` is not). Pairs are settled one at a time, widest
        ``A`` first, until none is left; this is a greedy choice, safe but not always the
        fewest groups hidden.

    Examples
    --------
    >>> recovered = [True] * 15 + [False] * 12
    >>> reliably = [True] * 14 + [False] * 13
    >>> sorted(protect_nested_counts({"recovery": recovered, "reliable": reliably}, k=11))
    ['reliable']
    """
    _check_k(k)
    names = list(members)
    if k <= 1 or not names:
        return set()
    matrix = np.vstack([np.asarray(members[name], dtype=bool) for name in names])
    size = matrix.sum(axis=1)
    bundle = np.array([(together or {}).get(name, name) for name in names], dtype=object)
    gone = (size >= 1) & (size < k)
    gone |= np.array([name in hidden for name in names])
    gone |= np.isin(bundle, bundle[gone])
    # outside[b, a] = patients in b but not in a: b lies within a where it is 0.
    as_int = matrix.astype(np.int64)
    outside = as_int @ (~matrix).astype(np.int64).T
    gap = size[None, :] - size[:, None]  # gap[b, a] = |a| - |b|
    contained = (outside == 0) & ~np.eye(len(names), dtype=bool)
    risky = contained & (gap >= 1) & (gap < k)
    spare = np.array([name in expendable for name in names])
    while True:
        visible = ~gone
        pairs = np.argwhere(risky & visible[:, None] & visible[None, :])
        if not len(pairs):
            break
        # Widest containers first: hiding a group there often settles the pairs inside it.
        first = np.lexsort((-size[pairs[:, 0]], -size[pairs[:, 1]]))[0]
        inner, outer = pairs[first]
        hide = outer if spare[outer] and not spare[inner] else inner
        gone |= bundle == bundle[hide]
    return {name for name, flag in zip(names, gone, strict=True) if flag}


def suppress_outcome_rates(
    rates: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    k: int,
    shown_totals: Mapping[str, ArrayLike] | None = None,
) -> pd.DataFrame:
    """Suppress a table of :func:`katoutcomes.cohort.outcome_rates` for sharing.

    Parameters
    ----------
    rates : pandas.DataFrame
        ``instrument, outcome, population, k, n, estimate, ci_low, ci_high``. Not modified.
    outcomes : pandas.DataFrame
        The per-patient table the rates were computed from
        (:func:`katoutcomes.outcomes.patient_outcomes`), to see which groups nest.
    k : int
        Threshold (0 turns suppression off).
    shown_totals : mapping of name to boolean array over ``outcomes``' rows, optional
        Other patient groups the output shows (a header's "patients" count), treated as
        expendable (see :func:`protect_nested_counts`).

    Returns
    -------
    pandas.DataFrame
        The rates with a ``suppressed`` column and the suppressed rows' counts, rates and
        intervals missing, and an attribute ``hidden_totals`` (``out.attrs``) listing the
        ``shown_totals`` that must not be shown.

    Notes
    -----
    Every rate shows three patient groups: the population (``n``), the patients with the
    outcome (``k``) and those without it (``n - k``). A row is suppressed when one of
    them is a small cell (:func:`suppress_rates`), and when a shown group contains
    another shown group with 1 to ``k - 1`` patients more (recovery and reliable
    recovery, intention to treat and completers, any group and its instrument's
    population), which hides the contained group's rows (a population hides all its
    rows).
    """
    from katoutcomes.cohort import in_population

    out = suppress_rates(rates, k=k)
    out.attrs["hidden_totals"] = []
    out.attrs["hidden_populations"] = []
    if k <= 1 or rates.empty:
        return out
    patient = outcomes["patient_id"].astype("str").to_numpy()
    ids, position = np.unique(patient, return_inverse=True)

    def per_patient(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
        flags = np.zeros(len(ids), dtype=bool)
        flags[position[mask]] = True
        return flags

    groups: dict[str, NDArray[np.bool_]] = {}
    rows_of: dict[str, list[int]] = {}
    together: dict[str, str] = {}
    already: set[str] = set()
    small_rows = out[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
    instrument = outcomes["instrument"].astype("str").to_numpy()
    populations = {
        str(p): in_population(outcomes, str(p)).to_numpy(dtype=bool)
        for p in rates["population"].unique()
    }
    for i, r in enumerate(rates.itertuples(index=False)):
        base = populations[str(r.population)] & (instrument == str(r.instrument))
        name = f"{r.instrument}|{r.population}"
        groups.setdefault(name, per_patient(base))
        rows_of.setdefault(name, []).append(i)
        if str(r.outcome) in outcomes.columns:
            achieved = outcomes[str(r.outcome)].astype("boolean").fillna(False).to_numpy(bool)
            for label, mask in (("with", base & achieved), ("without", base & ~achieved)):
                key = f"{name}|{r.outcome}|{label}"
                groups[key] = per_patient(mask)
                rows_of[key] = [i]
                together[key] = f"{name}|{r.outcome}"
                if small_rows[i]:
                    already.add(key)
    extra = {name: np.asarray(mask, dtype=bool) for name, mask in (shown_totals or {}).items()}
    for name, mask in extra.items():
        groups[f"total|{name}"] = per_patient(mask)
    hide = protect_nested_counts(
        groups,
        k=k,
        expendable={f"total|{n}" for n in extra},
        hidden=already,
        together=together,
    )
    rows = sorted({i for name in hide for i in rows_of.get(name, [])})
    if rows:
        marked = out[SUPPRESSED_COLUMN].to_numpy(dtype=bool).copy()
        marked[rows] = True
        out = suppress_rates(rates.assign(**{SUPPRESSED_COLUMN: marked}), k=k)
    out.attrs["hidden_totals"] = [n for n in extra if f"total|{n}" in hide]
    out.attrs["hidden_populations"] = [
        tuple(name.split("|")) for name in rows_of if name.count("|") == 1 and name in hide
    ]
    return out


# --------------------------------------------------------------------------------------
# Free text: the notes of the claims scorecard
# --------------------------------------------------------------------------------------

#: Numbers in a note that are not counts of patients: instrument names, decimals,
#: percentages, money, numbers with a unit, thresholds and ordinals. Whatever integer is
#: left after these are taken out is treated as a count of patients.
_NOT_COUNTS: Final = re.compile(
    r"""
    95%\ CI\ [^);]*                                      # intervals are not counts
    | \b(?:PHQ|GAD)-\d+\b                                 # instrument names
    | \bitem\ \d+\b
    | \$\ ?\d[\d,]*(?:\.\d+)?(?:\ ?[\u2013-]\ ?\$?\d[\d,]*(?:\.\d+)?)?   # money, ranges
    | [\u2212+-]?\d[\d,]*(?:\.\d+)?
      (?:\ ?(?:[\u2013-]|to)\ ?[\u2212+-]?\d[\d,]*(?:\.\d+)?)?           # a range ...
      \ ?(?:%|percentage\ points?|points?|days?|weeks?|months?|years?|hours?|h\b
          |minutes?|min\b|mg(?:/kg|/lb)?|resamples|sessions?|doses?)      # ... with a unit
    | \d+\.\d+                                            # decimals
    | \d+(?:st|nd|rd|th)\b                                # ordinals
    | (?:\u2265|\u2264|>=|<=|<|>|at\ least|fewer\ than|more\ than|minimum\ of
        |dose\ number|seed|design\ effect\ of|number)\ ?\d[\d,]*   # thresholds, settings
    """,
    re.VERBOSE | re.IGNORECASE,
)
_INTEGER: Final = re.compile(r"(?<![\w.])\d[\d,]*(?![\w.]|,\d)")
#: "56% of 27", "56% (95% CI 37% to 72%) of 27", not followed by sessions or doses.
_NUMBER: Final = r"(\d+(?:,\d{3})*)(?![\d,])"
_SHARE_OF: Final = re.compile(
    r"(\d+(?:\.\d+)?)% (?:\([^)]*\) )?of (?:an effective )?" + _NUMBER + r"(?! (?:sessions|doses))"
)
_COUNT_OF: Final = re.compile(
    r"(?<![\d.,])" + _NUMBER + " of " + _NUMBER + r"(?! (?:sessions|doses))"
)


def _as_int(text: str) -> int:
    return int(text.replace(",", ""))


def _small(value: float, k: int) -> bool:
    return 1 <= value < k


def text_discloses_small_count(
    text: str, k: int, hidden_counts: Collection[int] = frozenset()
) -> bool:
    """Whether free text (a claim's note) states or implies a count of 1 to ``k - 1``, or
    one of ``hidden_counts`` (counts suppressed elsewhere in the same output).

    Conservative by design: every integer that is not recognisably something else (an
    instrument name, a percentage, money, a number with a unit, a threshold such as
    "≥ 10" or "at least 2", an ordinal) is taken for a count of patients. "P% of N"
    implies a count ``P × N`` and its complement, and "a of b" the complement ``b - a``;
    both are checked (with the rounding of the percentage: every count the rounded share
    allows is checked against the small range; a count hidden elsewhere only when the
    share allows no other).

    Examples
    --------
    >>> text_discloses_small_count("61% (95% CI 56% to 66%) of 379 eligible patients", 11)
    False
    >>> text_discloses_small_count("25% of 8 eligible patients", 11)
    True
    >>> text_discloses_small_count("19% (95% CI 8.2% to 37%) of 27 patients", 11)
    True
    >>> text_discloses_small_count("from 252 patients who responded (PHQ-9; 7 relapses)", 11)
    True
    """
    if k <= 1:
        return False
    hidden = set(hidden_counts)

    def bad(count: int) -> bool:
        return _small(count, k) or count in hidden

    for match in _SHARE_OF.finditer(text):
        share, total = match.group(1), _as_int(match.group(2))
        half = 0.5 * 10.0 ** -(len(share.split(".")[1]) if "." in share else 0)
        low = max(0.0, (float(share) - half) / 100.0) * total
        high = min(1.0, (float(share) + half) / 100.0) * total
        candidates = range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1)
        for count in candidates:
            if _small(count, k) or _small(total - count, k):
                return True
        # A rounded share pins a count hidden elsewhere only when one count fits it.
        if len(candidates) == 1 and (candidates[0] in hidden or total - candidates[0] in hidden):
            return True
    for match in _COUNT_OF.finditer(text):
        part, whole = _as_int(match.group(1)), _as_int(match.group(2))
        if bad(whole - part):
            return True
    rest = _NOT_COUNTS.sub(" ", text)
    return any(bad(_as_int(m.group(0))) for m in _INTEGER.finditer(rest))


#: Columns of a claims scorecard blanked when a claim is suppressed.
_CLAIM_VALUES: Final = ("estimate", "ci_low", "ci_high")


def claim_suppression_note(k: int) -> str:
    """What a suppressed claim says instead of its note."""
    return (
        f"Suppressed under the small-cell rule: the result involves a group of 1 to {k - 1} "
        "patients, so its numbers and explanation are not shown; the verdict is."
    )


def suppress_claims(
    card: pd.DataFrame, *, k: int, hidden_counts: Collection[int] = frozenset()
) -> pd.DataFrame:
    """A claims scorecard (:func:`katoutcomes.claims.evaluate_claims`) fit for sharing.

    A claim is suppressed when its ``n`` is 1 to ``k - 1``; when it is a share whose
    implied count ``estimate × n`` or complement ``n - estimate × n`` is; or when its note
    states or implies such a count (:func:`text_discloses_small_count`). A suppressed
    claim keeps its id, claim, claimed value, verdict and direction; its estimate and
    interval are blanked, its ``n`` too when small, and its note is replaced by
    :func:`claim_suppression_note`.

    Parameters
    ----------
    card : pandas.DataFrame
        Not modified.
    k : int
        Threshold (0 turns suppression off).
    hidden_counts : collection of int, optional
        Counts suppressed elsewhere in the same output (:func:`hidden_rate_counts`): a
        claim stating or implying one of them is suppressed too.

    Returns
    -------
    pandas.DataFrame
        The scorecard with a ``suppressed`` column.
    """
    _check_k(k)
    out = card.copy()
    hidden = np.zeros(len(out), dtype=bool)
    if k > 1 and len(out):
        n = pd.to_numeric(out["n"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        estimate = pd.to_numeric(out["estimate"], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        unit = out["unit"].astype("str").to_numpy() if "unit" in out.columns else np.array([])
        share = (unit == "share") if len(unit) else np.zeros(len(out), dtype=bool)
        # Kaplan–Meier probabilities and shares of sessions are not k of n patients: only
        # the small range is checked for them, not coincidences with counts hidden elsewhere.
        quantity = out["quantity"].astype("str") if "quantity" in out.columns else None
        of_patients = share & (
            ~quantity.str.contains("probability|monitoring|session", regex=True).to_numpy()
            if quantity is not None
            else share
        )
        implied = np.round(estimate * n)
        elsewhere = np.array(sorted(set(hidden_counts)), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            derived = small_cell_mask(implied, k) | small_cell_mask(n - implied, k)
            coincide = np.isin(implied, elsewhere) | np.isin(n - implied, elsewhere)
            hidden = (
                small_cell_mask(n, k)
                | (share & derived)
                | (of_patients & coincide)
                | np.array(
                    [text_discloses_small_count(str(t), k, hidden_counts) for t in out["note"]],
                    dtype=bool,
                )
            )
        if hidden.any():
            for name in _CLAIM_VALUES:
                out[name] = out[name].astype("float64").mask(hidden)
            out["n"] = out["n"].astype("Int64").mask(small_cell_mask(n, k))
            out["note"] = out["note"].astype("str").mask(hidden, claim_suppression_note(k))
    out[SUPPRESSED_COLUMN] = hidden
    return out


def suppress_linked_claims(
    claims: pd.DataFrame,
    rates: pd.DataFrame,
    params: Mapping[str, Mapping[str, object]],
    *,
    k: int,
) -> pd.DataFrame:
    """Suppress the claims that restate a suppressed row of the rates table.

    A ``response_rate`` claim shows the same patients as the intention-to-treat response
    row of :func:`suppress_outcome_rates`; where that row is hidden (because a group
    nested in it is a small cell, say), the claim must not show it either.

    Parameters
    ----------
    claims : pandas.DataFrame
        Output of :func:`suppress_claims`. Not modified.
    rates : pandas.DataFrame
        Output of :func:`suppress_outcome_rates`.
    params : mapping of claim id to its parameters
        ``Claim.params`` of each claim (``instrument``, default PHQ-9).
    k : int
        Threshold (0 turns suppression off).
    """
    out = claims.copy()
    if k <= 1 or out.empty or rates.empty:
        return out
    hidden = {
        (str(r.instrument), str(r.outcome), str(r.population))
        for r in rates.itertuples(index=False)
        if bool(getattr(r, SUPPRESSED_COLUMN))
    }

    def rate_of(cid: object, quantity: object) -> tuple[str, str, str] | None:
        # The quantity column reads "response_rate(instrument=PHQ-9, population=itt)".
        text = str(quantity)
        if text.split("(")[0].strip() != "response_rate":
            return None
        given = dict(re.findall(r"(\w+)=([^,)]+)", text))
        given.update({key: str(value) for key, value in params.get(str(cid), {}).items()})
        return (
            given.get("instrument", "PHQ-9").strip(),
            "response",
            given.get("population", "itt").strip(),
        )

    linked = np.array(
        [
            rate_of(cid, quantity) in hidden
            for cid, quantity in zip(out["id"], out["quantity"], strict=True)
        ],
        dtype=bool,
    )
    newly = linked & ~out[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
    if newly.any():
        for name in _CLAIM_VALUES:
            out[name] = out[name].astype("float64").mask(newly)
        out["note"] = out["note"].astype("str").mask(newly, claim_suppression_note(k))
        out[SUPPRESSED_COLUMN] = out[SUPPRESSED_COLUMN].to_numpy(dtype=bool) | newly
    return out


def hidden_rate_counts(rates: pd.DataFrame, shown: pd.DataFrame, k: int = 11) -> frozenset[int]:
    """Numerators that a suppressed rates table hides for another reason than their size.

    Parameters
    ----------
    rates : pandas.DataFrame
        A table with ``k`` and ``n`` columns before suppression.
    shown : pandas.DataFrame
        The same table after suppression (with the ``suppressed`` column).
    k : int, default 11
        Threshold.

    Returns
    -------
    frozenset of int
        The numerators of suppressed rows whose numerator, total and complement are all
        ``k`` or more (rows hidden because a nested group differs from them by a small
        count: 15 responders within 18 reliably improved), less every count a shown row
        states. Free text in the same output must not state them
        (:func:`suppress_claims`); small counts are caught by their size anyway.

    Examples
    --------
    >>> rates = pd.DataFrame({"k": [15, 14, 3], "n": [27, 27, 27]})
    >>> sorted(hidden_rate_counts(rates, rates.assign(suppressed=[True, False, True])))
    [15]
    """
    hidden = shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
    numerator = pd.to_numeric(rates["k"], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    total = pd.to_numeric(rates["n"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        large = (numerator >= k) & (total >= k) & (total - numerator >= k)
    secret = {int(v) for v in numerator[hidden & large]}
    stated = np.concatenate([numerator[~hidden], total[~hidden], (total - numerator)[~hidden]])
    return frozenset(secret - {int(v) for v in stated[~np.isnan(stated)]})
