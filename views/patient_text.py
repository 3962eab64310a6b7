"""The patient page's words: which patient the address asks for, scores and changes as
text, the item-9 record in a sentence, and the printable one-page summary.

The numbers come from :mod:`katoutcomes.patient_record` and the view's analysis.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Sequence
from typing import Final

import pandas as pd

import katoutcomes
from katoutcomes import plots
from katoutcomes.dataset import Dataset
from katoutcomes.formatting import MINUS, MISSING
from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.patient_record import (
    Item9Answers,
    item9_answers,
    item9_flags,
    patient_latest_score,
    patient_sessions,
)
from views.common import View, analysis
from views.labels import level_label

__all__ = [
    "LAST_PATIENT_KEY",
    "id_text",
    "is_yes",
    "item9_coverage_text",
    "patient_status",
    "patient_summary_html",
    "score_text",
    "signed_change",
    "when",
]


#: Session key of the patient last shown (reopened when the address names nobody).


LAST_PATIENT_KEY: Final = "katoutcomes_last_patient"


#: A pseudonymous patient id (methods §2.1).


_PATIENT_ID: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def id_text(asked: str | None) -> str | None:
    """A patient id from the address as markdown that shows it and nothing else (in code
    style); None for anything that is not a well-formed id, which is not repeated (it
    could carry markdown or a link)."""
    if asked and _PATIENT_ID.match(asked):
        return f"`{asked}`"
    return None


def patient_status(asked: str | None, shown: Sequence[str], known: Sequence[str]) -> str:
    """Whether the patient the address asks for can be shown.

    ``"shown"`` (listed under the current filter), ``"filtered"`` (in the data but hidden
    by the sidebar filter), ``"unknown"`` (not in the data at all) or ``"none"`` (no patient
    asked for). Only ``"shown"`` may show anybody: never fall back to another patient.
    """
    if not asked:
        return "none"
    if asked in shown:
        return "shown"
    return "filtered" if asked in known else "unknown"


def when(row: pd.Series, dataset: Dataset, column: str) -> str:
    """A row's date (or study day) as text."""
    if dataset.time_representation == "datetime" and pd.notna(row.get(column)):
        return pd.Timestamp(row[column]).strftime("%Y-%m-%d")
    return f"study day {row['t']:.0f}"


def patient_summary_html(view: View, patient_id: str) -> str:
    """A printable one-page summary: facts, item-9 flags, the figure and the sessions."""
    dataset, settings = view.dataset, view.settings
    frame = analysis(view).outcomes
    fig = plots.patient_trajectory(dataset, patient_id, frame, settings)
    fig.update_layout(width=900, height=680)
    figure = fig.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})
    sessions = patient_sessions(dataset, patient_id, level_label)
    n_doses = int((dataset.treatments["patient_id"].astype(str) == patient_id).sum())
    facts = [("Dosing sessions", f"{n_doses}")]
    mine = frame[frame["patient_id"].astype(str) == patient_id]
    order = {name: i for i, name in enumerate(INSTRUMENTS)}
    mine = mine.sort_values("instrument", key=lambda s: s.map(order))
    for _, row in mine.iterrows():
        name = str(row["instrument"])
        endpoint_day = "" if pd.isna(row["endpoint_day"]) else f" (day {row['endpoint_day']:.0f})"
        facts.append((f"{name} baseline", score_text(row["baseline"])))
        facts.append((f"{name} endpoint{endpoint_day}", score_text(row["endpoint"])))
        facts.append((f"{name} change, baseline to endpoint", signed_change(row["pct_change"])))
        # The endpoint closes the acute window; a later score may tell another story.
        facts.append(
            (f"{name} latest", score_text(patient_latest_score(dataset, patient_id, name)))
        )
    flags = item9_flags(dataset, patient_id)
    flag_items = "".join(
        f"<li>{html.escape(when(row, dataset, 'assessed_at'))}: item 9 = "
        f"{score_text(row['item_9'])}{' (high)' if is_yes(row['item9_high']) else ''}, "
        f"PHQ-9 total {score_text(row['total'])}</li>"
        for _, row in flags.iterrows()
    )
    answered = item9_answers(dataset, patient_id)
    coverage = html.escape(item9_coverage_text(answered, len(flags)))
    if len(flags):
        flag_block = (
            f'<div class="flag"><strong>PHQ-9 item 9 (thoughts of self-harm) scored at least 1 '
            f"on {len(flags)} occasion(s):</strong><ul>{flag_items}</ul>"
            + (f"<p>{coverage}</p>" if answered.unanswered else "")
            + "</div>"
        )
    elif answered.unanswered:
        flag_block = f'<div class="gap"><strong>{coverage}</strong></div>'
    else:
        flag_block = f"<p>{coverage}</p>"
    fact_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
    )
    table = sessions.to_html(
        index=False, na_rep="", float_format=lambda x: f"{x:.2f}".rstrip("0").rstrip("."), border=0
    )
    generated = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Patient {html.escape(patient_id)} – katoutcomes summary</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; color: #222; margin: 24px; font-size: 13px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
