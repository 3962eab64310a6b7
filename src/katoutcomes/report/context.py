"""The analysis as plain template data: sections of rows, words and rendered figures.

Every number comes from the :class:`~katoutcomes.analysis.Analysis` (its results, and the
small-cell rule applied to them) and is written by :mod:`katoutcomes.formatting`; the
templates only lay the strings out. Nothing here is HTML except the figures rendered by
plotly (:mod:`katoutcomes.report.figures`); the templates escape everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from katoutcomes import formatting as fmt
from katoutcomes.claims import Claim, describe_rule
from katoutcomes.cohort import RATE_OUTCOME_LABELS
from katoutcomes.instruments import INSTRUMENTS, PHQ9
from katoutcomes.plots import (
    NEWS_LABELS,
    adverse_events,
    cohort_trajectory,
    cumulative_response,
    forest,
    news_color,
    response_duration,
    waterfall,
)
from katoutcomes.report import figures as figs
from katoutcomes.report.blocks import note, rule, section, table
from katoutcomes.report.methods import methods_section
from katoutcomes.report.models import comparisons_section, model_section
from katoutcomes.report.subgroups import subgroups_section
from katoutcomes.settings import Settings
from katoutcomes.suppression import (
    SUPPRESSED_COLUMN,
    suppress_rates,
    suppression_note,
)

if TYPE_CHECKING:
    from katoutcomes.analysis import Analysis

__all__ = ["report_context"]

#: Outcomes on the headline cards, in order (the rest are in the full table).
HEADLINE_OUTCOMES: Final = (
    "response",
    "remission",
    "reliable_improvement",
    "reliable_deterioration",
)
POPULATION_NAMES: Final = {"itt": "Intention to treat", "completers": "Completers"}

#: The page may load nothing: inline styles and scripts (plotly needs eval), data images.
CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; worker-src blob:"
)

#: Width of a figure on paper, in CSS pixels: fits the printable width of A4 (about 700 px
#: with 12 mm margins) and of US Letter (about 720 px).
PRINT_WIDTH: Final = 680


# --------------------------------------------------------------------------------------
# Headline rates
# --------------------------------------------------------------------------------------


def population_words(instrument: str, settings: Settings, treated: bool) -> str:
    inst = INSTRUMENTS[instrument]
    who = "who started treatment" if treated else "(no doses are recorded, so all of them)"
    origin = "first dose" if treated else "first assessment"
    return (
        f"eligible patients (baseline {inst.name} \u2265 {inst.caseness}) {who}; endpoint = "
        f"last assessment within {fmt.number(settings.endpoint_days)} days of the {origin}; "
        "a missing endpoint counts as not achieved"
    )


def _rate_cell(row: Any) -> dict[str, str]:
    if bool(row[SUPPRESSED_COLUMN]):
        return {"state": "suppressed"}
    if fmt.is_missing(row["estimate"]):
        return {"state": "missing", "value": fmt.MISSING}
    return {
        "state": "value",
        "value": fmt.pct(row["estimate"]),
        "interval": fmt.interval(row["ci_low"], row["ci_high"], "share"),
        "k": fmt.integer(row["k"]),
        "n": fmt.integer(row["n"]),
    }


def headline_section(analysis: Analysis, k: int) -> dict[str, Any]:
    rates = analysis.shared_rates
    settings = analysis.settings
    instruments = []
    itt = rates[rates["population"] == "itt"]
    for instrument in dict.fromkeys(itt["instrument"]):
        block = itt[itt["instrument"] == instrument].set_index("outcome")
        cards = [
            {"label": RATE_OUTCOME_LABELS[outcome], **_rate_cell(block.loc[outcome])}
            for outcome in HEADLINE_OUTCOMES
            if outcome in block.index
        ]
        instruments.append(
            {
                "name": instrument,
                "cards": cards,
                "who": population_words(instrument, settings, analysis.dataset.has_treatments),
            }
        )
    rules = []
    if rates[SUPPRESSED_COLUMN].any():
        rules.append(
            "A rate is marked suppressed when its patients, its patients with the outcome or "
            f"those without it number 1 to {k - 1}, or when a group it shows contains, or lies "
            f"within, another shown group that differs from it by 1 to {k - 1} patients."
        )
    dropped = rates.attrs.get("hidden_populations", [])
    if dropped:
        names = ", ".join(
            f"{instrument} {POPULATION_NAMES.get(population, population).lower()}"
            for instrument, population in dropped
        )
        rules.append(
            f"Not shown: {names}. Set beside the intention-to-treat population, these "
            f"columns would count a group of 1 to {k - 1} patients (those in one population "
            "but not the other)."
        )
    if "patients" in rates.attrs.get("hidden_totals", []):
        rules.append(
            "The number of patients in the data is not shown at the top: with the "
            f"populations below it would count a group of 1 to {k - 1} patients."
        )
    return section(
        "headline",
        "Headline outcomes",
        [],
        instruments=instruments,
        small_group=f"1 to {k - 1}",
        rules=rules,
        rates_table=_rates_table(rates),
    )


def _rates_table(rates: pd.DataFrame) -> dict[str, Any]:
    """Outcomes down, instrument × population across; each cell rate, interval, k of n."""
    columns = list(
        dict.fromkeys(
            zip(rates["instrument"].astype(str), rates["population"].astype(str), strict=True)
        )
    )
    cells = {
        (str(r["outcome"]), str(r["instrument"]), str(r["population"])): r
        for _, r in rates.iterrows()
    }
    rows = []
    for outcome in dict.fromkeys(rates["outcome"].astype(str)):
        row = []
        for instrument, population in columns:
            r = cells.get((outcome, instrument, population))
            row.append({"state": "missing", "value": fmt.MISSING} if r is None else _rate_cell(r))
        rows.append({"label": RATE_OUTCOME_LABELS.get(outcome, outcome), "cells": row})
    headers = [
        f"{instrument} {POPULATION_NAMES.get(population, population).lower()}"
        for instrument, population in columns
    ]
    return {"headers": headers, "rows": rows}


# --------------------------------------------------------------------------------------
# Claims scorecard
# --------------------------------------------------------------------------------------


def _rule_words(claim: Claim | None, settings: Settings) -> str:
    if claim is None:
        return ""
    text = describe_rule(claim)
    min_n = claim.min_n if claim.min_n is not None else settings.min_n
    if claim.rule != "descriptive":
        text += f" A verdict needs at least {min_n} patients."
    return text


def scorecard_section(analysis: Analysis, k: int) -> dict[str, Any]:
    card = analysis.shared_scorecard
    rules = {c.id: c for c in analysis.claims}
    tally = card["verdict"].value_counts()
    chips = [
        {"label": label, "count": fmt.integer(tally[word])}
        for word, label in fmt.VERDICT_LABELS.items()
        if tally.get(word, 0)
    ]
    legend = [_badge(news, label[:1].upper() + label[1:]) for news, label in NEWS_LABELS.items()]
    rows = []
    hidden = 0
    for _, r in card.iterrows():
        unit = str(r.get("unit", "share"))
        suppressed = bool(r.get(SUPPRESSED_COLUMN, False))
        hidden += suppressed
        claimed = ""
        if not fmt.is_missing(r["claimed"]):
            claimed = fmt.value(r["claimed"], unit, claimed=True)
            if not fmt.is_missing(r["margin"]):
                claimed += f" \u00b1 {fmt.margin(r['margin'], unit)}"
        has_interval = not (fmt.is_missing(r["ci_low"]) or fmt.is_missing(r["ci_high"]))
        rows.append(
            {
                "claim": str(r["claim"]),
                "id": str(r["id"]),
                "badge": _badge(str(r["news"]), fmt.verdict(str(r["verdict"]))),
                "direction": str(r["direction"]),
                "suppressed": suppressed,
                "estimate": fmt.value(r["estimate"], unit),
                "interval": fmt.interval(r["ci_low"], r["ci_high"], unit) if has_interval else "",
                "n": "" if fmt.is_missing(r["n"]) else fmt.integer(r["n"]),
                "claimed": claimed,
                "note": str(r["note"]),
                "rule": _rule_words(rules.get(str(r["id"])), analysis.settings),
                "population": str(r["population"]),
            }
        )
    blocks = []
    if hidden:
        blocks.append(
            rule(
                f"{hidden} result(s) involve a group of 1 to {k - 1} patients: their "
                "numbers and notes are not shown; the verdict is."
            )
        )
    return section(
        "claims",
        "Claims scorecard",
        blocks,
        chips=chips,
        legend=legend,
        rows=rows,
        small_group=f"1 to {k - 1}",
    )


def _badge(news: str, text: str) -> dict[str, str]:
    """A verdict badge coloured by the news for patients (:data:`plots.NEWS_COLORS`)."""
    return {
        "news": news,
        "text": text,
        "color": news_color(news),
        "background": news_color(news, background=True),
    }


# --------------------------------------------------------------------------------------
# Figures sections
# --------------------------------------------------------------------------------------


def cohort_section(analysis: Analysis, figures: figs.Figures, k: int) -> dict[str, Any]:
    blocks = []
    min_weeks = figs.trajectory_min_n(k)
    for instrument in INSTRUMENTS:
        fig = cohort_trajectory(
            analysis.dataset,
            instrument,
            analysis.settings,
            outcomes=analysis.outcomes,
            min_n=min_weeks,
        )
        blocks.append(figures.render(fig, f"fig-trajectory-{instrument.lower()}"))
    reason = figs.waterfall_hidden(analysis.outcomes, analysis.shared_rates, k)
    if reason:
        blocks.append(rule(f"The waterfall is not shown: {reason}."))
    else:
        fig = waterfall(analysis.outcomes, PHQ9.name, analysis.settings, show_patient_ids=False)
        blocks.append(figures.render(fig, "fig-waterfall-phq-9"))
    return section("cohort", "Symptoms over time", blocks)


def durability_section(analysis: Analysis, figures: figs.Figures, k: int) -> dict[str, Any]:
    blocks = []
    for event, make, div, what in (
        ("response", cumulative_response, "fig-cumulative-response", "Time to first response"),
        ("relapse", response_duration, "fig-response-duration", "How long response lasts"),
    ):
        curves, dropped = figs.truncate_curves(analysis.curves(event), k)
        if not curves.empty or not dropped:
            # An empty figure says "No data" and why; a suppressed one is left out.
            fig = make(curves)
            if k > 1:
                figs.hide_at_risk(fig)
            blocks.append(figures.render(fig, div))
        if dropped:
            blocks.append(
                rule(
                    f"{what}: {', '.join(dropped)} not drawn (fewer than {k} patients in the "
                    f"curve, or 1 to {k - 1} events, which the steps of the curve would count)."
                )
            )
    if k > 1:
        blocks.append(
            note(
                f"Curves end where fewer than {k} patients remain at risk; the numbers at risk "
                "are not shown (the drop from one to the next counts the patients who had the "
                "event or left follow-up in between)."
            )
        )
    return section("durability", "Onset and durability", blocks)


def benchmarks_section(analysis: Analysis, figures: figs.Figures) -> dict[str, Any]:
    shown = analysis.shared_rates
    hidden = shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
    clinic = analysis.rates[~hidden]
    benchmarks = analysis.benchmarks
    blocks = [figures.render(forest(clinic, benchmarks), "fig-forest")]
    if hidden.any():
        blocks.append(rule("Clinic rates hidden by the small-cell rule are not drawn."))
    blocks.append(
        note(
            "Published figures describe other studies' patients, not this clinic's, so they "
            "are shown as published. MADRS is clinician-rated and not the same scale as the "
            "PHQ-9 or GAD-7."
        )
    )
    rows = []
    for _, r in benchmarks.iterrows():
        relapse = fmt.pct(r["relapse"])
        if not fmt.is_missing(r["median_days_to_relapse"]):
            relapse = f"median {fmt.days(r['median_days_to_relapse'])}"
        rows.append(
            {
                "study": str(r["study"]),
                "setting": f"{r['setting']}; {r['route']}",
                "instrument": str(r["instrument"]),
                "n": fmt.integer(r["n"]),
                "timepoint": str(r["timepoint"]),
                "response": fmt.pct(r["response"]),
                "remission": fmt.pct(r["remission"]),
                "relapse": relapse,
                "citation": str(r["citation"]),
                "doi": "" if pd.isna(r["doi"]) else str(r["doi"]),
            }
        )
    blocks.append(table("benchmarks", rows=rows))
    return section("benchmarks", "Compared with published studies", blocks)


def safety_section(analysis: Analysis, figures: figs.Figures, k: int) -> dict[str, Any]:
    ae = analysis.adverse_events
    treated = analysis.n_treated
    # Patients with an event type, and (by subtraction from the treated patients) without it.
    shown = suppress_rates(
        ae.assign(treated=treated),
        k=k,
        count="patients",
        total="treated",
        value_columns=("sessions_with_event", "per_100"),
    )
    hidden = shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
    blocks: list[dict[str, Any]] = []
    if ae.empty:
        blocks.append(figures.render(adverse_events(analysis.dataset), "fig-adverse-events"))
        return section("safety", "Safety", blocks)
    if hidden[0]:
        blocks.append(
            rule(
                f"Adverse events are not shown: the treated patients with a recorded event, or "
                f"those without one, number 1 to {k - 1}."
            )
        )
        return section("safety", "Safety", blocks)
    fig = adverse_events(analysis.dataset)
    if not hidden.any() or figs.mask_adverse_events(fig, ae, hidden, k):
        blocks.append(figures.render(fig, "fig-adverse-events"))
    if hidden.any():
        names = ", ".join(ae.loc[hidden, "label"].str.lower())
        blocks.append(
            rule(
                f"Event types recorded in 1 to {k - 1} patients, or missing in only 1 to "
                f"{k - 1} of the treated patients, are shown as suppressed: {names}."
            )
        )
    rows = [
        {"label": str(r["label"]), "suppressed": True}
        if bool(r[SUPPRESSED_COLUMN])
        else {
            "label": str(r["label"]),
            "suppressed": False,
            "patients": fmt.integer(r["patients"]),
            "sessions": fmt.integer(r["sessions_with_event"]),
            "per_100": fmt.decimal(r["per_100"]),
        }
        for _, r in shown.iterrows()
    ]
    caption = (
        f"{fmt.integer(ae['sessions'].iloc[0])} sessions in all. A blank record counts as none "
        "recorded."
    )
    blocks.append(table("adverse_events", rows=rows, caption=caption))
    return section("safety", "Safety", blocks)


# --------------------------------------------------------------------------------------
# The whole report
# --------------------------------------------------------------------------------------


def filter_words(analysis: Analysis) -> str:
    """The filter a dataset was made with (:func:`katoutcomes.filters.filter_dataset`), in
    words ("site S3; first dose from 2025-01-01"), or "" for the whole dataset."""
    from katoutcomes.filters import describe_filter

    spec = analysis.filter
    return describe_filter(spec) if isinstance(spec, Mapping) and spec else ""


def report_context(analysis: Analysis, title: str, generated: datetime) -> dict[str, Any]:
    """Everything the report's templates show, as strings, lists and dicts."""
    settings = analysis.settings
    k = settings.suppression_k
    suppressing = k > 1
    figures = figs.Figures()
    provenance = analysis.provenance(generated_at=generated)
    n_patients = analysis.n_patients
    source = analysis.source_label
    cohort_filter = filter_words(analysis)
    if cohort_filter:
        title = f"{title}: {cohort_filter}"
    hide_total = "patients" in analysis.shared_rates.attrs.get("hidden_totals", [])
    if hide_total:
        # A demo cohort's name carries its size ("patients=30").
        source = source.replace(f"patients={n_patients}", "patients=not shown")

    def fact(value: int, label: str, *, hidden: bool = False) -> dict[str, str]:
        if suppressing and 1 <= value < k:
            return {"value": f"fewer than {k}", "label": label}
        if hidden:
            return {"value": "not shown", "label": f"{label} (small-cell rule)"}
        return {"value": fmt.integer(value), "label": label}

    sections = [
        headline_section(analysis, k),
        scorecard_section(analysis, k),
        cohort_section(analysis, figures, k),
        durability_section(analysis, figures, k),
        model_section(analysis, figures, k),
        benchmarks_section(analysis, figures),
        safety_section(analysis, figures, k),
        subgroups_section(analysis, figures, k),
        comparisons_section(analysis, figures, k),
        methods_section(analysis, provenance, cohort_filter, hide_total, source, generated),
    ]
    sections = [s for s in sections if s is not None]
    version = str(provenance["package_version"])
    return {
        "csp": CSP,
        "print_width": PRINT_WIDTH,
        "version": version,
        "title": title,
        "source": source,
        "filter": cohort_filter,
        "demo": source.startswith("demo cohort"),
        "facts": [
            fact(
                n_patients, "patients" + (" selected" if cohort_filter else ""), hidden=hide_total
            ),
            fact(len(analysis.dataset.treatments), "treatment sessions"),
            fact(len(analysis.dataset.assessments), "questionnaires (PHQ-9 and GAD-7)"),
        ],
        "generated_text": generated.strftime("%d %B %Y, %H:%M %Z").strip(),
        "generated_iso": generated.isoformat(timespec="seconds"),
        "rule": suppression_note(k),
        "suppressing": suppressing,
        "sections": sections,
    }
