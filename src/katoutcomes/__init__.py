"""katoutcomes: outcomes tracking for ketamine-assisted therapy clinics.

The public API, by job:

- ingest: :func:`validate_path`, :func:`validate_frames`, :class:`Store`, :class:`Dataset`
- outcomes: :func:`patient_outcomes`, :func:`outcome_rates`, :func:`time_to_event`,
  :func:`subgroup_rates`
- claims: :func:`evaluate_claims`, :func:`load_claims`
- comparisons: :func:`comparison_frame`, :func:`adjusted_effect`,
  :func:`predictors_of_response`, :func:`fit_logistic`, :func:`funnel_table`,
  :func:`funnel_limits`
- statistics: :func:`jacobson_truax`, :func:`kaplan_meier`, :func:`km_median`,
  :func:`proportion_ci`, :func:`risk_difference_ci`
- facts and settings: :data:`PHQ9`, :data:`GAD7`, :class:`Settings`
- models: :func:`fit_mixed_model`, :func:`fit_trajectory_model`, :func:`band_calibration`,
  :func:`patient_status`, :func:`alerts`, :func:`missing_data_sensitivity`
"""

from __future__ import annotations

__version__ = "0.1.0"

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: Public name -> module that defines it. Modules load on first use (PEP 562), so that
#: ``katoutcomes validate`` does not pay for SciPy and plotly imports it never uses.
_EXPORTS = {
    "load_published_benchmarks": "benchmarks",
    "evaluate_claims": "claims",
    "adjusted_effect": "comparisons",
    "comparison_frame": "comparisons",
    "fit_logistic": "comparisons",
    "predictors_of_response": "comparisons",
    "funnel_limits": "funnel",
    "funnel_table": "funnel",
    "load_claims": "claims",
    "outcome_rates": "cohort",
    "subgroup_rates": "cohort",
    "time_to_event": "cohort",
    "Dataset": "dataset",
    "generate_demo": "demo",
    "write_demo": "demo",
    "IngestError": "errors",
    "KatoutcomesError": "errors",
    "SettingsError": "errors",
    "IngestResult": "ingest",
    "validate_frames": "ingest",
    "validate_path": "ingest",
    "GAD7": "instruments",
    "INSTRUMENTS": "instruments",
    "PHQ9": "instruments",
    "Instrument": "instruments",
    "patient_outcomes": "outcomes",
    "Settings": "settings",
    "load_settings": "settings",
    "jacobson_truax": "stats",
    "kaplan_meier": "stats",
    "km_median": "stats",
    "proportion_ci": "stats",
    "risk_difference_ci": "stats",
    "Store": "store",
    "MixedModelFit": "models",
    "fit_mixed_model": "models",
    "TrajectoryModel": "trajectories",
    "alerts": "trajectories",
    "band_calibration": "trajectories",
    "fit_trajectory_model": "trajectories",
    "fit_trajectory_models": "trajectories",
    "patient_status": "trajectories",
    "missing_data_sensitivity": "sensitivity",
}

if TYPE_CHECKING:
    from katoutcomes.benchmarks import load_published_benchmarks
    from katoutcomes.claims import evaluate_claims, load_claims
    from katoutcomes.cohort import outcome_rates, subgroup_rates, time_to_event
    from katoutcomes.comparisons import (
        adjusted_effect,
        comparison_frame,
        fit_logistic,
        predictors_of_response,
    )
    from katoutcomes.dataset import Dataset
    from katoutcomes.demo import generate_demo, write_demo
    from katoutcomes.errors import IngestError, KatoutcomesError, SettingsError
    from katoutcomes.funnel import funnel_limits, funnel_table
    from katoutcomes.ingest import IngestResult, validate_frames, validate_path
    from katoutcomes.instruments import GAD7, INSTRUMENTS, PHQ9, Instrument
    from katoutcomes.models import MixedModelFit, fit_mixed_model
    from katoutcomes.outcomes import patient_outcomes
    from katoutcomes.sensitivity import missing_data_sensitivity
    from katoutcomes.settings import Settings, load_settings
    from katoutcomes.stats import (
        jacobson_truax,
        kaplan_meier,
        km_median,
        proportion_ci,
        risk_difference_ci,
    )
    from katoutcomes.store import Store
    from katoutcomes.trajectories import (
        TrajectoryModel,
        alerts,
        band_calibration,
        fit_trajectory_model,
        fit_trajectory_models,
        patient_status,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(import_module(f"katoutcomes.{module}"), name)
    else:
        # Submodules too (``katoutcomes.claims.describe_quantities()``), as after an
        # eager import.
        try:
            value = import_module(f"katoutcomes.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"katoutcomes.{name}":
                raise
            raise AttributeError(f"module 'katoutcomes' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "GAD7",
    "INSTRUMENTS",
    "PHQ9",
    "Dataset",
    "IngestError",
    "IngestResult",
    "Instrument",
    "KatoutcomesError",
    "MixedModelFit",
    "Settings",
    "SettingsError",
    "Store",
    "TrajectoryModel",
    "__version__",
    "adjusted_effect",
    "alerts",
    "band_calibration",
    "comparison_frame",
    "evaluate_claims",
    "fit_logistic",
    "fit_mixed_model",
    "fit_trajectory_model",
    "fit_trajectory_models",
    "funnel_limits",
    "funnel_table",
    "generate_demo",
    "jacobson_truax",
    "kaplan_meier",
    "km_median",
    "load_claims",
    "load_published_benchmarks",
    "load_settings",
    "missing_data_sensitivity",
    "outcome_rates",
    "patient_outcomes",
    "patient_status",
    "predictors_of_response",
    "proportion_ci",
    "risk_difference_ci",
    "subgroup_rates",
    "time_to_event",
    "validate_frames",
    "validate_path",
    "write_demo",
]
