"""Writing tables for people and other programs: CSV that spreadsheets cannot hijack,
Parquet and JSON.

CSV output neutralises spreadsheet formulas (methods §12.9, :func:`~katoutcomes.privacy.
neutralise_formulas`) and is written with pyarrow, which is an order of magnitude faster
than ``DataFrame.to_csv`` on wide tables of nullable columns.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Final

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from katoutcomes.privacy import neutralise_formulas

__all__ = [
    "csv_text",
    "json_text",
    "parquet_bytes",
    "write_csv",
]


def write_csv(frame: pd.DataFrame, target: str | Path | IO[bytes]) -> None:
    """Write ``frame`` as UTF-8 CSV with a header, formulas neutralised, no index.

    Missing values are empty cells; booleans are ``true``/``false``; floats keep full
    precision.
    """
    safe = neutralise_formulas(frame)
    # Text columns may hold the neutralised values as objects; make them plain strings.
    for column in safe.columns:
        if safe[column].dtype == "object":
            safe[column] = safe[column].astype("str")
    table = pa.Table.from_pandas(safe, preserve_index=False)
    data = _csv_bytes(table)
    if isinstance(target, str | Path):
        Path(target).write_bytes(data)
    else:
        target.write(data)


#: Rows per slice when a large table is formatted on several cores.
_SLICE_ROWS: Final = 50_000


def _csv_bytes(table: pa.Table) -> bytes:
    """The table as CSV; a large one is formatted in slices on a thread each (pyarrow's
    writer is single-threaded and releases the GIL; number formatting dominates)."""

    def slice_bytes(start: int) -> bytes:
        buffer = io.BytesIO()
        options = pacsv.WriteOptions(include_header=start == 0, quoting_style="needed")
        pacsv.write_csv(table.slice(start, _SLICE_ROWS), buffer, options)
        return buffer.getvalue()

    starts = range(0, max(table.num_rows, 1), _SLICE_ROWS)
    if len(starts) == 1:
        return slice_bytes(0)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return b"".join(pool.map(slice_bytes, starts))


def csv_text(frame: pd.DataFrame) -> str:
    """:func:`write_csv` into a string."""
    buffer = io.BytesIO()
    write_csv(frame, buffer)
    return buffer.getvalue().decode("utf-8")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A table as Parquet bytes (types kept: nullable integers, booleans, timestamps)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def json_text(frame: pd.DataFrame) -> str:
    """A table as a JSON array of records (ISO dates, NaN as null)."""
    return frame.to_json(orient="records", date_format="iso", indent=1)
