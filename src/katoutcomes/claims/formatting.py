"""Text of the claims' notes: percentages, points, days, counts, values and intervals.

Full precision is kept in the scorecard's columns; these functions only write the notes
and rule descriptions, and are kept together so that one shared formatting module can
replace them.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from katoutcomes.claims.definitions import Unit

__all__: list[str] = []


# --------------------------------------------------------------------------------------
# Formatting for notes (full precision is kept in the columns)
# --------------------------------------------------------------------------------------


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pct(p: float) -> str:
    value = 100.0 * p
    if 0 < abs(value) < 10 and round(value) != round(value, 1):
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def _points(d: float, *, sign: bool = True) -> str:
    return f"{100.0 * d:+.0f}" if sign else f"{100.0 * d:.0f}"


def _days(x: float) -> str:
    text = _plain(round(float(x), 1))
    return f"{text} day" if text == "1" else f"{text} days"


def _count(n: int, noun: str) -> str:
    if n == 1:
        noun = re.sub(r"\b(patient|session|dose)s\b", r"\1", noun, count=1)
    return f"{n:,} {noun}"


def _value(x: float, unit: Unit) -> str:
    if unit == "share":
        return _pct(x)
    if unit == "difference":
        return f"{_points(x)} percentage points"
    if unit == "mg/kg":
        return f"{x:.3f} mg/kg"
    return f"${x:,.0f}"


def _interval(low: float, high: float, unit: Unit) -> str:
    if math.isnan(low) or math.isnan(high):
        return "no interval"
    if unit == "share":
        return f"95% CI {_pct(low)} to {_pct(high)}"
    if unit == "difference":
        return f"95% CI {_points(low)} to {_points(high)}"
    if unit == "mg/kg":
        return f"95% CI {low:.3f} to {high:.3f}"
    return f"95% CI ${low:,.0f} to ${high:,.0f}"


def _margin(margin: float, unit: Unit) -> str:
    if unit == "share":
        return f"{_plain(round(100.0 * margin, 6))} percentage points"
    if unit == "difference":
        return f"{_plain(round(100.0 * margin, 6))} percentage points"
    if unit == "mg/kg":
        return f"{margin:.3f} mg/kg"
    return f"${margin:,.0f}"
