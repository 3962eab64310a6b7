"""A synthetic ketamine-clinic cohort, generated entirely by our own code.

The demo cohort feeds the dashboard when no data is loaded, the examples, the tests and the
benchmarks. It holds no real patient: every row comes from :func:`generate_demo`, which draws
from a :class:`numpy.random.Generator` seeded with ``seed``, so the same seed always gives the
same three tables.

The tables follow the data contract (``data/schema/*.schema.json``, docs/methods.md §2.1): the
column names and their order, the enumerations (routes, adverse-event codes, sexes,
diagnoses) and the score ranges are read from the schema files and from
:mod:`katoutcomes.instruments`, the age bands from :mod:`katoutcomes.demographics`, not
restated here.

Every number below that shapes a trajectory is an illustrative choice that makes the cohort
look like published ketamine practice (see the Notes of :func:`generate_demo`); none is an
estimate and none should be cited as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from katoutcomes.demographics import AGE_BAND_LABELS
from katoutcomes.instruments import GAD7, ITEM_COLUMNS, ITEM_MAX, PHQ9, SELF_HARM_ITEM
from katoutcomes.schema import TableSchema, load_schema

__all__ = ["DemoCohort", "generate_demo", "write_demo"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
TimeKind = Literal["datetime", "study_day"]

_DAY: Final = 86_400  # seconds
_HOUR: Final = 3_600
_MINUTE: Final = 60

# Calendar: intake dates spread over ~15 months, and the extract is taken ~18 months after
# `start`, so that follow-up of the latest patients is cut short, as in a live clinic export.
_ENROLMENT_DAYS: Final = 455
_EXTRACT_DAY: Final = 548

# Sites, their share of patients, and the clinicians nested in each site.
_SITES: Final = ("S1", "S2", "S3")
_SITE_SHARE: Final = (0.45, 0.35, 0.20)
_CLINICIANS_PER_SITE: Final = (3, 3, 2)  # C01-C03 at S1, C04-C06 at S2, C07-C08 at S3

# Share of assessments recorded item by item, and of sessions with a questionnaire 2-6 hours
# after the dose ("within hours"), per site: sites differ in their forms.
_ITEM_FORM_SHARE: Final = (0.06, 0.30, 0.10)
_POST_DOSE_SHARE: Final = (0.30, 0.15, 0.10)
# Share of sessions with blank monitoring time and blank cost, per site.
_MONITORING_BLANK: Final = (0.04, 0.15, 0.06)
_COST_BLANK: Final = (0.05, 0.20, 0.10)
_IV_PRICE: Final = (475.0, 560.0, 660.0)

_SEX_SHARE: Final = {"female": 0.57, "male": 0.40, "other": 0.015, "unknown": 0.015}
_WEIGHT_MEAN_BY_SEX: Final = {"female": 74.0, "male": 88.0, "other": 80.0, "unknown": 80.0}

# Per diagnosis: (share, PHQ-9 baseline mean, GAD-7 baseline mean, minimum prior treatment
# failures, Poisson rate of further failures, cap on further failures, shift of the log-odds
# of being a responder). TRD means >= 2 failed adequate trials (and MDD so stays below 2);
# a Poisson(1.7) gives about half of GAD patients >= 2.
_DIAGNOSIS: Final = {
    "MDD": (0.30, 16.5, 12.0, 0, 0.5, 1, 0.10),
    "TRD": (0.34, 18.5, 12.5, 2, 1.6, 12, -0.10),
    "GAD": (0.08, 12.0, 15.5, 0, 1.7, 12, 0.10),
    "PTSD": (0.10, 16.0, 14.5, 0, 1.2, 12, -0.10),
    "bipolar_depression": (0.07, 17.0, 12.5, 0, 1.5, 12, -0.30),
    "other": (0.11, 14.5, 12.0, 0, 0.9, 12, 0.0),
}

# Route of administration: share of patients per site (rows S1..S3), in schema enum order
# ("IV", "IM", "intranasal", "sublingual", "oral", "other").
_ROUTE_SHARE_BY_SITE: Final = {
    "IV": (0.70, 0.35, 0.25),
    "IM": (0.15, 0.40, 0.10),
    "intranasal": (0.08, 0.10, 0.10),
    "sublingual": (0.05, 0.12, 0.50),
    "oral": (0.015, 0.02, 0.04),
    "other": (0.005, 0.01, 0.01),
}
_AT_HOME_ROUTES: Final = ("sublingual", "oral")
# Multiplier of the per-session adverse-event probability by route.
_ROUTE_AE_FACTOR: Final = {
    "IV": 1.0,
    "IM": 1.2,
    "intranasal": 1.1,
    "sublingual": 0.6,
    "oral": 0.5,
    "other": 1.0,
}
# Probability of each code on a session with an adverse event (dissociation and nausea are the
# commonest after ketamine).
_AE_CODE_SHARE: Final = {
    "nausea": 0.35,
    "vomiting": 0.06,
    "dizziness": 0.18,
    "dissociation": 0.50,
    "hypertension": 0.08,
    "headache": 0.10,
    "sedation": 0.08,
    "anxiety": 0.07,
    "other": 0.03,
}

# Induction: six doses; the rhythm is three a week, twice a week or slower (gap in whole days,
# drawn from [low, high)); now and then a gap stretches by 3-7 days (a missed week).
_INDUCTION_DOSES: Final = 6
_RHYTHM_SHARE: Final = (0.25, 0.62, 0.13)
_RHYTHM_GAP_LOW: Final = (2, 3, 4)
_RHYTHM_GAP_HIGH: Final = (4, 5, 8)
_DELAY_SHARE: Final = 0.04
# Dropout during induction, after 1-4 doses; more likely without benefit.
_DROPOUT_RESPONDER: Final = 0.12
_DROPOUT_NON_RESPONDER: Final = 0.28
_DROPOUT_AFTER_SHARE: Final = (0.30, 0.30, 0.25, 0.15)

# Follow-up beyond induction (completers): 3-9 months for some, maintenance for some of those.
_FOLLOW_UP_SHARE: Final = 0.72
# Share of non-responders whose scores worsen over the course.
_WORSENING_SHARE: Final = 0.12
_MAINTENANCE_SHARE: Final = 0.45
_FOLLOW_UP_SLOTS: Final = 20  # 270 days / 14-day minimum interval

# Response: the log-odds of being a responder, and effect sizes on that scale.
_RESPONDER_LOGIT: Final = 0.75
_KAP_LOGIT: Final = 0.45
_SSRI_LOGIT: Final = -0.20
_FAILURE_LOGIT: Final = -0.12
# Relapse: exponential hazard from the last dose of the course, with a durable share.
_DURABLE_SHARE: Final = 0.15
_RELAPSE_MEDIAN_DAYS: Final = 28.0
_RELAPSE_MEDIAN_MAINTENANCE_DAYS: Final = 150.0
_RELAPSE_MEDIAN_DROPOUT_DAYS: Final = 21.0
_RELAPSE_SPREAD_DAYS: Final = 7.0
# Measurement noise (points, SD) on the questionnaire totals.
_NOISE_SD: Final = {PHQ9.name: 1.6, GAD7.name: 1.4}

# Row order of the two questionnaires taken at one time (instrument codes 0 and 1).
_INSTRUMENT_ORDER: Final = (PHQ9, GAD7)
# Relative weights of the items in the item-level rows (PHQ-9 items 1-8, GAD-7 items 1-7).
_ITEM_WEIGHTS: Final = {
    PHQ9.name: (1.1, 1.1, 1.25, 1.35, 0.95, 1.0, 1.0, 0.6),
    GAD7.name: (1.2, 1.1, 1.2, 1.1, 0.8, 1.0, 0.8),
}


@dataclass(frozen=True, eq=False)
class DemoCohort:
    """A synthetic cohort in the canonical layout of the data contract.

    Attributes
    ----------
    assessments : pandas.DataFrame
        One row per questionnaire administration (methods §2.1).
    treatments : pandas.DataFrame
        One row per ketamine administration (methods §2.1).
    patients : pandas.DataFrame
        One row per patient (methods §2.1).
    """

    assessments: pd.DataFrame
    treatments: pd.DataFrame
    patients: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The three tables by name, in ingest order."""
        return {
            "assessments": self.assessments,
            "treatments": self.treatments,
            "patients": self.patients,
        }


