"""Cohort statistics: reliable change, Kaplan–Meier, proportions and their differences.

Pure functions on arrays or Series. Nothing here reads files, touches a database or knows
about the dashboard; every function validates its own arguments and raises
:class:`ValueError` with a message that says what is wrong and how to fix it. Inputs are
never modified.

Sources
-------
- Jacobson NS, Truax P. Clinical significance: a statistical approach to defining
  meaningful change in psychotherapy research. J Consult Clin Psychol 1991;59:12-19.
  (reliable change index, cut-offs a, b and c, the five categories)
- Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat
  Assoc 1958;53:457-481. Greenwood M. The natural duration of cancer. Reports on Public
  Health and Medical Subjects 1926;33:1-26. (product-limit estimate, its variance)
- Therneau TM. survival: Survival Analysis (R package), ``survfit`` and
  ``quantile.survfit``: log-scale pointwise intervals, the median and its interval read
  where the curve and the bands cross 0.5.
- Wilson EB. Probable inference, the law of succession, and statistical inference. J Am
  Stat Assoc 1927;22:209-212. Clopper CJ, Pearson ES. The use of confidence or fiducial
  limits illustrated in the case of the binomial. Biometrika 1934;26:404-413.
- Newcombe RG. Two-sided confidence intervals for the single proportion: comparison of
  seven methods. Stat Med 1998;17:857-872. (methods 3 and 5)
- Newcombe RG. Interval estimation for the difference between independent proportions:
  comparison of eleven methods. Stat Med 1998;17:873-890. (method 10)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "JT_CATEGORIES",
    "JT_CRITICAL_VALUE",
    "JacobsonTruaxCutoffs",
    "KMMedian",
    "binomial_test",
    "jacobson_truax",
    "jacobson_truax_cutoffs",
    "kaplan_meier",
    "km_median",
    "no_event_lower_limit",
    "proportion_ci",
    "risk_difference_ci",
    "s_diff",
]

#: Critical value for reliable change: the two-sided 5% point of the standard normal,
#: qnorm(0.975) = 1.959964 (Jacobson & Truax 1991, J Consult Clin Psychol 59:12-19, use
#: "RC > 1.96"; methods §4.10 fixes six decimals so that results match R packages).
JT_CRITICAL_VALUE: Final = 1.959964

#: Jacobson–Truax categories, best to worst (Jacobson & Truax 1991; methods §4.10).
JT_CATEGORIES: Final = ("recovered", "improved", "unchanged", "deteriorated", "harmed")

#: Cut-offs a and b lie this many SDs from the clinical and functional means
#: (Jacobson & Truax 1991, p. 13).
_JT_CUTOFF_SDS: Final = 2.0

#: R's tolerance for "the curve equals the quantile" in quantile.survfit:
#: sqrt(.Machine$double.eps).
_R_QUANTILE_TOL: Final = math.sqrt(float(np.finfo(np.float64).eps))

_KM_COLUMNS: Final = ("time", "at_risk", "events", "survival", "std_err", "ci_low", "ci_high")

_PROPORTION_METHODS: Final = {
    "wilson": "wilson",
    "clopper-pearson": "clopper-pearson",
    "exact": "clopper-pearson",
}

CutoffKind = Literal["a", "b", "c"]


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


def _normal_quantile(q: float) -> float:
    """The standard normal quantile (``qnorm`` in R; 1.959964 for q = 0.975).

    :class:`statistics.NormalDist` uses Wichura's AS 241 algorithm, accurate to about
    1e-16, so the intervals need no SciPy import.
    """
    return NormalDist().inv_cdf(q)


def _as_float_array(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """One-dimensional float copy of ``values``; missing values become NaN."""
    if isinstance(values, pd.Series | pd.Index):
        try:
            array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"`{name}` must be numeric; it has dtype {values.dtype}. "
                "Convert it with pd.to_numeric first."
            ) from exc
    else:
        try:
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"`{name}` must be numeric (numbers or NaN for missing values)."
            ) from exc
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional; it has shape {array.shape}.")
    return array


def _check_same_length(**arrays: NDArray[np.float64]) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"`{name}` has {n}" for name, n in lengths.items())
        raise ValueError(f"Inputs must have the same length, one value per subject: {described}.")


def _check_alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must be between 0 and 1 (0.05 for 95%); got {alpha}.")
    return float(alpha)


def _positions(mask: NDArray[np.bool_], limit: int = 5) -> str:
    where = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in where[:limit])
    return shown + (", ..." if where.size > limit else "")


def _as_counts(values: ArrayLike, name: str) -> NDArray[np.int64]:
    """Whole, non-negative counts as int64 (scalars become length-1 arrays)."""
    array = _as_float_array(values, name)
    bad = ~np.isfinite(array) | (array < 0) | (array != np.round(array))
    if bad.any():
        raise ValueError(
            f"`{name}` must hold whole numbers >= 0 with no missing values; "
            f"check position(s) {_positions(bad)}."
        )
    return array.astype(np.int64)


# --------------------------------------------------------------------------------------
# Jacobson–Truax
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JacobsonTruaxCutoffs:
    """Cut-offs for clinically significant change (Jacobson & Truax 1991).

    Attributes
    ----------
    n : number of pre scores the clinical mean and SD come from.
    m_clin, sd_clin : mean and sample SD (n - 1) of the pre scores.
    m_func, sd_func : functional-population norm, or ``None`` when not given.
    higher_is_better : direction of the scale.
    a : two SDs from the clinical mean towards functioning.
    b : two functional SDs from the functional mean towards dysfunction; ``None``
        without a norm.
    c : the point between the two means weighted by their SDs; ``None`` without a norm.
    """

    n: int
    m_clin: float
    sd_clin: float
    m_func: float | None
    sd_func: float | None
    higher_is_better: bool
    a: float
    b: float | None
    c: float | None

    def cutoff(self, kind: CutoffKind) -> float:
        """The value of cut-off ``kind`` (``"a"``, ``"b"`` or ``"c"``)."""
        if kind not in ("a", "b", "c"):
            raise ValueError(f"Cut-off kind must be 'a', 'b' or 'c'; got {kind!r}.")
        value: float | None = getattr(self, kind)
        if value is None:
            raise ValueError(
                f"Cut-off {kind!r} needs the functional population's mean and SD; pass "
                "functional_mean and functional_sd (for example PHQ9.functional_mean and "
                "PHQ9.functional_sd) or use cutoff='a'."
            )
        return value

    def summary(self) -> pd.DataFrame:
        """The cut-offs and the statistics behind them as a one-row DataFrame."""
        return pd.DataFrame(
            {
                "n": [self.n],
                "m_clin": [self.m_clin],
                "sd_clin": [self.sd_clin],
                "m_func": [np.nan if self.m_func is None else self.m_func],
                "sd_func": [np.nan if self.sd_func is None else self.sd_func],
                "a": [self.a],
                "b": [np.nan if self.b is None else self.b],
                "c": [np.nan if self.c is None else self.c],
            }
        )


def s_diff(sd_pre: float, reliability: float) -> float:
    """Standard error of the difference between two test scores.

    Parameters
    ----------
    sd_pre : float
        Standard deviation of the pre-treatment scores (> 0).
    reliability : float
        Test–retest reliability ``r`` of the instrument, ``0 <= r < 1``.

    Returns
    -------
    float
        ``S_diff``, the denominator of the reliable change index.

    Notes
    -----
    ``SE = SD_pre * sqrt(1 - r)`` and ``S_diff = sqrt(2 * SE**2) = SD_pre * sqrt(2 (1 - r))``.

    References
    ----------
    Jacobson NS, Truax P. J Consult Clin Psychol 1991;59:12-19, equation (4).

    Examples
    --------
    >>> round(s_diff(7.5, 0.80), 4)
    4.7434
    """
    if not (math.isfinite(sd_pre) and sd_pre > 0):
        raise ValueError(f"`sd_pre` must be a positive number; got {sd_pre}.")
    if not 0.0 <= reliability < 1.0:
        raise ValueError(
            f"`reliability` must be at least 0 and below 1 (e.g. 0.84 for the PHQ-9); "
            f"got {reliability}."
        )
    return float(sd_pre * math.sqrt(2.0 * (1.0 - reliability)))


def jacobson_truax_cutoffs(
    pre: ArrayLike,
    *,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    higher_is_better: bool = False,
) -> JacobsonTruaxCutoffs:
    """Cut-offs a, b and c for clinically significant change.

    Parameters
    ----------
    pre : array-like of float
        Pre-treatment scores of the clinical sample (no missing values: pass the
        baselines of the patients being classified).
    functional_mean, functional_sd : float, optional
        Mean and SD of the functional (general) population. Needed for b and c.
    higher_is_better : bool, default False
        Direction of the scale. PHQ-9 and GAD-7 are lower-is-better.

    Returns
    -------
    JacobsonTruaxCutoffs

    Notes
    -----
    With ``M_clin`` and ``SD_clin`` the mean and sample SD (n - 1) of ``pre``, for a
    lower-is-better scale::

        a = M_clin - 2 SD_clin
        b = M_func + 2 SD_func
        c = (SD_clin M_func + SD_func M_clin) / (SD_clin + SD_func)

    For a higher-is-better scale a and b move the other way (``M_clin + 2 SD_clin``,
    ``M_func - 2 SD_func``); c is the same.

    References
    ----------
    Jacobson NS, Truax P. J Consult Clin Psychol 1991;59:12-19, p. 13.

    Examples
    --------
    >>> cut = jacobson_truax_cutoffs([20, 24, 18, 22], functional_mean=2.91, functional_sd=3.52)
    >>> round(cut.a, 2), round(cut.c, 2)
    (15.84, 13.35)
    """
    scores = _as_float_array(pre, "pre")
    missing = ~np.isfinite(scores)
    if missing.any():
        raise ValueError(
            f"`pre` has {int(missing.sum())} missing or infinite value(s) at position(s) "
            f"{_positions(missing)}; pass only the baselines of the patients being "
            "classified."
        )
    if scores.size < 2:
        raise ValueError(
            f"At least two pre scores are needed to estimate the clinical SD; got {scores.size}."
        )
    if (functional_mean is None) != (functional_sd is None):
        raise ValueError("Pass both functional_mean and functional_sd, or neither.")
    if functional_sd is not None and not (math.isfinite(functional_sd) and functional_sd > 0):
        raise ValueError(f"`functional_sd` must be a positive number; got {functional_sd}.")
    if functional_mean is not None and not math.isfinite(functional_mean):
        raise ValueError(f"`functional_mean` must be a finite number; got {functional_mean}.")

    m_clin = float(scores.mean())
    sd_clin = float(scores.std(ddof=1))
    sign = 1.0 if higher_is_better else -1.0  # towards functioning
    a = m_clin + sign * _JT_CUTOFF_SDS * sd_clin
    b: float | None = None
    c: float | None = None
    if functional_mean is not None and functional_sd is not None:
        b = functional_mean - sign * _JT_CUTOFF_SDS * functional_sd
        denominator = sd_clin + functional_sd
        c = (sd_clin * functional_mean + functional_sd * m_clin) / denominator
    return JacobsonTruaxCutoffs(
        n=int(scores.size),
        m_clin=m_clin,
        sd_clin=sd_clin,
        m_func=None if functional_mean is None else float(functional_mean),
        sd_func=None if functional_sd is None else float(functional_sd),
        higher_is_better=higher_is_better,
        a=a,
        b=b,
        c=None if c is None else float(c),
    )


def _result_index(*inputs: ArrayLike, length: int) -> pd.Index:
    series = [x for x in inputs if isinstance(x, pd.Series)]
    if not series:
        return pd.RangeIndex(length)
    index = series[0].index
    for other in series[1:]:
        if not other.index.equals(index):
            raise ValueError(
                "`pre` and `post` are Series with different indexes; align them first "
                "(for example post = post.reindex(pre.index))."
            )
    return index


def jacobson_truax(
    pre: ArrayLike,
    post: ArrayLike,
    *,
    reliability: float,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    cutoff: CutoffKind | None = "c",
    higher_is_better: bool = False,
    critical_value: float = JT_CRITICAL_VALUE,
) -> pd.DataFrame:
    """Reliable change index and Jacobson–Truax category for each pre/post pair.

    Parameters
    ----------
    pre, post : array-like or Series of float
        Scores before and after treatment, one pair per patient. NaN marks a missing
        score; such pairs get a missing RCI and category and do not enter ``SD_pre``.
    reliability : float
        Test–retest reliability of the instrument, ``0 <= r < 1``.
    functional_mean, functional_sd : float, optional
        Norm of the functional population, needed for cut-offs b and c.
    cutoff : {"c", "a", "b"} or None, default "c"
        Cut-off that defines recovered and harmed. ``None`` classifies on reliable
        change alone (improved / unchanged / deteriorated).
    higher_is_better : bool, default False
        Direction of the scale; PHQ-9 and GAD-7 are lower-is-better.
    critical_value : float, default 1.959964
        Reliable change needs ``|RCI|`` strictly above this.

    Returns
    -------
    pandas.DataFrame
        Indexed like the input Series (or 0..n-1), with columns ``rci`` (float) and
        ``category`` (categorical with categories :data:`JT_CATEGORIES`; missing where
        ``pre`` or ``post`` is missing).

    Notes
    -----
    Over complete pairs, ``SD_pre`` is the sample SD (n - 1) of ``pre``,
    ``S_diff = SD_pre sqrt(2 (1 - r))`` and ``RCI = (post - pre) / S_diff``. On a
    lower-is-better scale a patient is reliably improved when ``-RCI > crit`` and
    reliably deteriorated when ``RCI > crit``. With the cut-off ``k``:

    - recovered: reliably improved, ``pre > k`` and ``post < k``;
    - improved: reliably improved otherwise;
    - harmed: reliably deteriorated, ``pre < k`` and ``post > k``;
    - deteriorated: reliably deteriorated otherwise;
    - unchanged: the rest.

    All inequalities are strict. A higher-is-better scale mirrors every direction. The
    clinical mean and SD behind the cut-off come from the same complete-pair baselines
    (see :func:`jacobson_truax_cutoffs`).

    References
    ----------
    Jacobson NS, Truax P. Clinical significance: a statistical approach to defining
    meaningful change in psychotherapy research. J Consult Clin Psychol 1991;59:12-19.

    Examples
    --------
    >>> out = jacobson_truax([20, 18, 15, 22], [6, 17, 16, 12], reliability=0.84,
    ...                      functional_mean=2.91, functional_sd=3.52)
    >>> out["category"].tolist()
    ['recovered', 'unchanged', 'unchanged', 'improved']
    """
    pre_values = _as_float_array(pre, "pre")
    post_values = _as_float_array(post, "post")
    _check_same_length(pre=pre_values, post=post_values)
    index = _result_index(pre, post, length=len(pre_values))
    for name, values in (("pre", pre_values), ("post", post_values)):
        infinite = np.isinf(values)
        if infinite.any():
            raise ValueError(
                f"`{name}` has infinite value(s) at position(s) {_positions(infinite)}; "
                "use NaN for a missing score."
            )
    if not (math.isfinite(critical_value) and critical_value > 0):
        raise ValueError(f"`critical_value` must be a positive number; got {critical_value}.")
    if cutoff is not None and cutoff not in ("a", "b", "c"):
        raise ValueError(f"`cutoff` must be 'a', 'b', 'c' or None; got {cutoff!r}.")

    complete = ~np.isnan(pre_values) & ~np.isnan(post_values)
    if complete.sum() < 2:
        raise ValueError(
            f"At least two complete pre/post pairs are needed to estimate SD_pre; "
            f"got {int(complete.sum())}."
        )
    cutoffs = jacobson_truax_cutoffs(
        pre_values[complete],
        functional_mean=functional_mean,
        functional_sd=functional_sd,
        higher_is_better=higher_is_better,
    )
    if cutoffs.sd_clin == 0:
        raise ValueError(
            "All complete-pair pre scores are equal, so SD_pre is 0 and the RCI is "
            "undefined; classify more patients together or use a fixed reliable-change "
            "threshold."
        )
    k = None if cutoff is None else cutoffs.cutoff(cutoff)
    rci = (post_values - pre_values) / s_diff(cutoffs.sd_clin, reliability)

    # Orient everything so that "up" means better; then one set of rules serves both scales.
    sign = 1.0 if higher_is_better else -1.0
    gain = sign * rci
    better = complete & (gain > critical_value)
    worse = complete & (-gain > critical_value)
    if k is None:
        crossed_up = np.zeros_like(complete)
        crossed_down = np.zeros_like(complete)
    else:
        pre_o, post_o, k_o = sign * pre_values, sign * post_values, sign * k
        crossed_up = (pre_o < k_o) & (post_o > k_o)
        crossed_down = (pre_o > k_o) & (post_o < k_o)

    # Codes into JT_CATEGORIES (-1: missing), later rules overriding earlier ones.
    code = JT_CATEGORIES.index
    codes = np.full(len(pre_values), -1, dtype=np.int8)
    codes[complete] = code("unchanged")
    codes[better] = code("improved")
    codes[better & crossed_up] = code("recovered")
    codes[worse] = code("deteriorated")
    codes[worse & crossed_down] = code("harmed")
    category = pd.Categorical.from_codes(codes, categories=list(JT_CATEGORIES))
    return pd.DataFrame({"rci": rci, "category": category}, index=index)


# --------------------------------------------------------------------------------------
# Kaplan–Meier
# --------------------------------------------------------------------------------------


def _survival_inputs(
    durations: ArrayLike, events: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    time = _as_float_array(durations, "durations")
    event = _as_float_array(events, "events")
    _check_same_length(durations=time, events=event)
    for name, values in (("durations", time), ("events", event)):
        missing = np.isnan(values)
        if missing.any():
            raise ValueError(
                f"`{name}` has {int(missing.sum())} missing value(s) at position(s) "
                f"{_positions(missing)}; drop those subjects (and report them) before "
                "estimating survival."
            )
    bad_time = ~np.isfinite(time) | (time < 0)
    if bad_time.any():
        raise ValueError(
            f"`durations` must be finite and >= 0; check position(s) {_positions(bad_time)}."
        )
    bad_event = (event != 0) & (event != 1)
    if bad_event.any():
        raise ValueError(
            "`events` must be True/False or 1/0 (1 = event observed, 0 = censored); check "
            f"position(s) {_positions(bad_event)}."
        )
    return time, event.astype(np.int64)


def no_event_lower_limit(at_risk: ArrayLike, *, alpha: float = 0.05) -> NDArray[np.float64]:
    """Lower limit of ``S(t)`` when no event has happened by ``t``: ``(alpha/2)^(1/n_t)``.

    Parameters
    ----------
    at_risk : array-like of int
        ``n_t``, the patients still followed at ``t`` (each > 0).
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    numpy.ndarray
        ``(alpha / 2) ** (1 / n_t)``; the upper limit is 1.

    Notes
    -----
    With 0 events among ``n_t`` patients followed to ``t``, the two-sided exact
    (Clopper–Pearson) interval of the event probability is ``[0, 1 - (alpha/2)^(1/n_t)]``:
    its upper limit ``p_U`` solves ``(1 - p_U)^n_t = alpha/2``, the probability of seeing
    no event when the true probability is ``p_U`` (one tail of ``alpha/2``; the lower limit
    is 0 because 0 events were seen). ``S(t) = 1 - p`` has the interval
    ``[(alpha/2)^(1/n_t), 1]``: ``0.025^(1/35) = 0.89997`` for 35 patients at 95%.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. docs/methods.md §6.4.

    Examples
    --------
    >>> round(float(no_event_lower_limit(35)[0]), 5)
    0.89997
    """
    n = np.atleast_1d(np.asarray(at_risk, dtype=np.float64))
    if (~np.isfinite(n) | (n < 1)).any():
        raise ValueError("`at_risk` must hold counts >= 1 (patients still followed).")
    return np.power(_check_alpha(alpha) / 2.0, 1.0 / n)


def _log_intervals(
    at_risk: NDArray[np.int64], n_events: NDArray[np.int64], z: float
) -> tuple[NDArray[Any], ...]:
    """``survival, std_err, ci_low, ci_high`` with Greenwood's variance and log-scale
    intervals, as R's ``survfit`` (``conf.type = "log"``)."""
    survival = np.cumprod(1.0 - n_events / at_risk)
    survivors = at_risk - n_events
    # A time where every subject at risk fails (n = d) sends S to 0 and V to infinity;
    # R reports NaN for the SE and NA for the interval there. Nobody is left afterwards.
    increments = np.divide(
        n_events.astype(np.float64),
        at_risk * survivors,
        out=np.full(at_risk.size, np.inf),
        where=survivors > 0,
    )
    var_log = np.cumsum(np.where(n_events > 0, increments, 0.0))
    zero = survival <= 0
    se_log = np.where(zero, np.nan, np.sqrt(np.where(zero, 0.0, var_log)))
    with np.errstate(divide="ignore"):
        log_s = np.where(zero, np.nan, np.log(np.where(zero, 1.0, survival)))
    std_err = survival * se_log
    ci_low = np.exp(log_s - z * se_log)
    ci_high = np.minimum(np.exp(log_s + z * se_log), 1.0)
    return survival, std_err, ci_low, ci_high


