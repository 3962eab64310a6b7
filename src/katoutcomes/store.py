"""The DuckDB store: accepted rows, rejected rows with reasons, and an ingest log.

One ingest is one transaction: either every new row, rejected row and log entry is
written, or nothing is. A file whose SHA-256 is already in the log adds nothing; its rows
are reported as duplicates (and its rejected rows as rejected) without being written again.

The store file and its write-ahead log hold patient-level rows and are readable by their
owner only (methods §12.9). One process writes at a time: DuckDB locks the file, and a second
writer waits up to ``lock_timeout`` seconds for it, then stops with :class:`StoreBusyError`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from katoutcomes.accepted_rows import row_hashes, stored_columns
from katoutcomes.errors import IngestError, KatoutcomesError
from katoutcomes.ingest import validate_frames, validate_path
from katoutcomes.ingest_results import (
    REJECTED_COLUMNS,
    IngestProgress,
    IngestResult,
    ProgressCallback,
)
from katoutcomes.mapping import ColumnMapping
from katoutcomes.private_files import make_private, private_umask
from katoutcomes.schema import TABLES, load_schema
from katoutcomes.settings import Settings

__all__ = ["DEFAULT_LOCK_TIMEOUT", "Store", "StoreBusyError"]

#: Seconds a writer waits for another process's hold on the store before giving up.
DEFAULT_LOCK_TIMEOUT: Final = 60.0
_LOCK_POLL: Final = 0.2
_LOCK_HOLDER: Final = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")

SCHEMA_VERSION: Final = "1"
#: Share of a progress bar given to validation when an ingest also writes.
_VALIDATION_SHARE: Final = 0.9
_SQL_TYPES: Final = {
    "string": "VARCHAR",
    "integer": "DOUBLE",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "date": "TIMESTAMP",
    "list": "VARCHAR",
}
_EXTRA_TYPES: Final = {
    "date_only": "BOOLEAN",
    "total_source": "VARCHAR",
    "item9_flag": "BOOLEAN",
    "item9_high": "BOOLEAN",
    "row_hash": "UBIGINT",
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
}


def _table_ddl(table: str) -> str:
    schema = load_schema(table)
    types = {f.name: _SQL_TYPES[f.type] for f in schema.fields}
    cols = [f'"{c}" {types.get(c) or _EXTRA_TYPES[c]}' for c in stored_columns(table)]
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)}, ingest_id INTEGER NOT NULL)"


_LOG_DDL: Final = """
CREATE TABLE IF NOT EXISTS ingest_log (
    ingest_id INTEGER NOT NULL, file VARCHAR, table_name VARCHAR, sha256 VARCHAR,
    ingested_at TIMESTAMP, layout VARCHAR, rows_read BIGINT, accepted BIGINT,
    rejected BIGINT, duplicates BIGINT, source VARCHAR, settings VARCHAR,
    package_version VARCHAR, config_sha256 VARCHAR)
"""
_REJECTED_DDL: Final = """
CREATE TABLE IF NOT EXISTS rejected (
    ingest_id INTEGER NOT NULL, "table" VARCHAR, file VARCHAR, line BIGINT, field VARCHAR,
    reason VARCHAR, value VARCHAR)
