"""Figures and colours of the claims: the scorecard's colours and the benchmark forest plot.

:func:`forest` sets the clinic's intention-to-treat response and remission beside published
studies (:func:`forest_data` for its numbers). The scorecard is coloured by the news for
patients, not by the verdict (:data:`NEWS_COLORS`, :func:`news_color`, :func:`news_css`,
:func:`news_legend_html`); :data:`VERDICT_LABELS` spells the verdicts for readers.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from katoutcomes.benchmarks import benchmark_intervals
from katoutcomes.cohort import RATE_OUTCOME_LABELS
from katoutcomes.formatting import VERDICT_LABELS
from katoutcomes.instruments import INSTRUMENTS
from katoutcomes.plots._base import COLORS, _no_data, _row_layout, _style

__all__ = [
    "NEWS_BACKGROUNDS",
    "NEWS_COLORS",
    "NEWS_LABELS",
    "VERDICT_LABELS",
    "forest",
    "forest_data",
    "news_color",
    "news_css",
    "news_legend_html",
    "scorecard_colors",
]

# --------------------------------------------------------------------------------------
# Scorecard colours
# --------------------------------------------------------------------------------------

#: Scorecard colours by the news for patients (:data:`katoutcomes.claims.NEWS`), not by
#: the verdict: the word says the verdict, the colour whether it is good or bad news
#: (methods §10.7), so "contradicted — better than claimed" is green. Strong colours, for text;
#: each passes WCAG 2.1 AA (contrast at least 4.5:1) on white and on its pale background
#: in :data:`NEWS_BACKGROUNDS` (measured in tests/test_plots.py).
NEWS_COLORS: Final = MappingProxyType(
    {
        "good": "#1B7837",
        "bad": "#B0281A",
        "neutral": "#245A94",
        "unclear": "#5F6B73",
    }
)

#: Pale backgrounds matching :data:`NEWS_COLORS`, for badges and table cells.
NEWS_BACKGROUNDS: Final = MappingProxyType(
    {
        "good": "#E3F1E5",
        "bad": "#F8E0DD",
        "neutral": "#E1EBF7",
        "unclear": "#ECEEEF",
    }
)

#: The legend of :data:`NEWS_COLORS`.
NEWS_LABELS: Final = MappingProxyType(
    {
        "good": "good news for patients",
        "bad": "bad news for patients",
        "neutral": "neither good nor bad news (descriptive, or no better direction)",
        "unclear": "the data cannot tell yet",
    }
)

#: Verdicts as a reader sees them.
# Verdict words: one spelling everywhere (katoutcomes.formatting).


def news_color(news: str, *, background: bool = False) -> str:
    """Colour of a scorecard row by its news for patients: good green, bad red, neither
    blue, unclear grey (:data:`NEWS_COLORS`).

    Parameters
    ----------
    news : str
        One of :data:`katoutcomes.claims.NEWS`; anything else is grey ("unclear").
    background : bool, default False
        The pale variant, for a badge or a table cell behind text in the strong colour.

    Examples
    --------
    >>> news_color("good")
    '#1B7837'
    """
    palette = NEWS_BACKGROUNDS if background else NEWS_COLORS
    return palette.get(str(news), palette["unclear"])


def scorecard_colors(news: Iterable[str], *, background: bool = False) -> list[str]:
    """:func:`news_color` for each row's news, e.g. for a ``go.Table`` cell fill.

    Examples
    --------
    >>> scorecard_colors(["good", "bad"])
    ['#1B7837', '#B0281A']
    """
    return [news_color(n, background=background) for n in news]


def news_css(news: str) -> str:
    """CSS for a verdict cell (pale background, coloured bold text), for pandas ``Styler``.

    Examples
    --------
    >>> news_css("unclear")
    'background-color: #ECEEEF; color: #5F6B73; font-weight: 600'
    """
    return (
        f"background-color: {news_color(news, background=True)}; "
        f"color: {news_color(news)}; font-weight: 600"
    )


def news_legend_html() -> str:
    """The colour legend of the scorecard as HTML: one badge per kind of news.

    Examples
    --------
    >>> "good news for patients" in news_legend_html()
    True
    """
    badges = " ".join(
        f'<span style="color:{NEWS_COLORS[key]};background:{NEWS_BACKGROUNDS[key]};'
        f'font-weight:600;padding:1px 6px;border-radius:4px">{label}</span>'
        for key, label in NEWS_LABELS.items()
    )
    return f"Colour: {badges}. The word is the verdict."


# --------------------------------------------------------------------------------------
# Forest plot: the clinic beside published studies
# --------------------------------------------------------------------------------------

_FOREST_COLUMNS: Final = (
    "group",
    "instrument",
    "source",
    "label",
    "detail",
    "outcome",
    "estimate",
    "ci_low",
    "ci_high",
    "k",
    "n",
    "has_interval",
    "comparable",
    "arm",
    "timepoint",
    "setting",
    "route",
    "citation",
)
_SELF_REPORT: Final = frozenset(INSTRUMENTS)
_FOREST_OUTCOMES: Final = ("response", "remission")


def _group_heading(instrument: str) -> str:
    if instrument in _SELF_REPORT:
        return f"{instrument} (self-report)"
    return f"{instrument} (clinician-rated: other scale)"


def _shorten(text: pd.Series, width: int) -> pd.Series:
    text = text.fillna("").astype("str")
    long = text.str.len() > width
    return text.where(~long, text.str.slice(0, width - 1).str.rstrip() + "\u2026")


def forest_data(
    clinic_rates: pd.DataFrame,
    benchmarks: pd.DataFrame | None = None,
    *,
    clinic_label: str = "This clinic",
) -> pd.DataFrame:
    """The clinic's intention-to-treat response and remission beside published studies.

    Parameters
    ----------
    clinic_rates : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.outcome_rates` (its ``"itt"`` rows are used).
    benchmarks : pandas.DataFrame, optional
        Output of :func:`katoutcomes.benchmarks.benchmark_intervals` (or of
        :func:`~katoutcomes.benchmarks.load_published_benchmarks`; the intervals are then
        added here). Rows with neither a response nor a remission rate are left out.
    clinic_label : str, default "This clinic"

    Returns
    -------
    pandas.DataFrame
        One row per (row of the chart, outcome), in display order: instruments PHQ-9,
        GAD-7, then others; the clinic first, then studies by year. Columns ``group``
        (heading), ``instrument``, ``source`` (``"clinic"`` or ``"published"``),
        ``label`` (the study, without its trial arm), ``detail`` (arm and timepoint,
        shortened for the axis), ``outcome``, ``estimate``,
        ``ci_low``, ``ci_high``, ``k``, ``n``, ``has_interval`` (False where a study
        gives no denominator), ``comparable`` (False for instruments other than
        PHQ-9/GAD-7, such as the clinician-rated MADRS), ``arm`` (the trial arm named after
        a colon in ``study``, else empty), ``timepoint``, ``setting``, ``route`` and
        ``citation``.

    Notes
    -----
    Clinic intervals are the Wilson intervals of :func:`outcome_rates`; study intervals are
    Wilson intervals on the reconstructed count ``round(rate * n)``
    (:func:`katoutcomes.benchmarks.benchmark_intervals`). Response and remission
    definitions differ between studies (see each row's citation).
    """
    pieces: list[pd.DataFrame] = []
    if not clinic_rates.empty:
        itt = clinic_rates[
            (clinic_rates["population"] == "itt")
            & clinic_rates["outcome"].isin(_FOREST_OUTCOMES)
            & (clinic_rates["n"] > 0)
        ]
        if not itt.empty:
            pieces.append(
                pd.DataFrame(
                    {
                        "instrument": itt["instrument"].astype("str").to_numpy(),
                        "source": "clinic",
                        "label": clinic_label,
                        "detail": "intention to treat, end of acute phase",
                        "outcome": itt["outcome"].astype("str").to_numpy(),
                        "estimate": itt["estimate"].to_numpy(dtype=np.float64),
                        "ci_low": itt["ci_low"].to_numpy(dtype=np.float64),
                        "ci_high": itt["ci_high"].to_numpy(dtype=np.float64),
                        "k": itt["k"].to_numpy(dtype=np.float64),
                        "n": itt["n"].to_numpy(dtype=np.float64),
                        "year": np.inf,
                        "arm": "",
                        "timepoint": "end of acute phase",
                        "setting": "this clinic",
                        "route": "",
                        "citation": "",
                    }
                )
            )
    if benchmarks is not None and not benchmarks.empty:
        table = (
            benchmarks
            if "response_ci_low" in benchmarks.columns
            else benchmark_intervals(benchmarks)
        )
        for outcome in _FOREST_OUTCOMES:
            rate = pd.to_numeric(table[outcome], errors="coerce").astype("float64")
            part = table[rate.notna().to_numpy()]
            if part.empty:
                continue
            # "TRANSFORM-2 (Popova 2019): esketamine + AD" -> study label and trial arm.
            study = part["study"].astype("str").str.partition(": ")
            arm = study[2].where(study[2] != "", None)
            timepoint = part["timepoint"].astype("str")
            detail = (arm + " \u00b7 " + timepoint).fillna(timepoint)
            pieces.append(
                pd.DataFrame(
                    {
                        "instrument": part["instrument"].astype("str").to_numpy(),
                        "source": "published",
                        "label": study[0].to_numpy(),
                        "detail": _shorten(detail, 48).to_numpy(),
                        "outcome": outcome,
                        "estimate": rate[rate.notna()].to_numpy(),
                        "ci_low": part[f"{outcome}_ci_low"].to_numpy(
                            dtype=np.float64, na_value=np.nan
                        ),
                        "ci_high": part[f"{outcome}_ci_high"].to_numpy(
                            dtype=np.float64, na_value=np.nan
                        ),
                        "k": part[f"{outcome}_k"].to_numpy(dtype=np.float64, na_value=np.nan),
                        "n": part["n"].to_numpy(dtype=np.float64, na_value=np.nan),
                        "year": part["year"].to_numpy(dtype=np.float64, na_value=np.nan),
                        "arm": arm.fillna("").to_numpy(),
                        "timepoint": timepoint.to_numpy(),
                        "setting": part["setting"].fillna("").astype("str").to_numpy(),
                        "route": part["route"].fillna("").astype("str").to_numpy(),
                        "citation": part["citation"].fillna("").astype("str").to_numpy(),
                    }
                )
            )
    if not pieces:
        empty = pd.DataFrame({name: pd.Series(dtype="str") for name in _FOREST_COLUMNS})
        return empty.astype(
            {
                c: np.float64
                for c in ("estimate", "ci_low", "ci_high", "k", "n")
                if c in _FOREST_COLUMNS
            }
            | {"has_interval": bool, "comparable": bool}
        )
    out = pd.concat(pieces, ignore_index=True)
    known = {name: i for i, name in enumerate(INSTRUMENTS)}
    out["_i"] = out["instrument"].map(known).fillna(len(known))
    out["_s"] = (out["source"] != "clinic").astype(int)
    out["_o"] = out["outcome"].map({name: i for i, name in enumerate(_FOREST_OUTCOMES)})
    out = out.sort_values(["_i", "instrument", "_s", "year", "_o"], kind="stable")
    out["group"] = out["instrument"].map(_group_heading)
    out["has_interval"] = out["ci_low"].notna() & out["ci_high"].notna()
    out["comparable"] = out["instrument"].isin(_SELF_REPORT)
    out = out.reset_index(drop=True)
    for column in ("group", "instrument", "source", "label", "detail", "outcome"):
        out[column] = out[column].astype("str")
    return out[list(_FOREST_COLUMNS)]


def forest(
    clinic_rates: pd.DataFrame,
    benchmarks: pd.DataFrame | None = None,
    *,
    clinic_label: str = "This clinic",
    reference: float = 0.5,
) -> go.Figure:
    """Forest plot: the clinic's response and remission beside published studies.

    Parameters
    ----------
    clinic_rates : pandas.DataFrame
        Output of :func:`katoutcomes.cohort.outcome_rates`.
    benchmarks : pandas.DataFrame, optional
        Output of :func:`katoutcomes.benchmarks.benchmark_intervals`.
    clinic_label : str, default "This clinic"
    reference : float, default 0.5
        Vertical reference line on the response panel (the "50% response rate" claim).

    Returns
    -------
    plotly.graph_objects.Figure
        Two panels (response, remission) sharing one row per clinic or study, grouped
        under an instrument heading; studies on another scale (MADRS) are marked as such
        and drawn in grey; studies without a denominator are open circles without an
        interval (numbers: :func:`forest_data`).
    """
    title = "Response and remission: this clinic beside published studies"
    data = forest_data(clinic_rates, benchmarks, clinic_label=clinic_label)
    if data.empty:
        return _no_data(title, "no clinic rate and no published benchmark to show.")

    tick = (
        data["label"]
        + np.where(
            data["source"] == "clinic",
            " (n = " + data["n"].fillna(0).astype(int).astype(str) + ")",
            "",
        )
        + "<br><span style='font-size:11px;color:#6B6B6B'>"
        + data["detail"]
        + "</span>"
    )
    position, tick_pos, tick_text = _row_layout(
        data, "group", ["group", "source", "label", "detail", "timepoint"], tick
    )
    data = data.assign(_y=position.to_numpy())

    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.08,
        subplot_titles=(
            f"<b>Response</b> (dashed line: {reference:.0%})",
            "<b>Remission</b>",
        ),
    )
    published = data["source"] == "published"
    grey = COLORS["published_other_scale"]
    kinds = (
        (
            "clinic",
            data["source"] == "clinic",
            f"{clinic_label} (intention to treat)",
            {"symbol": "diamond", "size": 13, "color": COLORS["clinic"]},
        ),
        (
            "published",
            published & data["has_interval"] & data["comparable"],
            "Published study",
            {"symbol": "circle", "size": 9, "color": COLORS["published"]},
        ),
        (
            "no denominator",
            published & ~data["has_interval"] & data["comparable"],
            "Published, no denominator given (no interval)",
            {
                "symbol": "circle-open",
                "size": 10,
                "color": COLORS["published"],
                "line": {"width": 2},
            },
        ),
        (
            "other scale",
            published & data["has_interval"] & ~data["comparable"],
            "Other scale (MADRS)",
            {"symbol": "square", "size": 9, "color": grey},
        ),
        (
            "other scale, no denominator",
            published & ~data["has_interval"] & ~data["comparable"],
            "Other scale, no denominator",
            {"symbol": "square-open", "size": 10, "color": grey, "line": {"width": 2}},
        ),
    )
    for kind, mask, legend_name, marker in kinds:
        shown = False
        for col, outcome in enumerate(_FOREST_OUTCOMES, start=1):
            part = data[mask & (data["outcome"] == outcome)]
            if part.empty:
                continue
            scale = np.where(
                part["comparable"],
                "",
                "<br><i>" + part["instrument"] + " is clinician-rated: not the same scale</i>",
            )
            n_text = np.select(
                [part["source"] == "clinic", part["n"].notna()],
                [
                    part["k"].fillna(0).astype(int).astype(str)
                    + " of "
                    + part["n"].fillna(0).astype(int).astype(str)
                    + " patients",
                    "n = " + part["n"].fillna(0).astype(int).astype(str),
                ],
                "no denominator given",
            )
            custom = np.column_stack(
                [
                    part["ci_low"].to_numpy(),
                    part["ci_high"].to_numpy(),
                    (part["label"] + " \u00b7 " + part["instrument"]).to_numpy(dtype=object),
                    (
                        part["arm"].where(part["arm"] == "", part["arm"] + ", ") + part["timepoint"]
                    ).to_numpy(dtype=object),
                    n_text.astype(object),
                    scale.astype(object),
                ]
            )
            interval = (
                "<br>95% CI %{customdata[0]:.1%} to %{customdata[1]:.1%}"
                if "no denominator" not in kind
                else ""
            )
            fig.add_trace(
                go.Scatter(
                    x=part["estimate"],
                    y=part["_y"],
                    mode="markers",
                    marker=marker,
                    error_x=(
                        {
                            "type": "data",
                            "symmetric": False,
                            "array": (part["ci_high"] - part["estimate"]).to_numpy(),
                            "arrayminus": (part["estimate"] - part["ci_low"]).to_numpy(),
                            "thickness": 1.8,
                            "width": 4,
                            "color": marker["color"],
                        }
                        if "no denominator" not in kind
                        else None
                    ),
                    name=legend_name,
                    legendgroup=kind,
                    showlegend=not shown,
                    customdata=custom,
                    hovertemplate=(
                        "<b>%{customdata[2]}</b><br>%{customdata[3]}<br>"
                        f"{RATE_OUTCOME_LABELS[outcome]} %{{x:.1%}}{interval}<br>"
                        "%{customdata[4]}%{customdata[5]}<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
            shown = True
    fig.add_vline(
        x=reference,
        line={"color": COLORS["reference"], "width": 1.2, "dash": "dash"},
        row=1,
        col=1,
    )
    n_rows = len(tick_pos)
    subtitle = (
        "Dots: rate; bars: 95% confidence interval. Clinic: intention to treat (eligible "
        "patients who started treatment; no endpoint counts as no response). Definitions "
        "and timepoints differ between studies (hover for each)."
    )
    _style(fig, title, subtitle, height=max(380, 190 + 44 * n_rows), legend="bottom", legend_rows=2)
    fig.update_xaxes(tickformat=".0%", range=[-0.02, 1.02], dtick=0.25, zeroline=False)
    fig.update_xaxes(title_text="Response rate (95% CI)", row=1, col=1)
    fig.update_xaxes(title_text="Remission rate (95% CI)", row=1, col=2)
    fig.update_yaxes(
        tickvals=tick_pos,
        ticktext=tick_text,
        range=[max(tick_pos) + 0.7, min(tick_pos) - 0.7],
        showgrid=False,
        zeroline=False,
        row=1,
        col=1,
    )
    fig.update_yaxes(showgrid=False, zeroline=False, row=1, col=2)
    fig.update_annotations(font={"size": 13, "color": COLORS["reference"]})
    return fig
