"""The HTML report: one self-contained file a clinic director can hand on (DESIGN 8).

:func:`build_report` arranges what other modules compute: headline rates
(:func:`katoutcomes.cohort.outcome_rates`), the claims scorecard
(:func:`katoutcomes.claims.evaluate_claims`), the overview figures of
:mod:`katoutcomes.plots`, the published benchmarks, and a methods section with the
definitions, the settings and the data provenance. No statistics are computed here.

Sharing rules (DESIGN 9)
------------------------
- Small-cell suppression with ``settings.suppression_k`` (default 11, 0 turns it off;
  :mod:`katoutcomes.suppression`): no count of 1 to ``k - 1`` patients, numerator or
  denominator, and nothing that gives one back. Rates hide when ``k``, ``n`` or ``n - k``
  is small or when a shown group contains another that differs from it by a small count
  (the header's patient count, the completers column and nested outcomes included);
  subgroups get complementary suppression and lose the overall line when the overall
  rate is hidden; adverse-event types are checked against the treated patients; the
  waterfall is left out when its bars would count a small group; Kaplan–Meier curves end
  where fewer than ``k`` remain at risk, are left out with 1 to ``k - 1`` events and show
  no numbers at risk; claims are hidden from their counts, implied counts and notes.
  The rule is stated at the top, next to every place it removed something, and in full
  in the methods.
- A report made from a filtered dataset (:func:`katoutcomes.filters.filter_dataset`)
  names the filter in its title, header, methods and footer.
- No patient ids: the waterfall is drawn with ``show_patient_ids=False`` and nothing else
  carries them.
- Offline: plotly.js is embedded once (the first figure's ``include_plotlyjs=True``, the
  others ``False``), there is no external script, stylesheet or font, and a
  Content-Security-Policy forbids the page to load anything.
"""

from __future__ import annotations

import html
import inspect
import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import plotly
import plotly.graph_objects as go

from katoutcomes.benchmarks import benchmark_intervals, load_published_benchmarks
from katoutcomes.claims import Claim, describe_rule, evaluate_claims, load_claims
from katoutcomes.cohort import (
    PSYCHOTHERAPY_MIN_SHARE,
    RATE_OUTCOME_LABELS,
    NotMeasurableError,
    outcome_rates,
    subgroup_rates,
    time_to_event,
)
from katoutcomes.instruments import GAD7, INSTRUMENTS, PHQ9
from katoutcomes.outcomes import patient_outcomes
from katoutcomes.plots import (
    NEWS_LABELS,
    VERDICT_LABELS,
    adverse_events,
    adverse_events_data,
    cohort_trajectory,
    cumulative_response,
    forest,
    news_color,
    response_duration,
    subgroup_forest,
    waterfall,
    waterfall_data,
)
from katoutcomes.settings import Settings
from katoutcomes.suppression import (
    SUPPRESSED_COLUMN,
    hidden_rate_counts,
    rate_cell_mask,
    small_cell_mask,
    suppress_claims,
    suppress_linked_claims,
    suppress_outcome_rates,
    suppress_rates,
    suppress_subgroup_rates,
    suppression_note,
)

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = ["build_report", "write_report"]

# --------------------------------------------------------------------------------------
# Words and sources shown in the report
# --------------------------------------------------------------------------------------

#: Outcomes on the headline cards, in order (the rest are in the full table).
_HEADLINE_OUTCOMES: Final = (
    "response",
    "remission",
    "reliable_improvement",
    "reliable_deterioration",
)
_POPULATION_NAMES: Final = {"itt": "Intention to treat", "completers": "Completers"}
_SUBGROUP_NAMES: Final = {"route": "Route of administration", "site": "Site"}
_LEVEL_NAMES: Final = {
    "intranasal": "Intranasal",
    "sublingual": "Sublingual",
    "oral": "Oral",
    "other": "Other",
    "unknown": "Not recorded",
}
#: Subgroups drawn in the report. Clinicians are compared with funnel plots on the
#: dashboard, not ranked in a report that leaves the clinic (DESIGN 1, 5).
_REPORT_SUBGROUPS: Final = ("route", "site")

_SETTING_MEANINGS: Final = {
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
}
_FRACTION_SETTINGS: Final = frozenset({"early_improvement", "response"})

_SOURCES: Final = {
    "bands": "Kroenke 2001 (PHQ-9); Spitzer 2006 (GAD-7)",
    "caseness": "NHS Talking Therapies manual (v7, 2024)",
    "remission": "ORKA-1 (McInnes 2022), SUSTAIN-3 (Zaki 2023)",
    "reliable": "NHS Talking Therapies manual (v7, 2024)",
    "reliability": "Kroenke 2001 (PHQ-9); Spitzer 2006 (GAD-7)",
    "norms": "Kocalevent 2013 (PHQ-9); Löwe 2008 (GAD-7)",
    "jt": "Jacobson NS, Truax P. J Consult Clin Psychol 1991;59:12-19",
}

_CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; worker-src blob:"
)

_PLOT_CONFIG: Final = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}