"""
_META_DDL: Final = "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)"


class StoreBusyError(KatoutcomesError):
    """Another process holds the store (an ingest, or a dashboard committing data)."""


class Store:
    """A katoutcomes DuckDB file.

    Parameters
    ----------
    path : the database file (created on first use, owner-only), or ``":memory:"``.
    read_only : open without the right to write (the dashboard's mode).
    lock_timeout : seconds to wait while another process holds the file (0: do not wait).

    Examples
    --------
    >>> store = Store(":memory:")
    >>> store.counts()["assessments"]
    0
    """

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ):
        self.path = str(path)
        self._private = self.path != ":memory:" and not read_only
        deadline = time.monotonic() + max(lock_timeout, 0.0)
        # Writers take turns on a lock file beside the store before touching it, so that two
        # ingests creating one new store cannot race either (DuckDB locks only an open file).
        self._writer_lock = (
            _WriterLock.acquire(Path(f"{self.path}.lock"), self.path, deadline, lock_timeout)
            if self._private
            else None
        )
        try:
            if self.path != ":memory:":
                _refuse_non_store(Path(path))
            self._con = _connect(self.path, read_only, deadline, lock_timeout)
        except BaseException:
            if self._writer_lock is not None:
                self._writer_lock.release()
            raise
        if self._private:
            # A store written before files were made private is tightened on first write.
            make_private(self.path)
            make_private(self.path + ".wal")
        if not read_only:
            with private_umask():
                self._create_tables()

    def _create_tables(self) -> None:
        self._con.execute("BEGIN TRANSACTION")
        try:
            for table in TABLES:
                self._con.execute(_table_ddl(table))
            self._con.execute(_LOG_DDL)
            self._con.execute(_REJECTED_DDL)
            self._con.execute(_META_DDL)
            self._con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [SCHEMA_VERSION],
            )
            self._con.execute("COMMIT")
        except duckdb.Error as exc:
            self._con.execute("ROLLBACK")
            self.close()
            raise IngestError(
                f"{self.path} is not a katoutcomes store ({exc}). Name one written by "
                "katoutcomes ingest (ingest creates a store under a new file name, for "
                "example clinic.duckdb)."
            ) from None

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        # Closing checkpoints, which may write the log again: keep it private.
        try:
            if self._private:
                with private_umask():
                    self._con.close()
            else:
                self._con.close()
        finally:
            if self._writer_lock is not None:
                self._writer_lock.release()
                self._writer_lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def _query(self, sql: str) -> pd.DataFrame:
        # Through Arrow: text stays in Arrow-backed string columns (no Python objects).
        table = self._con.sql(sql).to_arrow_table()
        # DuckDB hands text over in a chunk per batch; taking rows (sorting) from one chunk
        # is about ten times faster. Numbers become one numpy array in any case.
        text = (pa.string(), pa.large_string())
        table = pa.table(
            [c.combine_chunks() if c.type in text else c for c in table.columns],
            names=table.column_names,
        )
        return table.to_pandas(
            types_mapper={
                pa.string(): pd.StringDtype(na_value=np.nan),
                pa.large_string(): pd.StringDtype(na_value=np.nan),
                pa.bool_(): pd.BooleanDtype(),
            }.get
        )

    def time_representation(self) -> str | None:
        rows = self._con.execute(
            "SELECT value FROM meta WHERE key = 'time_representation'"
        ).fetchall()
        return rows[0][0] if rows else None

    def existing_keys(self, table: str, key: list[str]) -> pd.DataFrame:
        """Stored keys with their row hash and provenance, for duplicate checks."""
        cols = ", ".join(f'"{c}"' for c in [*key, "row_hash", "source_file", "source_line"])
        frame = self._query(f"SELECT {cols} FROM {table}")
        return frame.astype({"row_hash": "uint64"})

    def has_file(self, sha256: str, config: str = "") -> bool:
        """Whether this file was ingested before with the same settings and mapping."""
        rows = self._con.execute(
            "SELECT count(*) FROM ingest_log WHERE sha256 = ? AND config_sha256 = ?",
            [sha256, config],
        ).fetchall()
        return bool(rows[0][0])

    def table(self, name: str) -> pd.DataFrame:
        """Accepted rows of one input table, in the order they were stored.

        (DuckDB keeps insertion order on a plain scan; analysis code sorts as it needs.)
        """
        if name not in TABLES:
            raise ValueError(f"Unknown table {name!r}; expected one of {', '.join(TABLES)}.")
        cols = ", ".join(f'"{c}"' for c in stored_columns(name))
        frame = self._query(f"SELECT {cols}, ingest_id FROM {name}")
        return _restore_dtypes(frame, name)

    def rejected(self) -> pd.DataFrame:
        return self._query(
            'SELECT ingest_id, "table", file, line, field, reason, value FROM rejected '
            "ORDER BY ingest_id, file, line"
        )

    def ingest_log(self) -> pd.DataFrame:
        return self._query("SELECT * FROM ingest_log ORDER BY ingest_id, file, table_name")

    def counts(self) -> dict[str, int]:
        out = {}
        for name in (*TABLES, "rejected", "ingest_log"):
            out[name] = int(self._con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
        return out

    def snapshot(self) -> dict[str, pd.DataFrame]:
        """Every table's full content (for checks that an ingest changed nothing)."""
        names = [*TABLES, "rejected", "ingest_log", "meta"]
        return {n: self._query(f"SELECT * FROM {n}") for n in names}

    # ------------------------------------------------------------------ writing
    def validate(
        self,
        path: str | Path,
        *,
        settings: Settings | None = None,
        mapping: ColumnMapping | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestResult:
        """What :meth:`ingest` would do, without writing."""
        return validate_path(
            path, settings=settings, mapping=mapping, store=self, progress=progress
        )

    def ingest(
        self,
        path: str | Path,
        *,
        settings: Settings | None = None,
        mapping: ColumnMapping | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestResult:
        """Validate a dataset on disk against the store and write it in one transaction.

        ``progress`` receives :class:`~katoutcomes.ingest.IngestProgress` as validation goes
        (its fraction scaled to 0-0.9), then ``writing`` (0.9) and ``written`` (1.0).
        """
        start = time.perf_counter()

        def scaled(p: IngestProgress) -> None:
            if progress is not None:
                progress(replace(p, fraction=_VALIDATION_SHARE * p.fraction))

        def report(stage: str, fraction: float) -> None:
            if progress is not None:
                rows = result.rows_read
                elapsed = time.perf_counter() - start
                progress(IngestProgress(stage, "", rows, rows, elapsed, fraction))

        result = validate_path(
            path, settings=settings, mapping=mapping, store=self, progress=scaled
        )
        report("writing", _VALIDATION_SHARE)
        self.write(result)
        report("written", 1.0)
        return result

    def ingest_frames(
        self,
        frames: dict[str, pd.DataFrame],
        *,
        settings: Settings | None = None,
        mapping: ColumnMapping | None = None,
    ) -> IngestResult:
        """Validate in-memory tables against the store and write them in one transaction."""
        result = validate_frames(frames, settings=settings, mapping=mapping, store=self)
        self.write(result)
        return result

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # DuckDB (re)creates its write-ahead log while writing: created owner-only.
        with private_umask():
            self._con.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def write(self, result: IngestResult) -> int | None:
        """Persist a validation result in one transaction; returns the ingest id, or None
        when every file was already ingested with the same settings and mapping (nothing
        is written then)."""
        fresh = [r for r in result.reports if not r.already_ingested]
        if not fresh:
            return None
        files = {r.file for r in fresh}
        from katoutcomes import __version__

        with self._transaction():
            ingest_id = int(
                self._con.execute(
                    "SELECT coalesce(max(ingest_id), 0) + 1 FROM ingest_log"
                ).fetchall()[0][0]
            )
            if result.time_representation and self.time_representation() is None:
                self._con.execute(
                    "INSERT INTO meta VALUES ('time_representation', ?)",
                    [result.time_representation],
                )
            for table, frame in result.accepted.items():
                rows = frame[frame["source_file"].isin(files)]
                if len(rows):
                    rows = rows.assign(row_hash=row_hashes(rows, table), ingest_id=ingest_id)
                    self._insert(table, rows)
            rejected = result.rejected[result.rejected["file"].isin(files)]
            if len(rejected):
                self._insert("rejected", rejected[REJECTED_COLUMNS].assign(ingest_id=ingest_id))
            counts = ("file", "sha256", "layout", "rows_read", "accepted", "rejected", "duplicates")
            log = pd.DataFrame(
                [
                    {
                        **{k: v for k, v in r.to_dict().items() if k in counts},
                        "table_name": r.table,
                        "ingest_id": ingest_id,
                        "ingested_at": datetime.now(UTC).replace(tzinfo=None),
                        "source": result.source,
                        "settings": json.dumps(result.settings.to_dict(), sort_keys=True),
                        "package_version": __version__,
                        "config_sha256": result.config,
                    }
                    for r in fresh
                ]
            )
            self._insert("ingest_log", log)
        return ingest_id

    def _insert(self, table: str, frame: pd.DataFrame) -> None:
        # Handed over as Arrow: DuckDB scans it about twice as fast as a DataFrame.
        self._con.register("incoming_rows", pa.Table.from_pandas(frame, preserve_index=False))
        try:
            self._con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM incoming_rows')
        finally:
            self._con.unregister("incoming_rows")


def _busy(path: str, pid: str | None, timeout: float) -> StoreBusyError:
    holder = f"another process (PID {pid})" if pid else "another process"
    waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
    return StoreBusyError(
        f"{holder} is writing to the store {path}{waited}. Let it finish (an ingest, or a "
        "dashboard committing data) and run this again, or give --wait SECONDS to wait longer."
    )


class _WriterLock:
    """An exclusive ``flock`` on ``STORE.lock``, which holds the writer's process id."""

    def __init__(self, fd: int):
        self._fd = fd

    @classmethod
    def acquire(cls, lock_path: Path, store: str, deadline: float, timeout: float) -> _WriterLock:
        import fcntl

        with private_umask():
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    os.close(fd)
                    raise _busy(store, pid if pid.isdigit() else None, timeout) from None
                time.sleep(_LOCK_POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        return cls(fd)

    def release(self) -> None:
        import fcntl

        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _connect(
    path: str, read_only: bool, deadline: float, timeout: float
) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting until ``deadline`` while another process has it open."""
    while True:
        try:
            if read_only or path == ":memory:":
                return duckdb.connect(path, read_only=read_only)
            with private_umask():
                return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            holder = _LOCK_HOLDER.search(str(exc))
            if holder is None:
                raise IngestError(f"Cannot open the store {path}: {exc}") from None
            if time.monotonic() >= deadline:
                raise _busy(path, holder.group(2), timeout) from None
            time.sleep(_LOCK_POLL)
        except duckdb.Error as exc:
            raise IngestError(f"Cannot open the store {path}: {exc}") from None


def _refuse_non_store(path: Path) -> None:
    """An existing file must be a DuckDB database (bytes 8-11 read ``DUCK``)."""
    if path.exists() and (not path.is_file() or _magic(path) != b"DUCK"):
        raise IngestError(
            f"{path} is not a katoutcomes store. Name one written by katoutcomes ingest "
            "(ingest creates a store under a new file name, for example clinic.duckdb)."
        )


def _magic(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(12)[8:12]


def _restore_dtypes(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    schema = load_schema(table)
    out = frame.copy(deep=False)  # columns are replaced, never written into
    for f in schema.fields:
        if f.type == "boolean":
            out[f.name] = out[f.name].astype("boolean")
        elif f.type in ("string", "list"):
            out[f.name] = out[f.name].astype("str")
        elif f.type in ("integer", "number"):
            out[f.name] = out[f.name].astype("float64")
        elif f.type in ("datetime", "date"):
            out[f.name] = out[f.name].astype("datetime64[us]")
    for col in ("item9_flag", "item9_high"):
        if col in out:
            out[col] = out[col].astype("boolean")
    if "date_only" in out:
        out["date_only"] = out["date_only"].astype("bool")
    return out
