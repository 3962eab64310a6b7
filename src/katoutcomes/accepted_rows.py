"""Accepted rows: the stored columns of each table, row hashes, and duplicates.

An accepted row has every field of its table (absent ones missing), ``date_only`` for a
table with times, the scoring columns for assessments, and provenance (``row_hash``,
``source_file``, ``source_line``). Rows with equal stored values are duplicates; rows with
the same key and other values are conflicts (methods §2.6).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from katoutcomes.schema import TableSchema, load_schema
from katoutcomes.validation import PROBLEM_COLUMNS, problems_frame

__all__ = [
    "PROVENANCE",
    "SCORING_COLUMNS",
    "accepted_columns",
    "column_hash",
    "combine_hashes",
    "conform",
    "deduplicate",
    "row_hashes",
    "stored_columns",
    "without_rows",
]

#: Columns added to every accepted row.
PROVENANCE: Final = ("row_hash", "source_file", "source_line")
#: Derived assessment columns (see :mod:`katoutcomes.scoring`).
SCORING_COLUMNS: Final = ("total_source", "item9_flag", "item9_high")


def stored_columns(table: str) -> list[str]:
    """Columns of an accepted-rows table, in order (the store's layout)."""
    schema = load_schema(table)
    cols = list(schema.field_names)
    if schema.time_fields:
        cols.append("date_only")
    if table == "assessments":
        cols.extend(SCORING_COLUMNS)
    return [*cols, *PROVENANCE]


def accepted_columns(table: str) -> list[str]:
    """Columns of the accepted rows of a validation: the stored columns without
    ``row_hash``, which :meth:`katoutcomes.store.Store.write` adds (:func:`row_hashes`)."""
    return [c for c in stored_columns(table) if c != "row_hash"]


def _empty_typed(schema: TableSchema, name: str) -> pd.Series:
    f = schema.field(name)
    if f.type in ("integer", "number"):
        return pd.Series(np.nan, dtype="float64")
    if f.type == "boolean":
        return pd.Series(pd.NA, dtype="boolean")
    if f.type in ("datetime", "date"):
        return pd.Series(pd.NaT, dtype="datetime64[us]")
    return pd.Series(pd.NA, dtype="str")


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """All stored columns, in order, with absent ones filled as missing."""
    schema = load_schema(table)
    out = frame.copy(deep=False)  # columns are added, never written into
    for name in schema.field_names:
        if name not in out.columns:
            out[name] = _empty_typed(schema, name).reindex(out.index)
    if schema.time_fields and "date_only" not in out.columns:
        out["date_only"] = pd.Series(False, index=out.index, dtype="bool")
    return out


def column_hash(column: pd.Series) -> np.ndarray:
    """A column's value hashes (pandas' ``hash_pandas_object``)."""
    return pd.util.hash_pandas_object(column, index=False).to_numpy(dtype="uint64")


def combine_hashes(hashes: list[np.ndarray], length: int) -> np.ndarray:
    """Row hashes from column hashes, combined as ``pandas.util.hash_pandas_object`` does
    for a DataFrame (CPython's tuple hash), so stored row hashes keep their values."""
    out = np.full(length, 0x345678, dtype=np.uint64)
    multiplier = np.uint64(1000003)
    for i, column in enumerate(hashes):
        inverse = len(hashes) - i
        out ^= column
        out *= multiplier
        multiplier += np.uint64(82520 + inverse + inverse)
    return out + np.uint64(97531)


def row_hashes(frame: pd.DataFrame, table: str) -> np.ndarray:
    """One hash per row over its stored values (methods §2.6: equal rows are duplicates).

    Equal to ``pandas.util.hash_pandas_object`` of the stored value columns. Ingest needs
    it only for rows whose key occurs twice or is stored already; the store computes it
    for every row it writes.
    """
    columns = [c for c in stored_columns(table) if c not in PROVENANCE]
    return combine_hashes([column_hash(frame[c]) for c in columns], len(frame))


def without_rows(frame: pd.DataFrame, labels: pd.Index) -> pd.DataFrame:
    """``frame`` without the rows labelled ``labels`` (no copy when there are none)."""
    if not len(labels):
        return frame
    return frame[~frame.index.isin(labels)]


def deduplicate(
    good: pd.DataFrame,
    table: str,
    key: list[str],
    key_hash: np.ndarray,
    existing: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Split good rows into new rows, conflicts (as problems) and a duplicate count.

    ``key_hash`` is equal for rows with equal keys (missing values equal to each other).
    ``existing`` holds the keys, row hashes and provenance of rows stored or accepted
    earlier. Row hashes of ``good`` are computed only for the rows that need comparing.
    """
    problems: list[pd.DataFrame] = []
    # Only rows whose key occurs more than once can be duplicates or conflicts; finding
    # them on one hash per row is cheap, and the exact grouping below runs on them alone
    # (a hash collision only sends a few more rows there).
    shared = np.asarray(pd.Index(key_hash).duplicated(keep=False))
    conflict = pd.Series(False, index=good.index)
    repeated = pd.Series(False, index=good.index)
    if shared.any():
        same_key = good.loc[shared]
        same_key = same_key.assign(row_hash=row_hashes(same_key, table))
        versions = same_key.groupby(key, dropna=False, sort=False)["row_hash"].transform("nunique")
        clashes = versions > 1
        conflict.loc[same_key.index] = clashes
        repeated.loc[same_key.index] = same_key.duplicated(subset=[*key, "row_hash"]) & ~clashes
    if conflict.any():
        clashing = good.loc[conflict]
        lines = clashing.groupby(key, dropna=False, sort=False)["line"].transform(
            lambda s: ", ".join(s.astype("str"))
        )
        what = (
            "patient, instrument and time"
            if table == "assessments"
            else ("patient and time" if table == "treatments" else "patient")
        )
        problems.append(
            problems_frame(
                clashing["line"],
                key[-1],
                f"conflicting rows for the same {what} with different values (lines "
                + lines.astype("str")
                + "); keep the right one and ingest again",
                "",
            )
        )
    n_dup = int(repeated.sum())
    candidates = good.loc[~conflict & ~repeated] if shared.any() else good
    if existing is not None and len(existing) and len(candidates):
        merged = (
            candidates[[*key, "line"]]
            .reset_index()
            .merge(existing.rename(columns={"row_hash": "stored_hash"}), on=key, how="inner")
        )
        if len(merged):
            merged["row_hash"] = row_hashes(candidates.loc[merged["index"]], table)
            same = merged["row_hash"] == merged["stored_hash"]
            n_dup += int(same.sum())
            clash = merged.loc[~same].set_index("index")
            if len(clash):
                problems.append(
                    problems_frame(
                        clash["line"],
                        key[-1],
                        "conflicts with an earlier row with the same key and other values ("
                        + clash["source_file"].astype("str")
                        + " line "
                        + clash["source_line"].astype("int64").astype("str")
                        + "), which is kept. Correct this row or the earlier one",
                        "",
                    )
                )
            candidates = candidates.drop(index=merged["index"])
    out = pd.concat(problems) if problems else pd.DataFrame(columns=PROBLEM_COLUMNS)
    return candidates, out, n_dup