_STYLE: Final = """
:root {
  --ink: #1f2328; --muted: #5c6370; --line: #d9dde3; --zebra: #f6f8fa; --head: #eef2f6;
  --accent: #1F4E79; --warn-bg: #FDF6E7; --warn: #B9770E;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", sans-serif;
}
.container { max-width: 1080px; margin: 0 auto; padding: 0 28px 56px; }
header.report { border-bottom: 3px solid var(--accent); padding: 32px 0 18px; }
header.report .kicker { color: var(--accent); font-weight: 600; letter-spacing: .04em;
  text-transform: uppercase; font-size: 12.5px; }
h1 { font-size: 30px; line-height: 1.2; margin: 4px 0 6px; }
h2 { font-size: 22px; margin: 44px 0 10px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 17px; margin: 26px 0 6px; }
p { margin: 6px 0 10px; }
.lead { color: var(--muted); margin: 0; }
.facts { display: flex; flex-wrap: wrap; gap: 10px 36px; margin: 18px 0 4px; }
.fact .value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
.fact .label { color: var(--muted); font-size: 13px; }
.meta { color: var(--muted); font-size: 13.5px; margin-top: 10px; }
.banner { background: #E1EBF7; border-left: 4px solid #2E6DB4; padding: 8px 12px;
  margin: 14px 0 0; font-size: 14px; }
.rule { background: var(--warn-bg); border-left: 4px solid var(--warn); padding: 8px 12px;
  margin: 12px 0; font-size: 14px; }
.rule.inline { margin: 6px 0 14px; font-size: 13.5px; }
nav.toc { margin: 18px 0 0; font-size: 14px; }
nav.toc ol { display: flex; flex-wrap: wrap; gap: 4px 20px; padding: 0; margin: 0;
  list-style: none; counter-reset: toc; }
nav.toc li { counter-increment: toc; }
nav.toc li::before { content: counter(toc) ". "; color: var(--muted); }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px;
  margin: 8px 0 6px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px;
  break-inside: avoid; }
.card .label { font-size: 13.5px; color: var(--muted); font-weight: 600; }
.card .value { font-size: 30px; font-weight: 650; line-height: 1.2;
  font-variant-numeric: tabular-nums; }
.card .detail { font-size: 13px; color: var(--muted); }
.card.suppressed .value { font-size: 18px; color: #7a7a7a; font-style: italic;
  padding: 8px 0 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 8px 0 16px; }
caption { text-align: left; color: var(--muted); font-size: 13px; padding: 0 0 6px; }
th, td { padding: 6px 10px; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--line); }
thead th { background: var(--head); font-weight: 600; border-bottom: 2px solid #c5ccd6; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.nowrap, td.nowrap { white-space: nowrap; }
#scorecard th:nth-child(1) { width: 23%; }
#scorecard th:nth-child(2) { width: 118px; }
#scorecard th:nth-child(3) { width: 158px; }
#benchmarks-table th:nth-child(1) { width: 21%; }
#benchmarks-table th:nth-child(4) { width: 15%; }
#benchmarks-table th:nth-child(8) { width: 31%; }
#rates-table td, #rates-table th { white-space: normal; }
#rates-table th:first-child { width: 20%; }
tr.suppressed td { color: #6f6f6f; }
.supp { color: #7a7a7a; font-style: italic; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
.hash { word-break: break-all; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12.5px;
  font-weight: 650; white-space: nowrap; border: 1px solid currentColor; }
.tally { display: flex; flex-wrap: wrap; gap: 8px; margin: 6px 0 6px; }
.chip { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12.5px;
  font-weight: 650; white-space: nowrap; border: 1px solid #5F6B73; color: #222222; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 0 0 10px;
  font-size: 12.5px; }
.legend-title { color: var(--muted); }
.claim-text { font-style: italic; }
.claim-id { display: block; color: var(--muted); font-size: 12px; margin-top: 2px; }
.why { font-size: 13.5px; }
.why .rule-text { display: block; color: var(--muted); font-size: 12.5px; margin-top: 4px; }
.figure { margin: 18px 0 6px; break-inside: avoid; page-break-inside: avoid; }
.figure + .note, .figure + .rule { margin-top: 0; }
.note { color: var(--muted); font-size: 13.5px; }
.small { font-size: 12.5px; }
dl.defs { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; }
dl.defs dt { font-weight: 600; }
dl.defs dd { margin: 0; }
footer { margin-top: 48px; color: var(--muted); font-size: 12.5px;
  border-top: 1px solid var(--line); padding-top: 10px; }
@media (max-width: 820px) {
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .container { padding: 0 14px 40px; }
}
@media print {
  @page { margin: 14mm 12mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { font-size: 10pt; }
  .container { max-width: none; padding: 0; }
  nav.toc { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; margin-top: 24px; }
  h3 { break-after: avoid; page-break-after: avoid; }
  table { font-size: 8.5pt; }
  thead { display: table-header-group; }
  tr, .card, .figure, .rule { break-inside: avoid; page-break-inside: avoid; }
  .modebar, .modebar-container { display: none !important; }
  section.methods { break-before: page; page-break-before: always; }
  .cards { grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 6px; }
  .card { padding: 6px 8px; }
  .card .value { font-size: 18pt; }
  .card .label, .card .detail, .note, .why, .meta, .rule.inline, caption { font-size: 8.5pt; }
  .small, .why .rule-text, .claim-id, .badge { font-size: 7.5pt; }
  .fact .value { font-size: 16pt; }
}
"""

#: Width of a figure on paper, in CSS pixels: fits the printable width of A4 (about 700 px
#: with 12 mm margins) and of US Letter (about 720 px).
_PRINT_WIDTH: Final = 680

#: Plots follow the window's width; printing changes the page width without a resize, so
#: figures are set to the paper's width before printing and given back to the window after.
_PRINT_SCRIPT: Final = """
(function () {
  var WIDTH = __WIDTH__;
  function plots() { return document.querySelectorAll('.js-plotly-plot'); }
  window.addEventListener('beforeprint', function () {
    if (!window.Plotly) { return; }
    plots().forEach(function (el) { Plotly.relayout(el, {width: WIDTH}); });
  });
  window.addEventListener('afterprint', function () {
    if (!window.Plotly) { return; }
    plots().forEach(function (el) {
      Plotly.relayout(el, {width: null, autosize: true}).then(function () {
        Plotly.Plots.resize(el);
      });
    });
  });
})();
""".replace("__WIDTH__", str(_PRINT_WIDTH))


# --------------------------------------------------------------------------------------
# Formatting (full precision stays in the data; rounding happens only here)
# --------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _pct(value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "\u2014"
    return f"{100 * float(value):.{digits}f}%"


def _pct_ci(low: Any, high: Any, digits: int = 1) -> str:
    if _missing(low) or _missing(high):
        return "\u2014"
    return f"{100 * float(low):.{digits}f}\u2013{100 * float(high):.{digits}f}%"


def _int(value: Any) -> str:
    return "\u2014" if _missing(value) else f"{int(value):,}"


def _number(value: Any) -> str:
    """A setting or a fact as people write it: 42 not 42.0, 0.84 not 0.8400."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "none"
    return str(value)


def _signed_points(value: float) -> str:
    return f"{100 * value:+.1f}".replace("-", "\u2212")


def _value_text(value: Any, unit: str, *, claimed: bool = False) -> str:
    """A claim's estimate (or, with ``claimed``, the value a claim states) in its unit."""
    if _missing(value):
        return "\u2014"
    x = float(value)
    if unit == "share":
        # A claimed 50% is written as the claim wrote it, not as 50.0%.
        whole = claimed and math.isclose(100 * x, round(100 * x), abs_tol=1e-9)
        return _pct(x, 0 if whole else 1)
    if unit == "difference":
        return f"{_signed_points(x)} points"
    if unit == "mg/kg":
        return f"{x:.3f} mg/kg"
    if unit == "usd":
        return f"${x:,.0f}"
    return f"{x:g}"


def _interval_text(low: Any, high: Any, unit: str) -> str:
    if _missing(low) or _missing(high):
        return ""
    lo, hi = float(low), float(high)
    if unit == "share":
        return _pct_ci(lo, hi)
    if unit == "difference":
        return f"{_signed_points(lo)} to {_signed_points(hi)}"
    if unit == "mg/kg":
        return f"{lo:.3f}\u2013{hi:.3f}"
    if unit == "usd":
        return f"${lo:,.0f}\u2013${hi:,.0f}"
    return f"{lo:g}\u2013{hi:g}"


def _level_name(level: str) -> str:
    return _LEVEL_NAMES.get(level, level)


def _supp(text: str = "suppressed") -> str:
    return f'<span class="supp">{_e(text)}</span>'


# --------------------------------------------------------------------------------------
# HTML building blocks
# --------------------------------------------------------------------------------------


@dataclass
class _Row:
    cells: list[str]
    css: str = ""


