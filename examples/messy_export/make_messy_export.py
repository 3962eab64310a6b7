"""Write the messy example export: a synthetic cohort as an EHR or a clinic spreadsheet
would hand it over.

The patients, scores and doses come from katoutcomes' demo generator (synthetic, no real
person). They are then written the way real exports are:

- ``assessments.xlsx``: a merged title row and a note row above the header (row 3), the
  date and time written as text day first (``31/12/2025 15:59``), ``PHQ9``/``GAD7``, and
  three questionnaires whose score reads ``not done``;
- ``treatments.csv``: semicolon-separated with decimal commas (``64,3``), dates day first,
  ``yes``/``no`` for psychotherapy;
- ``patients.csv``: sex as ``F``/``M``, the clinic's own age bands (``<20``, ``20-24``, ...,
  ``65+``), diagnoses spelled out (``Major depressive disorder``), ``Y``/``N``;
- every patient id an eight-digit number such as ``20671021``.

Run from the repository root to write the files again (the same seed gives the same data)::

    python examples/messy_export/make_messy_export.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.styles import Font

from katoutcomes.demo import generate_demo
from katoutcomes.privacy import patient_id_problems

HERE = Path(__file__).resolve().parent
PATIENTS = 80
SEED = 20251202
DAY_FIRST = "%d/%m/%Y %H:%M"
DIAGNOSES = {
    "MDD": "Major depressive disorder",
    "TRD": "Treatment-resistant depression",
    "GAD": "Generalised anxiety disorder",
    "PTSD": "PTSD",
    "bipolar_depression": "Bipolar depression",
    "other": "Other",
}
#: The clinic's age bands: five years wide from 20, everyone from 65 together.
CLINIC_BANDS = ((0, "<20"), *((a, f"{a}-{a + 4}") for a in range(20, 65, 5)), (65, "65+"))


def _ids(n: int, rng: np.random.Generator) -> list[str]:
    """Eight-digit pseudonymous numbers, none of them a date since 1900 (the first is
    20671021, which would be 21 October 2067)."""
    ids = ["20671021"]
    while len(ids) < n:
        candidate = str(int(rng.integers(20_000_000, 40_000_000)))
        if candidate not in ids and pd.isna(patient_id_problems(pd.Series([candidate]))[0]):
            ids.append(candidate)
    return ids


def _clinic_band(band: str, rng: np.random.Generator) -> str:
    """A katoutcomes band (``35-39``) as the clinic's band of an age drawn inside it."""
    if band.startswith("<"):
        age = 18
    elif band.endswith("+"):
        age = int(band[:-1])
    else:
        low, high = (int(x) for x in band.split("-"))
        age = int(rng.integers(low, high + 1))
    label = CLINIC_BANDS[0][1]
    for low, name in CLINIC_BANDS:
        if age >= low:
            label = name
    return label


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _yes_no(values: pd.Series, yes: str, no: str) -> pd.Series:
    return values.map({True: yes, False: no}).fillna("")


def write_messy_export(folder: Path = HERE) -> dict[str, Path]:
    rng = np.random.default_rng(SEED)
    cohort = generate_demo(patients=PATIENTS, seed=SEED)
    ids = dict(zip(cohort.patients["patient_id"], _ids(PATIENTS, rng), strict=True))

    a = cohort.assessments
    items = [c for c in a.columns if c.startswith("item_")]
    assessments = pd.DataFrame(
        {
            "Patient ID": a["patient_id"].map(ids).astype("int64"),
            "Questionnaire": a["instrument"].str.replace("-", "", regex=False),
            "Assessment date": a["assessed_at"].dt.strftime(DAY_FIRST),
            "Total score": a["total"].astype("object"),
            **{f"Q{c.removeprefix('item_')}": a[c].astype("object") for c in items},
            "Site": a["site_id"],
            "Clinician": a["clinician_id"],
        }
    )
    # Three questionnaires were started but not scored.
    for row in rng.choice(len(assessments), size=3, replace=False):
        assessments.loc[row, "Total score"] = "not done"
    paths = {"assessments": folder / "assessments.xlsx"}
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "PHQ-9 GAD-7"
    ws.append(["Ketamine Clinic - PHQ-9 and GAD-7 questionnaires"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(assessments.columns))
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["Exported from the EHR. De-identified: pseudonymous patient numbers only."])
    ws.append(list(assessments.columns))
    for row in assessments.itertuples(index=False):
        ws.append([None if _missing(v) else (int(v) if isinstance(v, float) else v) for v in row])
    wb.properties.created = pd.Timestamp("2025-12-02").to_pydatetime()
    wb.save(paths["assessments"])

    t = cohort.treatments
    weight = t["weight_kg"].map(lambda w: "" if pd.isna(w) else f"{w:.1f}".replace(".", ","))
    treatments = pd.DataFrame(
        {
            "Patient ID": t["patient_id"].map(ids),
            "Session date": t["administered_at"].dt.strftime(DAY_FIRST),
            "Route": t["route"],
            "Dose (mg)": t["dose_mg"].map(lambda d: f"{d:g}"),
            "Weight (kg)": weight,
            "KAP": _yes_no(t["psychotherapy"], "yes", "no"),
            "Monitoring (min)": t["monitoring_minutes"].map(
                lambda m: "" if pd.isna(m) else f"{m:g}"
            ),
            "Side effects": t["adverse_events"].fillna(""),
            "Site": t["site_id"],
            "Clinician": t["clinician_id"],
        }
    )
    paths["treatments"] = folder / "treatments.csv"
    treatments.to_csv(paths["treatments"], sep=";", index=False)

    p = cohort.patients
    patients = pd.DataFrame(
        {
            "Patient ID": p["patient_id"].map(ids),
            "Age group": [_clinic_band(b, rng) for b in p["age_band"]],
            "Sex": p["sex"].map({"female": "F", "male": "M", "other": "X", "unknown": "U"}),
            "Diagnosis": p["primary_diagnosis"].map(DIAGNOSES),
            "Failed treatments": p["prior_treatment_failures"].astype("str"),
            "SSRI": _yes_no(p["concurrent_ssri"], "Y", "N"),
            "Psychosis history": _yes_no(p["psychosis_history"], "Y", "N"),
            "Uncontrolled hypertension": _yes_no(p["uncontrolled_hypertension"], "Y", "N"),
            "Substance use history": _yes_no(p["substance_use_history"], "Y", "N"),
        }
    )
    paths["patients"] = folder / "patients.csv"
    patients.to_csv(paths["patients"], index=False)
    return paths


if __name__ == "__main__":
    for name, path in write_messy_export().items():
        print(f"{name}: {path}")
