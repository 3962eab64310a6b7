"""Uploaded files live only as long as their use (docs/methods.md §12.9).

The dashboard validates uploads as a dataset folder, so they are written to a private
temporary folder (mode 700, files 600) named ``katoutcomes-upload-PID-…`` after the server
process. A session's folders are removed when an upload replaces them and when the session
ends (:class:`UploadFolders`); folders whose server process is gone (a crash, a killed
server) are removed when a server starts (:func:`remove_stale_upload_folders`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from katoutcomes.private_files import write_private

__all__ = [
    "UPLOAD_PREFIX",
    "UploadFolders",
    "new_upload_folder",
    "remove_stale_upload_folders",
    "remove_upload_folder",
]

UPLOAD_PREFIX: Final = "katoutcomes-upload-"
_OWNED: Final = re.compile(rf"^{re.escape(UPLOAD_PREFIX)}(?:(\d+)-)?[^/]*$")


def new_upload_folder(root: str | Path | None = None) -> Path:
    """A new private folder (mode 700) for one upload, named after this process."""
    return Path(tempfile.mkdtemp(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-", dir=root))


def save_upload(folder: Path, name: str, data: bytes) -> Path:
    """Write one uploaded file into ``folder``, readable by its owner only."""
    target = folder / name
    write_private(target, data)
    return target


def _is_upload_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and _OWNED.match(path.name) is not None


def remove_upload_folder(path: str | Path) -> bool:
    """Remove an upload folder and everything in it; anything else is left alone.

    Returns whether a folder was removed.
    """
    path = Path(path)
    if not _is_upload_folder(path):
        return False
    shutil.rmtree(path, ignore_errors=True)
    return not path.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to judge
        return True
    return True


def remove_stale_upload_folders(root: str | Path | None = None) -> list[Path]:
    """Remove upload folders left behind by server processes that no longer run.

    A folder named after a running process (this one, or another server on the machine)
    is kept; one named after a process that is gone, or without a process id (written by
    an earlier version), is removed. Returns the folders removed.
    """
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed = []
    for path in base.glob(f"{UPLOAD_PREFIX}*"):
        match = _OWNED.match(path.name)
        if match is None or not _is_upload_folder(path):
            continue
        pid = match.group(1)
        if pid is not None and _alive(int(pid)):
            continue
        if remove_upload_folder(path):
            removed.append(path)
    return removed


class UploadFolders:
    """The upload folders of one dashboard session."""

    def __init__(self, root: str | Path | None = None):
        self._root = root
        self._folders: list[Path] = []
        self._lock = threading.Lock()

    @property
    def folders(self) -> tuple[Path, ...]:
        with self._lock:
            return tuple(self._folders)

    def new(self) -> Path:
        """A new private folder for this session's next upload."""
        folder = new_upload_folder(self._root)
        with self._lock:
            self._folders.append(folder)
        return folder

    def keep_only(self, keep: Iterable[str | Path]) -> None:
        """Remove this session's folders other than ``keep`` (the upload in use, the new
        one): an upload replaced by another does not stay on disk."""
        kept = {str(Path(k)) for k in keep}
        with self._lock:
            gone = [f for f in self._folders if str(f) not in kept]
            self._folders = [f for f in self._folders if str(f) in kept]
        for folder in gone:
            remove_upload_folder(folder)

    def remove_all(self) -> None:
        """Remove every folder of this session (the session has ended)."""
        self.keep_only(())
