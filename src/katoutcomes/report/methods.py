"""The report's methods section as template data: definitions with their sources, the
settings used, the small-cell rule as applied, and the data provenance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from katoutcomes import formatting as fmt
from katoutcomes.instruments import GAD7, PHQ9
from katoutcomes.methods import methods_html
from katoutcomes.report.figures import trajectory_min_n
from katoutcomes.settings import Settings
from katoutcomes.suppression import suppression_note

if TYPE_CHECKING:
    from katoutcomes.analysis import Analysis

__all__ = ["methods_section"]

SETTING_MEANINGS: Final = {
    "baseline_window_days": "Baseline: the last assessment from this many days before the "
    "first dose up to the day of it",
    "acute_days": "Acute course: doses within this many days of the first are acute doses",
    "visit_window_days": "Endpoint: the last assessment up to this many days after the acute "
    "course (visit schedules slip)",
    "early_improvement": "Fall from baseline that counts as early improvement",
    "response": "Fall from baseline that counts as response",
    "phq9_max_missing_items": "PHQ-9 items that may be missing before a total is not prorated",
    "gad7_max_missing_items": "GAD-7 items that may be missing before a total is not prorated",
    "min_n": "Fewest patients for a claim verdict (fewer: inconclusive)",
    "suppression_k": "Small-cell suppression: counts 1 to k - 1 are not shown (0: off)",
    "allow_columns": "Columns let through the de-identification guard",
    "model_max_patients": "Most patients a trajectory model is fitted on (a seeded sample "
    "above it)",
    "band_level": "Nominal coverage of the expected-recovery band",
}
FRACTION_SETTINGS: Final = frozenset({"early_improvement", "response"})

SOURCES: Final = {
    "bands": "Kroenke 2001 (PHQ-9); Spitzer 2006 (GAD-7)",
    "caseness": "NHS Talking Therapies manual (v7, 2024)",
    "remission": "ORKA-1 (McInnes 2022), SUSTAIN-3 (Zaki 2023)",
    "reliable": "NHS Talking Therapies manual (v7, 2024)",
    "reliability": "Kroenke 2001 (PHQ-9); Spitzer 2006 (GAD-7)",
    "norms": "Kocalevent 2013 (PHQ-9); Löwe 2008 (GAD-7)",
    "jt": "Jacobson NS, Truax P. J Consult Clin Psychol 1991;59:12-19",
}


def definitions(settings: Settings) -> list[tuple[str, str, str, str, str]]:
    """Rows of the definitions table: term, definition, PHQ-9, GAD-7, source."""
    p, g = PHQ9, GAD7
    fall = fmt.pct(settings.response, 0)
    early = fmt.pct(settings.early_improvement, 0)

    def both(attribute: str) -> tuple[str, str]:
        return fmt.number(getattr(p, attribute)), fmt.number(getattr(g, attribute))

    caseness = both("caseness")
    remission = both("remission_below")
    reliable = both("reliable_change")
    reliability = both("reliability")
    norms = (
        f"mean {fmt.number(p.functional_mean)}, SD {fmt.number(p.functional_sd)}",
        f"mean {fmt.number(g.functional_mean)}, SD {fmt.number(g.functional_sd)}",
    )
    # Score ranges are integer ranges of the questionnaire, not intervals of estimates.
    bands_p = "; ".join(f"{b.label} {b.low}\u2013{b.high}" for b in p.bands)
    bands_g = "; ".join(f"{b.label} {b.low}\u2013{b.high}" for b in g.bands)
    baseline_days = fmt.number(settings.baseline_window_days)
    acute = fmt.number(settings.acute_days)
    visit = fmt.number(settings.visit_window_days)
    endpoint_days = fmt.number(settings.endpoint_days)
    return [
        (
            "Score range and severity bands",
            "Total of the items (0\u20133 each).",
            f"0\u2013{p.max_score}: {bands_p}",
            f"0\u2013{g.max_score}: {bands_g}",
            SOURCES["bands"],
        ),
        (
            "Baseline",
            f"The last valid assessment from {baseline_days} days before the first "
            "dose up to the day of it (t = 0).",
            "",
            "",
            "methods §4.2; setting baseline_window_days",
        ),
        (
            "Eligible (caseness)",
            "Baseline at or above caseness; all rates use eligible patients.",
            f"\u2265 {caseness[0]}",
            f"\u2265 {caseness[1]}",
            SOURCES["caseness"],
        ),
        (
            "Endpoint",
            f"The last valid assessment within {endpoint_days} days after the first dose: "
            f"the {acute}-day acute course plus a {visit}-day visit window, because visit "
            "schedules slip; none: not a completer. Doses count as acute up to day "
            f"{acute}.",
            "",
            "",
            "methods §4.4; settings acute_days, visit_window_days",
        ),
        (
            "Response",
            f"Endpoint at most (1 \u2212 {fmt.number(settings.response)}) \u00d7 baseline, "
            f"a fall of at least {fall}.",
            "",
            "",
            "methods §4.6; setting response",
        ),
        (
            "Early improvement",
            f"A fall of at least {early} from baseline at any assessment "
            "(time to early improvement).",
            "",
            "",
            "methods §4.11; setting early_improvement",
        ),
        (
            "Remission",
            "Endpoint below the threshold.",
            f"< {remission[0]}",
            f"< {remission[1]}",
            SOURCES["remission"],
        ),
        (
            "Reliable improvement / deterioration",
            "Baseline minus endpoint (or endpoint minus "
            "baseline) at least the reliable-change points.",
            f"{reliable[0]} points",
            f"{reliable[1]} points",
            SOURCES["reliable"],
        ),
        (
            "Recovery / reliable recovery",
            "Baseline at or above caseness and endpoint below it; "
            "reliable recovery adds reliable improvement.",
            "",
            "",
            SOURCES["caseness"],
        ),
        (
            "Relapse",
            "After a first response, the first of two consecutive assessments that both "
            "fail the response criterion and are both at or above caseness; response duration is "
            "the time from the first response to it. Without a confirmed relapse a patient is "
            "censored at the second-to-last assessment after the first response, the last "
            "time a relapse could still have been confirmed (at the first response with fewer "
            "than two later assessments). Response, time to response and relapse are "
            "undefined for a baseline of 0.",
            "",
            "",
            "methods §4.12",
        ),
        (
            "Jacobson\u2013Truax reliable change",
            "S_diff = SD_pre \u00b7 \u221a(2(1 \u2212 r)), "
            "RCI = (endpoint \u2212 baseline) / S_diff; reliable when |RCI| > 1.96. SD_pre is the "
            "sample SD of eligible completers' baselines.",
            f"r = {reliability[0]}",
            f"r = {reliability[1]}",
            f"{SOURCES['jt']}; r: {SOURCES['reliability']}",
        ),
        (
            "Jacobson\u2013Truax clinical cut-off c",
            "c = (SD_clin \u00b7 M_func + SD_func \u00b7 "
            "M_clin) / (SD_clin + SD_func), clinical mean and SD from the same baselines; "
            "recovered = reliably improved and crossing c.",
            norms[0],
            norms[1],
            f"{SOURCES['jt']}; norms: {SOURCES['norms']}",
        ),
    ]


def settings_rows(settings: Settings) -> list[dict[str, str]]:
    """Each setting, its value as written, and what it means."""
    values = settings.to_dict()
    rows = []
    for f in fields(settings):
        value = values[f.name]
        shown = fmt.number(value)
        if f.name in FRACTION_SETTINGS:
            shown = f"{shown} ({fmt.pct(value, 0)})"
        rows.append({"name": f.name, "value": shown, "meaning": SETTING_MEANINGS.get(f.name, "")})
    return rows


def suppression_items(k: int) -> list[str]:
    """The small-cell rule as applied in this report (empty when it is off)."""
    if k <= 1:
        return []
    small = f"1 to {k - 1}"
    min_weeks = trajectory_min_n(k)
    return [
        f"A count of {small} patients is never shown (zero is: it describes nobody), nor any "
        "figure that would give it back: a rate, its interval, a mean, a difference.",
        f"A rate \u201ca of n\u201d is hidden when a (patients with the outcome), n (the "
        f"group) or n \u2212 a (patients without it) is {small}.",
        "Where one shown group contains another (all patients and the intention-to-treat "
        "population; intention to treat and completers; recovery and reliable recovery), the "
        f"difference is a count too: when it is {small}, the smaller group is hidden (or the "
        "total at the top of the report, rather than a whole population).",
        "In subgroup tables, whose groups add up to a total shown in this report, further "
        "groups are hidden, smallest first, until at least two are hidden that hold "
        f"{k} or more patients together and whose responders and non-responders each add up "
        f"to 0 or {k} or more (complementary suppression); differences between groups are "
        "then left out.",
        f"Adverse-event types recorded in {small} treated patients, or missing in only "
        f"{small}, are hidden. Weekly means need {min_weeks} or more patients. "
        f"Kaplan\u2013Meier curves end where fewer than {k} patients remain at risk, are "
        f"left out when they would show {small} events, and do not show the numbers at risk.",
        "A claim's numbers and explanation are hidden when its patients, the patients its "
        f"share implies (or those left), or any count its explanation states or implies is "
        f"{small}; its verdict is shown. A response-rate claim is hidden when the same rate "
        "is hidden in the rates table.",
        f"Counts of patients at risk of {small} are not shown; funnel plots leave out sites "
        f"with fewer than {k} patients.",
        "Per-patient rows, patient identifiers and per-clinician results are not part of "
        "this report.",
    ]


def provenance_items(
    analysis: Analysis,
    provenance: Mapping[str, Any],
    cohort_filter: str,
    hide_total: bool,
    source: str,
) -> list[dict[str, Any]]:
    """Data provenance: term, value, and whether the value is a hash (set in monospace)."""
    info = dict(analysis.dataset.provenance)
    k = analysis.settings.suppression_k
    n_patients = analysis.n_patients
    items: list[dict[str, Any]] = [{"term": "Data source", "value": source}]
    if "content_sha256" in info:
        items.append(
            {"term": "Content SHA-256", "value": str(info["content_sha256"]), "mono": True}
        )
    if cohort_filter:
        if hide_total:
            count = "patient count not shown: small-cell rule"
        elif k > 1 and 1 <= n_patients < k:
            count = f"fewer than {k} patients"
        else:
            count = fmt.count(n_patients, "patients")
        items.append(
            {
                "term": "Filter",
                "value": f"{cohort_filter} ({count}); the report describes only these patients",
            }
        )
    items.append({"term": "Time representation", "value": str(provenance["time_representation"])})
    if "rejected_rows" in info:
        items.append(
            {"term": "Rows rejected at ingest", "value": fmt.integer(info["rejected_rows"])}
        )
    dependencies = provenance["dependencies"]
    items += [
        {"term": "Report generated", "value": str(provenance["generated_at"])},
        {"term": "katoutcomes", "value": str(provenance["package_version"])},
        {
            "term": "Software",
            "value": f"Python {provenance['python']}, pandas {dependencies['pandas']}, "
            f"plotly {dependencies['plotly']}",
        },
    ]
    return items


def methods_section(
    analysis: Analysis,
    provenance: Mapping[str, Any],
    cohort_filter: str,
    hide_total: bool,
    source: str,
    generated: datetime,
) -> dict[str, Any]:
    """The methods section: definitions, populations, claims rules, intervals, models,
    settings, small-cell rule and provenance. Populations, rules, intervals and models are
    the sections of docs/methods.md (:func:`katoutcomes.methods.methods_html`)."""
    settings = analysis.settings
    files = [
        {
            "table": str(entry.get("table", "")),
            "file": str(entry.get("file", "")),
            "sha256": str(entry.get("sha256", "")),
        }
        for entry in dict(analysis.dataset.provenance).get("files") or []
        if isinstance(entry, Mapping)
    ]
    return {
        "anchor": "methods",
        "title": "Methods",
        "css": "methods",
        "blocks": [],
        "definitions": definitions(settings),
        "settings": settings_rows(settings),
        "rule": suppression_note(settings.suppression_k),
        "suppression_items": suppression_items(settings.suppression_k),
        "provenance": provenance_items(analysis, provenance, cohort_filter, hide_total, source),
        "files": files,
        # The rules in words come from docs/methods.md itself, so the report and the
        # document cannot drift apart.
        "populations_html": methods_html(["6.1"]),
        "rules_html": methods_html(["10.3", "10.4"]),
        "intervals_html": methods_html(["6.2", "6.3", "6.4", "6.5", "6.7"]),
        "models_html": methods_html(["7.1", "7.3", "7.4", "7.6", "8.1", "9.3", "9.5", "9.6"]),
    }
