"""Building blocks of the report's template data: sections, notes, rule boxes, tables."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["LEVEL_NAMES", "heading", "level_name", "note", "rule", "section", "table"]

#: Subgroup levels as a reader sees them.
LEVEL_NAMES: Final = {
    "intranasal": "Intranasal",
    "sublingual": "Sublingual",
    "oral": "Oral",
    "other": "Other",
    "unknown": "Not recorded",
}


def level_name(level: object) -> str:
    return LEVEL_NAMES.get(str(level), str(level))


def rule(text: str) -> dict[str, str]:
    """The small-cell rule stated where it removed something."""
    return {"kind": "rule", "text": text}


def note(text: str) -> dict[str, str]:
    return {"kind": "note", "text": text}


def table(template: str, **data: Any) -> dict[str, Any]:
    """A table block drawn by ``tables/<template>.html.j2``."""
    return {"kind": "table", "template": template, **data}


def section(anchor: str, title: str, blocks: list[dict[str, Any]], **extra: Any) -> dict:
    return {"anchor": anchor, "title": title, "blocks": blocks, **extra}


def heading(text: str) -> dict[str, str]:
    return {"kind": "heading", "text": text}