def _table(
    headers: Sequence[str],
    rows: Iterable[_Row],
    *,
    numeric: Iterable[int] = (),
    table_id: str | None = None,
    caption: str | None = None,
) -> str:
    """A table; ``rows`` hold ready HTML (escape first), ``headers`` plain text."""
    num = set(numeric)

    def cls(i: int) -> str:
        return ' class="num"' if i in num else ""

    head = "".join(f'<th{cls(i)} scope="col">{_e(h)}</th>' for i, h in enumerate(headers))
    body = []
    for row in rows:
        css = f' class="{row.css}"' if row.css else ""
        cells = "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row.cells))
        body.append(f"<tr{css}>{cells}</tr>")
    ident = f' id="{_e(table_id)}"' if table_id else ""
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (
        f"<table{ident}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _rule_box(text: str) -> str:
    """The small-cell rule stated where it removed something."""
    return f'<p class="rule inline"><strong>Small-cell rule.</strong> {_e(text)}</p>'


@dataclass
class _Figures:
    """Renders figures; plotly.js goes into the first one only."""

    count: int = 0

    def render(self, fig: go.Figure, div_id: str) -> str:
        first = self.count == 0
        self.count += 1
        body = fig.to_html(
            full_html=False,
            include_plotlyjs=first,
            include_mathjax=False,
            div_id=div_id,
            config=dict(_PLOT_CONFIG),
        )
        return f'<div class="figure">{body}</div>'


@dataclass(frozen=True)
class _Section:
    anchor: str
    title: str
    body: str
    css: str = ""

    def render(self) -> str:
        css = f' class="{self.css}"' if self.css else ""
        return f'<section id="{self.anchor}"{css}><h2>{_e(self.title)}</h2>{self.body}</section>'


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


def _population_words(instrument: str, settings: Settings, treated: bool) -> str:
    inst = INSTRUMENTS[instrument]
    who = "who started treatment" if treated else "(no doses are recorded, so all of them)"
    origin = "first dose" if treated else "first assessment"
    return (
        f"eligible patients (baseline {inst.name} \u2265 {inst.caseness}) {who}; endpoint = "
        f"last assessment within {_number(settings.endpoint_days)} days of the {origin}; a "
        "missing endpoint counts as not achieved"
    )


def _headline(rates: pd.DataFrame, settings: Settings, k: int, treated: bool) -> str:
    parts = []
    itt = rates[rates["population"] == "itt"]
    for instrument in dict.fromkeys(itt["instrument"]):
        block = itt[itt["instrument"] == instrument].set_index("outcome")
        cards = []
        for outcome in _HEADLINE_OUTCOMES:
            if outcome not in block.index:
                continue
            row = block.loc[outcome]
            label = _e(RATE_OUTCOME_LABELS[outcome])
            if bool(row[SUPPRESSED_COLUMN]):
                cards.append(
                    f'<div class="card suppressed"><div class="label">{label}</div>'
                    f'<div class="value">Suppressed</div>'
                    f'<div class="detail">small-cell rule (a group of 1 to {k - 1})</div></div>'
                )
                continue
            if _missing(row["estimate"]):
                detail = "no eligible patients"
                value = "\u2014"
            else:
                value = _pct(row["estimate"])
                detail = (
                    f"95% CI {_pct_ci(row['ci_low'], row['ci_high'])}<br>"
                    f"{_int(row['k'])} of {_int(row['n'])} patients"
                )
            cards.append(
                f'<div class="card"><div class="label">{label}</div>'
                f'<div class="value">{_e(value)}</div><div class="detail">{detail}</div></div>'
            )
        who = _population_words(instrument, settings, treated)
        parts.append(
            f"<h3>{_e(instrument)}</h3>"
            f'<div class="cards">{"".join(cards)}</div>'
            f'<p class="note">Intention to treat: {_e(who)}.</p>'
        )
    if not parts:
        return '<p class="note">No eligible patients: nothing to report.</p>'
    return "".join(parts)


def _rates_table(rates: pd.DataFrame, k: int) -> str:
    """Outcomes down, instrument × population across; each cell rate, interval, k of n."""
    columns = list(
        dict.fromkeys(
            zip(rates["instrument"].astype(str), rates["population"].astype(str), strict=True)
        )
    )
    cells = {
        (str(r.outcome), str(r.instrument), str(r.population)): r
        for r in rates.itertuples(index=False)
    }
    rows = []
    for outcome in dict.fromkeys(rates["outcome"].astype(str)):
        row = [f"<strong>{_e(RATE_OUTCOME_LABELS.get(outcome, outcome))}</strong>"]
        for instrument, population in columns:
            r = cells.get((outcome, instrument, population))
            if r is None:
                row.append("\u2014")
            elif bool(getattr(r, SUPPRESSED_COLUMN)):
                row.append(_supp())
            elif _missing(r.estimate):
                row.append("\u2014")
            else:
                row.append(
                    f"<strong>{_e(_pct(r.estimate))}</strong> "
                    f'<span class="small">({_e(_pct_ci(r.ci_low, r.ci_high))})<br>'
                    f"{_int(r.k)} of {_int(r.n)}</span>"
                )
        rows.append(_Row(row))
    headers = ["Outcome"] + [
        f"{instrument} {_POPULATION_NAMES.get(population, population).lower()}"
        for instrument, population in columns
    ]
    return _table(
        headers,
        rows,
        numeric=range(1, len(headers)),
        table_id="rates-table",
        caption="Rate (95% CI), patients with the outcome of patients in the population.",
    )


def _rule_words(claim: Claim | None, unit: str, settings: Settings) -> str:
    if claim is None:
        return ""
    text = describe_rule(claim)
    min_n = claim.min_n if claim.min_n is not None else settings.min_n
    if claim.rule != "descriptive":
        text += f" A verdict needs at least {min_n} patients."
    return text


def _scorecard(
    card: pd.DataFrame, rules: Mapping[str, Claim], settings: Settings, k: int
) -> tuple[str, int]:
    # The tally counts verdicts in words; colour is kept for the news for patients.
    tally = card["verdict"].value_counts()
    chips = [
        f'<span class="chip">{_e(label)}: {int(tally[verdict])}</span>'
        for verdict, label in VERDICT_LABELS.items()
        if tally.get(verdict, 0)
    ]
    legend = "".join(
        f'<span class="legend-item">{_badge(news, label[:1].upper() + label[1:])}</span>'
        for news, label in NEWS_LABELS.items()
    )
    rows = []
    hidden = 0
    for r in card.itertuples(index=False):
        unit = str(getattr(r, "unit", "share"))
        verdict = str(r.verdict)
        claim_cell = (
            f'<span class="claim-text">\u201c{_e(r.claim)}\u201d</span>'
            f'<span class="claim-id">{_e(r.id)}</span>'
        )
        n = r.n
        small = bool(getattr(r, SUPPRESSED_COLUMN, False))
        rule = _rule_words(rules.get(str(r.id)), unit, settings)
        rule_html = f'<span class="rule-text">Rule: {_e(rule)}</span>' if rule else ""
        rule_html += f'<span class="rule-text">Population: {_e(r.population)}</span>'

        if small:
            hidden += 1
            result = _supp()
            if not _missing(n):
                result += f'<br><span class="small">n = {_int(n)}</span>'
            why = (
                f"{_supp('Suppressed under the small-cell rule:')} the result involves a group "
                f"of 1 to {k - 1} patients (the numbers or the explanation would show it)."
            )
            css = "suppressed"
        else:
            estimate = _value_text(r.estimate, unit)
            interval = _interval_text(r.ci_low, r.ci_high, unit)
            result = f"<strong>{_e(estimate)}</strong>"
            if interval:
                result += f'<br><span class="small nowrap">95% CI {_e(interval)}</span>'
            if not _missing(n):
                result += f'<br><span class="small">n = {_int(n)}</span>'
            why = _e(r.note)
            css = ""
        if not _missing(r.claimed):
            said = _value_text(r.claimed, unit, claimed=True)
            if not _missing(r.margin):
                said += f" \u00b1 {_margin_text(float(r.margin), unit)}"
            result += f'<br><span class="small nowrap">claimed {_e(said)}</span>'
        rows.append(
            _Row(
                [
                    claim_cell,
                    _badge(str(r.news), VERDICT_LABELS.get(verdict, verdict))
                    + _way_text(str(r.direction)),
                    result,
                    f'<div class="why">{why}{rule_html}</div>',
                ],
                css,
            )
        )
    table = _table(
        ["Claim", "Verdict", "Clinic's result", "What the data show, and the rule"],
        rows,
        table_id="scorecard",
    )
    return (
        f'<div class="tally">{"".join(chips)}</div>'
        f'<div class="legend"><span class="legend-title">Colour:</span>{legend}'
        '<span class="legend-title">The word is the verdict.</span></div>'
        f"{table}"
    ), hidden


def _margin_text(margin: float, unit: str) -> str:
    """A claim's equivalence margin: percentage points for shares and differences."""
    if unit in ("share", "difference"):
        return f"{_number(round(100.0 * margin, 6))} pts"
    return _value_text(margin, unit)


def _way_text(direction: str) -> str:
    """Under a contradicted verdict, which way the data lie ("better than claimed"): a
    clinic doing better than it claims is contradicted too, and should not read as bad."""
    return f'<br><span class="small way">{_e(direction)}</span>' if direction else ""


def _badge(news: str, text: str) -> str:
    """A verdict badge coloured by the news for patients (:data:`plots.NEWS_COLORS`)."""
    return (
        f'<span class="badge news-{_e(news)}" style="color:{news_color(news)};'
        f'background:{news_color(news, background=True)}">{_e(text)}</span>'
    )


def _trajectory_min_n(k: int) -> int:
    default = inspect.signature(cohort_trajectory).parameters["min_n"].default
    return max(int(default), k)


def _truncate_curves(curves: pd.DataFrame, k: int) -> tuple[pd.DataFrame, list[str]]:
    """Kaplan–Meier rows with at least ``k`` patients at risk; an instrument is dropped
    whole when none is left, or when the rows left hold 1 to ``k - 1`` events (a reader can
    count the steps)."""
    if k <= 1 or curves.empty:
        return curves, []
    keep = curves["at_risk"].to_numpy(dtype=np.float64) >= k
    events = curves.loc[keep].groupby("instrument", sort=False)["events"].sum()
    kept = {name for name, total in events.items() if not 1 <= total < k}
    keep &= curves["instrument"].isin(kept).to_numpy()
    dropped = [str(name) for name in dict.fromkeys(curves["instrument"]) if name not in kept]
    return curves[keep].reset_index(drop=True), dropped


def _waterfall_hidden(outcomes: pd.DataFrame, rates: pd.DataFrame, k: int) -> str:
    """Why the PHQ-9 waterfall may not be shown (empty when it may).

    Its bars can be counted: completers, and by colour those in remission, responding
    without remission and not responding (with the response and remission totals).
    """
    if k <= 1:
        return ""
    bars = waterfall_data(outcomes, PHQ9.name)
    response = bars["response"].to_numpy(dtype=bool)
    remission = bars["remission"].to_numpy(dtype=bool)
    counts = [
        len(bars),
        int(response.sum()),
        int(remission.sum()),
        int((remission | response).sum()),
        int((response & ~remission).sum()),
        int((~response & ~remission).sum()),
    ]
    if small_cell_mask(counts, k).any():
        return (
            f"counting its bars by colour would give a group of 1 to {k - 1} patients (PHQ-9 "
            "completers, responders, patients in remission or without response)"
        )
    if (PHQ9.name, "completers") in rates.attrs.get("hidden_populations", []):
        return (
            "its bars would count the completers, which with the intention-to-treat "
            f"population gives a group of 1 to {k - 1} patients"
        )
    return ""


def _hide_at_risk(fig: go.Figure) -> None:
    """Take the numbers at risk out of a Kaplan–Meier figure's hover text."""
    for trace in fig.data:
        template = getattr(trace, "hovertemplate", None)
        if template and "patients at risk" in template:
            custom = np.asarray(trace.customdata, dtype=object).copy()
            custom[:, 2] = ""
            trace.update(
                customdata=custom,
                hovertemplate=template.replace("<br>%{customdata[2]} patients at risk", ""),
            )


def _filter_words(dataset: Dataset) -> str:
    """The filter a dataset was made with (:func:`katoutcomes.filters.filter_dataset`), in
    words ("site S3; first dose from 2025-01-01"), or "" for the whole dataset."""
    from katoutcomes.filters import describe_filter

    spec = dict(dataset.provenance).get("filter")
    return describe_filter(spec) if isinstance(spec, Mapping) and spec else ""


def _mask_adverse_events(fig: go.Figure, data: pd.DataFrame, hidden: np.ndarray, k: int) -> bool:
    """Hide the bars of suppressed event types in the figure; False if it has another shape."""
    if len(fig.data) != 1 or fig.data[0].type != "bar":
        return False
    bar = fig.data[0]
    labels = list(bar.y)
    if labels != list(data["label"]):
        return False
    x = np.asarray(bar.x, dtype=np.float64)
    text = np.asarray(bar.text, dtype=object)
    custom = np.asarray(bar.customdata, dtype=object)
    templates = np.full(len(labels), bar.hovertemplate, dtype=object)
    x[hidden] = 0.0
    text[hidden] = "suppressed (small-cell rule)"
    custom[hidden, 0] = ""
    custom[hidden, 1] = ""
    templates[hidden] = (
        f"<b>%{{y}}</b><br>Suppressed: 1 to {k - 1} patients with or without it<extra></extra>"
    )
    bar.update(x=x, text=text, customdata=custom, hovertemplate=list(templates))
    return True


def _subgroup_figure(
    frame: pd.DataFrame,
    shown: pd.DataFrame,
    figures: _Figures,
    by: str,
    k: int,
    overall_shown: bool = True,
) -> str:
    """The forest of one attribute with suppressed levels left out, and the note."""
    visible = frame[~shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)]
    parts = []
    if visible.empty:
        levels = ", ".join(_level_name(str(v)) for v in frame["level"])
        return _rule_box(
            f"{_SUBGROUP_NAMES.get(by, by)}: every group ({levels}) is suppressed: each has, "
            f"or would let a reader work out, 1 to {k - 1} patients, responders or "
            "non-responders."
        )
    else:
        fig = subgroup_forest(visible, outcome="response", instrument=PHQ9.name)
        # The dashed "All patients" line must be the rate of every patient, hidden
        # levels included (it is the intention-to-treat rate shown above).
        # (When that rate is itself suppressed, the line is left out.)
        total_n = float(frame["n"].sum())
        if not overall_shown:
            fig.data = tuple(trace for trace in fig.data if trace.name != "All patients")
        elif total_n > 0:
            rate = float(frame["k"].sum()) / total_n
            for trace in fig.data:
                if trace.name == "All patients":
                    trace.update(
                        x=[rate, rate], hovertemplate=f"All patients: {rate:.1%}<extra></extra>"
                    )
        parts.append(figures.render(fig, f"fig-subgroup-{by}"))
    primary = rate_cell_mask(frame["k"], frame["n"], k)
    hidden = shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
    if hidden.any():
        small = [_level_name(v) for v in frame.loc[primary, "level"]]
        extra = [_level_name(v) for v in frame.loc[hidden & ~primary, "level"]]
        text = (
            f"Not shown: {', '.join(small)} (1 to {k - 1} patients, responders or non-responders)"
        )
        if extra:
            text += (
                f"; {', '.join(extra)} also hidden, so that the small group"
                f"{'s' if len(small) > 1 else ''} cannot be worked out from the total"
            )
        text += (
            ". Differences between groups are not shown for this attribute: a group compared "
            "with all the others would give the hidden groups' rate away."
        )
        parts.append(_rule_box(text))
    return "".join(parts)


