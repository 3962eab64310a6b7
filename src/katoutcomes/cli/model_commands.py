"""``compare``, ``trajectories`` and ``alerts``: the models, from one analysis."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from katoutcomes import formatting as fmt
from katoutcomes.cli.common import (
    EXIT_OK,
    check_output,
    emit_table,
    json_ready,
    load_analysis,
    metadata,
    write_text,
)
from katoutcomes.errors import KatoutcomesError

if TYPE_CHECKING:
    from katoutcomes.analysis import Analysis

__all__ = ["run_alerts", "run_compare", "run_trajectories", "trajectories_payload"]


def _fmt(value: float, kind: str = "share") -> str:
    """A comparison's number as every surface writes it (:mod:`katoutcomes.formatting`)."""
    if fmt.is_missing(value):
        return fmt.MISSING
    if kind == "points":
        return fmt.percentage_points(value)
    if kind == "ratio":
        return f"{value:.2f}"
    return fmt.pct(value)


def _compare_effects_text(effects: list[Any], by: str, instrument: str) -> str:
    lines = [f"{instrument} intention-to-treat response by {by}", ""]
    for e in effects:
        lines.append(f"{e.level} vs {e.reference}:")
        lines.append(
            f"  crude difference     {_fmt(e.crude_estimate, 'points')} "
            f"(95% CI {_fmt(e.crude_ci_low, 'points')} to {_fmt(e.crude_ci_high, 'points')}),"
            f" n = {e.crude_n:,}"
        )
        if e.not_measurable:
            lines.append(f"  adjusted             not measurable: {e.not_measurable}")
        else:
            lines.append(
                f"  adjusted difference  {_fmt(e.risk_difference, 'points')} "
                f"(95% CI {_fmt(e.ci_low, 'points')} to {_fmt(e.ci_high, 'points')}), "
                f"n = {e.n:,}, {e.n_excluded:,} left out (missing covariates)"
            )
            lines.append(
                f"  adjusted odds ratio  {_fmt(e.odds_ratio, 'ratio')} "
                f"(95% CI {_fmt(e.or_ci_low, 'ratio')} to {_fmt(e.or_ci_high, 'ratio')})"
            )
        lines.append(f"  covariates: {', '.join(e.covariates) or 'none'}")
        lines.extend(f"  note: {note}" for note in e.notes)
        lines.append("")
    return "\n".join(lines)


def _compare_funnel_text(funnel: Any) -> str:
    units = funnel.units
    head = ("unit", "n", "responders", "rate", "expected", "adjusted", "99.8% limits", "outside")
    rows = [
        (
            str(r.unit),
            f"{r.n:,}",
            f"{r.responders:,}",
            _fmt(r.rate),
            fmt.MISSING if fmt.is_missing(r.expected) else f"{r.expected:.1f}",
            _fmt(r.adjusted_rate),
            f"{_fmt(r.lower998)} to {_fmt(r.upper998)}",
            r.outside or "-",
        )
        for r in units.itertuples(index=False)
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    table = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    ]
    table.insert(1, "  ".join("-" * w for w in widths))
    outside = ", ".join(
        f"{u} ({o})" for u, o in zip(units["unit"], units["outside"], strict=True) if o
    )
    lines = [
        f"{funnel.instrument} intention-to-treat response by {funnel.by}: clinic rate "
        f"{funnel.clinic_rate:.1%} over {funnel.n_patients:,} patients"
        + (
            f" ({funnel.n_unknown_unit:,} with no {funnel.by} left out)"
            if funnel.n_unknown_unit
            else ""
        ),
        "",
        *table,
        "",
        f"outside the 99.8% limits: {outside or 'none'}",
        "case-mix adjustment: "
        + (
            f"not made: {funnel.adjustment}"
            if funnel.adjustment
            else f"expected from {', '.join(funnel.covariates)} "
            f"({funnel.n_adjusted:,} patients with every covariate)"
        ),
        *(f"note: {note}" for note in funnel.notes),
    ]
    return "\n".join(lines) + "\n"