def _km_table(
    durations: ArrayLike, events: ArrayLike, alpha: float
) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """The curve with R's log-scale intervals, and the lower limits with the exact
    no-event interval where no event has happened yet."""
    z = _normal_quantile(1.0 - _check_alpha(alpha) / 2.0)
    time, event = _survival_inputs(durations, events)
    if time.size == 0:
        empty = pd.DataFrame({name: pd.Series(dtype=np.float64) for name in _KM_COLUMNS})
        return empty.astype({"at_risk": np.int64, "events": np.int64}), np.empty(0)
    times, position = np.unique(time, return_inverse=True)
    n_events = np.bincount(position, weights=event, minlength=times.size).astype(np.int64)
    n_leaving = np.bincount(position, minlength=times.size)
    at_risk = n_leaving[::-1].cumsum()[::-1]
    survival, std_err, ci_low, ci_high = _log_intervals(at_risk, n_events, z)
    no_event_yet = np.cumsum(n_events) == 0
    exact_low = np.where(no_event_yet, no_event_lower_limit(at_risk, alpha=alpha), ci_low)
    table = pd.DataFrame(
        {
            "time": times,
            "at_risk": at_risk.astype(np.int64),
            "events": n_events,
            "survival": survival,
            "std_err": std_err,
            "ci_low": ci_low,
            "ci_high": ci_high,
        }
    )
    return table, exact_low