def _subgroup_table(frame: pd.DataFrame, shown: pd.DataFrame, by: str, k: int) -> str:
    """The numbers of one attribute's forest, suppressed levels marked."""
    primary = rate_cell_mask(frame["k"], frame["n"], k)
    compared = shown["compared_with"].dropna().astype(str).unique()
    against = _level_name(compared[0]) if len(compared) == 1 else ""
    rows = []
    for i, r in enumerate(shown.itertuples(index=False)):
        level = _e(_level_name(str(r.level)))
        if bool(getattr(r, SUPPRESSED_COLUMN)):
            why = "suppressed" if primary[i] else "hidden (protects a small group)"
            rows.append(_Row([level, _supp(why), _supp(), _supp(), _supp()], "suppressed"))
            continue
        if _missing(r.diff):
            diff = "\u2014"
        else:
            diff = (
                f"{_signed_points(r.diff)} ({_signed_points(r.diff_ci_low)} to "
                f"{_signed_points(r.diff_ci_high)})"
            )
            if not against:
                diff += f" vs {_level_name(str(r.compared_with))}"
        rows.append(
            _Row(
                [
                    level,
                    _int(r.n),
                    _int(r.k),
                    _e(f"{_pct(r.estimate)} ({_pct_ci(r.ci_low, r.ci_high)})"),
                    _e(diff),
                ]
            )
        )
    difference = f"Difference vs {against}" if against else "Difference"
    return _table(
        [
            _SUBGROUP_NAMES.get(by, by),
            "Patients",
            "Responders",
            "Response (95% CI)",
            f"{difference}, points (95% CI)",
        ],
        rows,
        numeric=(1, 2, 3, 4),
        table_id=f"subgroup-table-{by}",
    )


