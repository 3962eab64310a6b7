"""The per-patient frame of the adjusted comparisons (methods §6).

:func:`comparison_frame` gathers, per intention-to-treat patient of one instrument, the
outcome (ITT response), the covariates and the exposures, from the outcome table and the
dataset (reusing :func:`katoutcomes.cohort.patient_attributes`). The covariates and
exposures compared, and their words, are defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from katoutcomes.cohort import (
    PSYCHOTHERAPY_MIN_SHARE,
    TRD_MIN_FAILURES,
    NotMeasurableError,
    in_population,
    patient_attributes,
)
from katoutcomes.instruments import PHQ9

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = [
    "CATEGORICAL_COVARIATES",
    "COVARIATES",
    "COVARIATE_LABELS",
    "EXPOSURES",
    "TWO_LEVEL_EXPOSURES",
    "comparison_frame",
]

#: Case-mix covariates of every adjusted comparison (methods §9.1, issue 12), in model order.
COVARIATES: Final = ("baseline", "prior_failures", "diagnosis", "age_band", "sex")

#: Covariates entered as categories (reference: the most frequent level).
CATEGORICAL_COVARIATES: Final = frozenset({"diagnosis", "age_band", "sex"})

#: Words for covariates and exposures in notes and tables.
COVARIATE_LABELS: Final = MappingProxyType(
    {
        "baseline": "baseline score",
        "prior_failures": "prior treatment failures",
        "diagnosis": "primary diagnosis",
        "age_band": "age band",
        "sex": "sex",
        "ssri": "concurrent SSRI",
        "psychotherapy": "psychotherapy in at least half of the doses",
        "trd": "treatment resistance",
        "route": "route",
    }
)

#: Exposures compared; ``trd`` is treatment resistance (>= TRD_MIN_FAILURES failures).
EXPOSURES: Final = ("ssri", "psychotherapy", "trd", "route")

#: Exposures coded yes/no; ``route`` has one level per route.
TWO_LEVEL_EXPOSURES: Final = frozenset({"ssri", "psychotherapy", "trd"})


#: Sex recorded as "unknown" is a missing covariate, not a category.
_UNKNOWN_SEX: Final = "unknown"

#: Exposures and units :func:`comparison_frame` can derive.
_ATTRIBUTES: Final = (*EXPOSURES, "site", "clinician")

_FRAME_COLUMNS: Final = (
    "patient_id",
    "response",
    *COVARIATES,
    *EXPOSURES,
    "site",
    "clinician",
)


def _first_dose_clinician(dataset: Dataset) -> pd.Series:
    """``clinician_id`` of each patient's first dose (earliest ``t``; stored order on ties)."""
    treatments = dataset.treatments
    if not dataset.has_treatments or "clinician_id" not in treatments:
        return pd.Series(dtype="str", name="clinician")
    rows = treatments[["patient_id", "t", "clinician_id"]]
    first = rows.sort_values(["patient_id", "t"], kind="stable").drop_duplicates("patient_id")
    first = first.dropna(subset=["clinician_id"])
    return pd.Series(
        first["clinician_id"].astype(str).to_numpy(),
        index=first["patient_id"].astype(str).to_numpy(),
        dtype="str",
        name="clinician",
    )


def _attribute(dataset: Dataset, by: str, **kwargs: Any) -> pd.Series:
    """:func:`patient_attributes`, empty when the data cannot give it (said downstream)."""
    try:
        return patient_attributes(dataset, by, **kwargs)
    except NotMeasurableError:
        return pd.Series(dtype="str", name=by)


