"""Files that hold patient-level rows are readable by their owner only (methods §12.9).

The store and its write-ahead log, rejected-rows files, per-patient outcome tables and the
full research bundle are created with mode ``0o600``. Shareable outputs (the report, the
shareable bundle) are written as usual.

DuckDB creates and re-creates its write-ahead log itself, so the store keeps the process's
file-creation mask at ``0o077`` while it writes (:func:`private_umask`). The mask is
process-wide; a counter restores the caller's mask only when the last writer is done, so
threads of one server (the dashboard) cannot leave it changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

__all__ = ["PRIVATE_MODE", "make_private", "private_umask", "write_private"]

#: Read and write for the owner, nothing for group or others.
PRIVATE_MODE: Final = 0o600
_PRIVATE_UMASK: Final = 0o077

_lock = threading.Lock()
_depth = 0
_saved_umask = 0


@contextmanager
def private_umask() -> Iterator[None]:
    """Create every file inside the block readable by its owner only.

    Nested and concurrent uses share one change of the mask; the caller's mask comes back
    when the last block ends.
    """
    global _depth, _saved_umask
    with _lock:
        if _depth == 0:
            _saved_umask = os.umask(_PRIVATE_UMASK)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                os.umask(_saved_umask)


def make_private(path: str | Path) -> None:
    """Set an existing file to owner-only access (a file created before this rule)."""
    path = Path(path)
    if path.is_file() and (path.stat().st_mode & 0o777) != PRIVATE_MODE:
        path.chmod(PRIVATE_MODE)


def write_private(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` (replacing it) with owner-only access.

    An existing file is truncated and its mode tightened as well, so a file that was
    readable by others before is not left so.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fd = -1  # the file object owns it now
            fh.write(data)
    finally:
        if fd >= 0:
            os.close(fd)
