"""The evaluation context: a dataset, its settings and the tables claims share.

The per-patient outcomes, each population's outcome rows and each population's treatment
rows (sorted by patient and time, with patient codes) are computed once per evaluation
and shared by every claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from katoutcomes.claims.definitions import _ALPHA, QuantityResult
from katoutcomes.claims.formatting import _count, _interval, _pct
from katoutcomes.cohort import (
    NotMeasurableError,
    in_population,
)
from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.settings import Settings
from katoutcomes.stats import proportion_ci

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__: list[str] = []


# --------------------------------------------------------------------------------------
# Evaluation context: the dataset, the settings and the outcome table, computed once
# --------------------------------------------------------------------------------------


class _Context:
    def __init__(self, dataset: Dataset, settings: Settings) -> None:
        self.dataset = dataset
        self.settings = settings
        self._doses: dict[tuple[str, str], _Doses] = {}
        self._members: dict[tuple[str, str], pd.DataFrame] = {}

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        return patient_outcomes(self.dataset, self.settings)

    @cached_property
    def instruments(self) -> frozenset[str]:
        """Instruments with at least one row in the outcome table."""
        return frozenset(self.outcomes["instrument"].dropna().astype(str).unique())

    def require_instrument(self, instrument: str) -> None:
        if instrument not in self.instruments:
            raise NotMeasurableError(f"there are no {instrument} assessments.")

    def require_treatments(self, columns: str) -> pd.DataFrame:
        if not self.dataset.has_treatments:
            raise NotMeasurableError(f"there is no treatments table (needed for {columns}).")
        return self.dataset.treatments

    def members(self, instrument: str, population: str = "itt") -> pd.DataFrame:
        """Outcome rows of ``instrument`` in ``population`` (``itt`` or ``completers``).

        Computed once per instrument and population; callers must not modify the frame.
        """
        self.require_instrument(instrument)
        key = (instrument, population)
        if key not in self._members:
            outcomes = self.outcomes
            rows = in_population(outcomes, population).to_numpy() & (
                outcomes["instrument"] == instrument
            ).to_numpy(dtype=bool, na_value=False)
            self._members[key] = outcomes.loc[rows]
        return self._members[key]

    def who(self, instrument: str, population: str = "itt") -> str:
        """Plain words for a population, e.g. "eligible patients (baseline PHQ-9 >= 10)"."""
        if population == "safety":
            return "patients with at least one recorded dose"
        caseness = INSTRUMENTS[instrument].caseness
        words = f"eligible patients (baseline {instrument} ≥ {caseness})"
        if population == "completers":
            return f"{words} with an endpoint"
        return f"{words} who started treatment" if self.dataset.has_treatments else words

    @cached_property
    def _dose_order(self) -> tuple[NDArray[np.intp], NDArray[np.intp], pd.Index]:
        """Treatment rows by patient then time: row positions, patient codes and ids.

        ``codes[i]`` numbers the patient of treatment row ``i`` in the sorted order of the
        ids (``ids[codes[i]]``), so a stable sort by code then ``t`` (missing times last)
        is the sort by patient id then time. Rows without a patient id are left out.
        """
        treatments = self.require_treatments("the dose dates")
        codes, ids = pd.factorize(treatments["patient_id"].astype(str), sort=True)
        t = treatments["t"].to_numpy(dtype=np.float64, na_value=np.nan)
        order = np.lexsort((t, codes))
        return order[codes[order] >= 0], codes.astype(np.intp), pd.Index(ids)

    def treated_patients(self, instrument: str, population: str) -> tuple[pd.Index, str]:
        """Patient ids for a treatment-based quantity, and how to describe them."""
        _, _, treated = self._dose_order
        if population == "safety":
            # The safety population: every patient with a recorded dose, eligible or not.
            ids = treated
        else:
            ids = pd.Index(self.members(instrument)["patient_id"].astype(str).unique())
        return ids, self.who(instrument, population)

    def doses(self, instrument: str, population: str) -> _Doses:
        """Treatment rows of a quantity's patients, sorted by patient then time (cached)."""
        key = (instrument, population)
        if key not in self._doses:
            self._doses[key] = self._patient_doses(instrument, population)
        return self._doses[key]

    def _patient_doses(self, instrument: str, population: str) -> _Doses:
        order, codes, treated = self._dose_order
        ids, who = self.treated_patients(instrument, population)
        if population != "safety":
            member = np.zeros(len(treated), dtype=bool)
            found = treated.get_indexer(ids)
            member[found[found >= 0]] = True
            order = order[member[codes[order]]]
        rows = self.dataset.treatments.take(order)
        rows["patient_id"] = rows["patient_id"].astype(str)
        return _Doses(rows, codes[order], who)


def _positions_in(ids: pd.Series, among: pd.Series | pd.Index) -> NDArray[np.intp]:
    """Position of each of ``ids`` in ``among`` (patient ids as text), -1 where absent.

    ``among`` holds each id once (the outcome rows of one instrument, the treated
    patients); pandas refuses ids that repeat. A hash lookup of the text ids, where
    ``Series.isin`` would turn every id into a Python string.
    """
    index = pd.Index(among.astype(str))
    return np.asarray(index.get_indexer(ids.astype(str)), dtype=np.intp)


@dataclass(frozen=True, slots=True)
class _Doses:
    """Treatment rows of a population's patients, sorted by patient then time.

    ``codes`` numbers each row's patient (non-decreasing, in the order of the ids), for
    group-wise counts without grouping by text; ``who`` describes the patients.
    """

    rows: pd.DataFrame
    codes: NDArray[np.intp]
    who: str

    def starts(self, keep: NDArray[np.bool_] | None = None) -> NDArray[np.intp]:
        """Position of each patient's first row (among the rows ``keep`` selects)."""
        codes = self.codes if keep is None else self.codes[keep]
        return np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if codes.size else codes


def _share(k: int, n: int) -> tuple[float, float, float]:
    ci = proportion_ci(k, n, alpha=_ALPHA).iloc[0]
    return float(ci["estimate"]), float(ci["ci_low"]), float(ci["ci_high"])


def _share_statement(k: int, n: int, who: str, what: str) -> str:
    estimate, low, high = _share(k, n)
    if n == 0:
        return f"there are no {who} to count"
    return f"{_pct(estimate)} ({_interval(low, high, 'share')}) of {_count(n, who)} {what}"


def _share_result(
    k: int, n: int, who: str, what: str, *, higher_is_better: bool | None
) -> QuantityResult:
    estimate, low, high = _share(k, n)
    return QuantityResult(
        estimate, low, high, n, _share_statement(k, n, who, what), higher_is_better
    )