def comparison_frame(
    outcomes: pd.DataFrame,
    dataset: Dataset,
    instrument: str = PHQ9.name,
    *,
    min_failures: int = TRD_MIN_FAILURES,
    psychotherapy_share: float = PSYCHOTHERAPY_MIN_SHARE,
    attributes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per intention-to-treat patient of an instrument: response, covariates, exposures.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Output of :func:`katoutcomes.outcomes.patient_outcomes` for ``dataset``. Not
        modified.
    dataset : Dataset
        Where covariates and exposures come from. Not modified.
    instrument : str, default "PHQ-9"
        Instrument whose response is the outcome.
    min_failures : int, default 2
        Treatment resistance: at least this many prior failures (Gaynes 2020).
    psychotherapy_share : float, default 0.5
        Psychotherapy exposure: in at least this share of the patient's doses (methods §6.8).
    attributes : sequence of str, optional
        The exposures and units to derive (of ``ssri, psychotherapy, trd, route, site,
        clinician``); the others are left missing. All of them by default. Deriving the
        site reads every assessment row, so a comparison that does not need it is faster
        without it.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, response, baseline, prior_failures, diagnosis, age_band, sex,
        ssri, psychotherapy, trd, route, site, clinician``. ``response`` is 0/1 (an ITT
        patient without an endpoint counts as 0); ``baseline`` and ``prior_failures`` are
        float (NaN when missing); the others are strings, missing (NaN) when not recorded.
        ``ssri``, ``psychotherapy`` and ``trd`` are ``"yes"``/``"no"``; ``route``, ``site``
        come from :func:`katoutcomes.cohort.patient_attributes` (most frequent value);
        ``clinician`` is the clinician of the patient's first dose. Sex ``"unknown"`` is
        missing.

    Notes
    -----
    The population is the intention-to-treat one (:func:`katoutcomes.cohort.in_population`):
    eligible patients with at least one dose (every eligible patient without a
    treatments table).

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> from katoutcomes.outcomes import patient_outcomes
    >>> data = Dataset.demo(patients=60)
    >>> comparison_frame(patient_outcomes(data), data).columns[:3].tolist()
    ['patient_id', 'response', 'baseline']
    """
    rows = in_population(outcomes, "itt").to_numpy() & (
        outcomes["instrument"].to_numpy() == instrument
    )
    members = outcomes.loc[rows, ["patient_id", "response", "baseline"]]
    ids = members["patient_id"].astype(str)
    frame = pd.DataFrame(
        {
            "patient_id": pd.array(ids.to_numpy(), dtype="str"),
            "response": members["response"]
            .astype("boolean")
            .fillna(False)
            .to_numpy(dtype=np.int64),
            "baseline": members["baseline"].to_numpy(dtype=np.float64, na_value=np.nan),
        }
    )
    if dataset.has_patients:
        patients = dataset.patients.drop_duplicates("patient_id")
        index = patients["patient_id"].astype(str).to_numpy()
        failures = pd.Series(
            patients["prior_treatment_failures"].to_numpy(dtype=np.float64, na_value=np.nan),
            index=index,
        )
        frame["prior_failures"] = ids.map(failures).to_numpy(dtype=np.float64, na_value=np.nan)
        for column, source in (
            ("diagnosis", "primary_diagnosis"),
            ("age_band", "age_band"),
            ("sex", "sex"),
        ):
            values = pd.Series(patients[source].to_numpy(), index=index, dtype="str")
            if column == "sex":
                values = values.mask(values.str.lower() == _UNKNOWN_SEX)
            frame[column] = pd.array(ids.map(values).to_numpy(), dtype="str")
    else:
        frame["prior_failures"] = np.nan
        for column in ("diagnosis", "age_band", "sex"):
            frame[column] = pd.array([None] * len(frame), dtype="str")
    options = {"min_failures": min_failures, "psychotherapy_share": psychotherapy_share}
    sources = {
        "ssri": "ssri",
        "psychotherapy": "psychotherapy",
        "trd": "treatment_resistance",
        "route": "route",
        "site": "site",
    }
    wanted = set(_ATTRIBUTES if attributes is None else attributes)
    unknown = wanted - set(_ATTRIBUTES)
    if unknown:
        raise ValueError(
            f"Unknown attribute(s) {', '.join(sorted(unknown))}; use {', '.join(_ATTRIBUTES)}."
        )
    missing = pd.array([None] * len(frame), dtype="str")
    for column, attribute in sources.items():
        frame[column] = (
            pd.array(ids.map(_attribute(dataset, attribute, **options)).to_numpy(), dtype="str")
            if column in wanted
            else missing
        )
    frame["clinician"] = (
        pd.array(ids.map(_first_dose_clinician(dataset)).to_numpy(), dtype="str")
        if "clinician" in wanted
        else missing
    )
    return frame[list(_FRAME_COLUMNS)].reset_index(drop=True)
