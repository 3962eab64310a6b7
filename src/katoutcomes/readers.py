"""Reading CSV, XLSX and Parquet files into tables of raw strings.

Every cell is read as text so that validation can report the value a person typed. Each
row keeps its ``line``: the row number a spreadsheet shows (header = 1, first data row = 2),
for every format.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from katoutcomes.errors import IngestError

__all__ = ["READABLE_SUFFIXES", "RawTable", "file_sha256", "read_table"]

#: File types ingest reads, by suffix.
READABLE_SUFFIXES: Final = (".csv", ".tsv", ".txt", ".xlsx", ".parquet")

LINE: Final = "line"
_RECORD_NUMBERS: Final = "katoutcomes_record_numbers"
_PROBLEM_COLUMNS: Final = ["line", "field", "reason", "value"]
_SNIFF_BYTES: Final = 64 * 1024
#: How columns read as numbers are held: nullable, so a missing value stays distinct from
#: a NaN someone typed.
_NUMBERS: Final = pd.ArrowDtype(pa.float64())


@dataclass(frozen=True, slots=True)
class RawTable:
    """A file read as text.

    Attributes
    ----------
    file : the file's name as reported in messages.
    frame : one column per input column, all ``str``, blanks as ``""``, plus ``line``.
    problems : rows the reader could not split into fields (``line, field, reason, value``).
    sha256 : hex digest of the file's bytes.
    """

    file: str
    frame: pd.DataFrame
    sha256: str
    problems: pd.DataFrame = field(default_factory=lambda: _problems([]))

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.problems)


def _problems(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_PROBLEM_COLUMNS)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_table(
    path: str | Path,
    *,
    sheet: str | int = 0,
    numbers: Callable[[list[str]], Mapping[str, Callable[[pa.ChunkedArray], bool]]] | None = None,
    missing_values: Collection[str] = ("",),
) -> RawTable:
    """Read one file as text.

    ``numbers``, given the header (names trimmed), names the columns a CSV file may hold
    as numbers, each with a test of its parsed values. When every cell of those columns is
    a number or one of ``missing_values`` and every column passes its test, they are read
    as numbers straight away (nullable Arrow ``double`` columns, missing values null),
    which spares the text round trip on large files. Otherwise (a cell that is not a
    number, a value its test refuses, or a row of blanks and markers) the whole file is
    read as text, so that every problem is reported with the value as written.

    Raises
    ------
    IngestError
        The file is missing, unreadable, not UTF-8, empty, or of an unsupported type.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise IngestError(f"{path}: no such file.", file=name)
    suffix = path.suffix.lower()
    if suffix not in READABLE_SUFFIXES:
        raise IngestError(
            f"{name}: unsupported file type {suffix or '(none)'}; "
            f"save it as CSV, XLSX or Parquet ({', '.join(READABLE_SUFFIXES)}).",
            file=name,
        )
    try:
        # The digest is computed beside the parse (hashlib releases the GIL on large
        # buffers, and the parser leaves a core idle part of the time).
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(file_sha256, path)
            if suffix == ".xlsx":
                frame, problems = _read_xlsx(path, sheet), None
            elif suffix == ".parquet":
                frame, problems = _read_parquet(path), None
            else:
                frame, problems = _read_csv(path, numbers, missing_values)
            sha = digest.result()
    except IngestError:
        raise
    except OSError as exc:
        raise IngestError(f"{name}: cannot read the file ({exc.strerror}).", file=name) from None
    except Exception as exc:  # a parser's own error: the file as a whole is unusable
        raise IngestError(
            f"{name}: cannot read the file as {suffix[1:].upper()} ({exc}). "
            "Check that it is not damaged or password-protected and re-export it.",
            file=name,
        ) from None
    frame = _clean_header(frame, name)
    if problems is None:
        problems = _problems([])
    return RawTable(file=name, frame=frame, sha256=sha, problems=problems)


