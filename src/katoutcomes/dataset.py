"""The analysis-ready dataset: accepted rows of the three tables with time since origin."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from katoutcomes.ingest import (
    IngestResult,
    accepted_columns,
    dataset_name,
    validate_frames,
    validate_path,
)
from katoutcomes.mapping import ColumnMapping
from katoutcomes.settings import Settings
from katoutcomes.timebase import add_relative_time

__all__ = ["Dataset", "content_sha256"]


def content_sha256(files: list[dict[str, Any]]) -> str:
    """One SHA-256 for a dataset's content: of its files' (table, SHA-256) pairs, sorted.

    The same files give the same hash wherever they are kept and whatever they are called.
    """
    pairs = sorted(f"{f['table']}:{f['sha256']}" for f in files)
    return hashlib.sha256("\n".join(pairs).encode("ascii")).hexdigest()


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame(columns=accepted_columns(table))


@dataclass(frozen=True)
class Dataset:
    """Assessments, treatments and patients as pandas DataFrames.

    Attributes
    ----------
    assessments : accepted assessment rows with ``t`` (days since the patient's origin).
    treatments : accepted treatment rows with ``t`` (empty when none were given).
    patients : accepted patient rows (empty when none were given).
    time_representation : ``"datetime"`` or ``"study_day"``.
    provenance : where the data came from: ``source`` (the dataset's folder or file name,
        or the store's file name), ``files`` (table, file name, SHA-256), ``content_sha256``
        (:func:`content_sha256` of the files).
    """

    assessments: pd.DataFrame
    treatments: pd.DataFrame
    patients: pd.DataFrame
    time_representation: str
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_treatments(self) -> bool:
        return len(self.treatments) > 0

    @property
    def has_patients(self) -> bool:
        return len(self.patients) > 0

    @classmethod
    def from_tables(
        cls,
        tables: Mapping[str, pd.DataFrame],
        time_representation: str,
        provenance: Mapping[str, Any] | None = None,
    ) -> Dataset:
        """Build from accepted rows (as stored); adds ``t`` to assessments and treatments."""
        assessments = tables.get("assessments", _empty("assessments"))
        treatments = tables.get("treatments", _empty("treatments"))
        patients = tables.get("patients", _empty("patients"))
        timed = add_relative_time(assessments, treatments, time_representation)
        return cls(
            assessments=timed.assessments,
            treatments=timed.treatments,
            patients=patients.reset_index(drop=True),
            time_representation=time_representation,
            provenance=dict(provenance or {}),
        )

    @classmethod
    def from_result(cls, result: IngestResult) -> Dataset:
        """The accepted rows of a validation result (in-memory, nothing stored)."""
        files = [{"table": r.table, "file": r.file, "sha256": r.sha256} for r in result.reports]
        return cls.from_tables(
            result.accepted,
            result.time_representation or "datetime",
            {
                "source": result.source,
                "files": files,
                "content_sha256": content_sha256(files),
                "rejected_rows": result.n_rejected,
            },
        )

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        settings: Settings | None = None,
        mapping: ColumnMapping | None = None,
    ) -> Dataset:
        """Validate a dataset on disk and keep its accepted rows."""
        return cls.from_result(validate_path(path, settings=settings, mapping=mapping))

    @classmethod
    def from_store(cls, store: Any) -> Dataset:
        """Every accepted row of a :class:`katoutcomes.store.Store`."""
        log = store.ingest_log()
        files = (
            log[["table_name", "file", "sha256"]]
            .rename(columns={"table_name": "table"})
            .to_dict(orient="records")
        )
        return cls.from_tables(
            {
                # As validation returns them: the row hash is the store's concern.
                t: store.table(t).drop(columns=["ingest_id", "row_hash"])
                for t in ("assessments", "treatments", "patients")
            },
            store.time_representation() or "datetime",
            {
                "source": dataset_name(store.path),
                "files": files,
                "content_sha256": content_sha256(files),
            },
        )

    @classmethod
    def demo(cls, patients: int = 400, seed: int = 20261127, time: str = "datetime") -> Dataset:
        """The built-in synthetic demo cohort, passed through the real ingest."""
        from katoutcomes.demo import generate_demo

        cohort = generate_demo(patients=patients, seed=seed, time=time)  # type: ignore[arg-type]
        result = validate_frames(
            cohort.tables(),
            source=f"demo cohort (patients={patients}, seed={seed})",
            file_names={table: f"demo {table}" for table in cohort.tables()},
        )
        return cls.from_result(result)
