"""Text of the claims' notes: percentages, points, days, counts, values and intervals.

Full precision is kept in the scorecard's columns; these functions only write the notes
and rule descriptions through :mod:`katoutcomes.formatting`, so that a note reads its
numbers as the CLI, the report and the dashboard do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from katoutcomes import formatting as fmt

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
    """A share as every surface writes it (one decimal)."""
    return fmt.pct(p)


def _points(d: float, *, sign: bool = True) -> str:
    """A difference of shares in percentage points, as a number (the caller adds the
    unit): signed with a true minus sign, one decimal."""
    text = fmt.percentage_points(d).removesuffix(" percentage points")
    return text if sign else text.lstrip("+").replace(fmt.MINUS, "")


def _days(x: float) -> str:
    return fmt.days(x)


def _count(n: int, noun: str) -> str:
    return fmt.count(n, noun)


def _value(x: float, unit: Unit) -> str:
    """A value in its unit; a whole percentage without decimals, as claims write them."""
    return fmt.value(x, unit, claimed=True)


def _interval(low: float, high: float, unit: Unit) -> str:
    if fmt.is_missing(low) or fmt.is_missing(high):
        return "no interval"
    return f"95% CI {fmt.interval(low, high, unit)}"


def _margin(margin: float, unit: Unit) -> str:
    return fmt.margin(margin, unit)
