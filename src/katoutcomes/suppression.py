"""Small-cell suppression for aggregates that leave the tool (DESIGN 9).

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
- **What is counted** is chosen by the caller through ``count_columns``: for a rate, the
  patients it is based on (its denominator ``n``: "cells based on fewer than k patients");
  for a frequency table (patients with each adverse event), the count itself. The CMS
  policy is stricter and also suppresses a numerator of 1 to 10 inside a larger group
  (3 of 137 patients deteriorated): pass ``count_columns=("k", "n")`` for that reading.
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

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SUPPRESSED_COLUMN",
    "SUPPRESSION_NOTE",
    "small_cell_mask",
    "suppress_small_cells",
    "suppress_subgroup_rates",
    "suppression_note",
]

#: Boolean column added by the functions here: True where a row's values were suppressed.
SUPPRESSED_COLUMN: Final = "suppressed"

#: Columns of :func:`katoutcomes.cohort.subgroup_rates` that compare a level with others.
_COMPARISON_COLUMNS: Final = ("diff", "diff_ci_low", "diff_ci_high", "compared_with")


def suppression_note(k: int) -> str:
    """The rule in plain words, for a report or an export's header.

    Examples
    --------
    >>> suppression_note(11)
    'Cells based on fewer than 11 patients are suppressed (counts 1–10).'
    >>> suppression_note(0)
    'Small-cell suppression is off (suppression_k = 0): counts of any size are shown.'
    """
    if k <= 1:
        return f"Small-cell suppression is off (suppression_k = {k}): counts of any size are shown."
    counts = "count 1" if k == 2 else f"counts 1\u2013{k - 1}"
    return f"Cells based on fewer than {k} patients are suppressed ({counts})."


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


def _complement(
    counts: NDArray[np.float64],
    hidden: NDArray[np.bool_],
    small: NDArray[np.bool_],
    codes: NDArray[np.intp],
    k: int,
) -> NDArray[np.bool_]:
    """Add complementary suppressions in each group holding a small cell.

    ``hidden`` marks rows already hidden (small cells and earlier suppressions), ``small``
    the small cells found now: only their groups are examined, so that suppressing a
    table twice changes nothing.
    """
    out = hidden.copy()
    for code in np.unique(codes[small]):
        rows = np.flatnonzero(codes == code)
        group = out[rows]
        # Candidates smallest first; zero and missing counts last (they protect nobody).
        size = counts[rows]
        order = np.lexsort((size, ~(size > 0)))
        for position in order:
            if group[position]:
                continue
            if group.sum() >= 2 and np.nansum(size[group]) >= k:
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
    columns = list(frame.columns)
    keys = [complementary_by] if isinstance(complementary_by, str) else list(complementary_by or [])
    named = {"count_columns": list(count_columns), "complementary_by": keys}
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

    out = frame.copy()
    already = (
        out[SUPPRESSED_COLUMN].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if SUPPRESSED_COLUMN in out.columns
        else np.zeros(len(out), dtype=bool)
    )
    hidden = already.copy()
    if k > 1 and len(out):
        small = np.zeros(len(out), dtype=bool)
        for column in count_columns:
            small |= small_cell_mask(out[column], k)
        hidden |= small
        if keys and small.any():
            codes = out.groupby(keys, sort=False, dropna=False).ngroup().to_numpy(dtype=np.intp)
            first = out[count_columns[0]]
            counts = pd.to_numeric(first, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
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
        The input with a ``suppressed`` column. A level with 1 to ``k - 1`` patients is
        suppressed (``k``, ``n``, the rate, its interval and its difference missing); in
        its group further levels are suppressed, smallest first, until at least two
        levels holding ``k`` or more patients together are hidden; and every difference
        between levels of that group (``diff``, its interval, ``compared_with``) is blanked.

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
    out = suppress_small_cells(frame, k=k, count_columns=("n",), complementary_by="group")
    if out[SUPPRESSED_COLUMN].any():
        touched = out.groupby("group", sort=False, dropna=False)[SUPPRESSED_COLUMN].transform("any")
        mask = touched.to_numpy(dtype=bool)
        for name in _COMPARISON_COLUMNS:
            if name in out.columns:
                out[name] = out[name].mask(mask)
    return out
