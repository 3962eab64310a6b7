"""Input layouts: the canonical long layout and the visit-wide clinic spreadsheet.

Visit-wide files hold one row per visit::

    patient_id, date, phq9, gad7, dose_mg, route, weight_kg, ...

and are reshaped into assessment records (one per non-blank score) and treatment records
(one per visit with dosing information). Every record keeps the line of the visit it came
from, so a problem is reported where the user can find it.
"""

from __future__ import annotations

from typing import Final

import pandas as pd

from katoutcomes.errors import IngestError
from katoutcomes.schema import load_schema

__all__ = ["VISIT_SCORE_COLUMNS", "detect_layout", "split_visit_wide"]

#: Score columns of the visit-wide layout and the instrument each holds.
VISIT_SCORE_COLUMNS: Final = {"phq9_total": "PHQ-9", "gad7_total": "GAD-7"}
#: Fields whose presence makes a visit a ketamine administration.
DOSING_EVIDENCE: Final = ("dose_mg", "route")
_SHARED: Final = ("patient_id", "time", "study_day", "site_id", "clinician_id", "line")


def detect_layout(
    columns: list[str],
    file: str,
    declared: str | None = None,
    original: list[str] | None = None,
) -> str:
    """``"long"`` or ``"visit-wide"`` from the (renamed) columns.

    Raises
    ------
    IngestError
        When the columns fit neither layout.
    """
    has_scores = any(c in VISIT_SCORE_COLUMNS for c in columns)
    has_instrument = "instrument" in columns
    if declared is not None:
        return declared
    if has_instrument:
        return "long"
    if has_scores:
        return "visit-wide"
    raise IngestError(
        f"{file}: unknown layout. An assessments file needs either an 'instrument' column with "
        "'total' or item columns (long layout), or score columns such as 'phq9' and 'gad7' "
        "(one row per visit). The file's columns are: "
        + (", ".join(repr(c) for c in (original or columns) if c != "line") or "(none)")
        + ". A mapping file (--mapping) can say which column is which.",
        file=file,
    )


def split_visit_wide(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Reshape a visit-wide text table.

    Returns
    -------
    assessments : long records ``patient_id, instrument, time|study_day, total, ...``
    treatments : records for visits with any dosing field filled in
    empty_visits : the lines of visits with neither a score nor a dose (to be rejected)
    """
    shared = [c for c in _SHARED if c in frame.columns]
    markers = list(load_schema("assessments").missing_values)
    parts = []
    for column, instrument in VISIT_SCORE_COLUMNS.items():
        if column not in frame.columns:
            continue
        present = ~frame[column].isin(markers)
        part = frame.loc[present, shared].assign(instrument=instrument, total=frame[column])
        parts.append(part)
    assessments = (
        pd.concat(parts).sort_values("line", kind="stable") if parts else frame[shared].iloc[:0]
    )
    dose_fields = [
        f
        for f in load_schema("treatments").field_names
        if f in frame.columns and f not in _SHARED and f not in ("administered_at",)
    ]
    # A visit is a treatment when it says what was given: a dose or a route. Weight,
    # monitoring or "psychotherapy: no" alone do not make a screening visit a dose.
    markers_present = [f for f in DOSING_EVIDENCE if f in frame.columns]
    if markers_present:
        dosed = (~frame[markers_present].isin(markers)).any(axis=1)
    else:
        dosed = pd.Series(False, index=frame.index)
    treatments = frame.loc[dosed, shared + dose_fields]
    scored = pd.Series(False, index=frame.index)
    for column in VISIT_SCORE_COLUMNS:
        if column in frame.columns:
            scored |= ~frame[column].isin(markers)
    empty = frame.loc[~scored & ~dosed, ["line"]]
    return (
        assessments.reset_index(drop=True),
        treatments.reset_index(drop=True),
        empty.reset_index(drop=True),
    )
