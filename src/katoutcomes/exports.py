"""Writing tables for people and other programs: CSV that spreadsheets cannot hijack, and
the shareable summary archive.

CSV output neutralises spreadsheet formulas (DESIGN 9, :func:`~katoutcomes.privacy.
neutralise_formulas`) and is written with pyarrow, which is an order of magnitude faster
than ``DataFrame.to_csv`` on wide tables of nullable columns.

:func:`shareable_archive` is the zip meant to leave the clinic (DESIGN 9): aggregates only,
every small cell suppressed as in the HTML report (:mod:`katoutcomes.suppression`), and a
README naming the data, the filter and the rule. What it leaves out, and why:

- per-patient rows and patient identifiers;
- per-clinician results: a clinician is a person who can be named, most caseloads are
  small, and DESIGN 1 and 5 keep clinician comparisons (funnel plots) inside the clinic;
- Kaplan–Meier tables: each row counts the patients at risk and the events of one day,
  which are small cells almost everywhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from katoutcomes.privacy import neutralise_formulas

if TYPE_CHECKING:
    from katoutcomes.claims import Claim
    from katoutcomes.dataset import Dataset
    from katoutcomes.settings import Settings

__all__ = ["SHAREABLE_SUBGROUPS", "csv_text", "shareable_archive", "write_csv"]

#: Subgroups in the shareable archive: every attribute of
#: :data:`katoutcomes.cohort.SUBGROUPS` but the clinician (see the module docstring).
SHAREABLE_SUBGROUPS: Final = (
    "site",
    "route",
    "diagnosis",
    "ssri",
    "psychotherapy",
    "treatment_resistance",
)


def write_csv(frame: pd.DataFrame, target: str | Path | IO[bytes]) -> None:
    """Write ``frame`` as UTF-8 CSV with a header, formulas neutralised, no index.

    Missing values are empty cells; booleans are ``true``/``false``; floats keep full
    precision.
    """
    safe = neutralise_formulas(frame)
    # Text columns may hold the neutralised values as objects; make them plain strings.
    for column in safe.columns:
        if safe[column].dtype == "object":
            safe[column] = safe[column].astype("str")
    table = pa.Table.from_pandas(safe, preserve_index=False)
    data = _csv_bytes(table)
    if isinstance(target, str | Path):
        Path(target).write_bytes(data)
    else:
        target.write(data)


#: Rows per slice when a large table is formatted on several cores.
_SLICE_ROWS: Final = 50_000


def _csv_bytes(table: pa.Table) -> bytes:
    """The table as CSV; a large one is formatted in slices on a thread each (pyarrow's
    writer is single-threaded and releases the GIL; number formatting dominates)."""

    def slice_bytes(start: int) -> bytes:
        buffer = io.BytesIO()
        options = pacsv.WriteOptions(include_header=start == 0, quoting_style="needed")
        pacsv.write_csv(table.slice(start, _SLICE_ROWS), buffer, options)
        return buffer.getvalue()

    starts = range(0, max(table.num_rows, 1), _SLICE_ROWS)
    if len(starts) == 1:
        return slice_bytes(0)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return b"".join(pool.map(slice_bytes, starts))


def csv_text(frame: pd.DataFrame) -> str:
    """:func:`write_csv` into a string."""
    buffer = io.BytesIO()
    write_csv(frame, buffer)
    return buffer.getvalue().decode("utf-8")


def shareable_archive(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    claims: Sequence[Claim] | None = None,
    source_label: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    generated_at: datetime | None = None,
) -> bytes:
    """The aggregate tables of a dataset as a zip meant for sharing (DESIGN 9).

    Parameters
    ----------
    dataset : Dataset
        The data, possibly filtered (:func:`katoutcomes.filters.filter_dataset`, whose
        filter the README and provenance then name). Not modified.
    settings : Settings, optional
        Outcome definitions and ``suppression_k`` (default ``Settings()``).
    claims : sequence of Claim, optional
        Claims to test (default: the packaged claims).
    source_label : str, optional
        How the data source is named (default: the dataset's provenance ``source``).
    provenance : mapping, optional
        More entries for ``provenance.json`` (versions, the dashboard's source).
    generated_at : datetime, optional
        Time stamped in the README and provenance (default: now, UTC).

    Returns
    -------
    bytes
        A zip archive holding ``README.txt`` (data, filter, small-cell rule, what is left
        out), ``outcome_rates.csv`` (:func:`~katoutcomes.suppression.
        suppress_outcome_rates`), ``claims.csv`` (:func:`~katoutcomes.suppression.
        suppress_claims`), ``subgroup_response_rates.csv`` (response by every attribute of
        :data:`SHAREABLE_SUBGROUPS`, :func:`~katoutcomes.suppression.
        suppress_subgroup_rates`) and ``provenance.json`` (settings, filter, rule, data
        files and the SHA-256 of every file in the archive).

    Notes
    -----
    Suppressed rows keep their labels and a ``suppressed`` column set to true; their
    counts, rates and intervals are empty, and a suppressed claim's note says why.
    Subgroup rates of an instrument whose intention-to-treat response rate is suppressed
    are all suppressed: their levels would add up to it.
    """
    from katoutcomes.claims import evaluate_claims, load_claims
    from katoutcomes.cohort import NotMeasurableError, outcome_rates, subgroup_rates
    from katoutcomes.filters import describe_filter
    from katoutcomes.instruments import INSTRUMENTS
    from katoutcomes.outcomes import patient_outcomes
    from katoutcomes.settings import Settings
    from katoutcomes.suppression import (
        SUPPRESSED_COLUMN,
        hidden_rate_counts,
        suppress_claims,
        suppress_linked_claims,
        suppress_outcome_rates,
        suppress_subgroup_rates,
        suppression_note,
    )

    settings = settings or Settings()
    k = settings.suppression_k
    loaded = tuple(claims) if claims is not None else load_claims()
    generated = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    info = dict(dataset.provenance)
    source = source_label or str(info.get("source", "not recorded"))
    spec = info.get("filter")
    cohort = describe_filter(spec) if isinstance(spec, Mapping) and spec else ""

    outcomes = patient_outcomes(dataset, settings)
    rates = outcome_rates(outcomes)
    rates_shown = suppress_outcome_rates(
        rates, outcomes, k=k, shown_totals={"patients": np.ones(len(outcomes), dtype=bool)}
    )
    card = suppress_linked_claims(
        suppress_claims(
            evaluate_claims(dataset, settings, loaded),
            k=k,
            hidden_counts=hidden_rate_counts(rates, rates_shown, k),
        ),
        rates_shown,
        {c.id: dict(c.params) for c in loaded},
        k=k,
    )
    itt_hidden = {
        str(r.instrument)
        for r in rates_shown.itertuples(index=False)
        if r.outcome == "response" and r.population == "itt" and bool(r.suppressed)
    }
    pieces = []
    for by in SHAREABLE_SUBGROUPS:
        for instrument in INSTRUMENTS:
            try:
                part = subgroup_rates(outcomes, dataset, by, "response", instrument)
            except NotMeasurableError:
                continue
            if instrument in itt_hidden:
                part = part.assign(**{SUPPRESSED_COLUMN: True})
            pieces.append(suppress_subgroup_rates(part, k=k).assign(instrument=instrument))
    hide_total = "patients" in rates_shown.attrs.get("hidden_totals", [])
    n_patients = int(dataset.assessments["patient_id"].nunique())
    if hide_total or (k > 1 and 1 <= n_patients < k):
        patients: object = "not shown (small-cell rule)"
        if hide_total:
            source = source.replace(f"patients={n_patients}", "patients=not shown")
    else:
        patients = n_patients
    rule = suppression_note(k)

    files: dict[str, bytes] = {
        "outcome_rates.csv": csv_text(rates_shown).encode(),
        "claims.csv": csv_text(card).encode(),
    }
    if pieces:
        files["subgroup_response_rates.csv"] = csv_text(
            pd.concat(pieces, ignore_index=True)
        ).encode()
    readme = _shareable_readme(source, cohort, patients, rule, generated, sorted(files))
    files = {"README.txt": readme.encode(), **files}
    meta: dict[str, Any] = {
        **dict(provenance or {}),
        "generated_at": generated,
        "data_source": source,
        "filter": cohort or "none: all patients",
        "patients": patients,
        "settings": settings.to_dict(),
        "small_cell_suppression": rule,
        "left_out": "per-patient rows, patient identifiers, per-clinician results, "
        "Kaplan-Meier tables",
        "data": {key: value for key, value in info.items() if key != "source"},
    }
    meta["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    files["provenance.json"] = json.dumps(meta, indent=1, default=str).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _shareable_readme(
    source: str, cohort: str, patients: object, rule: str, generated: str, names: Sequence[str]
) -> str:
    scope = (
        f"FILTERED: only the patients with {cohort}. Every number describes this selection, "
        "not the whole clinic."
        if cohort
        else "All patients in the data (no filter)."
    )
    count = f"{patients:,}" if isinstance(patients, int) else str(patients)
    return "\n".join(
        [
            "katoutcomes shareable summary" + (f" ({cohort})" if cohort else ""),
            "",
            f"Data: {source}",
            f"Patients: {scope}",
            f"Patients in this summary: {count}",
            f"Generated: {generated}",
            "",
            f"Small-cell rule: {rule}",
            "Suppressed rows keep their labels, have suppressed = true and empty counts, rates "
            "and intervals. A rate is suppressed when its patients, those with the outcome or "
            "those without it are a small cell, or when they could be worked out from other "
            "cells (nested groups, subgroup levels adding up to a total).",
            "",
            "Left out: per-patient rows and identifiers; per-clinician results (clinicians "
            "are identifiable people with small caseloads; compare them inside the clinic); "
            "Kaplan-Meier tables (each day's counts are small cells).",
            "",
            "Files: " + ", ".join([*names, "provenance.json"]),
            "",
        ]
    )
