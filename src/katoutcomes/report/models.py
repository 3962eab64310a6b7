"""Report sections drawn from the models: the modelled course of symptoms with the
missing-data sensitivity and the patients at risk, and the site funnel plot.

The small-cell rule applies as elsewhere: counts of patients at risk of 1 to ``k - 1`` are
not shown (nor the on-track count that would give an off-track count back); sensitivity
rows whose implied counts are small, or whose population the rates table hides, are
marked suppressed; funnel-plot units with fewer than ``k`` patients (or responders, or
non-responders) are left out, with complementary suppression so that the clinic total
does not give them back.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from katoutcomes import formatting as fmt
from katoutcomes.errors import KatoutcomesError
from katoutcomes.instruments import INSTRUMENTS, PHQ9
from katoutcomes.plots import funnel_plot, mean_curve_figure
from katoutcomes.report.blocks import heading, note, rule, section
from katoutcomes.report.figures import Figures
from katoutcomes.suppression import (
    SUPPRESSED_COLUMN,
    rate_cell_mask,
    small_cell_mask,
    suppress_rates,
)
from katoutcomes.trajectories import TrajectoryModel

if TYPE_CHECKING:
    from katoutcomes.analysis import Analysis

__all__ = ["comparisons_section", "model_section"]

METHOD_NAMES: Final = {
    "itt": "Intention to treat (no endpoint: not achieved)",
    "completers": "Completers (patients with an endpoint)",
    "locf": "Last observation carried forward",
    "mi": "Multiple imputation under MAR (trajectory model)",
}
OUTCOME_NAMES: Final = {"response": "Response", "remission": "Remission"}
#: Reasons of the at-risk list (:func:`katoutcomes.trajectories.alerts`), as read.
REASONS: Final = {
    "off_track": "Off track",
    "reliable_deterioration": "Reliable deterioration",
    "relapse": "Relapse",
    "item9": "PHQ-9 item 9 ≥ 1",
}


def _sensitivity_rows(analysis: Analysis, instrument: str, k: int) -> list[dict[str, Any]]:
    """Rows of the sensitivity table; suppressed where the rates table hides the same
    population or the row's implied counts are small."""
    table = analysis.sensitivity(instrument).table
    table = table[table["instrument"] == instrument]
    rates = analysis.shared_rates
    hidden_rates = {
        (str(r["outcome"]), str(r["population"]))
        for _, r in rates[rates["instrument"] == instrument].iterrows()
        if bool(r[SUPPRESSED_COLUMN])
    }
    rows = []
    for _, r in table.iterrows():
        outcome, method = str(r["outcome"]), str(r["method"])
        n = r["n"]
        implied = np.rint(np.asarray([r["estimate"]], dtype=float) * n)
        hidden = (outcome, "itt") in hidden_rates or (
            method == "completers" and (outcome, "completers") in hidden_rates
        )
        if method in ("itt", "completers", "locf") and not fmt.is_missing(r["estimate"]):
            hidden |= bool(rate_cell_mask(implied, np.asarray([n]), k)[0])
        row = {
            "outcome": OUTCOME_NAMES.get(outcome, outcome),
            "method": METHOD_NAMES.get(method, method),
            "suppressed": hidden,
        }
        if not hidden:
            row["estimate"] = fmt.estimate(r["estimate"], r["ci_low"], r["ci_high"], "share")
            row["n"] = fmt.integer(n)
        rows.append(row)
    return rows


