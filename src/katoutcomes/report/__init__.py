"""The HTML report: one self-contained file a clinic director can hand on.

:func:`build_report` lays out the results of one :class:`~katoutcomes.analysis.Analysis`:
headline rates, the claims scorecard, the cohort figures, onset and durability, the
modelled course of symptoms with the patients at risk, the published benchmarks, safety,
subgroups, site funnel plots, and a methods section with the definitions, the settings and
the data provenance. It computes no statistic itself; numbers are written by
:mod:`katoutcomes.formatting`.

The page is rendered from Jinja2 templates (``report/templates``) with autoescaping: every
value is escaped, except the HTML of the plotly figures.

Sharing rules (docs/methods.md, small-cell rule)
-----------------------------------------------
- Small-cell suppression with ``settings.suppression_k`` (default 11, 0 turns it off;
  :mod:`katoutcomes.suppression`): no count of 1 to ``k - 1`` patients, numerator or
  denominator, and nothing that gives one back. Rates hide when ``k``, ``n`` or ``n - k``
  is small or when a shown group contains another that differs from it by a small count
  (the header's patient count, the completers column and nested outcomes included);
  subgroups get complementary suppression and lose the overall line when the overall
  rate is hidden; adverse-event types are checked against the treated patients; the
  waterfall is left out when its bars would count a small group; Kaplan–Meier curves end
  where fewer than ``k`` remain at risk, are left out with 1 to ``k - 1`` events and show
  no numbers at risk; claims are hidden from their counts, implied counts and notes;
  counts of patients at risk below ``k`` are not shown; funnel plots leave out units of
  fewer than ``k`` patients. The rule is stated at the top, next to every place it
  removed something, and in full in the methods.
- A report made from a filtered dataset (:func:`katoutcomes.filters.filter_dataset`)
  names the filter in its title, header, methods and footer.
- No patient ids: the waterfall is drawn with ``show_patient_ids=False`` and nothing else
  carries them.
- Offline: plotly.js is embedded once (the first figure's ``include_plotlyjs=True``, the
  others ``False``), there is no external script, stylesheet or font, and a
  Content-Security-Policy forbids the page to load anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from katoutcomes.analysis import Analysis
from katoutcomes.settings import Settings

if TYPE_CHECKING:
    from katoutcomes.claims import Claim
    from katoutcomes.dataset import Dataset

__all__ = ["build_report", "environment", "write_report"]

#: Folder of the templates, shipped inside the package.
TEMPLATES = Path(__file__).with_name("templates")


@cache
def environment() -> jinja2.Environment:
    """The templates' environment: autoescaping on for everything, undefined names an
    error rather than an empty string."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _analysis(
    analysis_or_dataset: Analysis | Dataset,
    settings: Settings | None,
    claims: str | Path | Sequence[Claim] | None,
) -> Analysis:
    if isinstance(analysis_or_dataset, Analysis):
        if settings is not None or claims is not None:
            raise TypeError(
                "build_report: an Analysis carries its settings and claims; give them to "
                "Analysis(dataset, settings, claims) instead."
            )
        return analysis_or_dataset
    return Analysis(analysis_or_dataset, settings, claims)


def build_report(
    analysis_or_dataset: Analysis | Dataset,
    settings: Settings | None = None,
    *,
    claims: str | Path | Sequence[Claim] | None = None,
    title: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The outcomes report as one self-contained HTML document.

    Parameters
    ----------
    analysis_or_dataset : Analysis or Dataset
        The analysis to lay out (preferred: results already computed are reused), or the
        clinic's data, then analysed with ``settings`` and ``claims``. Not modified.
    settings : Settings, optional
        With a Dataset only: outcome definitions and ``suppression_k``; ``Settings()``
        when omitted.
    claims : path or sequence of Claim, optional
        With a Dataset only: a claims file or loaded claims (default: the packaged ones).
    title : str, optional
        Heading of the report (default "Clinic outcomes report").
    generated_at : datetime, optional
        Time stamped on the report (default: now, local time), for reproducible output.

    Returns
    -------
    str
        An HTML document. plotly.js is embedded once; the page loads nothing from the
        network.

    Raises
    ------
    TypeError
        ``settings`` or ``claims`` given with an Analysis (it has its own).

    Notes
    -----
    Small-cell suppression with ``settings.suppression_k`` is applied to every aggregate
    table and to figures with per-group counts (module docstring; rules in
    :mod:`katoutcomes.suppression`). The waterfall has no patient ids.

    Examples
    --------
    >>> from katoutcomes.dataset import Dataset
    >>> page = build_report(Analysis(Dataset.demo(patients=60)))  # doctest: +SKIP
    >>> page.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
    """
    from katoutcomes.report.context import report_context

    analysis = _analysis(analysis_or_dataset, settings, claims)
    generated = generated_at or datetime.now().astimezone()
    context = report_context(analysis, title or "Clinic outcomes report", generated)
    return environment().get_template("report.html.j2").render(context)


def write_report(
    analysis_or_dataset: Analysis | Dataset,
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
    target.write_text(build_report(analysis_or_dataset, settings, **kwargs), encoding="utf-8")
    return target
