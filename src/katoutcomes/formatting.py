"""How numbers read, everywhere: the CLI, the HTML report and the dashboard.

One spelling for each kind of number, so a rate or an interval reads the same on every
surface:

- shares as percentages with one decimal (``57.5%``); a claimed share as the claim wrote
  it (``50%``, not ``50.0%``);
- differences of shares in signed percentage points with a true minus sign
  (``−3.2 percentage points``); score changes in signed points (``−5 points``);
- intervals with the word "to" (``52.1% to 61.3%``), never a dash, because a dash between
  two signed numbers reads as a minus;
- days (``1 day``, ``14 days``, ``2.5 days``), money (``$1,250``), doses (``0.512 mg/kg``);
- a value that cannot be shown as :data:`MISSING`.

Formatting is for display only: tables and exports keep full precision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "MINUS",
    "MISSING",
    "VERDICT_LABELS",
    "count",
    "days",
    "decimal",
    "estimate",
    "integer",
    "interval",
    "is_missing",
    "margin",
    "mg_per_kg",
    "money",
    "number",
    "pct",
    "percentage_points",
    "score_points",
    "value",
    "verdict",
]

#: What a cell shows when there is no number.
MISSING: Final = "–"

#: The minus sign (U+2212): a hyphen is too short to read as a sign in tables.
MINUS: Final = "\u2212"

#: Verdict words as a reader sees them (claims ``verdict`` column).
VERDICT_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "supported": "Supported",
        "contradicted": "Contradicted",
        "inconclusive": "Inconclusive",
        "not_measurable": "Not measurable",
        "descriptive": "Descriptive",
    }
)


def is_missing(x: Any) -> bool:
    """True for None, ``pd.NA``, NaN and values that are not numbers."""
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def _signed(text: str) -> str:
    return text.replace("-", MINUS)


def pct(p: Any, decimals: int = 1) -> str:
    """A share as a percentage: ``pct(0.575)`` → ``57.5%``."""
    if is_missing(p):
        return MISSING
    return _signed(f"{100.0 * float(p):.{decimals}f}%")


def percentage_points(d: Any, decimals: int = 1) -> str:
    """A difference of two shares, signed: ``percentage_points(-0.032)`` → ``−3.2
    percentage points``."""
    if is_missing(d):
        return MISSING
    return _signed(f"{100.0 * float(d):+.{decimals}f}") + " percentage points"


def score_points(x: Any, decimals: int = 0) -> str:
    """A change of questionnaire score, signed: ``score_points(-5)`` → ``−5 points``."""
    if is_missing(x):
        return MISSING
    text = _signed(f"{float(x):+.{decimals}f}")
    return f"{text} point" if text in ("+1", f"{MINUS}1") else f"{text} points"


def decimal(x: Any, places: int = 1) -> str:
    """A plain number to a fixed number of decimals, signed with a true minus, for
    quantities whose unit is in the column heading (adverse events per 100 sessions).

    Examples
    --------
    >>> decimal(6.31)
    '6.3'
    >>> decimal(-0.04, 2)
    '−0.04'
    >>> decimal(None)
    '–'
    """
    if is_missing(x):
        return MISSING
    return _signed(f"{float(x):.{places}f}")


def days(x: Any) -> str:
    """A time in days: ``1 day``, ``14 days``, ``2.5 days`` (one decimal at most)."""
    if is_missing(x):
        return MISSING
    text = f"{round(float(x), 1):g}"
    return f"{text} day" if text == "1" else f"{text} days"


def money(x: Any) -> str:
    """US dollars, whole: ``$1,250``."""
    if is_missing(x):
        return MISSING
    return _signed(f"${float(x):,.0f}")


def mg_per_kg(x: Any) -> str:
    """A weight-based dose to three decimals: ``0.512 mg/kg``."""
    if is_missing(x):
        return MISSING
    return f"{float(x):.3f} mg/kg"


def integer(n: Any) -> str:
    """A count with thousands separators: ``1,234``."""
    if is_missing(n):
        return MISSING
    return f"{int(n):,}"


def count(n: int, noun: str) -> str:
    """A count with its noun, singular for one: ``count(1, "patients")`` → ``1 patient``."""
    if n == 1:
        noun = re.sub(r"\b(patient|session|dose|day|event)s\b", r"\1", noun, count=1)
    return f"{n:,} {noun}"


def number(x: Any) -> str:
    """A setting or a fact as people write it: ``42`` not ``42.0``, ``0.84`` not
    ``0.8400``, ``yes``/``no`` for booleans, lists joined with commas."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, list | tuple):
        return ", ".join(map(str, x)) if x else "none"
    return str(x)


def value(x: Any, unit: str, *, claimed: bool = False) -> str:
    """An estimate (or, with ``claimed``, the value a claim states) in a claim's unit.

    Units are those of the claims engine (``share``, ``difference``, ``mg/kg``, ``usd``)
    and of the adherence table (``doses``, ``minutes``), and ``days``; anything else is
    written with three significant digits.
    """
    if is_missing(x):
        return MISSING
    x = float(x)
    if unit == "share":
        whole = claimed and math.isclose(100.0 * x, round(100.0 * x), abs_tol=1e-9)
        return pct(x, 0 if whole else 1)
    if unit == "difference":
        return percentage_points(x)
    if unit == "mg/kg":
        return mg_per_kg(x)
    if unit == "usd":
        return money(x)
    if unit == "days":
        return days(x)
    if unit == "doses":
        return f"{x:g}"
    if unit == "minutes":
        return f"{x:.0f} min"
    return _signed(f"{x:,.3g}")


def interval(low: Any, high: Any, unit: str) -> str:
    """A 95% interval in a claim's unit, with "to": ``52.1% to 61.3%``."""
    if is_missing(low) or is_missing(high):
        return MISSING
    if unit == "difference":
        # "−3.2 to +4.1 percentage points": the unit once, at the end.
        lo, hi = (_signed(f"{100.0 * float(v):+.1f}") for v in (low, high))
        return f"{lo} to {hi} percentage points"
    return f"{value(low, unit)} to {value(high, unit)}"


def estimate(x: Any, low: Any, high: Any, unit: str) -> str:
    """An estimate with its 95% interval in brackets: ``57.5% (52.1% to 61.3%)``."""
    if is_missing(x):
        return MISSING
    if is_missing(low) or is_missing(high):
        return value(x, unit)
    return f"{value(x, unit)} ({interval(low, high, unit)})"


def margin(m: Any, unit: str) -> str:
    """A claim's equivalence margin: percentage points for shares, else in the unit."""
    if is_missing(m):
        return MISSING
    if unit in ("share", "difference"):
        return f"{100.0 * float(m):g} percentage points"
    return value(m, unit)


def verdict(word: str, direction: str = "") -> str:
    """A verdict as a reader sees it, with the way a contradicted claim is wrong:
    ``Contradicted (better than claimed)``."""
    label = VERDICT_LABELS.get(word, word.replace("_", " ").capitalize())
    return f"{label} ({direction})" if direction else label