def _benchmarks_table(table: pd.DataFrame) -> str:
    rows = []
    for r in table.itertuples(index=False):
        source = _e(r.citation)
        if not _missing(r.doi):
            source += f' <span class="mono">doi:{_e(r.doi)}</span>'
        relapse = _pct(r.relapse, 1)
        if not _missing(r.median_days_to_relapse):
            relapse = f"median {_number(float(r.median_days_to_relapse))} days"
        rows.append(
            _Row(
                [
                    f"<strong>{_e(r.study)}</strong><br>"
                    f'<span class="small">{_e(r.setting)}; {_e(r.route)}</span>',
                    _e(r.instrument),
                    _int(r.n),
                    _e(r.timepoint),
                    _e(_pct(r.response)),
                    _e(_pct(r.remission)),
                    _e(relapse),
                    f'<span class="small">{source}</span>',
                ]
            )
        )
    return _table(
        ["Study", "Scale", "n", "Timepoint", "Response", "Remission", "Relapse", "Source"],
        rows,
        numeric=(2, 4, 5),
        table_id="benchmarks-table",
    )


def _definitions(settings: Settings) -> str:
    p, g = PHQ9, GAD7
    fall = _pct(settings.response, 0)
    early = _pct(settings.early_improvement, 0)

    def both(attribute: str) -> tuple[str, str]:
        return _number(getattr(p, attribute)), _number(getattr(g, attribute))

    caseness = both("caseness")
    remission = both("remission_below")
    reliable = both("reliable_change")
    reliability = both("reliability")
    norms = (
        f"mean {_number(p.functional_mean)}, SD {_number(p.functional_sd)}",
        f"mean {_number(g.functional_mean)}, SD {_number(g.functional_sd)}",
    )
    bands_p = "; ".join(f"{b.label} {b.low}\u2013{b.high}" for b in p.bands)
    bands_g = "; ".join(f"{b.label} {b.low}\u2013{b.high}" for b in g.bands)
    baseline_days = _number(settings.baseline_window_days)
    acute = _number(settings.acute_days)
    visit = _number(settings.visit_window_days)
    endpoint_days = _number(settings.endpoint_days)
    rows = [
        (
            "Score range and severity bands",
            "Total of the items (0\u20133 each).",
            f"0\u2013{p.max_score}: {bands_p}",
            f"0\u2013{g.max_score}: {bands_g}",
            _SOURCES["bands"],
        ),
        (
            "Baseline",
            f"The last valid assessment from {baseline_days} days before the first "
            "dose up to the day of it (t = 0).",
            "",
            "",
            "DESIGN 4; setting baseline_window_days",
        ),
        (
            "Eligible (caseness)",
            "Baseline at or above caseness; all rates use eligible patients.",
            f"\u2265 {caseness[0]}",
            f"\u2265 {caseness[1]}",
            _SOURCES["caseness"],
        ),
        (
            "Endpoint",
            f"The last valid assessment within {endpoint_days} days after the first dose: "
            f"the {acute}-day acute course plus a {visit}-day visit window, because visit "
            "schedules slip; none: not a completer. Doses count as acute up to day "
            f"{acute}.",
            "",
            "",
            "DESIGN 4; settings acute_days, visit_window_days",
        ),
        (
            "Response",
            f"Endpoint at most (1 \u2212 {_number(settings.response)}) \u00d7 baseline, "
            f"a fall of at least {fall}.",
            "",
            "",
            "DESIGN 4; setting response",
        ),
        (
            "Early improvement",
            f"A fall of at least {early} from baseline at any assessment "
            "(time to early improvement).",
            "",
            "",
            "DESIGN 4; setting early_improvement",
        ),
        (
            "Remission",
            "Endpoint below the threshold.",
            f"< {remission[0]}",
            f"< {remission[1]}",
            _SOURCES["remission"],
        ),
        (
            "Reliable improvement / deterioration",
            "Baseline minus endpoint (or endpoint minus "
            "baseline) at least the reliable-change points.",
            f"{reliable[0]} points",
            f"{reliable[1]} points",
            _SOURCES["reliable"],
        ),
        (
            "Recovery / reliable recovery",
            "Baseline at or above caseness and endpoint below it; "
            "reliable recovery adds reliable improvement.",
            "",
            "",
            _SOURCES["caseness"],
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
            "DESIGN 4",
        ),
        (
            "Jacobson\u2013Truax reliable change",
            "S_diff = SD_pre \u00b7 \u221a(2(1 \u2212 r)), "
            "RCI = (endpoint \u2212 baseline) / S_diff; reliable when |RCI| > 1.96. SD_pre is the "
            "sample SD of eligible completers' baselines.",
            f"r = {reliability[0]}",
            f"r = {reliability[1]}",
            f"{_SOURCES['jt']}; r: {_SOURCES['reliability']}",
        ),
        (
            "Jacobson\u2013Truax clinical cut-off c",
            "c = (SD_clin \u00b7 M_func + SD_func \u00b7 "
            "M_clin) / (SD_clin + SD_func), clinical mean and SD from the same baselines; "
            "recovered = reliably improved and crossing c.",
            norms[0],
            norms[1],
            f"{_SOURCES['jt']}; norms: {_SOURCES['norms']}",
        ),
    ]
    return _table(
        ["Term", "Definition", PHQ9.name, GAD7.name, "Source"],
        [
            _Row(
                [
                    f"<strong>{_e(a)}</strong>",
                    _e(b),
                    _e(c),
                    _e(d),
                    f'<span class="small">{_e(s)}</span>',
                ]
            )
            for a, b, c, d, s in rows
        ],
        table_id="definitions-table",
    )