def generate_demo(
    patients: int = 400,
    seed: int = 20261127,
    time: TimeKind = "datetime",
    start: str = "2025-01-06",
) -> DemoCohort:
    r"""Generate a synthetic ketamine-clinic cohort.

    Parameters
    ----------
    patients : int
        Number of patients (at least 1).
    seed : int
        Seed of the random generator; the same seed gives identical tables.
    time : {"datetime", "study_day"}
        Time representation: ISO datetimes (``assessed_at``, ``administered_at``) or
        ``study_day``, days since each patient's intake visit. Both variants hold the same
        rows in the same order.
    start : str
        ISO date of the first possible intake; dates spread over about 18 months from it.

    Returns
    -------
    DemoCohort
        ``assessments``, ``treatments`` and ``patients`` DataFrames.

    Notes
    -----
    Each patient has an intake visit (PHQ-9, and GAD-7 for most), sometimes a second
    screening questionnaire, and a questionnaire on the day of the first dose just before it,
    all within 1-14 days before that dose. The induction course is six doses three times a
    week, twice a week or slower (a few patients take longer than 21 days); 12% of responders
    and 28% of non-responders stop after 1-4 doses. A questionnaire precedes most sessions,
    and at 10-30% of sessions (by site) another follows 2-6 hours after the dose.

    With ``t`` the days since the first dose, a patient's expected score is

    .. math:: s(t) = B\,[1 - f(t)]\,[1 - a\,h], \qquad
              f(t) = R\,(1 - e^{-t/\tau})\,w(t) + r\,[1 - w(t)]

    with baseline ``B``, acute improvement ``R`` (about 0.72 for responders, 0.22 for the
    others), onset time ``τ`` (1.5-6 days for responders), a within-hours effect ``a`` on the
    post-dose questionnaires (``h = 1``), and ``w(t) = exp(-(t - T)/7)`` after a relapse at
    ``T`` (1 before it) taking the score back to a residual improvement ``r``. The relapse
    time after the last dose of the course is exponential with a median of 28 days (150 with
    maintenance doses every 2-6 weeks, 21 after dropout); 15% of patients do not relapse.
    Counted as methods §4.12 counts relapse (two consecutive assessments), this gives a
    median of about 12 weeks after first response without maintenance. The log-odds of
    being a responder rise with integrated psychotherapy (+0.45) and fall with each prior
    treatment failure beyond the first (-0.12) and with a concurrent SSRI (-0.20). GAD-7
    follows PHQ-9 with a correlated baseline (r about 0.6) and a patient-specific share of
    the improvement. Observed totals add Gaussian noise (SD 1.6 PHQ-9, 1.4 GAD-7), are
    rounded and clipped to the instrument range. 72% of completers are followed for 3-9
    months, 45% of those with maintenance doses, the others with remote questionnaires
    every 2-6 weeks; follow-up of the latest patients is cut at the extract date.

    About 15% of questionnaires carry item scores summing to the total (a third of them
    without the total, a few with one item missing); PHQ-9 item 9 is positive on a few
    percent of those, more often at baseline in severe depression.

    References
    ----------
    Oliver PA, et al. J Clin Psychiatry 2022;83(6):21m14336 (IV 0.5 mg/kg, response 50% at
    6 weeks). Hull TD, et al. J Affect Disord 2022;314:59-67 (at-home sublingual ketamine,
    PHQ-9 response 62.8%, remission 32.6%). McInnes LA, et al. ORKA-1, J Affect Disord 2022.
    Murrough JW, et al. Biol Psychiatry 2013;74:250-256 (repeated IV ketamine and relapse).

    Examples
    --------
    >>> cohort = generate_demo(patients=20, seed=1)
    >>> sorted(cohort.tables())
    ['assessments', 'patients', 'treatments']
    >>> cohort.patients["patient_id"].iloc[0]
    'P00001'
    """
    _check_arguments(patients, seed, time)
    origin = _parse_start(start)
    rng = np.random.default_rng(seed)
    cohort = _Cohort(rng, patients)
    return DemoCohort(
        assessments=cohort.assessments_frame(time, origin),
        treatments=cohort.treatments_frame(time, origin),
        patients=cohort.patients_frame(),
    )