def run_compare(args: argparse.Namespace) -> int:
    from katoutcomes.comparisons import effects_table
    from katoutcomes.instruments import normalise_instrument_name

    instrument = normalise_instrument_name(args.instrument)
    if instrument is None:
        raise KatoutcomesError(f"--instrument {args.instrument}: not a known instrument.")
    check_output(args.out, "--out")
    analysis = load_analysis(args)
    if not (analysis.outcomes["instrument"] == instrument).any():
        raise KatoutcomesError(f"the data hold no {instrument} assessments.")
    meta = metadata(analysis)
    payload: dict[str, Any]
    if args.by in ("site", "clinician"):
        funnel = analysis.funnel(args.by, instrument)
        if args.format == "csv":
            emit_table(funnel.units, args, meta)
            return EXIT_OK
        if args.format == "text":
            text = _compare_funnel_text(funnel)
        else:
            payload = {
                "by": args.by,
                "instrument": instrument,
                "clinic_rate": funnel.clinic_rate,
                "units": json.loads(funnel.units.to_json(orient="records")),
                "n_patients": funnel.n_patients,
                "n_unknown_unit": funnel.n_unknown_unit,
                "n_adjusted": funnel.n_adjusted,
                "covariates": list(funnel.covariates),
                "adjustment_not_made": funnel.adjustment,
                "notes": list(funnel.notes),
                **meta,
            }
            text = json.dumps(payload, indent=2) + "\n"
    else:
        effects = analysis.adjusted_effects(args.by, instrument)
        if args.format == "csv":
            emit_table(effects_table(effects), args, meta)
            return EXIT_OK
        if args.format == "text":
            text = _compare_effects_text(effects, args.by, instrument)
        else:
            payload = {"by": args.by, "instrument": instrument}
            if args.by == "route":
                payload["reference"] = effects[0].reference
                payload["routes"] = [
                    {
                        "route": e.level,
                        "crude": e.crude_dict(),
                        "adjusted": e.adjusted_dict(),
                    }
                    for e in effects
                ]
            else:
                payload["crude"] = effects[0].crude_dict()
                payload["adjusted"] = effects[0].adjusted_dict()
            text = json.dumps({**payload, **meta}, indent=2, allow_nan=False) + "\n"
    write_text(args, text, f"comparison by {args.by}")
    return EXIT_OK


def trajectories_payload(analysis: Analysis, instrument: str) -> dict[str, Any]:
    """The ``trajectories --format json`` document of one instrument."""
    from katoutcomes.trajectories import TrajectoryModel

    model = analysis.trajectory_model(instrument)
    if not isinstance(model, TrajectoryModel):
        raise KatoutcomesError(f"no {instrument} trajectory model: {model}")
    calibration = analysis.band_calibration(instrument)
    sensitivity = analysis.sensitivity(instrument).to_dict(instrument)
    curve = model.mean_curve()[["day", "mean", "ci_low", "ci_high"]]
    details = model.to_dict()
    meta = metadata(analysis)
    return json_ready(
        {
            "instrument": instrument,
            "n_patients": model.n_patients,
            "n_observations": model.n_observations,
            "converged": model.converged,
            "formula": model.formula,
            "fixed_effects": details["fixed_effects"],
            "variance_components": details["variance_components"],
            "mean_curve": curve.to_dict(orient="records"),
            "band_level": model.band_level,
            "band_calibration": calibration.to_dict() if calibration else None,
            "sensitivity": sensitivity["sensitivity"],
            "tipping_point": sensitivity["tipping_point"],
            "model": {
                key: details[key]
                for key in (
                    "reml",
                    "n_eligible",
                    "sampled",
                    "max_patients",
                    "seed",
                    "baseline_mean",
                    "acute_days",
                    "log_likelihood",
                    "warnings",
                )
            },
            **meta,
        }
    )