_INTERVALS: Final = (
    ("Shares (rates)", "Wilson score interval, 95% (Wilson 1927)."),
    ("Differences of shares", "Newcombe hybrid score interval (Newcombe 1998, method 10)."),
    (
        "Time to response, response duration",
        "Kaplan\u2013Meier with Greenwood standard errors and log-scale pointwise 95% intervals "
        "(Kaplan & Meier 1958; Greenwood 1926), as R's survival package. Where no event has "
        "happened by a time t, that interval collapses to a point; the exact "
        "(Clopper–Pearson) interval for 0 events among the n patients still followed "
        "at t, [0.025^(1/n), 1], is shown instead.",
    ),
    (
        "Weekly mean scores",
        "Mean of one value per patient per week \u00b1 t quantile \u00d7 SD/\u221an.",
    ),
    (
        "Claims over sessions",
        "Patients as the unit: a cluster-robust standard error for shares of sessions; a "
        "bootstrap resampling patients (fixed seed) for medians per session.",
    ),
    (
        "Published studies",
        "Wilson interval on the count reconstructed as rate \u00d7 n; no interval where a "
        "study gives no denominator.",
    ),
)


def _settings_table(settings: Settings) -> str:
    values = settings.to_dict()
    rows = []
    for f in fields(settings):
        value = values[f.name]
        shown = _number(value)
        if f.name in _FRACTION_SETTINGS:
            shown = f"{shown} ({_pct(value, 0)})"
        rows.append(
            _Row(
                [
                    f"<code>{_e(f.name)}</code>",
                    f'<span class="setting-value">{_e(shown)}</span>',
                    _e(_SETTING_MEANINGS.get(f.name, "")),
                ]
            )
        )
    return _table(["Setting", "Value", "Meaning"], rows, table_id="settings-table")


def _package_version() -> str:
    try:
        return metadata.version("katoutcomes")
    except metadata.PackageNotFoundError:
        from katoutcomes import __version__

        return __version__


def _suppression_methods(rule: str, k: int, min_weeks: int) -> str:
    """The small-cell rule as applied in this report, for the methods section."""
    if k <= 1:
        return f"<p>{_e(rule)} Nothing is hidden: this report is for internal use only.</p>"
    small = f"1 to {k - 1}"
    items = [
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
        "Per-patient rows, patient identifiers and per-clinician results are not part of "
        "this report.",
    ]
    return (
        f"<p>{_e(rule)}</p><ul>"
        + "".join(f"<li>{_e(item)}</li>" for item in items)
        + '</ul><p class="note">Source: CMS Cell Size Suppression Policy (cells of 1 to 10 '
        "are not reported; zero is allowed; no cell may be derivable from other cells).</p>"
    )


def _provenance(
    dataset: Dataset,
    generated: datetime,
    cohort_filter: str = "",
    n_patients: int = 0,
    k: int = 0,
    hide_total: bool = False,
    source: str | None = None,
) -> str:
    info = dict(dataset.provenance)
    items = [("Data source", _e(source or info.get("source", "not recorded")))]
    if "content_sha256" in info:
        items.append(("Content SHA-256", f'<span class="mono">{_e(info["content_sha256"])}</span>'))
    if cohort_filter:
        if hide_total:
            count = "patient count not shown: small-cell rule"
        elif k > 1 and 1 <= n_patients < k:
            count = f"fewer than {k} patients"
        else:
            count = f"{n_patients:,} patients"
        items.append(
            (
                "Filter",
                f"{_e(cohort_filter)} ({_e(count)}); the report describes only these patients",
            )
        )
    items.append(("Time representation", _e(dataset.time_representation)))
    if "rejected_rows" in info:
        items.append(("Rows rejected at ingest", _int(info["rejected_rows"])))
    items += [
        ("Report generated", _e(generated.isoformat(timespec="seconds"))),
        ("katoutcomes", _e(_package_version())),
        (
            "Software",
            _e(
                f"Python {platform.python_version()}, pandas {pd.__version__}, "
                f"plotly {plotly.__version__}"
            ),
        ),
    ]
    listing = "".join(f"<dt>{_e(a)}</dt><dd>{b}</dd>" for a, b in items)
    files = info.get("files") or []
    rows = [
        _Row(
            [
                _e(entry.get("table", "")),
                _e(entry.get("file", "")),
                f'<span class="mono hash">{_e(entry.get("sha256", ""))}</span>',
            ]
        )
        for entry in files
        if isinstance(entry, Mapping)
    ]
    file_table = (
        _table(["Table", "File", "SHA-256"], rows, table_id="files-table")
        if rows
        else '<p class="note">No input files are recorded.</p>'
    )
    return f'<dl class="defs">{listing}</dl><h3>Input files</h3>{file_table}'


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def _claims_and_rules(
    dataset: Dataset, settings: Settings, claims: Any
) -> tuple[pd.DataFrame, dict[str, Claim]]:
    if isinstance(claims, pd.DataFrame):
        return claims, {}
    loaded: Sequence[Claim] = (
        load_claims(claims) if claims is None or isinstance(claims, str | Path) else claims
    )
    card = evaluate_claims(dataset, settings, loaded)
    return card, {c.id: c for c in loaded}