.muted {{ color: #666; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
th, td {{ padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: left; }}
.flag {{ border: 2px solid #C0392B; background: #F8E0DD; padding: 8px 12px; margin: 12px 0; }}
.gap {{ border: 2px solid #B9770E; background: #FCF3CF; padding: 8px 12px; margin: 12px 0; }}
@page {{ size: A4; margin: 10mm; }}
@media print {{ body {{ margin: 0; font-size: 11px; }} .plotly-graph-div {{ zoom: 0.78; }} }}
</style></head><body>
<h1>Patient {html.escape(patient_id)}</h1>
<p class="muted">{html.escape(view.source.label)} · generated {generated} by katoutcomes
{html.escape(katoutcomes.__version__)} · response = a fall of at least
{settings.response:.0%} from baseline within {settings.endpoint_days:.0f} days</p>
{flag_block}
<table>{fact_rows}</table>
{figure}
<h2 style="font-size:16px">Sessions</h2>
{table}
</body></html>"""


def signed_change(fraction: object) -> str:
    """A change in score as a signed percentage with its meaning in words.

    Higher PHQ-9 and GAD-7 scores mean more symptoms, so a rise is worse and a fall is
    better: ``0.56`` gives ``"+56% (worse)"``, ``-0.82`` gives ``"−82% (better)"`` (with
    the minus sign U+2212), a change that rounds to 0% gives ``"0% (no change)"``.
    """
    if fraction is None or pd.isna(fraction):  # type: ignore[call-overload]
        return MISSING
    percent = round(100.0 * float(fraction))  # type: ignore[arg-type]
    if percent > 0:
        return f"+{percent}% (worse)"
    if percent < 0:
        return f"{MINUS}{-percent}% (better)"
    return "0% (no change)"


def item9_coverage_text(answers: Item9Answers, flagged: int = 0) -> str:
    """What the item-9 record says, counting the questionnaires where it was not answered:
    a missing answer is not a reassurance. ``flagged``: occasions scored 1 or more."""
    n, missing = answers.questionnaires, answers.unanswered
    if n == 0:
        return "No PHQ-9 questionnaire recorded: item 9 (thoughts of self-harm) was never asked."
    plural = "s" if n > 1 else ""
    if missing == 0:
        if flagged:
            return f"Item 9 answered on all {n} PHQ-9 questionnaire{plural}."
        return f"No item-9 flag: item 9 answered 0 on all {n} PHQ-9 questionnaire{plural}."
    text = (
        f"Item 9 (thoughts of self-harm) not answered on {missing} of {n} PHQ-9 "
        f"questionnaire{plural}"
    )
    if flagged or answers.answered == 0:
        return text + "."
    return text + f"; answered 0 on the other {answers.answered}."


def is_yes(value: object) -> bool:
    """A nullable yes/no cell as a plain bool (missing is no)."""
    return bool(pd.notna(value) and value)


def score_text(value: object) -> str:
    return MISSING if pd.isna(value) else f"{float(value):.0f}"
