"""Published outcomes of ketamine and esketamine treatment, shown beside a clinic's numbers.

The packaged file ``data/published_benchmarks.csv`` holds one row per study × instrument ×
timepoint × arm (methods §11). Rates are fractions (0.628, not 62.8). Every row names the
paper (``citation``, ``doi``) and the source the figures were checked against
(``verified``); ``note`` says how each denominator was read and what the abstract leaves
out. ``n`` is the denominator of the row's rates and is left blank where the paper does not
state one (for example, rates read off a Kaplan–Meier curve), so no interval is drawn there.

``instrument`` is spelled as in the paper. MADRS is clinician-rated and is not
interchangeable with the self-report PHQ-9 or GAD-7; consumers label those rows by
instrument rather than pooling them.

Sources
-------
The rows' own citations are in the file. The interval method is Wilson EB, J Am Stat
Assoc 1927;22:209-212, computed by :func:`katoutcomes.stats.proportion_ci`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from katoutcomes.errors import IngestError
from katoutcomes.stats import proportion_ci

__all__ = [
    "BENCHMARK_COLUMNS",
    "benchmark_intervals",
    "load_published_benchmarks",
]

#: Columns of the benchmarks file, in file order (methods §11).
BENCHMARK_COLUMNS: Final = (
    "study",
    "year",
    "setting",
    "route",
    "n",
    "instrument",
    "timepoint",
    "response",
    "remission",
    "relapse",
    "relapse_definition",
    "median_days_to_relapse",
    "adverse_events",
    "citation",
    "doi",
    "verified",
    "note",
)

_RATE_COLUMNS: Final = ("response", "remission", "relapse")
_COUNT_COLUMNS: Final = ("year", "n")
_FLOAT_COLUMNS: Final = ("median_days_to_relapse",)
#: A row without these cannot be shown or traced back to its paper.
_REQUIRED_TEXT: Final = ("study", "instrument", "timepoint", "citation", "verified")
_TEXT_COLUMNS: Final = tuple(
    c for c in BENCHMARK_COLUMNS if c not in _RATE_COLUMNS + _COUNT_COLUMNS + _FLOAT_COLUMNS
)
_INTERVAL_RATES: Final = ("response", "remission")
_PACKAGED_NAME: Final = "published_benchmarks.csv"
#: Problems listed in one error message before the rest are summarised.
_MAX_LISTED: Final = 10


def _packaged_path() -> Path:
    return Path(str(resources.files("katoutcomes") / "data" / _PACKAGED_NAME))


def load_published_benchmarks(path: str | Path | None = None) -> pd.DataFrame:
    """Read the published-benchmarks table with typed columns.

    Parameters
    ----------
    path : str or Path, optional
        A CSV with the columns in :data:`BENCHMARK_COLUMNS` (extra columns are kept after
        them). Default: the file packaged with katoutcomes.

    Returns
    -------
    pandas.DataFrame
        One row per study × instrument × timepoint × arm. ``year`` and ``n`` are
        ``Int64``; ``response``, ``remission``, ``relapse`` (fractions) and
        ``median_days_to_relapse`` are ``float64``; the rest are strings, with missing
        values where the paper gives nothing.

    Raises
    ------
    IngestError
        If the file cannot be read or lacks columns, or if any value is unusable: a rate
        that is not a number between 0 and 1, a ``year`` or ``n`` that is not a whole
        number >= 0, or an empty ``study``, ``instrument``, ``timepoint``, ``citation`` or
        ``verified``. Every problem found is listed, each with its line and column.

    Notes
    -----
    Line numbers count the header as line 1, so data row ``i`` (from 0) is line ``i + 2``;
    this holds because no field in the file spans lines.

    Examples
    --------
    >>> frame = load_published_benchmarks()
    >>> frame.loc[frame["study"].eq("Hull 2022"), ["instrument", "n", "response"]]
      instrument     n  response
    0      PHQ-9  1247     0.628
    1      GAD-7  1247     0.629
    """
    source = Path(path) if path is not None else _packaged_path()
    try:
        raw = pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise IngestError(
            f"{source}: cannot read the benchmarks file ({exc}). "
            "It must be a UTF-8 CSV with a header row.",
            file=str(source),
        ) from exc

    missing = [c for c in BENCHMARK_COLUMNS if c not in raw.columns]
    if missing:
        raise IngestError(
            f"{source}: missing column(s) {', '.join(missing)}. The benchmarks file needs "
            f"the header: {','.join(BENCHMARK_COLUMNS)}.",
            file=str(source),
            column=missing[0],
        )

    problems: list[str] = []
    frame = raw[list(BENCHMARK_COLUMNS) + [c for c in raw.columns if c not in BENCHMARK_COLUMNS]]
    frame = frame.apply(lambda col: col.str.strip()).replace("", pd.NA)
    lines = pd.Series(np.arange(len(frame)) + 2, index=frame.index)

    typed: dict[str, pd.Series] = {}
    for column in _RATE_COLUMNS + _FLOAT_COLUMNS:
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        bad = frame[column].notna() & values.isna()
        if column in _RATE_COLUMNS:
            bad |= values.notna() & ~values.between(0.0, 1.0)
            why = "must be a fraction between 0 and 1 (0.628 for 62.8%)"
        else:
            bad |= values.notna() & ~(values.between(0.0, np.inf, inclusive="left"))
            why = "must be a finite number >= 0"
        problems += [
            f"line {lines[i]}, column {column}: {frame.loc[i, column]!r} {why}"
            for i in frame.index[bad]
        ]
        typed[column] = values
    for column in _COUNT_COLUMNS:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column].notna() & (values.isna() | (values < 0) | (values != values.round()))
        why = "must be a whole number >= 0"
        problems += [
            f"line {lines[i]}, column {column}: {frame.loc[i, column]!r} {why}"
            for i in frame.index[bad]
        ]
        typed[column] = values.where(~bad).round().astype("Int64")
    for column in _REQUIRED_TEXT:
        problems += [
            f"line {lines[i]}, column {column}: empty; every row needs a {column}"
            for i in frame.index[frame[column].isna()]
        ]

    if problems:
        listed = "\n  ".join(problems[:_MAX_LISTED])
        more = len(problems) - _MAX_LISTED
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise IngestError(
            f"{source}: {len(problems)} unusable value(s); fix them and load again:\n  "
            f"{listed}{tail}",
            file=str(source),
        )

    out = frame.astype({c: "string" for c in frame.columns if c not in typed})
    for column, values in typed.items():
        out[column] = values
    return out


def benchmark_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """Add Wilson 95% intervals for response and remission where ``n`` is known.

    Parameters
    ----------
    frame : pandas.DataFrame
        The benchmarks table from :func:`load_published_benchmarks`, or any frame with the
        columns ``n``, ``response`` and ``remission``. It is not modified.

    Returns
    -------
    pandas.DataFrame
        A copy with, for ``rate`` in response and remission, ``{rate}_k`` (Int64, the
        reconstructed count), ``{rate}_ci_low`` and ``{rate}_ci_high`` (float64). They are
        missing where the rate or ``n`` is missing.

    Raises
    ------
    ValueError
        If ``n``, ``response`` or ``remission`` is absent.

    Notes
    -----
    Papers report rounded percentages, so the count is reconstructed as
    ``k = round(rate * n)`` and the interval is the Wilson score interval for ``k / n``
    (:func:`katoutcomes.stats.proportion_ci`)::

        (k + z^2/2) / (n + z^2)  -/+  z sqrt(n) / (n + z^2) * sqrt(p (1 - p) + z^2 / (4n))

    with ``p = k / n`` and ``z = 1.959964``. Where rounding leaves two counts possible
    (32.6% of 1,247 is 406 or 407), the bounds move by less than 0.001.

    References
    ----------
    Wilson EB. Probable inference, the law of succession, and statistical inference.
    J Am Stat Assoc 1927;22:209-212.

    Examples
    --------
    >>> table = benchmark_intervals(load_published_benchmarks())
    >>> row = table.iloc[0]  # Hull 2022, PHQ-9
    >>> [round(float(row[c]), 4) for c in ("response_k", "response_ci_low", "response_ci_high")]
    [783.0, 0.6007, 0.6543]
    """
    absent = [c for c in ("n", *_INTERVAL_RATES) if c not in frame.columns]
    if absent:
        raise ValueError(
            f"The benchmarks frame lacks column(s) {', '.join(absent)}; "
            "pass the table from load_published_benchmarks()."
        )
    out = frame.copy()
    n = pd.to_numeric(out["n"], errors="coerce").astype("float64")
    for rate in _INTERVAL_RATES:
        p = pd.to_numeric(out[rate], errors="coerce").astype("float64")
        known = n.notna() & p.notna()
        k = pd.Series(pd.NA, index=out.index, dtype="Int64")
        low = pd.Series(np.nan, index=out.index, dtype="float64")
        high = pd.Series(np.nan, index=out.index, dtype="float64")
        if known.any():
            counts = np.round(p[known].to_numpy() * n[known].to_numpy()).astype(np.int64)
            ci = proportion_ci(counts, n[known].to_numpy().astype(np.int64), method="wilson")
            k[known] = counts
            low[known] = ci["ci_low"].to_numpy()
            high[known] = ci["ci_high"].to_numpy()
        out[f"{rate}_k"] = k
        out[f"{rate}_ci_low"] = low
        out[f"{rate}_ci_high"] = high
    return out
