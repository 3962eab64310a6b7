"""Cohort filters: restrict a dataset to the patients a view is about.

Filters select patients, never single rows, so a patient's baseline, doses and follow-up
stay together. A patient's site, clinician and route are the ones seen most often on their
rows (:func:`katoutcomes.cohort.patient_attributes`); the date range applies to the
patient's first dose (their origin), which is how a clinic counts "patients who started
treatment in March".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

import pandas as pd

from katoutcomes.cohort import NotMeasurableError, patient_attributes
from katoutcomes.dataset import Dataset
from katoutcomes.timebase import patient_origins

__all__ = ["CohortFilter", "describe_filter", "filter_dataset", "filter_options"]

#: Filterable attributes, in display order.
FILTER_ATTRIBUTES = ("site", "clinician", "route", "diagnosis")


@dataclass(frozen=True, slots=True)
class CohortFilter:
    """Which patients to keep. Empty selections keep everyone.

    Attributes
    ----------
    start, end : first dose on or after ``start`` and on or before ``end`` (dates; only for
        datasets with dates, not study days).
    site, clinician, route, diagnosis : levels to keep.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    site: tuple[str, ...] = field(default_factory=tuple)
    clinician: tuple[str, ...] = field(default_factory=tuple)
    route: tuple[str, ...] = field(default_factory=tuple)
    diagnosis: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_empty(self) -> bool:
        return self == CohortFilter()

    def with_levels(self, attribute: str, levels: Collection[str]) -> CohortFilter:
        if attribute not in FILTER_ATTRIBUTES:
            raise ValueError(
                f"Unknown filter {attribute!r}; expected one of {', '.join(FILTER_ATTRIBUTES)}."
            )
        changes: dict[str, tuple[str, ...]] = {attribute: tuple(levels)}
        return replace(self, **changes)  # type: ignore[arg-type]


def filter_options(dataset: Dataset) -> dict[str, list[str]]:
    """The levels each filter can take in this dataset (attributes it lacks are left out)."""
    options: dict[str, list[str]] = {}
    for attribute in FILTER_ATTRIBUTES:
        try:
            values = patient_attributes(dataset, attribute)
        except NotMeasurableError:
            continue
        options[attribute] = sorted(values.dropna().astype("str").unique())
    return options


def filter_dataset(dataset: Dataset, cohort: CohortFilter) -> Dataset:
    """The dataset restricted to the patients ``cohort`` selects (input unchanged)."""
    if cohort.is_empty:
        return dataset
    ids = pd.Index(dataset.assessments["patient_id"].unique())
    keep = pd.Series(True, index=ids)
    for attribute in FILTER_ATTRIBUTES:
        levels = getattr(cohort, attribute)
        if not levels:
            continue
        values = patient_attributes(dataset, attribute).reindex(ids)
        keep &= values.astype("str").isin(levels).to_numpy()
    if (cohort.start or cohort.end) and dataset.time_representation == "datetime":
        origins = patient_origins(dataset.assessments, dataset.treatments, "datetime")
        first = pd.to_datetime(origins["origin"]).dt.normalize().reindex(ids)
        if cohort.start:
            keep &= (first >= pd.Timestamp(cohort.start)).fillna(False).to_numpy()
        if cohort.end:
            keep &= (first <= pd.Timestamp(cohort.end)).fillna(False).to_numpy()
    chosen = set(ids[keep.to_numpy()])

    def only(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["patient_id"].isin(chosen)].reset_index(drop=True)

    return Dataset(
        assessments=only(dataset.assessments),
        treatments=only(dataset.treatments),
        patients=only(dataset.patients),
        time_representation=dataset.time_representation,
        provenance={**dataset.provenance, "filter": _describe(cohort)},
    )


def _describe(cohort: CohortFilter) -> dict[str, object]:
    out: dict[str, object] = {}
    if cohort.start:
        out["first_dose_from"] = cohort.start.isoformat()
    if cohort.end:
        out["first_dose_to"] = cohort.end.isoformat()
    for attribute in FILTER_ATTRIBUTES:
        if getattr(cohort, attribute):
            out[attribute] = list(getattr(cohort, attribute))
    return out


#: How each filter attribute is named in words.
_ATTRIBUTE_WORDS = {
    "site": ("site", "sites"),
    "clinician": ("clinician", "clinicians"),
    "route": ("route", "routes"),
    "diagnosis": ("diagnosis", "diagnoses"),
}


def describe_filter(cohort: CohortFilter | Mapping[str, object]) -> str:
    """A filter in words, for the title and methods of an output made from it.

    Parameters
    ----------
    cohort : CohortFilter or mapping
        A filter, or the ``"filter"`` entry :func:`filter_dataset` writes into a dataset's
        provenance.

    Returns
    -------
    str
        E.g. ``"site S3; route IV, IM; first dose from 2025-01-01 to 2025-06-30"``, or
        ``""`` for no filter.

    Examples
    --------
    >>> describe_filter(CohortFilter(site=("S3",)))
    'site S3'
    >>> describe_filter({"clinician": ["C1", "C2"], "first_dose_from": "2025-01-01"})
    'clinicians C1, C2; first dose from 2025-01-01'
    """
    spec: Mapping[str, object] = _describe(cohort) if isinstance(cohort, CohortFilter) else cohort
    parts = []
    for attribute in FILTER_ATTRIBUTES:
        levels = spec.get(attribute)
        if levels:
            values = [str(v) for v in levels] if isinstance(levels, list | tuple) else [str(levels)]
            one, many = _ATTRIBUTE_WORDS[attribute]
            parts.append(f"{one if len(values) == 1 else many} {', '.join(values)}")
    start, end = spec.get("first_dose_from"), spec.get("first_dose_to")
    if start and end:
        parts.append(f"first dose from {start} to {end}")
    elif start:
        parts.append(f"first dose from {start}")
    elif end:
        parts.append(f"first dose up to {end}")
    return "; ".join(parts)