def _clean_header(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    columns = [str(c).strip() for c in frame.columns]
    if not columns or all(c == "" for c in columns):
        raise IngestError(f"{name}: the file has no header row.", file=name)
    _check_unique(columns, name)
    if LINE in columns:
        raise IngestError(
            f"{name}: a column is called {LINE!r}, which katoutcomes reserves for row numbers; "
            "rename it.",
            file=name,
            column=LINE,
        )
    frame = frame.set_axis(columns, axis=1)
    numbers = frame.attrs.pop(_RECORD_NUMBERS, None)
    frame = frame.reset_index(drop=True)
    frame[LINE] = numbers if numbers is not None else np.arange(2, len(frame) + 2, dtype="int64")
    # A row with every cell blank is spacing, not data: it is skipped (its number is kept
    # by the rows after it).
    blank = _blank_rows(frame[columns])
    if blank.any():
        frame = frame[~blank].reset_index(drop=True)
    return frame


def _blank_rows(cells: pd.DataFrame) -> np.ndarray:
    """Rows with every cell blank. Only rows whose first cell is blank can be: the other
    cells are checked on those rows alone."""
    if not len(cells.columns):
        return np.zeros(len(cells), dtype=bool)
    maybe = _blank(cells.iloc[:, 0])
    blank = maybe.copy()
    if maybe.any():
        blank[maybe] = _blank(cells.loc[maybe]).all(axis=1)
    return blank


def _blank(cells: pd.Series | pd.DataFrame) -> np.ndarray:
    if isinstance(cells, pd.DataFrame):
        return np.column_stack([_blank(cells[c]) for c in cells.columns])
    if cells.dtype == _NUMBERS:
        return np.asarray(cells.isna())
    return np.asarray(cells.isna() | (cells == ""))


def _check_unique(columns: list[str], name: str) -> None:
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise IngestError(
                f"{name}: column {c!r} appears twice in the header; rename or remove one.",
                file=name,
                column=c,
            )
        seen.add(c)


def _decode_sample(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head.strip():
        raise IngestError(f"{path.name}: the file is empty.", file=path.name)
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sample's end
            return head[: exc.start].decode("utf-8-sig")
        raise IngestError(
            f"{path.name}: the file is not UTF-8 text (byte {exc.start}). "
            "Re-save it as 'CSV UTF-8' from your spreadsheet program.",
            file=path.name,
        ) from None


def _sniff_delimiter(sample: str) -> str:
    first_lines = "\n".join(sample.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(first_lines, delimiters=",;\t|").delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {d: header.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _read_csv(
    path: Path,
    numbers: Callable[[list[str]], Mapping[str, Callable[[pa.ChunkedArray], bool]]] | None,
    missing_values: Collection[str],
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    sample = _decode_sample(path)
    delimiter = _sniff_delimiter(sample)
    # Checked here because the pyarrow parser renames a repeated column ("total.1").
    header = next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])
    _check_unique([h.strip() for h in header], path.name)
    # A blank line would shift every later line number: such files (and rows with a wrong
    # number of cells) take the record-by-record path below.
    parse = pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False)
    as_numbers = dict(numbers([h.strip() for h in header])) if numbers else {}
    try:
        if as_numbers:
            try:
                types = {
                    h: pa.float64() if h.strip() in as_numbers else pa.string() for h in header
                }
                table = pacsv.read_csv(
                    path, parse_options=parse, convert_options=_convert(types, missing_values)
                )
                valid = all(
                    check(table.column(h)) for h in header if (check := as_numbers.get(h.strip()))
                )
                if valid:
                    frame = _arrow_text_frame(table)
                    # A row of blanks and markers would look like spacing once the markers
                    # are null: such a file is read as text, where the row is counted and
                    # reported.
                    if not _blank_rows(frame).any():
                        return frame, None
            except pa.ArrowInvalid:
                pass  # a cell that is not a number (or a malformed row): read as text
        table = pacsv.read_csv(
            path,
            parse_options=parse,
            convert_options=_convert(dict.fromkeys(header, pa.string()), ()),
        )
        return _arrow_text_frame(table), None
    except UnicodeDecodeError:
        raise IngestError(
            f"{path.name}: the file is not UTF-8 text. "
            "Re-save it as 'CSV UTF-8' from your spreadsheet program.",
            file=path.name,
        ) from None
    except (pa.ArrowInvalid, pd.errors.ParserError):
        # Rows with the wrong number of fields: parse record by record so that each bad
        # row is reported with its number and the good rows are kept.
        return _read_csv_tolerant(path, delimiter)


def _convert(
    types: dict[str, pa.DataType], missing_values: Collection[str]
) -> pacsv.ConvertOptions:
    """Text cells kept exactly as written; number cells null when they hold a marker."""
    return pacsv.ConvertOptions(
        column_types=types,
        null_values=list(missing_values),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def _read_csv_tolerant(path: Path, delimiter: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError(
            f"{path.name}: the file is not UTF-8 text. "
            "Re-save it as 'CSV UTF-8' from your spreadsheet program.",
            file=path.name,
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise IngestError(f"{path.name}: the file is empty.", file=path.name) from None
    good: list[list[str]] = []
    good_lines: list[int] = []
    bad: list[dict[str, object]] = []
    for record_no, record in enumerate(reader, start=2):
        if not record:  # a blank line is not a row (but keeps its number)
            continue
        if len(record) < len(header):
            # Many exporters drop empty cells at the end of a row.
            record = record + [""] * (len(header) - len(record))
        if len(record) == len(header):
            good.append(record)
            good_lines.append(record_no)
        else:
            _refuse_identifiers(path.name, record_no, record)
            bad.append(
                {
                    "line": record_no,
                    "field": "",
                    "reason": f"row has {len(record)} fields but the header has {len(header)}; "
                    "check for an unquoted delimiter or a missing cell",
                    "value": delimiter.join(record)[:200],
                }
            )
    frame = (
        pd.DataFrame(good, columns=header, dtype="str")
        if good
        else pd.DataFrame({c: pd.Series(dtype="str") for c in header})
    )
    frame = _strip(frame)
    # The good rows keep their own record numbers, skipping the bad ones.
    frame.attrs[_RECORD_NUMBERS] = np.asarray(good_lines, dtype="int64")
    return frame, _problems(bad)


def _refuse_identifiers(file: str, line: int, record: list[str]) -> None:
    """A row that cannot be split into columns is still checked for identifiers before
    any of it is kept in the rejected-rows report."""
    from katoutcomes.privacy import identifier_value_kind

    for cell in record:
        kind = identifier_value_kind(cell.strip())
        if kind is not None:
            raise IngestError(
                f"{file}, line {line}: a value looks like {kind} (in a row with more cells "
                "than the header). katoutcomes stores de-identified data only: remove "
                "identifiers from the export.",
                file=file,
            )


def _arrow_text_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow string columns, whitespace trimmed, as pandas ``str`` columns; number columns
    as nullable Arrow ``double`` (null for a missing value, NaN only for a written NaN)."""
    columns = {
        name: pc.utf8_trim_whitespace(column) if pa.types.is_string(column.type) else column
        for name, column in zip(table.column_names, table.columns, strict=True)
    }
    mapper = {pa.string(): pd.StringDtype(na_value=np.nan), pa.float64(): _NUMBERS}
    return pa.table(columns).to_pandas(types_mapper=mapper.get)


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda s: s.fillna("").astype("str").str.strip())


def _stringify(series: pd.Series) -> pd.Series:
    """Text form of a typed column, as a person would have typed it."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.dt.tz_convert("UTC").dt.tz_localize(None) if series.dt.tz else series
        present = values.dropna()
        all_midnight = bool(len(present)) and bool((present == present.dt.normalize()).all())
        fmt = "%Y-%m-%d" if all_midnight else "%Y-%m-%dT%H:%M:%S"
        return values.dt.strftime(fmt).fillna("").astype("str")
    if pd.api.types.is_bool_dtype(series):
        return series.map({True: "true", False: "false"}).fillna("").astype("str")
    if pd.api.types.is_float_dtype(series):
        numbers = series.astype("float64")
        integral = np.isfinite(numbers) & (numbers == np.round(numbers))
        text = numbers.astype("str")
        text = text.where(~integral, numbers.where(integral, 0).astype("int64").astype("str"))
        return text.where(numbers.notna(), "")
    if pd.api.types.is_integer_dtype(series):
        return series.astype("str").where(series.notna(), "")
    if series.dtype == "object":
        return series.map(_cell_text).astype("str")
    return series.astype("str").where(series.notna(), "").str.strip()


def _cell_text(value: object) -> str:
    import datetime as dt

    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_xlsx(path: Path, sheet: str | int) -> pd.DataFrame:
    frame = pd.read_excel(path, sheet_name=sheet, engine="calamine")
    return frame.apply(_stringify)


def _read_parquet(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    return frame.apply(_stringify)
