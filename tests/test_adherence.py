"""Protocol adherence measures, on hand-built treatment tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import build
from katoutcomes.adherence import dose_mg_per_kg, doses_within


def test_doses_within_counts_days_0_to_21_inclusive_per_treated_patient():
    # P001: doses on days 0, 3, 7, 21 (21 counts) and 22 (does not) -> 4.
    # P002: one dose on day 0 -> 1.
    scores = [("P001", "PHQ-9", 0.0, 20), ("P002", "PHQ-9", 0.0, 18)]
    doses = [{"patient_id": "P001", "t": t} for t in (0.0, 3.0, 7.0, 21.0, 22.0)]
    doses.append({"patient_id": "P002", "t": 0.0})
    ds = build(scores, doses)
    assert doses_within(ds.treatments).to_dict() == {"P001": 4, "P002": 1}
    assert doses_within(ds.treatments, days=7).to_dict() == {"P001": 3, "P002": 1}


def test_dose_per_kilogram_is_missing_without_a_weight():
    # 35 mg / 70 kg = 0.5 mg/kg; 60 mg with no weight -> missing.
    treatments = pd.DataFrame({"dose_mg": [35.0, 60.0], "weight_kg": [70.0, np.nan]})
    result = dose_mg_per_kg(treatments)
    assert result.iloc[0] == 0.5 and np.isnan(result.iloc[1])