def write_demo(
    out_dir: str | Path,
    patients: int = 400,
    seed: int = 20261127,
    time: TimeKind = "datetime",
    start: str = "2025-01-06",
) -> dict[str, Path]:
    """Write the demo cohort as ``assessments.csv``, ``treatments.csv`` and ``patients.csv``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into; created if needed. Existing files of the same names are
        replaced.
    patients, seed, time, start
        As for :func:`generate_demo`.

    Returns
    -------
    dict of str to Path
        The path of each table's file, by table name.

    Notes
    -----
    UTF-8, comma-separated, one header row, no index. Booleans are written ``true``/``false``,
    blanks as empty cells, datetimes as ``YYYY-MM-DDTHH:MM:SS``, and integer columns (and
    number columns holding only whole numbers) without a trailing ``.0``.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_demo(tempfile.mkdtemp(), patients=5)
    >>> sorted(p.name for p in paths.values())
    ['assessments.csv', 'patients.csv', 'treatments.csv']
    """
    cohort = generate_demo(patients=patients, seed=seed, time=time, start=start)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in cohort.tables().items():
        path = folder / f"{name}.csv"
        _csv_ready(frame).to_csv(
            path,
            index=False,
            encoding="utf-8",
            lineterminator="\n",
            date_format="%Y-%m-%dT%H:%M:%S",
        )
        paths[name] = path
    return paths


# --------------------------------------------------------------------------- arguments


def _check_arguments(patients: int, seed: int, time: str) -> None:
    if isinstance(patients, bool) or not isinstance(patients, int | np.integer) or patients < 1:
        raise ValueError(f"patients must be a whole number >= 1, got {patients!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}.")
    if time not in ("datetime", "study_day"):
        raise ValueError(f"time must be 'datetime' or 'study_day', got {time!r}.")


def _parse_start(start: str) -> np.datetime64:
    try:
        day = pd.Timestamp(start).normalize()
    except (ValueError, TypeError):
        raise ValueError(
            f"start must be an ISO date such as '2025-01-06', got {start!r}."
        ) from None
    if pd.isna(day):
        raise ValueError(f"start must be an ISO date such as '2025-01-06', got {start!r}.")
    return np.datetime64(day.strftime("%Y-%m-%d"), "s")


# --------------------------------------------------------------------------- helpers


def _categorical(rng: np.random.Generator, shares: FloatArray, size: int) -> IntArray:
    """Index into ``shares`` (normalised) for ``size`` draws."""
    p = np.asarray(shares, dtype=np.float64)
    return rng.choice(p.size, size=size, p=p / p.sum()).astype(np.int64)


def _categorical_rows(rng: np.random.Generator, shares: FloatArray) -> IntArray:
    """One draw per row of ``shares`` (rows normalised)."""
    cum = shares.cumsum(axis=1)
    cum = cum / cum[:, -1:]
    u = rng.random((shares.shape[0], 1))
    drawn: IntArray = np.minimum((u >= cum).sum(axis=1), shares.shape[1] - 1).astype(np.int64)
    return drawn


def _band_lower_bounds(bands: tuple[str, ...]) -> IntArray:
    """Lowest age of each band label (``<18``, ``18-24``, ..., ``90+``)."""
    lows = []
    for band in bands:
        if band.startswith("<"):
            lows.append(0)
        elif band.endswith("+"):
            lows.append(int(band[:-1]))
        else:
            lows.append(int(band.split("-")[0]))
    return np.asarray(lows, dtype=np.int64)


def _str_column(codes: IntArray, labels: npt.NDArray[np.object_]) -> pd.Series:
    return pd.Series(pd.Categorical.from_codes(codes, labels)).astype("str")


def _int_column(values: IntArray, missing: BoolArray | None = None) -> pd.arrays.IntegerArray:
    mask = np.zeros(values.shape, dtype=bool) if missing is None else missing
    return pd.arrays.IntegerArray(values.astype(np.int64), mask)


def _layout(schema: TableSchema, time: TimeKind) -> list[str]:
    """Canonical column order: the schema's fields with one of its time fields."""
    keep = schema.datetime_field if time == "datetime" else "study_day"
    return [f for f in schema.field_names if f not in schema.time_fields or f == keep]


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with booleans as true/false and whole-number float columns as integers."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_bool_dtype(column):
            out[name] = np.where(column.to_numpy(dtype=bool), "true", "false")
        elif name != "study_day" and pd.api.types.is_float_dtype(column):
            values = column.to_numpy(dtype=np.float64)
            finite = values[~np.isnan(values)]
            if np.array_equal(finite, np.round(finite)):
                out[name] = column.astype("Int64")
    return out


# --------------------------------------------------------------------------- the cohort


