"""One analysis: every result a surface shows, computed once, on first use.

:class:`Analysis` is the seam between computing and showing (docs/architecture.md). It is
built from a :class:`~katoutcomes.dataset.Dataset` (already filtered, if a filter applies),
the :class:`~katoutcomes.settings.Settings` and the claims, and it holds each result the
first time someone asks for it: per-patient outcomes, rates, time-to-event curves,
subgroups, the claims scorecard, protocol adherence, safety, the trajectory models with
their calibration, the missing-data sensitivity, the at-risk list, the adjusted
comparisons and funnel tables, and provenance. The CLI, the HTML report, the dashboard and
the export bundle all take their numbers from it; none of them calls a statistic itself.

A result is computed at most once per analysis, also when several dashboard sessions ask
for it at the same moment (one lock per result). The dashboard keeps one analysis per data
× filter × settings key (:attr:`Analysis.key`), so returning to a filter already seen
costs nothing.

Adding a statistic: write it as a pure function in its topic module, add one method or
property here that calls it, and render it on the surfaces that should show it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import numpy as np
import pandas as pd

from katoutcomes.settings import Settings

if TYPE_CHECKING:
    from katoutcomes.claims import Claim
    from katoutcomes.dataset import Dataset
    from katoutcomes.funnel import FunnelTable
    from katoutcomes.sensitivity import SensitivityAnalysis
    from katoutcomes.trajectories import BandCalibration, TrajectoryModel

__all__ = ["DEPENDENCIES", "Analysis", "adherence_table"]

T = TypeVar("T")

#: Libraries whose versions a provenance record names (numbers can change with them).
DEPENDENCIES: Final = (
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "scipy",
    "statsmodels",
    "plotly",
    "streamlit",
)

#: The events of :func:`katoutcomes.cohort.time_to_event`.
EVENTS: Final = ("response", "early_improvement", "relapse")


class Analysis:
    """Every result for one dataset, settings and claims, computed once on first use.

    Parameters
    ----------
    dataset : Dataset
        The data, filtered already when a filter applies (its provenance names the
        filter). Not modified.
    settings : Settings, optional
        Outcome definitions and thresholds; ``Settings()`` when omitted.
    claims : path, sequence of Claim, optional
        The claims to test: a TOML file or loaded claims; the packaged claims when
        omitted.
    source_label : str, optional
        How the data source is named to readers (default: the dataset's provenance).

    Notes
    -----
    Results are shared, not copied: callers must not modify the frames they receive.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> analysis = Analysis(Dataset.demo(patients=60))
    >>> analysis.scorecard is analysis.scorecard  # computed once
    True
    """

    def __init__(
        self,
        dataset: Dataset,
        settings: Settings | None = None,
        claims: str | Path | Sequence[Claim] | None = None,
        *,
        source_label: str | None = None,
    ) -> None:
        self.dataset = dataset
        self.settings = settings or Settings()
        self._claims_arg = claims
        self.source_label = source_label or str(
            dict(dataset.provenance).get("source", "not recorded")
        )
        self._results: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()

    # ----------------------------------------------------------------------------------
    # The cache
    # ----------------------------------------------------------------------------------

    def _once(self, name: Any, compute: Callable[[], T]) -> T:
        """``compute()`` the first time ``name`` is asked for; the same object after."""
        try:
            return self._results[name]
        except KeyError:
            pass
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._results:
                self._results[name] = compute()
            return self._results[name]

    def computed(self) -> list[str]:
        """Names of the results computed so far (for tests and diagnostics)."""
        return [name if isinstance(name, str) else name[0] for name in self._results]

    @cached_property
    def key(self) -> str:
        """A digest of the data's content, its filter, the settings and the claims."""
        provenance = dict(self.dataset.provenance)
        parts = {
            "content": provenance.get("content_sha256") or provenance.get("files"),
            "filter": provenance.get("filter"),
            "settings": self.settings.to_dict(),
            "claims": [repr(c) for c in self.claims],
        }
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    # ----------------------------------------------------------------------------------
    # Inputs
    # ----------------------------------------------------------------------------------

    @cached_property
    def claims(self) -> tuple[Claim, ...]:
        """The claims tested (the packaged claims unless others were given)."""
        from katoutcomes.claims import load_claims

        given = self._claims_arg
        if given is None or isinstance(given, str | Path):
            return load_claims(given)
        return tuple(given)

    @property
    def n_patients(self) -> int:
        """Patients with at least one assessment."""
        return self._once(
            "n_patients", lambda: int(self.dataset.assessments["patient_id"].nunique())
        )

    @property
    def n_treated(self) -> int:
        """Patients with at least one recorded dose."""
        if not self.dataset.has_treatments:
            return 0
        return self._once("n_treated", lambda: int(self.dataset.treatments["patient_id"].nunique()))

    @property
    def filter(self) -> Mapping[str, Any] | None:
        """The cohort filter the dataset was selected with, if any."""
        chosen = dict(self.dataset.provenance).get("filter")
        return chosen or None

    # ----------------------------------------------------------------------------------
    # Outcomes and rates
    # ----------------------------------------------------------------------------------

    @property
    def outcomes(self) -> pd.DataFrame:
        """:func:`katoutcomes.outcomes.patient_outcomes`: one row per patient × instrument."""
        from katoutcomes.outcomes import patient_outcomes

        return self._once("outcomes", lambda: patient_outcomes(self.dataset, self.settings))

    @property
    def rates(self) -> pd.DataFrame:
        """:func:`katoutcomes.cohort.outcome_rates` with 95% intervals."""
        from katoutcomes.cohort import outcome_rates

        return self._once("rates", lambda: outcome_rates(self.outcomes))

    def curves(self, event: str) -> pd.DataFrame:
        """Kaplan–Meier curves of ``event`` per instrument
        (:func:`katoutcomes.cohort.time_to_event`)."""
        from katoutcomes.cohort import time_to_event

        return self._once(("curves", event), lambda: time_to_event(self.outcomes, event))

    def subgroups(
        self,
        by: str,
        outcome: str = "response",
        instrument: str = "PHQ-9",
        population: str = "itt",
    ) -> pd.DataFrame:
        """:func:`katoutcomes.cohort.subgroup_rates`; raises ``NotMeasurableError`` as it
        does (the error is not cached)."""
        from katoutcomes.cohort import subgroup_rates

        return self._once(
            ("subgroups", by, outcome, instrument, population),
            lambda: subgroup_rates(
                self.outcomes, self.dataset, by, outcome, instrument, population=population
            ),
        )

    def subgroup_curves(self, by: str, instrument: str, event: str) -> pd.DataFrame:
        """Kaplan–Meier curves of one instrument per level of ``by`` (a ``level`` column
        names the level; levels in order, "unknown" last)."""
        from katoutcomes.cohort import patient_attributes, time_to_event

        def compute() -> pd.DataFrame:
            frame = self.outcomes
            levels = patient_attributes(self.dataset, by)
            level = frame["patient_id"].astype(str).map(levels).fillna("unknown")
            pieces = []
            for value in sorted(level.unique(), key=lambda v: (v == "unknown", v)):
                part = time_to_event(frame[(level == value).to_numpy()], event)
                part = part[part["instrument"] == instrument]
                if not part.empty:
                    pieces.append(part.assign(level=value))
            if not pieces:
                return pd.DataFrame()
            return pd.concat(pieces, ignore_index=True)

        return self._once(("subgroup_curves", by, instrument, event), compute)

    def all_subgroups(self) -> pd.DataFrame:
        """Every measurable subgroup table for response and remission, stacked (exports)."""
        from katoutcomes.cohort import SUBGROUPS, NotMeasurableError
        from katoutcomes.instruments import INSTRUMENTS

        def compute() -> pd.DataFrame:
            pieces = []
            for by in SUBGROUPS:
                for outcome in ("response", "remission"):
                    for instrument in INSTRUMENTS:
                        try:
                            part = self.subgroups(by, outcome, instrument)
                        except NotMeasurableError:
                            continue
                        pieces.append(part.assign(outcome=outcome, instrument=instrument))
            return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()

        return self._once("all_subgroups", compute)

    # ----------------------------------------------------------------------------------
    # Claims
    # ----------------------------------------------------------------------------------

    @property
    def scorecard(self) -> pd.DataFrame:
        """:func:`katoutcomes.claims.evaluate_claims`: one row per claim with its verdict,
        and for the claims that compare groups the case-mix adjusted difference beside the
        crude one (:func:`katoutcomes.adjusted_claims.add_adjusted`)."""
        from katoutcomes.adjusted_claims import add_adjusted
        from katoutcomes.claims import evaluate_claims

        def compute() -> pd.DataFrame:
            card = evaluate_claims(self.dataset, self.settings, self.claims)
            return add_adjusted(card, self.claims, self.adjusted_effects)

        return self._once("scorecard", compute)

    def claims_dict(self) -> dict[str, Any]:
        """The scorecard as the claims JSON document (:func:`claims_to_dict`)."""
        from katoutcomes.adjusted_claims import ADJUSTED_COLUMNS
        from katoutcomes.claims import claims_to_dict
        from katoutcomes.claims.engine import _json_safe

        card = self.scorecard
        document = claims_to_dict(card, self.settings, self.data_provenance())
        adjusted = card[list(ADJUSTED_COLUMNS)].astype(object).to_dict(orient="records")
        for entry, values in zip(document["claims"], adjusted, strict=True):
            entry |= {column: _json_safe(value) for column, value in values.items()}
        return document

    # ----------------------------------------------------------------------------------
    # What may be shared: small cells suppressed (docs/methods.md, small-cell rule)
    # ----------------------------------------------------------------------------------

    @property
    def shared_rates(self) -> pd.DataFrame:
        """:attr:`rates` with small cells marked suppressed for ``settings.suppression_k``;
        the patient count is protected as a population too."""
        from katoutcomes.suppression import suppress_outcome_rates

        return self._once(
            "shared_rates",
            lambda: suppress_outcome_rates(
                self.rates,
                self.outcomes,
                k=self.settings.suppression_k,
                shown_totals={"patients": np.ones(len(self.outcomes), dtype=bool)},
            ),
        )

    @property
    def shared_scorecard(self) -> pd.DataFrame:
        """:attr:`scorecard` with the results that involve a small group suppressed."""
        from katoutcomes.adjusted_claims import ADJUSTED_COLUMNS
        from katoutcomes.suppression import (
            SUPPRESSED_COLUMN,
            hidden_rate_counts,
            small_cell_mask,
            suppress_claims,
            suppress_linked_claims,
        )

        def compute() -> pd.DataFrame:
            k = self.settings.suppression_k
            hidden = hidden_rate_counts(self.rates, self.shared_rates, k)
            card = suppress_claims(self.scorecard, k=k, hidden_counts=hidden)
            params = {c.id: dict(c.params) for c in self.claims}
            card = suppress_linked_claims(card, self.shared_rates, params, k=k)
            # A suppressed claim hides its adjusted numbers too.
            hidden = card[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
            adjusted_n = card["adjusted_n"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            hidden = hidden | small_cell_mask(adjusted_n, k)
            return card.assign(
                **{c: card[c].mask(hidden) for c in ADJUSTED_COLUMNS if c in card.columns}
            )

        return self._once("shared_scorecard", compute)

    # ----------------------------------------------------------------------------------
    # Treatment delivery and safety
    # ----------------------------------------------------------------------------------

    @property
    def adherence(self) -> pd.DataFrame:
        """:func:`adherence_table` (empty without treatments)."""
        return self._once("adherence", lambda: adherence_table(self.dataset, self.settings))

    @property
    def adverse_events(self) -> pd.DataFrame:
        """Adverse events per event type: patients, sessions with the event, rate per 100
        sessions and the share of treated patients."""
        from katoutcomes.plots import adverse_events_data

        def compute() -> pd.DataFrame:
            data = adverse_events_data(self.dataset)
            treated = self.n_treated
            return data.assign(share_of_patients=data["patients"] / treated if treated else np.nan)

        return self._once("adverse_events", compute)

    @property
    def benchmarks(self) -> pd.DataFrame:
        """Published benchmark results with their intervals."""
        from katoutcomes.benchmarks import benchmark_intervals, load_published_benchmarks

        return self._once("benchmarks", lambda: benchmark_intervals(load_published_benchmarks()))

    # ----------------------------------------------------------------------------------
    # Models (trajectories, sensitivity, at-risk list)
    # ----------------------------------------------------------------------------------

    @property
    def trajectory_models(self) -> dict[str, TrajectoryModel | str]:
        """The trajectory model of each instrument in the data, or why it cannot be fitted
        (as :func:`katoutcomes.trajectories.fit_trajectory_models`; each instrument's model
        is the one :meth:`trajectory_model` keeps, so none is fitted twice)."""
        from katoutcomes.instruments import INSTRUMENTS

        present = set(self.outcomes["instrument"].astype(str))
        return {name: self.trajectory_model(name) for name in INSTRUMENTS if name in present}

    def trajectory_model(self, instrument: str) -> TrajectoryModel | str:
        """The model of one instrument, or the reason it cannot be fitted."""
        from katoutcomes.trajectories import fit_trajectory_model

        def compute() -> TrajectoryModel | str:
            from katoutcomes.errors import KatoutcomesError

            try:
                return fit_trajectory_model(
                    self.dataset, instrument, self.settings, outcomes=self.outcomes
                )
            except KatoutcomesError as exc:  # too few patients, no convergence, …
                return str(exc)

        return self._once(("trajectory_model", instrument), compute)

    def band_calibration(self, instrument: str) -> BandCalibration | None:
        """Cross-validated coverage of the expected-recovery band (None without a model)."""
        from katoutcomes.trajectories import TrajectoryModel, band_calibration

        def compute() -> BandCalibration | None:
            model = self.trajectory_model(instrument)
            return band_calibration(model) if isinstance(model, TrajectoryModel) else None

        return self._once(("band_calibration", instrument), compute)

    def sensitivity(self, instrument: str) -> SensitivityAnalysis:
        """Missing-data sensitivity of response and remission for one instrument."""
        from katoutcomes.sensitivity import missing_data_sensitivity

        return self._once(
            ("sensitivity", instrument),
            lambda: missing_data_sensitivity(
                self.dataset,
                self.settings,
                models={instrument: self.trajectory_model(instrument)},
                outcomes=self.outcomes,
            ),
        )

    def expected_band(self, patient_id: str, instrument: str) -> pd.DataFrame:
        """A patient's expected-recovery band (``day, expected, band_low, band_high``) from
        day 1 to the later of their last score and the acute window (at most a year);
        empty when the patient is not eligible, has no baseline or there is no model."""
        from katoutcomes.trajectories import TrajectoryModel

        empty = pd.DataFrame(columns=["day", "expected", "band_low", "band_high"])
        model = self.trajectory_model(instrument)
        outcomes = self.outcomes
        row = outcomes[
            (outcomes["patient_id"].astype(str) == patient_id)
            & (outcomes["instrument"] == instrument)
        ]
        if not isinstance(model, TrajectoryModel) or row.empty:
            return empty
        baseline = row["baseline"].iloc[0]
        if pd.isna(baseline) or not bool(row["eligible"].fillna(False).iloc[0]):
            return empty
        scores = self.dataset.assessments
        mine = scores[
            (scores["patient_id"].astype(str) == patient_id) & (scores["instrument"] == instrument)
        ]
        last = float(mine["t"].max()) if len(mine) else 0.0
        end = float(min(max(last, self.settings.acute_days, 7.0), 365.0))
        days = np.unique(
            np.concatenate([np.arange(1.0, min(end, 28.0) + 1.0), np.linspace(1.0, end, 60)])
        )
        band = model.expected(float(baseline), days)
        return band[["day", "expected", "band_low", "band_high"]]

    @property
    def alerts(self) -> pd.DataFrame:
        """The needs-review list (:func:`katoutcomes.trajectories.alerts`), every clinician."""
        from katoutcomes.trajectories import alerts

        return self._once(
            "alerts",
            lambda: alerts(
                self.dataset,
                self.settings,
                models=self.trajectory_models,
                outcomes=self.outcomes,
            ),
        )

    # ----------------------------------------------------------------------------------
    # Comparisons between groups
    # ----------------------------------------------------------------------------------

    def comparison_frame(self, instrument: str, attributes: Sequence[str]) -> pd.DataFrame:
        """:func:`katoutcomes.comparisons.comparison_frame` for ``attributes``."""
        from katoutcomes.comparisons import comparison_frame

        return self._once(
            ("comparison_frame", instrument, tuple(attributes)),
            lambda: comparison_frame(
                self.outcomes, self.dataset, instrument, attributes=tuple(attributes)
            ),
        )

    def funnel(self, by: str, instrument: str = "PHQ-9") -> FunnelTable:
        """Units' crude and adjusted response with funnel limits (site or clinician)."""
        from katoutcomes.funnel import funnel_table

        return self._once(
            ("funnel", by, instrument),
            lambda: funnel_table(
                self.comparison_frame(instrument, (by,)), by, instrument=instrument
            ),
        )

    def adjusted_effects(self, by: str, instrument: str = "PHQ-9") -> list[Any]:
        """Crude and case-mix adjusted response differences for an exposure. The exposures
        share one comparison frame (the scorecard compares two of them)."""
        from katoutcomes.comparisons import EXPOSURES, adjusted_effect

        return self._once(
            ("adjusted_effects", by, instrument),
            lambda: adjusted_effect(
                self.comparison_frame(instrument, EXPOSURES), by, instrument=instrument
            ),
        )

    # ----------------------------------------------------------------------------------
    # Provenance
    # ----------------------------------------------------------------------------------

    def data_provenance(self) -> dict[str, Any]:
        """The data's provenance (files and hashes, filter) with the time representation
        and the package version, as every CLI output echoes it."""
        import katoutcomes

        return {
            **dict(self.dataset.provenance),
            "time_representation": self.dataset.time_representation,
            "package_version": katoutcomes.__version__,
        }

    def provenance(self, *, generated_at: datetime | None = None) -> dict[str, Any]:
        """What a reader needs to reproduce the numbers: input file hashes, package and
        dependency versions, settings, time, filter and claims."""
        import katoutcomes

        generated = generated_at or datetime.now(UTC)
        return _jsonable(
            {
                "generated_at": generated.isoformat(timespec="seconds"),
                "package": "katoutcomes",
                "package_version": katoutcomes.__version__,
                "python": platform.python_version(),
                "dependencies": dependency_versions(),
                "data_source": self.source_label,
                "data": dict(self.dataset.provenance),
                "time_representation": self.dataset.time_representation,
                "filter": self.filter,
                "patients": self.n_patients,
                "settings": self.settings.to_dict(),
                "claims": [c.id for c in self.claims],
                "analysis_key": self.key,
            }
        )


def dependency_versions() -> dict[str, str]:
    """Installed versions of :data:`DEPENDENCIES` (read from metadata, nothing imported)."""
    versions = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --------------------------------------------------------------------------------------
# Protocol adherence
# --------------------------------------------------------------------------------------

#: Adherence table columns: a measure, its estimate and 95% interval in ``unit``, the
#: patients it counts and how it was computed.
ADHERENCE_COLUMNS: Final = ("measure", "estimate", "ci_low", "ci_high", "unit", "patients", "note")


def adherence_table(dataset: Dataset, settings: Settings | None = None) -> pd.DataFrame:
    """Protocol adherence: induction doses, the sixth dose, monitoring time and dose.

    Returns
    -------
    DataFrame
        :data:`ADHERENCE_COLUMNS`, one row per measure, in reading order; empty without
        treatments. ``unit`` is ``share``, ``doses``, ``minutes`` or ``mg/kg`` (see
        :func:`katoutcomes.formatting.value`).

    Notes
    -----
    The sixth dose within 21 days, sessions monitored for two hours and the first dose
    per kilogram come from the claims engine (descriptive claims, Wilson and
    distribution-free intervals); the doses in the induction window use the
    distribution-free interval of the median (:func:`katoutcomes.cohort.median_ci`); the
    monitoring time and the dose per session resample patients
    (:func:`katoutcomes.cohort.cluster_bootstrap_median`), since one patient's sessions
    are not independent.
    """
    from katoutcomes.adherence import INDUCTION_DAYS, dose_mg_per_kg, doses_within
    from katoutcomes.claims import Claim, evaluate_claims
    from katoutcomes.cohort import cluster_bootstrap_median, median_ci

    if not dataset.has_treatments:
        return pd.DataFrame(columns=list(ADHERENCE_COLUMNS))
    settings = settings or Settings()
    measures = (
        Claim(
            id="sixth_dose_within_21_days",
            claim="Patients whose 6th dose came within 21 days of the first",
            quantity="nth_dose_within",
            rule="descriptive",
            params={"doses": 6, "days": 21},
        ),
        Claim(
            id="monitoring_120",
            claim="Sessions monitored for at least 2 hours",
            quantity="monitoring_share",
            rule="descriptive",
            params={"minutes": 120},
        ),
        Claim(
            id="first_dose_mg_per_kg",
            claim="First dose, mg/kg (median)",
            quantity="first_dose_mg_per_kg",
            rule="descriptive",
        ),
    )
    card = evaluate_claims(dataset, settings, measures)
    rows: list[dict[str, Any]] = [
        {
            "measure": row["claim"],
            "estimate": row["estimate"],
            "ci_low": row["ci_low"],
            "ci_high": row["ci_high"],
            "unit": row["unit"],
            "patients": row["n"],
            "note": row["note"],
        }
        for _, row in card.iterrows()
    ]
    treatments = dataset.treatments
    early = median_ci(doses_within(treatments, INDUCTION_DAYS).to_numpy(dtype=float))
    rows.insert(
        1,
        {
            "measure": f"Doses in the first {INDUCTION_DAYS:.0f} days (median per patient)",
            "estimate": early.median if early.n else np.nan,
            "ci_low": early.ci_low,
            "ci_high": early.ci_high,
            "unit": "doses",
            "patients": early.n,
            "note": "Doses on days 0 to 21 after the first dose, counted per treated patient; "
            "distribution-free interval for the median.",
        },
    )
    patient = treatments["patient_id"].astype(str).to_numpy()
    minutes = cluster_bootstrap_median(treatments["monitoring_minutes"], patient)
    rows.insert(
        3,
        {
            "measure": "Monitoring time per session, minutes (median)",
            "estimate": minutes.median,
            "ci_low": minutes.ci_low,
            "ci_high": minutes.ci_high,
            "unit": "minutes",
            "patients": minutes.n_clusters,
            "note": f"Over {minutes.n_units:,} sessions with a recorded time; interval from "
            "resampling patients.",
        },
    )
    dose = cluster_bootstrap_median(dose_mg_per_kg(treatments), patient)
    rows.append(
        {
            "measure": "Dose per session, mg/kg (median)",
            "estimate": dose.median,
            "ci_low": dose.ci_low,
            "ci_high": dose.ci_high,
            "unit": "mg/kg",
            "patients": dose.n_clusters,
            "note": f"Over {dose.n_units:,} sessions with a dose and a weight; interval from "
            "resampling patients.",
        }
    )
    out = pd.DataFrame(rows, columns=list(ADHERENCE_COLUMNS))
    return out.astype(
        {
            "estimate": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
            "unit": "str",
            "patients": "Int64",
        }
    )
