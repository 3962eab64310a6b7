"""The export bundles: a researcher's zip of every table, and a shareable zip of aggregates.

Both are built from one :class:`~katoutcomes.analysis.Analysis`, so the numbers are those the
report, the CLI and the dashboard show. ``katoutcomes export`` writes them, and the
dashboard's download buttons give the same bytes.

:func:`research_bundle` is for use inside the clinic: per-patient outcomes (CSV and
Parquet), rates, Kaplan–Meier curves, subgroups, claims (CSV and JSON), adherence, adverse
events, ``settings.json``, a ``codebook.csv`` describing every column of every table
(:mod:`katoutcomes.codebook`) and ``provenance.json`` (input file hashes, package and
dependency versions, settings, time, filter, and the SHA-256 of every file in the zip).
Nothing is suppressed: it holds per-patient rows.

:func:`shareable_bundle` is the zip meant to leave the clinic (docs/methods.md, small-cell
suppression): aggregates only, every small cell suppressed as in the HTML report
(:mod:`katoutcomes.suppression`), with its codebook, provenance and a README naming the data,
the filter and the rule. What it leaves out, and why:

- per-patient rows and patient identifiers;
- per-clinician results: a clinician is a person who can be named and most caseloads are
  small, so clinician comparisons (funnel plots) stay inside the clinic;
- Kaplan–Meier tables: each row counts the patients at risk and the events of one day,
  which are small cells almost everywhere;
- protocol-adherence and adverse-event tables, whose counts of patients are not
  protected by the small-cell rule yet.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from katoutcomes.codebook import codebook
from katoutcomes.exports import csv_text, parquet_bytes

if TYPE_CHECKING:
    from katoutcomes.analysis import Analysis

__all__ = [
    "SHAREABLE_SUBGROUPS",
    "research_bundle",
    "research_tables",
    "shareable_bundle",
    "shareable_tables",
]

#: Subgroups in the shareable bundle: every attribute of
#: :data:`katoutcomes.cohort.SUBGROUPS` but the clinician (see the module docstring).
SHAREABLE_SUBGROUPS: Final = (
    "site",
    "route",
    "diagnosis",
    "ssri",
    "psychotherapy",
    "treatment_resistance",
)

#: Tables of the research bundle that are also written as Parquet (types kept).
_PARQUET: Final = ("patient_outcomes", "outcome_rates")


def research_tables(analysis: Analysis) -> dict[str, pd.DataFrame]:
    """Every table of the research bundle, by name (file name without extension)."""
    from katoutcomes.analysis import EVENTS

    tables: dict[str, pd.DataFrame] = {
        "patient_outcomes": analysis.outcomes,
        "outcome_rates": analysis.rates,
    }
    for event in EVENTS:
        tables[f"time_to_{event}"] = analysis.curves(event)
    subgroups = analysis.all_subgroups()
    if not subgroups.empty:
        tables["subgroup_rates"] = subgroups
    tables["claims"] = analysis.scorecard
    if analysis.dataset.has_treatments:
        tables["adherence"] = analysis.adherence
        tables["adverse_events"] = analysis.adverse_events
    return tables


def research_bundle(analysis: Analysis, *, generated_at: datetime | None = None) -> bytes:
    """The researcher's zip: every table, claims JSON, settings, codebook and provenance.

    Parameters
    ----------
    analysis : Analysis
        The analysis whose results are exported.
    generated_at : datetime, optional
        Time stamped in the provenance (default: now, UTC), for reproducible bundles.

    Returns
    -------
    bytes
        A zip archive: ``NAME.csv`` for every table of :func:`research_tables` (and
        ``NAME.parquet`` for the outcomes and rates), ``claims.json``, ``settings.json``,
        ``codebook.csv`` and ``provenance.json``.
    """
    tables = research_tables(analysis)
    files: dict[str, bytes] = {}
    for name, frame in tables.items():
        files[f"{name}.csv"] = csv_text(frame).encode()
        if name in _PARQUET:
            files[f"{name}.parquet"] = parquet_bytes(frame)
    files["claims.json"] = json.dumps(
        analysis.claims_dict(), indent=1, default=str, allow_nan=False
    ).encode()
    files["settings.json"] = json.dumps(analysis.settings.to_dict(), indent=1).encode()
    files["codebook.csv"] = csv_text(codebook(tables)).encode()
    meta = analysis.provenance(generated_at=generated_at)
    meta["small_cell_suppression"] = (
        "not applied: per-patient research export for use inside the clinic; use "
        f"--shareable (cells of fewer than {analysis.settings.suppression_k} patients "
        "suppressed) before sharing"
    )
    return _zip(files, meta)


def shareable_tables(analysis: Analysis) -> dict[str, pd.DataFrame]:
    """The aggregate tables of the shareable bundle, small cells suppressed.

    Suppressed rows keep their labels and a ``suppressed`` column set to true; their counts,
    rates and intervals are empty, and a suppressed claim's note says why. Subgroup rates
    of an instrument whose intention-to-treat response rate is suppressed are all
    suppressed: their levels would add up to it.
    """
    from katoutcomes.cohort import NotMeasurableError
    from katoutcomes.instruments import INSTRUMENTS
    from katoutcomes.suppression import SUPPRESSED_COLUMN, suppress_subgroup_rates

    k = analysis.settings.suppression_k
    rates_shown = analysis.shared_rates
    itt_hidden = {
        str(r.instrument)
        for r in rates_shown.itertuples(index=False)
        if r.outcome == "response" and r.population == "itt" and bool(r.suppressed)
    }
    pieces = []
    for by in SHAREABLE_SUBGROUPS:
        for instrument in INSTRUMENTS:
            try:
                part = analysis.subgroups(by, "response", instrument)
            except NotMeasurableError:
                continue
            if instrument in itt_hidden:
                part = part.assign(**{SUPPRESSED_COLUMN: True})
            pieces.append(suppress_subgroup_rates(part, k=k).assign(instrument=instrument))
    tables = {"outcome_rates": rates_shown, "claims": analysis.shared_scorecard}
    if pieces:
        tables["subgroup_response_rates"] = pd.concat(pieces, ignore_index=True)
    return tables


def shareable_bundle(analysis: Analysis, *, generated_at: datetime | None = None) -> bytes:
    """The aggregate tables as a zip meant for sharing: README, rates, claims, subgroup
    response rates, codebook and provenance; no per-patient row and no count below k."""
    from katoutcomes.filters import describe_filter
    from katoutcomes.suppression import suppression_note

    settings = analysis.settings
    k = settings.suppression_k
    generated = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    info = dict(analysis.dataset.provenance)
    source = analysis.source_label
    spec = analysis.filter
    cohort = describe_filter(spec) if isinstance(spec, Mapping) and spec else ""
    tables = shareable_tables(analysis)
    hide_total = "patients" in analysis.shared_rates.attrs.get("hidden_totals", [])
    n_patients = analysis.n_patients
    patients: object
    if hide_total or (k > 1 and 1 <= n_patients < k):
        patients = "not shown (small-cell rule)"
        if hide_total:
            source = source.replace(f"patients={n_patients}", "patients=not shown")
    else:
        patients = n_patients
    rule = suppression_note(k)
    files = {f"{name}.csv": csv_text(frame).encode() for name, frame in tables.items()}
    files["codebook.csv"] = csv_text(codebook(tables)).encode()
    readme = _shareable_readme(source, cohort, patients, rule, generated, sorted(files))
    files = {"README.txt": readme.encode(), **files}
    full = analysis.provenance(generated_at=generated_at)
    meta: dict[str, Any] = {
        key: full[key] for key in ("package", "package_version", "python", "dependencies")
    }
    meta |= {
        "generated_at": generated,
        "data_source": source,
        "filter": cohort or "none: all patients",
        "patients": patients,
        "settings": settings.to_dict(),
        "small_cell_suppression": rule,
        "left_out": "per-patient rows, patient identifiers, per-clinician results, "
        "Kaplan-Meier tables, adherence and adverse-event tables",
        "data": {key: value for key, value in info.items() if key != "source"},
    }
    return _zip(files, meta)


def _zip(files: dict[str, bytes], meta: dict[str, Any]) -> bytes:
    """The files and a provenance.json naming each file's SHA-256, as one zip."""
    meta["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    files = {**files, "provenance.json": json.dumps(meta, indent=1, default=str).encode()}
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
            "codebook.csv describes every column of every table.",
            "",
            "Files: " + ", ".join([*names, "provenance.json"]),
            "",
        ]
    )