def _tipping_sentence(analysis: Analysis, instrument: str, k: int) -> str:
    tips = analysis.sensitivity(instrument).tipping_point
    tips = tips[tips["instrument"] == instrument]
    if tips.empty:
        return ""
    t = tips.iloc[0]
    if k > 1 and 1 <= int(t["n_imputed"]) < k:
        return ""
    delta = t["delta_points"]
    if fmt.is_missing(delta):
        return (
            "Tipping point: no shift of the imputed scores within the score range brings the "
            "imputed response rate into the intention-to-treat 95% interval."
        )
    if float(delta) == 0.0:
        return (
            "Tipping point: the imputed response rate already lies within the "
            "intention-to-treat 95% interval; missing data do not move its verdict."
        )
    direction = "worse" if float(t["mi_estimate"]) > float(t["itt_ci_high"]) else "better"
    return (
        f"Tipping point: the imputed patients would have to score "
        f"{fmt.decimal(abs(float(delta)), 2)} points {direction} than imputed (response "
        f"{fmt.pct(t['tipping_response_share'])} instead of "
        f"{fmt.pct(t['imputed_response_share'])}) for the imputed result to reach the "
        "intention-to-treat interval."
    )


def _at_risk_rows(analysis: Analysis, k: int) -> list[dict[str, Any]]:
    """Counts of the at-risk list per instrument, small counts suppressed."""
    alerts = analysis.alerts
    rows = []
    for instrument in INSTRUMENTS:
        part = alerts[alerts["instrument"] == instrument]
        if part.empty:
            continue
        status = part["status"].astype(str)
        followed = int(status.isin(["on_track", "off_track"]).sum())
        off = int((status == "off_track").sum())
        at_risk = part["at_risk"].to_numpy(dtype=bool)
        reasons = part["reasons"].fillna("").astype(str)
        counts = {"followed": followed, "off": off, "at_risk": int(at_risk.sum())}
        for code in REASONS:
            if code == "off_track":
                continue  # the off-track column already
            counts[code] = int(reasons.str.split(";").apply(lambda r, c=code: c in r).sum())
        hidden = dict(zip(counts, small_cell_mask(list(counts.values()), k), strict=True))
        # On track = followed − off track: a small on-track count gives the off-track back.
        if bool(small_cell_mask([followed - off], k)[0]):
            hidden["off"] = True
        rows.append(
            {
                "instrument": instrument,
                "cells": [
                    None if hidden[name] else fmt.integer(value) for name, value in counts.items()
                ],
            }
        )
    return rows


def model_section(analysis: Analysis, figures: Figures, k: int) -> dict[str, Any]:
    """Course of symptoms (model): mean curve with its 95% band, the band's measured
    calibration, the missing-data sensitivity and the counts of patients at risk."""
    blocks: list[dict[str, Any]] = [
        note(
            "A linear mixed model of every eligible patient's scores after the first dose "
            "(score on baseline and log-time, with a bend at the end of the acute course and "
            "at 182 days; random intercept and slope per patient; docs/methods.md, "
            "trajectories). It uses every score, so patients who leave early still count.",
        )
    ]
    # The models of both instruments, or why one cannot be fitted (too few patients,
    # say); band calibration and sensitivity reuse them.
    models = analysis.trajectory_models
    for instrument in INSTRUMENTS:
        model = models.get(instrument, f"no {instrument} scores")
        blocks.append(heading(instrument))
        if not isinstance(model, TrajectoryModel):
            blocks.append(note(f"No model for the {instrument}: {model}"))
            continue
        if k > 1 and model.n_patients < k:
            blocks.append(rule(f"The {instrument} model is not shown: fewer than {k} patients."))
            continue
        fig = mean_curve_figure(model.mean_curve(), instrument, model.n_patients)
        blocks.append(figures.render(fig, f"fig-model-{instrument.lower()}"))
        calibration = analysis.band_calibration(instrument)
        if calibration is not None:
            blocks.append(
                note(
                    f"Expected-recovery band ({fmt.pct(calibration.band_level, 0)} prediction "
                    f"band, drawn on the patient pages): {fmt.pct(calibration.coverage)} of "
                    f"{fmt.integer(calibration.n_scores)} held-out scores fell inside their band "
                    f"in {calibration.folds}-fold cross-validation by patient "
                    f"({fmt.count(calibration.n_patients, 'patients')}).",
                )
            )
        rows = _sensitivity_rows(analysis, instrument, k)
        blocks.append(
            {
                "kind": "table",
                "template": "sensitivity",
                "table_id": f"sensitivity-table-{instrument.lower()}",
                "caption": f"{instrument}: response and remission under four ways of treating "
                "a missing endpoint (95% CI).",
                "rows": rows,
            }
        )
        if any(r["suppressed"] for r in rows):
            blocks.append(
                rule(
                    "Rows marked suppressed would count, or with the rates above give back, "
                    f"a group of 1 to {k - 1} patients.",
                )
            )
        tipping = _tipping_sentence(analysis, instrument, k)
        if tipping:
            blocks.append(note(tipping))
    at_risk = _at_risk_rows(analysis, k)
    if at_risk:
        blocks.append(heading("Patients who need review"))
        blocks.append(
            note(
                "Per instrument: patients with a baseline and follow-up the model can judge, "
                "those whose latest score lies above their expected-recovery band (off track), "
                "and those at risk for any reason (off track, reliable deterioration, relapse, "
                "or PHQ-9 item 9 of 1 or more on one of the last three PHQ-9s). Patient "
                "identifiers are on the dashboard's review list, never in this report.",
            )
        )
        blocks.append(
            {
                "kind": "table",
                "template": "at_risk",
                "headers": ["Instrument", "Judged against the band", "Off track", "At risk"]
                + [name for code, name in REASONS.items() if code != "off_track"],
                "rows": at_risk,
            }
        )
        if any(cell is None for row in at_risk for cell in row["cells"]):
            blocks.append(rule(f"Counts of 1 to {k - 1} patients are marked suppressed."))
    return section("model", "Course of symptoms (model)", blocks)