def _format_trajectories_text(payload: dict[str, Any]) -> str:
    def num(x: Any, digits: int = 3) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    lines = [
        f"{payload['instrument']} trajectory model: {payload['formula']} (REML)",
        f"  {payload['n_patients']:,} patients ({payload['model']['n_eligible']:,} eligible"
        f"{', seeded sample' if payload['model']['sampled'] else ''}), "
        f"{payload['n_observations']:,} scores, converged: {payload['converged']}",
        "",
        f"  {'term':<11}{'coef':>9}{'std_err':>9}{'95% CI':>21}{'p':>11}",
    ]
    for r in payload["fixed_effects"]:
        lines.append(
            f"  {r['term']:<11}{num(r['coef']):>9}{num(r['std_err']):>9}"
            f"{num(r['ci_low']):>10} to {num(r['ci_high']):<7}"
            f"{'-' if r['p_value'] is None else format(r['p_value'], '.2g'):>11}"
        )
    variances = ", ".join(f"{k} {v:.3f}" for k, v in payload["variance_components"].items())
    lines += ["", f"  variances: {variances}", "", "  mean curve at the mean baseline:"]
    for r in payload["mean_curve"]:
        lines.append(
            f"    day {r['day']:>5g}: {r['mean']:6.2f} (95% CI {r['ci_low']:.2f} to "
            f"{r['ci_high']:.2f})"
        )
    cal = payload["band_calibration"]
    lines += [
        "",
        f"  {payload['band_level']:.0%} expected-recovery band: {cal['coverage']:.1%} of "
        f"{cal['n_scores']:,} held-out scores inside ({cal['folds']}-fold patient-level "
        f"cross-validation, {cal['n_patients']:,} patients)",
        "",
        f"  {'outcome':<10}{'method':<12}{'estimate':>9}{'95% CI':>19}{'n':>8}",
    ]
    for r in payload["sensitivity"]:
        ci = "-" if r["ci_low"] is None else f"{r['ci_low']:.1%} to {r['ci_high']:.1%}"
        estimate = "-" if r["estimate"] is None else f"{r['estimate']:.1%}"
        lines.append(f"  {r['outcome']:<10}{r['method']:<12}{estimate:>9}{ci:>19}{r['n']:>8,}")
    tip = payload["tipping_point"]
    lines += [
        "",
        f"  tipping point: {tip.get('statement', '-')} ({tip['imputations']} imputations, "
        f"seed {tip['seed']})",
        "",
        "settings: " + ", ".join(f"{k}={v}" for k, v in payload["settings"].items()),
    ]
    return "\n".join(lines) + "\n"


def run_trajectories(args: argparse.Namespace) -> int:
    """``katoutcomes trajectories``: the trajectory model of one instrument."""
    check_output(args.out, "--out")
    analysis = load_analysis(args)
    payload = trajectories_payload(analysis, args.instrument)
    if args.format == "json":
        text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    else:
        text = _format_trajectories_text(payload)
    write_text(args, text, f"the {args.instrument} model")
    return EXIT_OK


def run_alerts(args: argparse.Namespace) -> int:
    """``katoutcomes alerts``: the needs-review list, at-risk patients first."""
    from katoutcomes.trajectories import TrajectoryModel

    check_output(args.out, "--out")
    analysis = load_analysis(args)
    frame = analysis.alerts
    if args.clinician is not None:
        frame = frame[frame["clinician_id"] == args.clinician]
    models = analysis.trajectory_models
    meta = metadata(analysis)
    meta["models"] = {
        name: (
            {
                "converged": model.converged,
                "n_patients": model.n_patients,
                "n_eligible": model.n_eligible,
                "sampled": model.sampled,
                "seed": model.seed,
                "band_level": model.band_level,
                # The band's measured coverage travels with the band (methods §7.4).
                "band_calibration": analysis.band_calibration(name).to_dict(),  # type: ignore[union-attr]
            }
            if isinstance(model, TrajectoryModel)
            else {"not_measurable": model}
        )
        for name, model in models.items()
    }
    emit_table(frame, args, json_ready(meta))
    return EXIT_OK