def build_report(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    claims: str | Path | Sequence[Claim] | pd.DataFrame | None = None,
    title: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The outcomes report as one self-contained HTML document.

    Parameters
    ----------
    dataset : Dataset
        The clinic's data. Not modified.
    settings : Settings, optional
        Outcome definitions and ``suppression_k``; ``Settings()`` when omitted.
    claims : path, sequence of Claim or DataFrame, optional
        A claims file or loaded claims (default: the packaged claims of DESIGN 6), or a
        scorecard already computed by :func:`katoutcomes.claims.evaluate_claims` (its
        rules are then not shown).
    title : str, optional
        Heading of the report (default "Clinic outcomes report").
    generated_at : datetime, optional
        Time stamped on the report (default: now, local time), for reproducible output.

    Returns
    -------
    str
        An HTML document: header (data source, time generated, patients, sessions),
        headline rates per instrument, claims scorecard, cohort figures, published
        benchmarks, safety, subgroups, and methods (definitions with their sources,
        interval methods, settings, small-cell rule, data provenance). plotly.js is
        embedded once; the page loads nothing from the network.

    Notes
    -----
    Small-cell suppression with ``settings.suppression_k`` is applied to every aggregate
    table and to figures with per-group counts (module docstring; rules in
    :mod:`katoutcomes.suppression`). The waterfall has no patient ids.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> page = build_report(Dataset.demo(patients=60))  # doctest: +SKIP
    >>> page.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
    """
    settings = settings or Settings()
    k = settings.suppression_k
    generated = generated_at or datetime.now().astimezone()
    title = title or "Clinic outcomes report"
    figures = _Figures()
    rule = suppression_note(k)
    suppressing = k > 1

    outcomes = patient_outcomes(dataset, settings)
    rates = outcome_rates(outcomes)
    # The header's patient count is a group too: all patients minus a population shown
    # below would count the patients left out of it.
    rates_shown = suppress_outcome_rates(
        rates, outcomes, k=k, shown_totals={"patients": np.ones(len(outcomes), dtype=bool)}
    )
    card, rules = _claims_and_rules(dataset, settings, claims)
    card_shown = suppress_linked_claims(
        suppress_claims(card, k=k, hidden_counts=hidden_rate_counts(rates, rates_shown, k)),
        rates_shown,
        {cid: dict(c.params) for cid, c in rules.items()},
        k=k,
    )

    n_patients = int(dataset.assessments["patient_id"].nunique())
    n_sessions = len(dataset.treatments)
    n_assessments = len(dataset.assessments)
    source = str(dict(dataset.provenance).get("source", "not recorded"))
    cohort_filter = _filter_words(dataset)
    if cohort_filter:
        title = f"{title}: {cohort_filter}"
    hide_total = "patients" in rates_shown.attrs.get("hidden_totals", [])
    if hide_total:
        # A demo cohort's name carries its size ("patients=30").
        source = source.replace(f"patients={n_patients}", "patients=not shown")

    def fact(value: int, label: str, *, hidden: bool = False) -> str:
        if suppressing and 1 <= value < k:
            shown = f"fewer than {k}"
        elif hidden:
            shown, label = "not shown", f"{label} (small-cell rule)"
        else:
            shown = f"{value:,}"
        return (
            f'<div class="fact"><div class="value">{_e(shown)}</div>'
            f'<div class="label">{_e(label)}</div></div>'
        )

    sections: list[_Section] = []

    # 1. Headline numbers
    headline = _headline(rates_shown, settings, k, dataset.has_treatments)
    if rates_shown[SUPPRESSED_COLUMN].any():
        headline += _rule_box(
            "A rate is marked suppressed when its patients, its patients with the outcome or "
            f"those without it number 1 to {k - 1}, or when a group it shows contains, or lies "
            f"within, another shown group that differs from it by 1 to {k - 1} patients."
        )
    dropped = rates_shown.attrs.get("hidden_populations", [])
    if dropped:
        names = ", ".join(
            f"{instrument} {_POPULATION_NAMES.get(population, population).lower()}"
            for instrument, population in dropped
        )
        headline += _rule_box(
            f"Not shown: {names}. Set beside the intention-to-treat population, these "
            f"columns would count a group of 1 to {k - 1} patients (those in one population "
            "but not the other)."
        )
    if hide_total:
        headline += _rule_box(
            "The number of patients in the data is not shown at the top: with the "
            f"populations below it would count a group of 1 to {k - 1} patients."
        )
    headline += (
        "<h3>All outcome rates</h3>"
        '<p class="note">Completers: eligible patients with an endpoint. Recovery: baseline at '
        "or above caseness and endpoint below it.</p>" + _rates_table(rates_shown, k)
    )
    sections.append(_Section("headline", "Headline outcomes", headline))

    # 2. Claims scorecard
    score_html, hidden_claims = _scorecard(card_shown, rules, settings, k)
    intro = (
        '<p class="note">Each public claim is tested against this clinic\'s data with a '
        "fixed rule. A claim of about a value p0 (\u201ca 50% response rate\u201d) is judged "
        "against an equivalence margin \u03b4 (10 percentage points for shares and "
        "probabilities): supported when the 95% interval lies inside p0 \u00b1 \u03b4, "
        "contradicted when it lies wholly above or wholly below that band, otherwise "
        "inconclusive; an interval that merely contains p0 is not support. Bounds "
        "(\u201cless than 1%\u201d, \u201cusually\u201d) are judged against the bound. "
        "Not measurable: the data lack what the claim needs; descriptive: reported without a "
        "verdict. The word is the verdict; the colour says whether the result is good or bad "
        "news for patients, so a clinic doing better than it claims is not shown as bad "
        "news.</p>"
    )
    if hidden_claims:
        score_html += _rule_box(
            f"{hidden_claims} result(s) involve a group of 1 to {k - 1} patients: their "
            "numbers and notes are not shown; the verdict is."
        )
    sections.append(_Section("claims", "Claims scorecard", intro + score_html))

    # 3. Cohort figures
    cohort_parts = []
    min_weeks = _trajectory_min_n(k)
    for instrument in (PHQ9.name, GAD7.name):
        fig = cohort_trajectory(dataset, instrument, settings, outcomes=outcomes, min_n=min_weeks)
        cohort_parts.append(figures.render(fig, f"fig-trajectory-{instrument.lower()}"))
    reason = _waterfall_hidden(outcomes, rates_shown, k)
    if reason:
        cohort_parts.append(_rule_box(f"The waterfall is not shown: {reason}."))
    else:
        fig = waterfall(outcomes, PHQ9.name, settings, show_patient_ids=False)
        cohort_parts.append(figures.render(fig, "fig-waterfall-phq-9"))
    sections.append(_Section("cohort", "Symptoms over time", "".join(cohort_parts)))

    # 4. Onset and durability
    km_parts = []
    for event, make, div, what in (
        ("response", cumulative_response, "fig-cumulative-response", "Time to first response"),
        ("relapse", response_duration, "fig-response-duration", "How long response lasts"),
    ):
        curves, dropped = _truncate_curves(time_to_event(outcomes, event), k)
        if not curves.empty or not dropped:
            # An empty figure says "No data" and why; a suppressed one is left out.
            fig = make(curves)
            if suppressing:
                _hide_at_risk(fig)
            km_parts.append(figures.render(fig, div))
        if dropped:
            km_parts.append(
                _rule_box(
                    f"{what}: {', '.join(dropped)} not drawn (fewer than {k} patients in the "
                    f"curve, or 1 to {k - 1} events, which the steps of the curve would count)."
                )
            )
    if suppressing:
        km_parts.append(
            f'<p class="note">Curves end where fewer than {k} patients remain at risk; the '
            "numbers at risk are not shown (the drop from one to the next counts the patients "
            "who had the event or left follow-up in between).</p>"
        )
    sections.append(_Section("durability", "Onset and durability", "".join(km_parts)))

    # 5. Benchmarks
    benchmarks = benchmark_intervals(load_published_benchmarks())
    clinic = rates[~rates_shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)]
    bench_parts = [figures.render(forest(clinic, benchmarks), "fig-forest")]
    if rates_shown[SUPPRESSED_COLUMN].any():
        bench_parts.append(_rule_box("Clinic rates hidden by the small-cell rule are not drawn."))
    bench_parts.append(
        '<p class="note">Published figures describe other studies\' patients, not this '
        "clinic's, so they are shown as published. MADRS is clinician-rated and not the same "
        "scale as the PHQ-9 or GAD-7.</p>" + _benchmarks_table(benchmarks)
    )
    sections.append(_Section("benchmarks", "Compared with published studies", "".join(bench_parts)))

    # 6. Safety
    ae = adverse_events_data(dataset)
    treated = int(dataset.treatments["patient_id"].nunique()) if dataset.has_treatments else 0
    # Patients with an event type, and (by subtraction from the treated patients) without it.
    ae_shown = suppress_rates(
        ae.assign(treated=treated),
        k=k,
        count="patients",
        total="treated",
        value_columns=("sessions_with_event", "per_100"),
    )
    ae_hidden = ae_shown[SUPPRESSED_COLUMN].to_numpy(dtype=bool)
    safety = []
    if ae.empty:
        safety.append(figures.render(adverse_events(dataset), "fig-adverse-events"))
    elif ae_hidden[0]:
        safety.append(
            _rule_box(
                f"Adverse events are not shown: the treated patients with a recorded event, or "
                f"those without one, number 1 to {k - 1}."
            )
        )
    else:
        fig = adverse_events(dataset)
        if not ae_hidden.any() or _mask_adverse_events(fig, ae, ae_hidden, k):
            safety.append(figures.render(fig, "fig-adverse-events"))
        if ae_hidden.any():
            names = ", ".join(ae.loc[ae_hidden, "label"].str.lower())
            safety.append(
                _rule_box(
                    f"Event types recorded in 1 to {k - 1} patients, or missing in only 1 to "
                    f"{k - 1} of the treated patients, are shown as suppressed: {names}."
                )
            )
        ae_rows = []
        for r in ae_shown.itertuples(index=False):
            if bool(getattr(r, SUPPRESSED_COLUMN)):
                ae_rows.append(_Row([_e(r.label), _supp(), _supp(), _supp()], "suppressed"))
            else:
                ae_rows.append(
                    _Row(
                        [
                            _e(r.label),
                            _int(r.patients),
                            _int(r.sessions_with_event),
                            _e(f"{float(r.per_100):.1f}"),
                        ]
                    )
                )
        safety.append(
            _table(
                ["Event", "Patients", "Sessions with the event", "Per 100 sessions"],
                ae_rows,
                numeric=(1, 2, 3),
                table_id="adverse-events-table",
                caption=f"{_int(ae['sessions'].iloc[0])} sessions in all. A blank record "
                "counts as none recorded.",
            )
        )
    sections.append(_Section("safety", "Safety", "".join(safety)))

    # 7. Subgroups
    sub_parts = [
        f'<p class="note">{PHQ9.name} response (intention to treat) by route of administration '
        "and by site (a patient's most frequent one). Small groups have wide intervals: "
        "compare intervals, not ranks. The difference compares a group with all other "
        "patients whose route or site is recorded (Newcombe interval).</p>"
    ]
    itt = rates_shown[
        (rates_shown["instrument"] == PHQ9.name)
        & (rates_shown["outcome"] == "response")
        & (rates_shown["population"] == "itt")
    ]
    itt_response_shown = not itt.empty and not bool(itt[SUPPRESSED_COLUMN].iloc[0])
    for by in _REPORT_SUBGROUPS:
        name = _SUBGROUP_NAMES.get(by, by)
        try:
            frame = subgroup_rates(outcomes, dataset, by, "response", PHQ9.name)
        except NotMeasurableError as exc:
            sub_parts.append(f'<p class="note">{_e(name)}: not available. {_e(exc)}</p>')
            continue
        # With the overall rate hidden, the levels must not add up to it.
        marked = frame if itt_response_shown else frame.assign(**{SUPPRESSED_COLUMN: True})
        shown = suppress_subgroup_rates(marked, k=k)
        sub_parts.append(_subgroup_figure(frame, shown, figures, by, k, itt_response_shown))
        if not shown[SUPPRESSED_COLUMN].all():
            sub_parts.append(_subgroup_table(frame, shown, by, k))
    sections.append(_Section("subgroups", "Subgroups", "".join(sub_parts)))

    # 8. Methods
    methods = [
        "<h3>Definitions</h3>",
        '<p class="note">Per patient and instrument; time is days since the first dose (the '
        "first assessment for patients without a recorded dose). Thresholds come from the "
        "instrument facts and the settings below.</p>",
        _definitions(settings),
        "<h3>Populations</h3>",
        '<dl class="defs"><dt>Intention to treat (primary)</dt><dd>Eligible patients who '
        "started treatment; a missing endpoint counts as not achieving the outcome.</dd>"
        "<dt>Completers</dt><dd>Eligible patients with an endpoint.</dd>"
        "<dt>Safety population</dt><dd>Every patient with at least one recorded dose, "
        "eligible or not, as trials report safety: the claims about treatment delivery and "
        "safety (induction protocol, side effects, dose, monitoring, cost).</dd>"
        "<dt>GAD treatment resistance</dt><dd>Every GAD-diagnosed patient who started "
        "treatment, whatever their baseline or questionnaire (every GAD-diagnosed patient "
        "when no doses are recorded).</dd>"
        "<dt>Integrated psychotherapy</dt><dd>Psychotherapy in at least "
        f"{_pct(PSYCHOTHERAPY_MIN_SHARE, 0)} of a patient's doses.</dd></dl>",
        "<h3>Claims: margins and bounds</h3>",
        "<p>A claim of about a value p0 is supported when the 95% interval lies inside "
        "[p0 \u2212 \u03b4, p0 + \u03b4] (the margin \u03b4 is a field of each claim, "
        "0.10 for shares and probabilities unless the claim says otherwise; an interval "
        "touching the band from inside counts as inside), contradicted when it lies wholly "
        "above p0 + \u03b4 or wholly below p0 \u2212 \u03b4 (touching the band from outside "
        "is not wholly outside), and otherwise inconclusive, when the note gives the number "
        "of patients at which the Wilson interval at the current share would settle it. A "
        "claim of more than a bound is supported when the interval lies wholly above it and "
        "contradicted when it lies at or below it; a claim of less than a bound is supported "
        "when the upper limit is below it and contradicted when the lower limit is at or "
        "above it. Outcome claims count eligible patients (intention to treat); the "
        "populations above give the others. Source: DESIGN 6.</p>",
        "<h3>Intervals</h3>",
        '<dl class="defs">'
        + "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>" for a, b in _INTERVALS)
        + "</dl>",
        "<h3>Settings used</h3>",
        _settings_table(settings),
        "<h3>Small-cell suppression</h3>",
        _suppression_methods(rule, k, min_weeks),
        "<h3>Data provenance</h3>",
        _provenance(dataset, generated, cohort_filter, n_patients, k, hide_total, source),
    ]
    sections.append(_Section("methods", "Methods", "".join(methods), css="methods"))

    toc = "".join(f'<li><a href="#{s.anchor}">{_e(s.title)}</a></li>' for s in sections)
    demo = (
        '<p class="banner">Synthetic demonstration data: these are not real patients.</p>'
        if source.startswith("demo cohort")
        else ""
    )
    if cohort_filter:
        lead = (
            f"Data: only the patients with {_e(cohort_filter)}, selected from {_e(source)}. "
            "Every number below describes this selection, not the whole clinic."
        )
    else:
        lead = f"Data: {_e(source)}"
    header = (
        '<header class="report">'
        '<div class="kicker">Ketamine-assisted therapy outcomes</div>'
        f"<h1>{_e(title)}</h1>"
        f'<p class="lead" id="data-source">{lead}</p>'
        '<div class="facts">'
        + fact(n_patients, "patients" + (" selected" if cohort_filter else ""), hidden=hide_total)
        + fact(n_sessions, "treatment sessions")
        + fact(n_assessments, "questionnaires (PHQ-9 and GAD-7)")
        + "</div>"
        f'<p class="meta">Generated {_e(generated.strftime("%d %B %Y, %H:%M %Z").strip())} '
        f"by katoutcomes {_e(_package_version())}. Rates are intention to treat with 95% "
        "confidence intervals unless stated.</p>"
        + demo
        + f'<p class="rule" id="suppression-rule"><strong>Small-cell rule.</strong> {_e(rule)}'
        + (" Hidden numbers are marked \u201csuppressed\u201d." if suppressing else "")
        + "</p>"
        f'<nav class="toc" aria-label="Contents"><ol>{toc}</ol></nav>'
        "</header>"
    )
    body = "".join(s.render() for s in sections)
    footer = (
        f"<footer>{_e(title)} \u00b7 {_e(source)}"
        + (f" \u00b7 filtered: {_e(cohort_filter)}" if cohort_filter else "")
        + " \u00b7 generated "
        f"{_e(generated.isoformat(timespec='seconds'))} by katoutcomes "
        f"{_e(_package_version())}</footer>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="katoutcomes {_e(_package_version())}">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f'<body><div class="container">{header}<main>{body}</main>{footer}</div>'
        f"<script>{_PRINT_SCRIPT}</script></body></html>\n"
    )


def write_report(
    dataset: Dataset,
    path: str | Path,
    settings: Settings | None = None,
    **kwargs: Any,
) -> Path:
    """Write :func:`build_report` to ``path`` (UTF-8) and return the path.

    Keyword arguments are those of :func:`build_report`. Missing parent folders are
    created.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(build_report(dataset, settings, **kwargs), encoding="utf-8")
    return target