def comparisons_section(analysis: Analysis, figures: Figures, k: int) -> dict[str, Any]:
    """Sites compared: the funnel plot of case-mix adjusted PHQ-9 response."""
    blocks: list[dict[str, Any]] = []
    try:
        funnel = analysis.funnel("site", PHQ9.name)
    except KatoutcomesError as exc:
        blocks.append(note(f"Sites cannot be compared: {exc}"))
        return section("comparisons", "Sites compared", blocks)
    units = funnel.units
    rates = analysis.shared_rates
    itt = rates[
        (rates["instrument"] == PHQ9.name)
        & (rates["outcome"] == "response")
        & (rates["population"] == "itt")
    ]
    if units.empty:
        blocks.append(note("No site is recorded: nothing to compare."))
    elif itt.empty or bool(itt[SUPPRESSED_COLUMN].iloc[0]):
        blocks.append(
            rule(
                "The funnel plot is not shown: its centre line is the PHQ-9 response rate, "
                "which the small-cell rule hides above.",
            )
        )
    else:
        marked = suppress_rates(
            units.assign(group="site"),
            k=k,
            count="responders",
            total="n",
            complementary_by="group",
        )
        hidden = marked[SUPPRESSED_COLUMN].to_numpy(dtype=bool).copy()
        if k > 1:
            hidden |= units["n"].to_numpy() < k
        shown = dataclasses.replace(funnel, units=units[~hidden].reset_index(drop=True))
        if shown.units.empty:
            blocks.append(
                rule(
                    f"The funnel plot is not shown: every site has, or would let a reader work "
                    f"out, fewer than {k} patients, responders or non-responders.",
                )
            )
        else:
            fig = funnel_plot(shown, adjusted=True)
            blocks.append(figures.render(fig, "fig-funnel-site"))
            outside = shown.outside
            names = ", ".join(outside["unit"].astype(str)) or "none"
            blocks.append(
                note(
                    f"Sites outside the 99.8% limits: {names}. A site outside the limits differs "
                    "from the clinic by more than chance would usually give; inside them, "
                    "differences are what chance gives.",
                )
            )
        if hidden.any():
            blocks.append(
                rule(
                    f"{int(hidden.sum())} site(s) not shown: fewer than {k} "
                    "patients, responders or non-responders (or a hidden site could be worked "
                    "out from the clinic total).",
                )
            )
    if funnel.adjustment:
        blocks.append(note(f"No case-mix adjustment: {funnel.adjustment}"))
    return section("comparisons", "Sites compared", blocks)