class _Cohort:
    """All draws for one cohort, in a fixed order so that a seed fixes every value.

    Times are whole seconds since midnight of ``start`` (``*_sec``) or days since the first
    dose (``t``). Per-patient arrays have one entry per patient; session and occasion arrays
    carry the patient's index in ``*_pid``.
    """

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng = rng
        self.n = n
        self.patients_schema = load_schema("patients")
        self.treatments_schema = load_schema("treatments")
        self.assessments_schema = load_schema("assessments")
        self._draw_patients()
        self._draw_course()
        self._draw_sessions()
        self._draw_occasions()
        self._draw_scores()
        self._draw_assessment_rows()
        self._draw_treatment_values()

    # ----------------------------------------------------------------- patients

    def _draw_patients(self) -> None:
        rng, n = self.rng, self.n
        self.site = _categorical(rng, np.asarray(_SITE_SHARE), n)
        per_site = np.asarray(_CLINICIANS_PER_SITE)
        first_clinician = np.concatenate([[0], np.cumsum(per_site)[:-1]])
        self.clinician = first_clinician[self.site] + np.floor(
            rng.random(n) * per_site[self.site]
        ).astype(np.int64)

        sexes = self.patients_schema.field("sex").enum or ()
        self.sex_labels = np.asarray(sexes, dtype=object)
        self.sex = _categorical(rng, np.asarray([_SEX_SHARE.get(s, 0.0) for s in sexes]), n)
        bands = AGE_BAND_LABELS
        self.band_labels = np.asarray(bands, dtype=object)
        age = rng.normal(43.0, 13.0, n)
        age = np.where(age < 18.0, rng.uniform(18.0, 30.0, n), np.minimum(age, 94.0))
        self.age_band = np.searchsorted(_band_lower_bounds(bands), age, side="right") - 1

        diagnoses = self.patients_schema.field("primary_diagnosis").enum or ()
        self.diagnosis_labels = np.asarray(diagnoses, dtype=object)
        table = np.asarray([_DIAGNOSIS[d] for d in diagnoses], dtype=np.float64)
        self.diagnosis = _categorical(rng, table[:, 0], n)
        params = table[self.diagnosis]
        failures = params[:, 3] + rng.poisson(params[:, 4])
        self.failures = np.minimum(failures, params[:, 3] + params[:, 5]).astype(np.int64)
        self.ssri = rng.random(n) < 0.45
        self.psychosis = rng.random(n) < 0.01
        self.hypertension = rng.random(n) < 0.02
        self.substance = rng.random(n) < 0.12

        # Baselines: PHQ-9 by diagnosis; GAD-7 correlated with it (r about 0.6).
        z_phq = rng.standard_normal(n)
        z_gad = 0.6 * z_phq + 0.8 * rng.standard_normal(n)
        self.base_phq = np.clip(params[:, 1] + 4.2 * z_phq, 2.0, PHQ9.max_score)
        self.base_gad = np.clip(params[:, 2] + 4.0 * z_gad, 1.0, GAD7.max_score)

        weight_mean = np.asarray([_WEIGHT_MEAN_BY_SEX.get(s, 80.0) for s in sexes])
        self.weight = np.clip(rng.normal(weight_mean[self.sex], 15.0), 50.0, 130.0)
        self.weight_recorded = rng.random(n) >= 0.05

        routes = self.treatments_schema.field("route").enum or ()
        self.route_labels = np.asarray(routes, dtype=object)
        route_share = np.asarray([_ROUTE_SHARE_BY_SITE[r] for r in routes]).T  # site x route
        self.route = _categorical_rows(rng, route_share[self.site])
        self.at_home = np.isin(self.route, [routes.index(r) for r in _AT_HOME_ROUTES])
        self.kap = rng.random(n) < np.where(self.site == 2, 0.50, 0.30)

    # ----------------------------------------------------------------- response and course

    def _draw_course(self) -> None:
        rng, n = self.rng, self.n
        diagnosis_logit = np.asarray(
            [_DIAGNOSIS[str(d)][6] for d in self.diagnosis_labels], dtype=np.float64
        )
        logit = (
            _RESPONDER_LOGIT
            + diagnosis_logit[self.diagnosis]
            + _KAP_LOGIT * self.kap
            + _SSRI_LOGIT * self.ssri
            + _FAILURE_LOGIT * np.maximum(self.failures - 1, 0)
        )
        self.responder = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
        r = self.responder
        self.improvement = np.where(
            r,
            np.clip(rng.normal(0.72, 0.12, n), 0.50, 0.98),
            np.clip(rng.normal(0.22, 0.14, n), -0.15, 0.45),
        )
        # A few non-responders get worse during the course (reliable deterioration happens in
        # clinic data: about 3-7% in NHS Talking Therapies reports). Drawn from a spawned
        # stream so that every other value of a seed's cohort stays as it was.
        worse_rng = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])  # type: ignore[attr-defined]
        worsens = ~r & (worse_rng.random(n) < _WORSENING_SHARE)
        self.improvement = np.where(
            worsens, np.clip(worse_rng.normal(-0.40, 0.10, n), -0.70, -0.25), self.improvement
        )
        self.onset_days = np.where(r, rng.uniform(1.5, 6.0, n), rng.uniform(4.0, 12.0, n))
        self.within_hours = np.where(r, rng.uniform(0.10, 0.45, n), rng.uniform(-0.05, 0.15, n))
        self.gad_share = np.clip(rng.normal(0.95, 0.15, n), 0.4, 1.3)
        self.residual = self.improvement * rng.uniform(0.0, 0.35, n)
        self.self_harm_risk = np.where(rng.random(n) < 0.08, 4.0, 0.74)
        self.takes_gad = (self.diagnosis_labels[self.diagnosis] == "GAD") | (rng.random(n) < 0.85)

        # Calendar: intake, lead time to the first dose (1-14 days), session times of day.
        self.intake_day = rng.integers(0, _ENROLMENT_DAYS, n)
        self.intake_sec = (
            self.intake_day * _DAY
            + 8 * _HOUR
            + 30 * _MINUTE
            + rng.integers(0, 9 * 60, n) * _MINUTE
            + rng.integers(0, 60, n)
        )
        self.lead = 1 + rng.binomial(13, 0.45, n)
        self.first_day = self.intake_day + self.lead
        self.preferred_slot = rng.integers(0, 34, n)  # 15-minute slots from 08:30

        rhythm = _categorical(rng, np.asarray(_RHYTHM_SHARE), n)
        low = np.asarray(_RHYTHM_GAP_LOW)[rhythm][:, None]
        high = np.asarray(_RHYTHM_GAP_HIGH)[rhythm][:, None]
        gaps = low + np.floor(rng.random((n, _INDUCTION_DOSES - 1)) * (high - low))
        delayed = rng.random(gaps.shape) < _DELAY_SHARE
        gaps = gaps + delayed * rng.integers(3, 8, gaps.shape)
        self.dose_offsets = np.concatenate(
            [np.zeros((n, 1), dtype=np.int64), np.cumsum(gaps, axis=1).astype(np.int64)], axis=1
        )
        dropout_share = np.where(r, _DROPOUT_RESPONDER, _DROPOUT_NON_RESPONDER)
        self.dropout = rng.random(n) < dropout_share
        after = 1 + _categorical(rng, np.asarray(_DROPOUT_AFTER_SHARE), n)
        self.n_induction = np.where(self.dropout, after, _INDUCTION_DOSES)

        completer = ~self.dropout
        self.follow_up = completer & (rng.random(n) < _FOLLOW_UP_SHARE)
        self.maintenance = self.follow_up & (rng.random(n) < _MAINTENANCE_SHARE)
        self.horizon = rng.uniform(90.0, 270.0, n)
        self.maintenance_every = rng.integers(14, 43, n)
        self.remote_every = rng.integers(14, 43, n)
        self.end_of_course = completer & ~self.follow_up & (rng.random(n) < 0.5)
        self.dropout_call = self.dropout & (rng.random(n) < 0.35)

        # Relapse: exponential time from the last dose of the course; a durable share never.
        median = np.where(
            self.maintenance,
            _RELAPSE_MEDIAN_MAINTENANCE_DAYS,
            np.where(self.dropout, _RELAPSE_MEDIAN_DROPOUT_DAYS, _RELAPSE_MEDIAN_DAYS),
        )
        wait = rng.exponential(median / np.log(2.0))
        last = self.dose_offsets[np.arange(n), self.n_induction - 1]
        self.last_induction_day = self.first_day + last
        self.relapse_t = np.where(rng.random(n) < _DURABLE_SHARE, np.inf, last + wait)

    # ----------------------------------------------------------------- dosing sessions

    def _session_seconds(self, pid: IntArray, day: IntArray) -> IntArray:
        """Time of a dose: clinic slots near the patient's usual one; at home 09:00-20:00."""
        rng = self.rng
        size = pid.size
        slot = np.clip(self.preferred_slot[pid] + rng.integers(-4, 5, size), 0, 34)
        clinic = 8 * _HOUR + 30 * _MINUTE + slot * 15 * _MINUTE
        home = 9 * _HOUR + rng.integers(0, 11 * 60, size) * _MINUTE
        return day * _DAY + np.where(self.at_home[pid], home, clinic)

    def _draw_sessions(self) -> None:
        rng, n = self.rng, self.n
        pid_matrix = np.broadcast_to(np.arange(n)[:, None], (n, _INDUCTION_DOSES))
        induction = np.arange(_INDUCTION_DOSES)[None, :] < self.n_induction[:, None]
        pid = pid_matrix[induction]
        day = (self.first_day[:, None] + self.dose_offsets)[induction]
        number = np.broadcast_to(np.arange(_INDUCTION_DOSES), (n, _INDUCTION_DOSES))[induction]

        slots = np.arange(1, _FOLLOW_UP_SLOTS + 1)[None, :]
        m_day = (
            self.last_induction_day[:, None]
            + slots * self.maintenance_every[:, None]
            + rng.integers(-2, 3, (n, _FOLLOW_UP_SLOTS))
        )
        m_keep = self.maintenance[:, None] & (
            m_day - self.first_day[:, None] <= self.horizon[:, None]
        )
        m_pid = np.broadcast_to(np.arange(n)[:, None], m_keep.shape)[m_keep]
        m_number = np.broadcast_to(slots + _INDUCTION_DOSES - 1, m_keep.shape)[m_keep]

        pid = np.concatenate([pid, m_pid])
        day = np.concatenate([day, m_day[m_keep]])
        number = np.concatenate([number, m_number])
        sec = self._session_seconds(pid, day)
        keep = sec < _EXTRACT_DAY * _DAY
        order = np.lexsort((sec[keep], pid[keep]))
        self.s_pid = pid[keep][order]
        self.s_sec = sec[keep][order]
        self.s_number = number[keep][order]  # 0-5 induction, 6+ maintenance
        self.first_dose_sec = np.full(n, -1, dtype=np.int64)
        self.first_dose_sec[self.s_pid[::-1]] = self.s_sec[::-1]

    # ----------------------------------------------------------------- questionnaires

    def _remote_seconds(self, day: IntArray) -> IntArray:
        """A questionnaire filled in remotely, any time 07:00-22:00."""
        return day * _DAY + 7 * _HOUR + self.rng.integers(0, 15 * _HOUR, day.size)

    def _draw_occasions(self) -> None:
        rng, n = self.rng, self.n
        pids: list[IntArray] = []
        secs: list[IntArray] = []
        post: list[BoolArray] = []

        def add(pid: IntArray, sec: IntArray, after_dose: bool = False) -> None:
            pids.append(pid)
            secs.append(sec)
            post.append(np.full(pid.size, after_dose))

        everyone = np.arange(n)
        add(everyone, self.intake_sec)
        screened = (self.lead >= 2) & (rng.random(n) < 0.4)
        screen_day = self.intake_day + 1 + np.floor(rng.random(n) * (self.lead - 1)).astype(int)
        add(everyone[screened], self._remote_seconds(screen_day[screened]))

        # Before the dose at most sessions (always before the first), after it at some.
        first = self.s_number == 0
        before = first | (rng.random(self.s_pid.size) < 0.88)
        add(self.s_pid[before], self.s_sec[before] - rng.integers(5 * 60, 45 * 60, before.sum()))
        after_share = np.asarray(_POST_DOSE_SHARE)[self.site[self.s_pid]]
        after = rng.random(self.s_pid.size) < after_share
        add(
            self.s_pid[after],
            self.s_sec[after] + rng.integers(2 * _HOUR, 6 * _HOUR, after.sum()),
            after_dose=True,
        )

        # Remote questionnaires: end of course, dropout call-back, follow-up every 2-6 weeks.
        eoc_day = self.last_induction_day + rng.integers(5, 15, n)
        add(everyone[self.end_of_course], self._remote_seconds(eoc_day[self.end_of_course]))
        call_day = self.last_induction_day + rng.integers(7, 29, n)
        add(everyone[self.dropout_call], self._remote_seconds(call_day[self.dropout_call]))
        slots = np.arange(1, _FOLLOW_UP_SLOTS + 1)[None, :]
        r_day = (
            self.last_induction_day[:, None]
            + slots * self.remote_every[:, None]
            + rng.integers(-3, 4, (n, _FOLLOW_UP_SLOTS))
        )
        r_keep = (
            (self.follow_up & ~self.maintenance)[:, None]
            & (r_day - self.first_day[:, None] <= self.horizon[:, None])
            & (rng.random(r_day.shape) >= 0.15)
        )
        r_pid = np.broadcast_to(everyone[:, None], r_keep.shape)[r_keep]
        add(r_pid, self._remote_seconds(r_day[r_keep]))

        pid = np.concatenate(pids)
        sec = np.concatenate(secs)
        after_dose = np.concatenate(post)
        intake = np.arange(pid.size) < n  # added first, above
        keep = sec < _EXTRACT_DAY * _DAY
        self.o_intake = intake[keep]
        self.o_pid = pid[keep]
        self.o_sec = sec[keep]
        self.o_post = after_dose[keep]
        self.o_t = (self.o_sec - self.first_dose_sec[self.o_pid]) / _DAY

    def _draw_scores(self) -> None:
        rng = self.rng
        p, t = self.o_pid, self.o_t
        acute = self.improvement[p] * (1.0 - np.exp(-np.maximum(t, 0.0) / self.onset_days[p]))
        since = t - self.relapse_t[p]
        # Before a relapse (or without one: since = -inf) the fade factor is 1.
        fade = np.exp(-np.maximum(since, 0.0) / _RELAPSE_SPREAD_DAYS)
        gain = acute * fade + self.residual[p] * (1.0 - fade)
        hours = self.within_hours[p] * self.o_post
        true_phq = self.base_phq[p] * (1.0 - gain) * (1.0 - hours)
        true_gad = (
            self.base_gad[p] * (1.0 - gain * self.gad_share[p]) * (1.0 - hours * self.gad_share[p])
        )
        phq = np.rint(true_phq + rng.normal(0.0, _NOISE_SD[PHQ9.name], p.size))
        gad = np.rint(true_gad + rng.normal(0.0, _NOISE_SD[GAD7.name], p.size))
        self.o_phq = np.clip(phq, 0, PHQ9.max_score).astype(np.int64)
        self.o_gad = np.clip(gad, 0, GAD7.max_score).astype(np.int64)
        self.o_has_gad = self.takes_gad[p] & (self.o_intake | (rng.random(p.size) < 0.95))

    # ----------------------------------------------------------------- items

    def _items(
        self, totals: IntArray, instrument: str, baseline_severe: BoolArray, risk: FloatArray
    ) -> IntArray:
        """Item scores (rows x 9, zeros beyond the instrument's items) summing to ``totals``.

        Item 9 of the PHQ-9 is drawn first from a severity-dependent probability; the rest of
        the total is spread over the other items by weighted sampling, without replacement,
        of the ``3 x items`` score points (each item holds at most ``ITEM_MAX`` points).
        """
        rng = self.rng
        size = totals.size
        out = np.zeros((size, len(ITEM_COLUMNS)), dtype=np.int64)
        rest = totals.copy()
        weights = np.asarray(_ITEM_WEIGHTS[instrument], dtype=np.float64)
        if instrument == PHQ9.name:
            n_shared = PHQ9.n_items - 1
            severity = np.clip((totals - 8.0) / (PHQ9.max_score - 8.0), 0.0, 1.0)
            share = (0.006 + 0.09 * severity**1.5) * np.where(baseline_severe, 2.5, 1.0)
            positive = rng.random(size) < np.minimum(share * risk, 0.9)
            level = 1 + _categorical(rng, np.asarray([0.86, 0.10, 0.04]), size)
            item9 = np.where(positive, level, 0)
            item9 = np.clip(item9, np.maximum(totals - ITEM_MAX * n_shared, 0), totals)
            out[:, ITEM_COLUMNS.index(SELF_HARM_ITEM)] = item9
            rest = totals - item9
        else:
            n_shared = GAD7.n_items
        slot_weights = np.repeat(weights, ITEM_MAX)
        keys = np.log(rng.random((size, slot_weights.size))) / slot_weights
        order = np.argsort(-keys, axis=1)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(slot_weights.size)[None, :], axis=1)
        chosen = rank < rest[:, None]
        out[:, :n_shared] = chosen.reshape(size, n_shared, ITEM_MAX).sum(axis=2)
        return out

    # ----------------------------------------------------------------- assessment rows

    def _draw_assessment_rows(self) -> None:
        """One PHQ-9 row per occasion and a GAD-7 row where taken, with item-level forms."""
        rng = self.rng
        gad = self.o_has_gad
        pid = np.concatenate([self.o_pid, self.o_pid[gad]])
        sec = np.concatenate([self.o_sec, self.o_sec[gad]])
        instrument = np.concatenate(
            [np.zeros(self.o_pid.size, np.int64), np.ones(gad.sum(), np.int64)]
        )
        total = np.concatenate([self.o_phq, self.o_gad[gad]])
        t = np.concatenate([self.o_t, self.o_t[gad]])
        order = np.lexsort((instrument, sec, pid))
        pid, sec, instrument, total, t = (a[order] for a in (pid, sec, instrument, total, t))
        size = pid.size

        # Item-level rows: a site-dependent share; a third of them without the total, and a
        # few of those with one item left blank (a prorated case).
        with_items = rng.random(size) < np.asarray(_ITEM_FORM_SHARE)[self.site[pid]]
        kind = rng.random(size)
        items_only = with_items & (kind < 0.34)
        prorated = with_items & (kind < 0.025)
        items = np.zeros((size, len(ITEM_COLUMNS)), dtype=np.int64)
        item_missing = np.ones((size, len(ITEM_COLUMNS)), dtype=bool)
        for code, inst in enumerate(_INSTRUMENT_ORDER):
            rows = np.flatnonzero(with_items & (instrument == code))
            severe = (t[rows] <= 0) & (self.base_phq[pid[rows]] >= 20)
            risk = self.self_harm_risk[pid[rows]]
            items[rows] = self._items(total[rows], inst.name, severe, risk)
            item_missing[rows, : inst.n_items] = False
            # The blank item of a prorated row is never item 9: that one is not imputed.
            blank_rows = rows[prorated[rows]]
            blank_item = rng.integers(0, min(inst.n_items, PHQ9.n_items - 1), blank_rows.size)
            item_missing[blank_rows, blank_item] = True

        self.a_pid, self.a_sec, self.a_instrument = pid, sec, instrument
        self.a_total, self.a_total_blank = total, items_only
        self.a_items, self.a_item_missing = items, item_missing

    # ----------------------------------------------------------------- treatment values

    def _draw_treatment_values(self) -> None:
        """Dose, weight, psychotherapy, monitoring, adverse events and cost per session."""
        rng = self.rng
        pid, number, n = self.s_pid, self.s_number, self.n
        size = pid.size
        routes = tuple(str(r) for r in self.route_labels)
        route = self.route[pid]

        def is_route(*names: str) -> BoolArray:
            return np.isin(route, [routes.index(name) for name in names])

        # Dose. IV: 0.5 mg/kg, titrated by 0.125 mg/kg per session from the third to 0.75-1.0
        # for some; IM: 0.5-1.0 mg/kg; at home: fixed 100-300 mg; intranasal 56 or 84 mg.
        weight = self.weight[pid] + rng.normal(0.0, 0.6, size)
        iv_base = np.asarray([0.45, 0.5, 0.5, 0.5, 0.55])[rng.integers(0, 5, n)]
        titrate = rng.random(n) < 0.30
        iv_target = np.where(rng.random(n) < 0.6, 0.75, 1.0)
        steps = np.maximum(np.minimum(number, _INDUCTION_DOSES - 1) - 1, 0)
        iv_mgkg = np.where(
            titrate[pid],
            np.minimum(iv_base[pid] + 0.125 * steps, np.maximum(iv_target[pid], iv_base[pid])),
            iv_base[pid],
        )
        im_mgkg = np.round(rng.uniform(0.5, 1.0, n) / 0.05) * 0.05
        fixed = np.asarray([100.0, 150.0, 200.0, 250.0, 300.0])[
            _categorical(rng, np.asarray([0.15, 0.30, 0.25, 0.15, 0.15]), n)
        ]
        fixed_up = np.where(rng.random(n) < 0.3, np.minimum(fixed + 50.0, 300.0), fixed)
        nasal_up = rng.random(n) < 0.6
        other_dose = np.asarray([50.0, 75.0, 100.0])[rng.integers(0, 3, n)]
        self.t_dose = np.select(
            [
                is_route("IV"),
                is_route("IM"),
                is_route("sublingual", "oral"),
                is_route("intranasal"),
            ],
            [
                np.round(iv_mgkg * weight * 2.0) / 2.0,
                np.round(im_mgkg[pid] * weight / 5.0) * 5.0,
                np.where(number >= 2, fixed_up[pid], fixed[pid]),
                np.where((number >= 2) & nasal_up[pid], 84.0, 56.0),
            ],
            default=other_dose[pid],
        ).astype(np.float64)
        self.t_weight = np.where(self.weight_recorded[pid], np.round(weight, 1), np.nan)

        self.t_psychotherapy = rng.random(size) < np.where(self.kap[pid], 0.85, 0.04)

        # Monitoring: intranasal (esketamine-like) mostly >= 2 hours, the rest mostly less;
        # at-home sessions mostly without a recorded time.
        monitoring_mean = np.select(
            [
                is_route("IV"),
                is_route("IM"),
                is_route("intranasal"),
                is_route("sublingual", "oral"),
            ],
            [105.0, 90.0, 128.0, 75.0],
            default=90.0,
        )
        monitoring_sd = np.where(is_route("intranasal"), 12.0, 22.0)
        monitoring = np.clip(
            np.round(rng.normal(monitoring_mean, monitoring_sd) / 5.0) * 5.0, 30.0, 240.0
        )
        monitoring_blank = rng.random(size) < np.where(
            self.at_home[pid], 0.70, np.asarray(_MONITORING_BLANK)[self.site[pid]]
        )
        self.t_monitoring = np.where(monitoring_blank, np.nan, monitoring)

        # Adverse events: a susceptible share of patients, a route factor, then the codes.
        codes = self.treatments_schema.field("adverse_events").item_enum or ()
        self.ae_codes = codes
        susceptible = rng.random(n) < 0.45
        per_session = np.where(susceptible, 0.11, 0.012)[pid]
        factor = np.asarray([_ROUTE_AE_FACTOR[r] for r in routes])[route]
        any_event = rng.random(size) < per_session * factor
        code_share = np.asarray([_AE_CODE_SHARE[c] for c in codes])
        present = rng.random((size, len(codes))) < code_share[None, :]
        bits = (present * (1 << np.arange(len(codes)))[None, :]).sum(axis=1)
        # A session with an event but no code drawn gets the commonest one.
        fallback = 1 << codes.index("dissociation")
        self.t_ae_bits = np.where(any_event, np.where(bits == 0, fallback, bits), 0)

        # Cost: IV price by site, IM cheaper, intranasal dearer, at home far cheaper;
        # integrated psychotherapy adds to the session.
        iv_price = np.asarray(_IV_PRICE)[self.site[pid]]
        price = np.select(
            [is_route("IV"), is_route("IM"), is_route("intranasal"), is_route("sublingual")],
            [iv_price, 0.75 * iv_price, np.full(size, 820.0), np.full(size, 150.0)],
            default=np.where(is_route("oral"), 100.0, 350.0),
        )
        spread = np.where(self.at_home[pid], 30.0, 45.0)
        cost = price + 150.0 * self.t_psychotherapy + rng.normal(0.0, 1.0, size) * spread
        cost = np.maximum(np.round(cost / 5.0) * 5.0, 25.0)
        cost_blank = rng.random(size) < np.asarray(_COST_BLANK)[self.site[pid]]
        self.t_cost = np.where(cost_blank, np.nan, cost)

    # ----------------------------------------------------------------- frames

    def _time_values(
        self, pid: IntArray, sec: IntArray, time: TimeKind, origin: np.datetime64
    ) -> pd.Series:
        sec = sec - sec % 60  # clinic systems record whole minutes
        if time == "study_day":
            intake = self.intake_sec[pid] - self.intake_sec[pid] % 60
            return pd.Series((sec - intake) / _DAY, dtype=np.float64)
        stamps = origin + sec.astype("timedelta64[s]")
        return pd.Series(stamps.astype("datetime64[us]"))

    def _id_columns(self, pid: IntArray) -> dict[str, pd.Series]:
        width = max(5, len(str(self.n)))
        ids = np.asarray([f"P{i:0{width}d}" for i in range(1, self.n + 1)], dtype=object)
        sites = np.asarray(_SITES, dtype=object)
        clinicians = np.asarray(
            [f"C{i:02d}" for i in range(1, sum(_CLINICIANS_PER_SITE) + 1)], dtype=object
        )
        return {
            "patient_id": _str_column(pid, ids),
            "site_id": _str_column(self.site[pid], sites),
            "clinician_id": _str_column(self.clinician[pid], clinicians),
        }

    def assessments_frame(self, time: TimeKind, origin: np.datetime64) -> pd.DataFrame:
        layout = _layout(self.assessments_schema, time)
        pid = self.a_pid
        columns: dict[str, object] = self._id_columns(pid) | {
            layout[2]: self._time_values(pid, self.a_sec, time, origin),
            "instrument": _str_column(
                self.a_instrument, np.asarray([i.name for i in _INSTRUMENT_ORDER], dtype=object)
            ),
            "total": _int_column(self.a_total, self.a_total_blank),
        }
        for j, name in enumerate(ITEM_COLUMNS):
            columns[name] = _int_column(self.a_items[:, j], self.a_item_missing[:, j])
        return pd.DataFrame({name: columns[name] for name in layout})

    def treatments_frame(self, time: TimeKind, origin: np.datetime64) -> pd.DataFrame:
        layout = _layout(self.treatments_schema, time)
        pid = self.s_pid
        codes = self.ae_codes
        # Every combination of codes, joined in schema order: bit i set means code i.
        joined = np.asarray(
            [
                ";".join(c for i, c in enumerate(codes) if mask >> i & 1) or None
                for mask in range(1 << len(codes))
            ],
            dtype=object,
        )
        columns: dict[str, object] = self._id_columns(pid) | {
            layout[1]: self._time_values(pid, self.s_sec, time, origin),
            "route": _str_column(self.route[pid], self.route_labels),
            "dose_mg": self.t_dose,
            "weight_kg": self.t_weight,
            "psychotherapy": self.t_psychotherapy,
            "monitoring_minutes": self.t_monitoring,
            "adverse_events": pd.Series(joined[self.t_ae_bits], dtype="str"),
            "cost_usd": self.t_cost,
        }
        return pd.DataFrame({name: columns[name] for name in layout})

    def patients_frame(self) -> pd.DataFrame:
        everyone = np.arange(self.n)
        ids = self._id_columns(everyone)
        columns = {
            "patient_id": ids["patient_id"],
            "age_band": _str_column(self.age_band, self.band_labels),
            "sex": _str_column(self.sex, self.sex_labels),
            "primary_diagnosis": _str_column(self.diagnosis, self.diagnosis_labels),
            "prior_treatment_failures": self.failures.astype(np.int64),
            "concurrent_ssri": self.ssri,
            "psychosis_history": self.psychosis,
            "uncontrolled_hypertension": self.hypertension,
            "substance_use_history": self.substance,
        }
        return pd.DataFrame({name: columns[name] for name in self.patients_schema.field_names})
