"""One patient's record as the therapist reads it: sessions day by day (scores, doses,
route, monitoring, psychotherapy, adverse events), the latest score, and the PHQ-9 item-9
(thoughts of self-harm) answers and flags.

Pure functions over a :class:`~katoutcomes.dataset.Dataset`; the patient page and the
printable summary lay them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from katoutcomes.dataset import Dataset
from katoutcomes.instruments import INSTRUMENTS

__all__ = [
    "Item9Answers",
    "item9_answers",
    "item9_flags",
    "patient_ids",
    "patient_latest_score",
    "patient_sessions",
]


def patient_ids(dataset: Dataset) -> list[str]:
    return sorted(dataset.assessments["patient_id"].astype(str).unique())


def patient_latest_score(dataset: Dataset, patient_id: str, instrument: str) -> float:
    """The patient's most recent total on an instrument (NaN when none)."""
    a = dataset.assessments
    rows = a[(a["patient_id"].astype(str) == patient_id) & (a["instrument"] == instrument)]
    rows = rows.dropna(subset=["total"]).sort_values("t")
    return float(rows["total"].iloc[-1]) if len(rows) else float("nan")


def item9_flags(dataset: Dataset, patient_id: str) -> pd.DataFrame:
    """The patient's PHQ-9 assessments with item 9 (thoughts of self-harm) flagged."""
    rows = dataset.assessments[
        (dataset.assessments["patient_id"].astype(str) == patient_id)
        & dataset.assessments["item9_flag"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    ]
    return rows.sort_values("t")


def patient_sessions(
    dataset: Dataset, patient_id: str, route_label: Callable[[str], str] = str
) -> pd.DataFrame:
    """One row per day with an assessment or a dose: scores and dose details side by side.

    Columns (already labelled for display): Date, Day (since the first dose), PHQ-9, GAD-7,
    PHQ-9 item 9, Dose (mg), Dose (mg/kg), Route, Monitoring (min), Psychotherapy,
    Adverse events. ``route_label`` names a route code (default: as recorded).
    """
    datetime = dataset.time_representation == "datetime"
    a = dataset.assessments[dataset.assessments["patient_id"].astype(str) == patient_id]
    t = dataset.treatments[dataset.treatments["patient_id"].astype(str) == patient_id]

    def day_key(frame: pd.DataFrame, column: str) -> pd.Series:
        if datetime:
            return pd.to_datetime(frame[column]).dt.normalize()
        return np.floor(frame["t"])

    a = a.sort_values("t").assign(_key=day_key(a, "assessed_at"))
    # Several questionnaires on one day are all shown, in order ("27 → 17"): keeping only
    # one could hide the score that raised an item-9 flag.
    scores = a.pivot_table(
        index="_key", columns="instrument", values="total", aggfunc=_in_order, dropna=False
    )
    scores = scores.reindex(columns=[c for c in INSTRUMENTS if c in scores.columns])
    item9 = (
        a[a["instrument"] == "PHQ-9"]
        .groupby("_key")["item_9"]
        .agg(_in_order)
        .rename("PHQ-9 item 9")
    )
    t = t.sort_values("t").assign(_key=day_key(t, "administered_at"))
    doses = pd.DataFrame(index=pd.Index([], name="_key"))
    if not t.empty:
        t = t.assign(mg_per_kg=t["dose_mg"] / t["weight_kg"])
        doses = t.groupby("_key").agg(
            **{
                "Dose (mg)": ("dose_mg", "sum"),
                "Dose (mg/kg)": ("mg_per_kg", "sum"),
                "Route": ("route", lambda s: ", ".join(route_label(v) for v in s.dropna())),
                "Monitoring (min)": ("monitoring_minutes", "max"),
                "Psychotherapy": ("psychotherapy", lambda s: _yes_no(s)),
                "Adverse events": ("adverse_events", _events_text),
            }
        )
    pieces = [scores, item9] + ([doses] if not t.empty else [])
    out = pd.concat(pieces, axis=1, sort=True)
    if datetime and not out.empty:
        # Calendar days since the date of the first dose (a questionnaire filled in an hour
        # before the first dose is on day 0, not day -1).
        stamps = pd.concat(
            [pd.to_datetime(a["assessed_at"]), pd.to_datetime(t["administered_at"])],
            ignore_index=True,
        )
        times = pd.to_timedelta(pd.concat([a["t"], t["t"]], ignore_index=True), unit="D")
        origin = (stamps - times).dropna().dt.round("min").dt.normalize().min()
        day = pd.Series((pd.DatetimeIndex(out.index) - origin).days, index=out.index)
    else:
        day = pd.Series(out.index, index=out.index)
    out.insert(0, "Day", day.astype("Int64"))
    if datetime:
        out.insert(0, "Date", pd.DatetimeIndex(out.index).strftime("%Y-%m-%d"))
    return out.reset_index(drop=True)


def _in_order(values: pd.Series) -> str:
    return " → ".join(f"{v:.0f}" for v in values.dropna())


def _yes_no(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    return "Yes" if bool(values.astype(bool).any()) else "No"


def _events_text(values: pd.Series) -> str:
    codes = [c.strip() for v in values.dropna().astype(str) for c in v.split(";") if c.strip()]
    return ", ".join(dict.fromkeys(c.replace("_", " ") for c in codes))


@dataclass(frozen=True)
class Item9Answers:
    """How many of a patient's PHQ-9 questionnaires answered item 9."""

    questionnaires: int
    answered: int

    @property
    def unanswered(self) -> int:
        return self.questionnaires - self.answered


def item9_answers(dataset: Dataset, patient_id: str) -> Item9Answers:
    """PHQ-9 questionnaires of the patient, and those with item 9 (self-harm) answered."""
    a = dataset.assessments
    mine = a[(a["patient_id"].astype(str) == patient_id) & (a["instrument"] == "PHQ-9")]
    return Item9Answers(len(mine), int(mine["item_9"].notna().sum()))
