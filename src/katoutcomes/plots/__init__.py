"""Figures for the dashboard and the report: tidy data in, :class:`plotly.graph_objects.Figure` out.

Every figure has a companion ``*_data`` function that returns the tidy DataFrame the figure
draws (``cohort_trajectory_data`` for :func:`cohort_trajectory`, and so on). The figure
function calls it, so a table shown "one click away" from a chart holds exactly the numbers
in the chart. Nothing here reads files, touches a database or imports Streamlit; the
dashboard and the HTML report only lay the figures out.

Modules, by what the figures are about (every public name is importable from
``katoutcomes.plots`` itself):

- :mod:`~katoutcomes.plots.patient`: one patient's trajectory, the therapist view;
- :mod:`~katoutcomes.plots.cohort`: the cohort's scores by week, the waterfall of change
  per patient, Kaplan–Meier time to response and response duration;
- :mod:`~katoutcomes.plots.safety`: adverse events per 100 sessions;
- :mod:`~katoutcomes.plots.claims`: the scorecard's colours and the forest plot of the
  clinic beside published studies;
- :mod:`~katoutcomes.plots.comparisons`: groups of patients compared: subgroup rates and
  curves, funnel plots of sites and clinicians, predictors of response;
- :mod:`~katoutcomes.plots.models`: the trajectory model: a patient's expected-recovery
  band and the mean course of symptoms;
- ``_base``: the shared look (colours, layout, "No data" figure, severity bands) and the
  drawing helpers more than one module uses; :func:`figure_data` for any figure.

A new figure goes in the module of its subject, with its ``*_data`` function, and uses the
helpers of ``_base`` for its look.

Conventions
-----------
- One look: the ``plotly_white`` template, the colours in :data:`COLORS` (Okabe–Ito based,
  readable by people with colour-vision deficiency), severity bands in
  :data:`SEVERITY_COLORS`, the legend above the plotting area, left-aligned titles with a
  plain-words subtitle.
- Shares are kept as fractions and shown as percentages (axis ticks with no decimals, hover
  text with one); days are days since the first dose (methods §2.3).
- Severity bands, thresholds and caseness come from
  :data:`katoutcomes.instruments.INSTRUMENTS`; the response fraction from
  :class:`katoutcomes.settings.Settings`. Nothing clinical is restated here.
- Large cohorts are drawn at about one mark per pixel: a waterfall of more than
  :data:`WATERFALL_BARS` patients draws the patients at that many evenly spaced ranks, a
  Kaplan–Meier curve of more than :data:`KM_DRAWN_STEPS` steps the last step of each of
  that many slices of its days. Every drawn point is a row of the ``*_data`` table, which
  keeps every row; the figure stays a few hundred kilobytes at most, so that a browser
  draws it at once.
- Empty input never raises: the figure says "No data" and why, in the middle of the chart.
- Severity-band shapes are named ``"severity band: <label>"`` and "No data" annotations
  start with ``"No data"``, so tests and callers can find them.
"""

from __future__ import annotations

from katoutcomes.plots._base import COLORS, KM_DRAWN_STEPS, SEVERITY_COLORS, figure_data
from katoutcomes.plots.claims import (
    NEWS_BACKGROUNDS,
    NEWS_COLORS,
    NEWS_LABELS,
    VERDICT_LABELS,
    forest,
    forest_data,
    news_color,
    news_css,
    news_legend_html,
    scorecard_colors,
)
from katoutcomes.plots.cohort import (
    WATERFALL_BARS,
    cohort_trajectory,
    cohort_trajectory_data,
    cumulative_response,
    cumulative_response_data,
    response_duration,
    response_duration_data,
    waterfall,
    waterfall_data,
)
from katoutcomes.plots.comparisons import (
    SMALL_MULTIPLES_ABOVE,
    funnel_plot,
    funnel_plot_data,
    km_small_multiples,
    predictors_forest,
    subgroup_forest,
    subgroup_forest_data,
)
from katoutcomes.plots.models import BAND_COLOR, add_expected_band, mean_curve_figure
from katoutcomes.plots.patient import PATIENT_LAYERS, patient_trajectory, patient_trajectory_data
from katoutcomes.plots.safety import adverse_events, adverse_events_data

__all__ = [
    "BAND_COLOR",
    "COLORS",
    "KM_DRAWN_STEPS",
    "NEWS_BACKGROUNDS",
    "NEWS_COLORS",
    "NEWS_LABELS",
    "PATIENT_LAYERS",
    "SEVERITY_COLORS",
    "SMALL_MULTIPLES_ABOVE",
    "VERDICT_LABELS",
    "WATERFALL_BARS",
    "add_expected_band",
    "adverse_events",
    "adverse_events_data",
    "cohort_trajectory",
    "cohort_trajectory_data",
    "cumulative_response",
    "cumulative_response_data",
    "figure_data",
    "forest",
    "forest_data",
    "funnel_plot",
    "funnel_plot_data",
    "km_small_multiples",
    "mean_curve_figure",
    "news_color",
    "news_css",
    "news_legend_html",
    "patient_trajectory",
    "patient_trajectory_data",
    "predictors_forest",
    "response_duration",
    "response_duration_data",
    "scorecard_colors",
    "subgroup_forest",
    "subgroup_forest_data",
    "waterfall",
    "waterfall_data",
]
