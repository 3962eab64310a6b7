"""Rejected rows as people read them: one line per file, column and kind of problem,
with what to do next (methods §2.6: every message says what to do next)."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from katoutcomes.ingest_results import SELF_HARM_IN_REJECTED_ROW
from katoutcomes.validation import MAP_IT

__all__ = ["GROUP_LINES", "next_step", "rejected_summary"]

#: What to do about each kind of problem, by the start of its reason ({field}: the column).
_NEXT_STEPS: Final = (
    ("required value is missing", "fill in {field} on these rows of the export"),
    ("not a number", "write {field} as a plain number (no units or words)"),
    ("not a whole number", "correct {field} to a whole number"),
    ("out of range", "correct {field}: the allowed range is in brackets"),
    ("not an allowed value", "correct the values in the export to one of those listed"),
    ("unknown code", "use the codes listed, separated by ';' (other events as 'other')"),
    ("not a yes/no value", "write yes/no, true/false or 1/0"),
    (
        "not a date",
        "write dates as 2025-03-14 or 14/03/2025 (with 14:30 for a time), or set "
        "datetime_format in a mapping file",
    ),
    (
        "contains characters other than",
        "use pseudonymous codes made of letters, digits, '_', '.' and '-'",
    ),
    ("patient_id looks like", "replace these ids with pseudonymous codes such as P0001"),
    ("GAD-7 has 7 items", "leave item_8 and item_9 blank on GAD-7 rows"),
    ("the recorded total", "correct the total or the items"),
    ("no total and no item scores", "give the total or the items, or leave the rows out"),
    ("conflicting rows", "keep the right row of each pair in the export and ingest again"),
    ("conflicts with an earlier row", "correct these rows or the stored ones they name"),
    ("row has", "quote cells that hold the delimiter, or add the missing cells"),
    ("visit row has no", "fill in the score or the dose, or remove the empty visit rows"),
    ("not an age in years", "correct the age, or leave it blank when it is not known"),
    (
        "this rejected PHQ-9 row answers item 9",
        "correct the other problems of these rows and ingest them, then see to the patients",
    ),
)
_FALLBACK_STEP: Final = "correct these rows in the export and validate again"
#: Parts of a reason that name other rows; left out when reasons are grouped.
_ROW_REFERENCES: Final = r" \((?:lines? [0-9, ]+|[^()]* line [0-9]+)\)"
#: Lines listed per group of problems before "...".
GROUP_LINES: Final = 10


def next_step(field: str, reason: str) -> str:
    """What to do about a problem (methods §2.6: every message says what to do next)."""
    for start, step in _NEXT_STEPS:
        if reason.startswith(start):
            return step.format(field=field or "the row")
    return _FALLBACK_STEP


def _line_list(lines: pd.Series, limit: int = GROUP_LINES) -> str:
    shown = lines.drop_duplicates().sort_values()
    text = ", ".join(f"{n}" for n in shown.head(limit))
    return text + (", \u2026" if len(shown) > limit else "")


def rejected_summary(rejected: pd.DataFrame, *, limit: int = GROUP_LINES) -> pd.DataFrame:
    """Rejected rows grouped by file, column and kind of problem: one line for many rows.

    Parameters
    ----------
    rejected : ``IngestResult.rejected`` (``table, file, line, field, reason, value``).
    limit : line numbers listed per group before "...".

    Returns
    -------
    pandas.DataFrame
        One row per group, safety groups (:data:`SELF_HARM_IN_REJECTED_ROW`) first, then in
        the order of the rejected rows: ``table, file, field, problem`` (the reason without what
        varies from row to row), ``rows``, ``lines`` (the first ``limit`` line numbers,
        then "..."), ``fix`` (what to do next), ``mapping_lines`` (for values katoutcomes
        cannot read: the exact ``[values.FIELD]`` lines of a mapping file that would read
        them, one per distinct value up to ``limit``; else empty) and ``message``, all of
        it as one text (``file: N rows: column F: problem (lines ...). Fix: ...``).
    """
    columns = ["table", "file", "field", "problem", "rows", "lines", "fix", "mapping_lines"]
    if rejected.empty:
        return pd.DataFrame(columns=[*columns, "message"])
    first, mapping = _split_reasons(rejected["reason"])
    frame = rejected.assign(problem=first, mapping=mapping)
    groups = []
    for (table, file, column, problem), rows in frame.groupby(
        ["table", "file", "field", "problem"], sort=False, dropna=False
    ):
        what = str(problem).partition(" " + MAP_IT)[0]
        values = rows["mapping"][rows["mapping"] != ""].drop_duplicates()
        mapping_lines = ""
        if len(values):
            header = values.iloc[0].split("\n", 1)[0]
            body = [v.split("\n", 1)[1] for v in values.head(limit)]
            more = len(values) - len(body)
            mapping_lines = "\n".join(
                [header, *body, *([f"# ... and {more} more values"] if more > 0 else [])]
            )
        fix = (
            "add these lines to a mapping file and pass it with --mapping FILE"
            if mapping_lines
            else next_step(str(column), what)
        )
        groups.append(
            {
                "table": table,
                "file": file,
                "field": column,
                "problem": what.rstrip("."),
                "rows": len(rows),
                "lines": _line_list(rows["line"], limit),
                "fix": fix,
                "mapping_lines": mapping_lines,
                "safety": problem == SELF_HARM_IN_REJECTED_ROW,
            }
        )
    out = pd.DataFrame(groups)
    # Groups come in the order of the rejected rows (by table, file, line); safety first.
    out = out.sort_values("safety", ascending=False, kind="stable")
    plural = np.where(out["rows"] == 1, "row", "rows")
    line_word = np.where(out["lines"].str.contains(","), "lines", "line")
    column = np.where(out["field"] != "", "column " + out["field"] + ": ", "")
    message = (
        out["file"]
        + ": "
        + out["rows"].map("{:,}".format)
        + " "
        + plural
        + ": "
        + column
        + out["problem"]
        + " ("
        + line_word
        + " "
        + out["lines"]
        + "). Fix: "
        + out["fix"]
        + np.where(out["mapping_lines"] != "", ":\n" + out["mapping_lines"], ".")
    )
    return out.assign(message=message)[[*columns, "message"]].reset_index(drop=True)


def _split_reasons(reasons: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each reason's first line without references to other rows, and the mapping-file
    lines that follow it (empty when none)."""
    parts = reasons.astype("str").str.partition("\n")
    first = parts[0].str.replace(_ROW_REFERENCES, "", regex=True)
    return first, parts[2]