def kaplan_meier(durations: ArrayLike, events: ArrayLike, *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan–Meier survival curve with Greenwood errors and log-scale intervals.

    Parameters
    ----------
    durations : array-like of float
        Time to the event or to censoring, finite and >= 0.
    events : array-like of bool or 0/1
        1 (True) when the event was observed, 0 (False) when censored.
    alpha : float, default 0.05
        1 - confidence level of the pointwise intervals.

    Returns
    -------
    pandas.DataFrame
        One row per distinct time at which an event or a censoring occurs (as R's
        ``summary(survfit(...), censored = TRUE)``), with columns ``time``, ``at_risk``,
        ``events``, ``survival``, ``std_err`` (Greenwood SE of the survival),
        ``ci_low`` and ``ci_high``. Where the survival is 0 the SE and interval are NaN,
        as R reports them. Where no event has happened yet, the interval is the exact
        one for 0 events (Notes), not R's.

    Notes
    -----
    With ``n_j`` at risk (time >= t_j, so subjects censored at ``t_j`` are still at risk
    at ``t_j``) and ``d_j`` events at ``t_j``::

        S(t) = prod_{t_j <= t} (1 - d_j / n_j)
        V(t) = sum_{t_j <= t} d_j / (n_j (n_j - d_j))     (Greenwood, var of log S)
        std_err = S(t) sqrt(V(t))
        interval = exp(log S(t) -/+ z sqrt(V(t))), upper limit capped at 1

    with ``z`` the ``1 - alpha/2`` normal quantile: R's ``survfit`` default
    ``conf.type = "log"``.

    Where no event has happened by ``t_j`` (``d_1 = ... = d_j = 0``), ``S = 1``, ``V = 0``
    and the log-scale interval collapses to the point 1, claiming certainty that no
    patient would have the event. The interval there is instead the exact
    (Clopper–Pearson) one for 0 events among ``n_t`` patients,
    ``[(alpha/2)^(1/n_t), 1]`` (:func:`no_event_lower_limit`; methods §6.4), with ``n_t`` the
    row's ``at_risk`` ``n_j``: the patients followed to at least ``t_j``, including those
    censored at ``t_j``, who were seen event-free at ``t_j``. Read between rows, as every
    Kaplan–Meier quantity, the value is that of the last row at or before ``t``
    (:func:`katoutcomes.cohort.survival_at`). Every other row, and ``std_err``
    everywhere, is R's. :func:`km_median` reads its interval from R's log-scale bands, so
    that medians match R.

    References
    ----------
    Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-481. Greenwood M. Reports on Public
    Health and Medical Subjects 1926;33:1-26. Therneau TM, survival package for R,
    ``survfit.formula``. Clopper CJ, Pearson ES. Biometrika 1934;26:404-413.

    Examples
    --------
    >>> km = kaplan_meier([9, 13, 13, 18], [1, 1, 0, 1])
    >>> km["at_risk"].tolist(), km["survival"].tolist()
    ([4, 3, 1], [0.75, 0.5, 0.0])
    >>> round(float(kaplan_meier([5, 7], [0, 0])["ci_low"].iloc[0]), 4)  # 0.025^(1/2)
    0.1581
    """
    table, exact_low = _km_table(durations, events, alpha)
    return table.assign(ci_low=exact_low)


@dataclass(frozen=True, slots=True)
class KMMedian:
    """Median survival time and its confidence interval (``None`` where not reached).

    Unpacks like a tuple: ``median, ci_low, ci_high = km_median(durations, events)``.
    """

    median: float | None
    ci_low: float | None
    ci_high: float | None

    def __iter__(self) -> Iterator[float | None]:
        return iter((self.median, self.ci_low, self.ci_high))


def _r_crossing(times: NDArray[np.float64], curve: NDArray[np.float64]) -> float | None:
    """First time ``curve`` is below 0.5, read as R's ``print.survfit`` reads it.

    A port of ``minmin`` in survival's ``survmean`` (R/print.survfit.R): of the values
    below ``0.5 + sqrt(eps)`` (NaN left out), take the first; when it equals 0.5 within
    that tolerance and a later one is lower, the answer is the midpoint of their times.
    """
    keep = ~np.isnan(curve) & (curve < 0.5 + _R_QUANTILE_TOL)
    if not keep.any():
        return None
    x, y = times[keep], curve[keep]
    if abs(y[0] - 0.5) < _R_QUANTILE_TOL:
        lower = np.flatnonzero(y < y[0])
        if lower.size:
            return float((x[0] + x[lower[0]]) / 2.0)
    return float(x[0])


def km_median(durations: ArrayLike, events: ArrayLike, *, alpha: float = 0.05) -> KMMedian:
    """Kaplan–Meier median survival time with its confidence interval, read as R does.

    Parameters
    ----------
    durations : array-like of float
        Time to the event or to censoring, finite and >= 0.
    events : array-like of bool or 0/1
        1 (True) when the event was observed, 0 (False) when censored.
    alpha : float, default 0.05
        1 - confidence level of the pointwise bands the interval is read from.

    Returns
    -------
    KMMedian
        ``median``, ``ci_low`` and ``ci_high``; each ``None`` where the curve (or the
        band) never reaches 0.5.

    Notes
    -----
    All three numbers follow one rule, R's ``print.survfit`` (and ``summary(fit)$table``,
    both from ``survmean``): the median is the first time with ``S(t) <= 0.5``, the lower
    limit the first time the lower (log-scale) band is ``<= 0.5``, the upper limit the
    first time the upper band is. When the first such value equals 0.5 (within
    ``sqrt(machine eps)``) and the curve drops lower later, the answer is the midpoint of
    the two times; when it never drops lower, the first time. (``quantile.survfit`` reads
    a flat end and a band that rises back above 0.5 differently.)

    References
    ----------
    Brookmeyer R, Crowley J. A confidence interval for the median survival time.
    Biometrics 1982;38:29-41. Therneau TM, survival package for R, ``survmean`` in
    ``R/print.survfit.R``.

    Examples
    --------
    >>> median, low, high = km_median([1, 2, 3, 4], [1, 1, 1, 1])
    >>> median
    2.5
    """
    # R's log-scale bands (not the exact no-event interval of kaplan_meier), so that the
    # median and its interval are those of R's print.survfit.
    curve, _ = _km_table(durations, events, alpha)
    if curve.empty:
        return KMMedian(None, None, None)
    times = curve["time"].to_numpy()
    return KMMedian(
        median=_r_crossing(times, curve["survival"].to_numpy()),
        ci_low=_r_crossing(times, curve["ci_low"].to_numpy()),
        ci_high=_r_crossing(times, curve["ci_high"].to_numpy()),
    )


# --------------------------------------------------------------------------------------
# Proportions
# --------------------------------------------------------------------------------------


def _counts_and_totals(
    k: ArrayLike, n: ArrayLike, k_name: str, n_name: str
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    counts = _as_counts(k, k_name)
    totals = _as_counts(n, n_name)
    try:
        counts, totals = np.broadcast_arrays(counts, totals)
    except ValueError as exc:
        raise ValueError(
            f"`{k_name}` ({counts.size} values) and `{n_name}` ({totals.size} values) "
            "must have the same length, or one of them must be a single number."
        ) from exc
    too_many = counts > totals
    if too_many.any():
        raise ValueError(
            f"`{k_name}` exceeds `{n_name}` at position(s) {_positions(too_many)}; a count "
            "of successes cannot be larger than the number of trials."
        )
    return counts.copy(), totals.copy()


def _wilson(
    k: NDArray[np.int64], n: NDArray[np.int64], z: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Estimate and Wilson limits; NaN where n = 0."""
    estimate = np.full(k.shape, np.nan)
    low = np.full(k.shape, np.nan)
    high = np.full(k.shape, np.nan)
    ok = n > 0
    kk, nn = k[ok].astype(np.float64), n[ok].astype(np.float64)
    p = kk / nn
    z2 = z * z
    centre = (kk + z2 / 2.0) / (nn + z2)
    half = z * np.sqrt(nn) / (nn + z2) * np.sqrt(p * (1.0 - p) + z2 / (4.0 * nn))
    estimate[ok] = p
    # At k = 0 or k = n the limit is exactly 0 or 1; rounding would leave ~1e-17.
    low[ok] = np.where(kk == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high[ok] = np.where(kk == nn, 1.0, np.clip(centre + half, 0.0, 1.0))
    return estimate, low, high


def _clopper_pearson(
    k: NDArray[np.int64], n: NDArray[np.int64], alpha: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    estimate = np.full(k.shape, np.nan)
    low = np.full(k.shape, np.nan)
    high = np.full(k.shape, np.nan)
    ok = n > 0
    kk, nn = k[ok].astype(np.float64), n[ok].astype(np.float64)
    estimate[ok] = kk / nn
    from scipy import stats as sps  # loaded on first use: most commands never need it

    with np.errstate(invalid="ignore"):
        lower = sps.beta.ppf(alpha / 2.0, kk, nn - kk + 1.0)
        upper = sps.beta.ppf(1.0 - alpha / 2.0, kk + 1.0, nn - kk)
    low[ok] = np.where(kk == 0, 0.0, lower)
    high[ok] = np.where(kk == nn, 1.0, upper)
    return estimate, low, high


def proportion_ci(
    k: ArrayLike, n: ArrayLike, method: str = "wilson", alpha: float = 0.05
) -> pd.DataFrame:
    """Confidence interval for a proportion ``k / n`` (Wilson score or Clopper–Pearson).

    Parameters
    ----------
    k : int or array-like of int
        Number of successes.
    n : int or array-like of int
        Number of trials (same length as ``k``, or a single number). ``n = 0`` gives a
        row of NaN rather than an error.
    method : {"wilson", "clopper-pearson", "exact"}, default "wilson"
        ``"exact"`` is an alias of ``"clopper-pearson"``.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per input with columns ``k``, ``n``, ``estimate``, ``ci_low``, ``ci_high``.

    Notes
    -----
    Wilson (score, no continuity correction), with ``p = k/n`` and ``z`` the
    ``1 - alpha/2`` normal quantile::

        (k + z^2/2) / (n + z^2)  -/+  z sqrt(n) / (n + z^2) * sqrt(p (1 - p) + z^2 / (4n))

    Clopper–Pearson: the ``alpha/2`` quantile of Beta(k, n - k + 1) and the
    ``1 - alpha/2`` quantile of Beta(k + 1, n - k), with 0 at k = 0 and 1 at k = n.

    References
    ----------
    Wilson EB. J Am Stat Assoc 1927;22:209-212. Clopper CJ, Pearson ES. Biometrika
    1934;26:404-413. Newcombe RG. Stat Med 1998;17:857-872 (methods 3 and 5).

    Examples
    --------
    >>> proportion_ci(81, 263).round(4).to_dict("records")
    [{'k': 81, 'n': 263, 'estimate': 0.308, 'ci_low': 0.2553, 'ci_high': 0.3662}]
    """
    key = _PROPORTION_METHODS.get(str(method).lower())
    if key is None:
        raise ValueError(f"Unknown method {method!r}; use 'wilson', 'clopper-pearson' or 'exact'.")
    alpha = _check_alpha(alpha)
    counts, totals = _counts_and_totals(k, n, "k", "n")
    if key == "wilson":
        estimate, low, high = _wilson(counts, totals, _normal_quantile(1.0 - alpha / 2.0))
    else:
        estimate, low, high = _clopper_pearson(counts, totals, alpha)
    return pd.DataFrame(
        {"k": counts, "n": totals, "estimate": estimate, "ci_low": low, "ci_high": high}
    )


def binomial_test(k: int, n: int, p0: float) -> float:
    """Two-sided exact binomial test of ``k`` successes in ``n`` trials against ``p0``.

    Parameters
    ----------
    k : int
        Number of successes.
    n : int
        Number of trials; ``n = 0`` gives NaN.
    p0 : float
        Claimed proportion, ``0 <= p0 <= 1``.

    Returns
    -------
    float
        The p-value.

    Notes
    -----
    The p-value sums ``P(X = i)`` over every ``i`` with ``P(X = i) <= P(X = k)`` under
    ``X ~ Binomial(n, p0)`` (with a small relative tolerance), as R's ``binom.test``;
    computed by :func:`scipy.stats.binomtest`.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. R Core Team, ``binom.test``.

    Examples
    --------
    >>> round(binomial_test(7, 20, 0.5), 4)
    0.2632
    """
    counts, totals = _counts_and_totals(k, n, "k", "n")
    if counts.size != 1:
        raise ValueError("binomial_test takes a single k and n; loop over groups instead.")
    if not (math.isfinite(p0) and 0.0 <= p0 <= 1.0):
        raise ValueError(f"`p0` must be a proportion between 0 and 1; got {p0}.")
    if totals[0] == 0:
        return math.nan
    from scipy import stats as sps  # loaded on first use: most commands never need it

    result = sps.binomtest(int(counts[0]), int(totals[0]), p=p0, alternative="two-sided")
    return float(result.pvalue)


def risk_difference_ci(
    k1: ArrayLike, n1: ArrayLike, k2: ArrayLike, n2: ArrayLike, alpha: float = 0.05
) -> pd.DataFrame:
    """Newcombe hybrid score interval for the difference of two proportions ``p1 - p2``.

    Parameters
    ----------
    k1, n1 : int or array-like of int
        Successes and trials in group 1.
    k2, n2 : int or array-like of int
        Successes and trials in group 2.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per input with columns ``k1``, ``n1``, ``k2``, ``n2``, ``estimate``
        (``p1 - p2``), ``ci_low`` and ``ci_high``; NaN where ``n1`` or ``n2`` is 0.

    Notes
    -----
    With ``(l_i, u_i)`` the Wilson limits of ``p_i``::

        L = p1 - p2 - sqrt((p1 - l1)^2 + (u2 - p2)^2)
        U = p1 - p2 + sqrt((u1 - p1)^2 + (p2 - l2)^2)

    References
    ----------
    Newcombe RG. Interval estimation for the difference between independent
    proportions: comparison of eleven methods. Stat Med 1998;17:873-890 (method 10).

    Examples
    --------
    >>> risk_difference_ci(56, 70, 48, 80)[["ci_low", "ci_high"]].round(4).to_dict("records")
    [{'ci_low': 0.0524, 'ci_high': 0.3339}]
    """
    alpha = _check_alpha(alpha)
    z = _normal_quantile(1.0 - alpha / 2.0)
    counts1, totals1 = _counts_and_totals(k1, n1, "k1", "n1")
    counts2, totals2 = _counts_and_totals(k2, n2, "k2", "n2")
    try:
        counts1, totals1, counts2, totals2 = (
            a.copy() for a in np.broadcast_arrays(counts1, totals1, counts2, totals2)
        )
    except ValueError as exc:
        raise ValueError(
            "Group 1 and group 2 inputs must have the same length, or be single numbers."
        ) from exc
    p1, l1, u1 = _wilson(counts1, totals1, z)
    p2, l2, u2 = _wilson(counts2, totals2, z)
    estimate = p1 - p2
    low = estimate - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = estimate + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return pd.DataFrame(
        {
            "k1": counts1,
            "n1": totals1,
            "k2": counts2,
            "n2": totals2,
            "estimate": estimate,
            "ci_low": low,
            "ci_high": high,
        }
    )
