"""Reading CSV, XLSX and Parquet files into tables of raw strings.

Every cell is read as text so that validation can report the value a person typed. Each
row keeps its ``line``: the row number a spreadsheet shows (header = 1, first data row = 2,
for every format; below title or note rows, the header's own row number plus one).

Exports often carry a title or a note above the header. In CSV and XLSX files the header is
the first row, among the first :data:`HEADER_SEARCH_ROWS`, that the caller's ``is_header``
test accepts (ingest accepts a row that names a patient-id column), or the row the caller
gives as ``header_row``; the rows above it are skipped and reported, never read as data.
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

__all__ = ["HEADER_SEARCH_ROWS", "READABLE_SUFFIXES", "RawTable", "file_sha256", "read_table"]

#: File types ingest reads, by suffix.
READABLE_SUFFIXES: Final = (".csv", ".tsv", ".txt", ".xlsx", ".parquet")

#: How many rows from the top are searched for the header row.
HEADER_SEARCH_ROWS: Final = 20

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
    header_row : the header's row number (1-based, as a spreadsheet shows it); the rows
        above it were skipped as titles or notes and are not counted in ``rows_read``.
    """

    file: str
    frame: pd.DataFrame
    sha256: str
    problems: pd.DataFrame = field(default_factory=lambda: _problems([]))
    header_row: int = 1

    @property
    def skipped_rows(self) -> tuple[int, ...]:
        """Row numbers above the header (skipped: titles and notes, not data)."""
        return tuple(range(1, self.header_row))

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
    header_row: int | None = None,
    is_header: Callable[[list[str]], bool] | None = None,
) -> RawTable:
    """Read one file as text.

    ``header_row`` (1-based, the row number a spreadsheet shows) says where the header is;
    without it, the header is the first of the first :data:`HEADER_SEARCH_ROWS` rows whose
    cells (trimmed) ``is_header`` accepts, or the first row when none is (or no test is
    given). Both apply to CSV and XLSX files; a Parquet file has its column names.

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
            header_index = 0
            if suffix == ".xlsx":
                frame, header_index = _read_xlsx(path, sheet, header_row, is_header)
                problems = None
            elif suffix == ".parquet":
                frame, problems = _read_parquet(path), None
            else:
                frame, problems, header_index = _read_csv(
                    path, numbers, missing_values, header_row, is_header
                )
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
    frame = _clean_header(frame, name, first_line=header_index + 2)
    if problems is None:
        problems = _problems([])
    return RawTable(
        file=name, frame=frame, sha256=sha, problems=problems, header_row=header_index + 1
    )


def _header_index(
    rows: list[list[str]],
    header_row: int | None,
    is_header: Callable[[list[str]], bool] | None,
    name: str,
) -> int | None:
    """0-based index of the header among the first rows of a file; ``None`` when
    ``is_header`` accepts none of them."""
    if header_row is not None:
        if header_row > len(rows):
            raise IngestError(
                f"{name}: the mapping file sets header_row = {header_row}, but the file has "
                f"only {len(rows)} rows. Set header_row to the row number of the column "
                "names, as your spreadsheet program shows it.",
                file=name,
            )
        return header_row - 1
    if is_header is None:
        return 0
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if is_header([str(c).strip() for c in row]):
            return i
    return None


def _clean_header(frame: pd.DataFrame, name: str, first_line: int = 2) -> pd.DataFrame:
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
    if numbers is None:
        numbers = np.arange(first_line, len(frame) + first_line, dtype="int64")
    frame[LINE] = numbers
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


def _locate_csv_header(
    sample: str,
    header_row: int | None,
    is_header: Callable[[list[str]], bool] | None,
    name: str,
) -> tuple[int, str]:
    """The header's 0-based record index and the file's delimiter.

    Title rows can fool a delimiter sniffer, so the delimiter is sniffed again on the rows
    from the header down; when the header is searched for, each delimiter is tried until
    one splits some early row into a recognised header.
    """
    lines = sample.splitlines()

    def records(delimiter: str) -> list[list[str]]:
        head = "\n".join(lines[: max(HEADER_SEARCH_ROWS, header_row or 0) + 1])
        return list(csv.reader(io.StringIO(head), delimiter=delimiter))

    sniffed = _sniff_delimiter(sample)
    if header_row is None and is_header is not None:
        for delimiter in dict.fromkeys([sniffed, ",", ";", "\t", "|"]):
            found = _header_index(records(delimiter), None, is_header, name)
            if found == 0:
                return 0, delimiter
            if found is not None:
                below = _sniff_delimiter("\n".join(lines[found:]))
                if below != delimiter and not is_header([c.strip() for c in records(below)[found]]):
                    below = delimiter
                return found, below
        return 0, sniffed
    index = _header_index(records(sniffed), header_row, None, name) or 0
    return index, _sniff_delimiter("\n".join(lines[index:])) if index else sniffed


def _read_csv(
    path: Path,
    numbers: Callable[[list[str]], Mapping[str, Callable[[pa.ChunkedArray], bool]]] | None,
    missing_values: Collection[str],
    header_row: int | None = None,
    is_header: Callable[[list[str]], bool] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, int]:
    sample = _decode_sample(path)
    skip, delimiter = _locate_csv_header(sample, header_row, is_header, path.name)
    # Checked here because the pyarrow parser renames a repeated column ("total.1").
    rows = csv.reader(io.StringIO(sample), delimiter=delimiter)
    header = next((row for i, row in enumerate(rows) if i == skip), [])
    _check_unique([h.strip() for h in header], path.name)
    # A blank line would shift every later line number: such files (and rows with a wrong
    # number of cells) take the record-by-record path below.
    parse = pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False)
    read = pacsv.ReadOptions(skip_rows=skip)
    as_numbers = dict(numbers([h.strip() for h in header])) if numbers else {}
    try:
        if as_numbers:
            try:
                types = {
                    h: pa.float64() if h.strip() in as_numbers else pa.string() for h in header
                }
                table = pacsv.read_csv(
                    path,
                    read_options=read,
                    parse_options=parse,
                    convert_options=_convert(types, missing_values),
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
                        return frame, None, skip
            except pa.ArrowInvalid:
                pass  # a cell that is not a number (or a malformed row): read as text
        table = pacsv.read_csv(
            path,
            read_options=read,
            parse_options=parse,
            convert_options=_convert(dict.fromkeys(header, pa.string()), ()),
        )
        return _arrow_text_frame(table), None, skip
    except UnicodeDecodeError:
        raise IngestError(
            f"{path.name}: the file is not UTF-8 text. "
            "Re-save it as 'CSV UTF-8' from your spreadsheet program.",
            file=path.name,
        ) from None
    except (pa.ArrowInvalid, pd.errors.ParserError):
        # Rows with the wrong number of fields: parse record by record so that each bad
        # row is reported with its number and the good rows are kept.
        frame, problems = _read_csv_tolerant(path, delimiter, skip)
        return frame, problems, skip


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


def _read_csv_tolerant(
    path: Path, delimiter: str, skip: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        for _ in range(skip):  # titles and notes above the header
            next(reader)
        header = next(reader)
    except StopIteration:
        raise IngestError(f"{path.name}: the file is empty.", file=path.name) from None
    good: list[list[str]] = []
    good_lines: list[int] = []
    bad: list[dict[str, object]] = []
    for record_no, record in enumerate(reader, start=skip + 2):
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


def _read_xlsx(
    path: Path,
    sheet: str | int,
    header_row: int | None,
    is_header: Callable[[list[str]], bool] | None,
) -> tuple[pd.DataFrame, int]:
    """The sheet's cells as text below its header row, and the header's 0-based index.

    The sheet is read without a header (row ``i`` of the frame is spreadsheet row
    ``i + 1``: leading blank rows are kept), so that title rows can be found and skipped.
    """
    cells = pd.read_excel(path, sheet_name=sheet, header=None, engine="calamine")
    top = [
        [_cell_text(v) for v in row]
        for row in cells.head(max(HEADER_SEARCH_ROWS, header_row or 0)).itertuples(index=False)
    ]
    index = _header_index(top, header_row, is_header, path.name) or 0
    names = [_cell_text(v) for v in cells.iloc[index]] if len(cells) > index else []
    body = cells.iloc[index + 1 :]
    # Columns with no name and nothing below it (the reach of a wide title) are not columns.
    keep = [i for i, n in enumerate(names) if n or body.iloc[:, i].map(_cell_text).ne("").any()]
    names = [names[i] or f"Unnamed: {i}" for i in keep]
    # The type of each column is inferred from its data cells alone, as with a header.
    frame = body.iloc[:, keep].set_axis(names, axis=1).infer_objects()
    frame = frame.apply(_stringify)
    frame.attrs[_RECORD_NUMBERS] = np.arange(index + 2, index + 2 + len(frame), dtype="int64")
    return frame, index


def _read_parquet(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    return frame.apply(_stringify)
