"""Uploaded files live only as long as their use (docs/methods.md §12.9)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from katoutcomes.uploads import (
    UPLOAD_PREFIX,
    UploadFolders,
    new_upload_folder,
    remove_stale_upload_folders,
    remove_upload_folder,
    save_upload,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes and PIDs are POSIX")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _dead_pid() -> int:
    """The id of a process that has ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_an_upload_folder_and_its_files_are_private(tmp_path: Path):
    folder = new_upload_folder(tmp_path)
    saved = save_upload(folder, "assessments.csv", b"patient_id\nP1\n")
    assert folder.name.startswith(f"{UPLOAD_PREFIX}{os.getpid()}-")
    assert _mode(folder) == 0o700 and _mode(saved) == 0o600


def test_a_replaced_upload_is_removed_but_the_one_in_use_is_kept(tmp_path: Path):
    folders = UploadFolders(tmp_path)
    in_use = folders.new()
    replaced = folders.new()
    newest = folders.new()
    folders.keep_only({str(newest), str(in_use), "/somewhere/else"})
    assert in_use.exists() and newest.exists() and not replaced.exists()
    assert set(folders.folders) == {in_use, newest}


def test_the_end_of_a_session_removes_all_its_uploads(tmp_path: Path):
    folders = UploadFolders(tmp_path)
    made = [folders.new() for _ in range(3)]
    for folder in made:
        save_upload(folder, "assessments.csv", b"x")
    folders.remove_all()
    assert not any(folder.exists() for folder in made)
    assert list(tmp_path.iterdir()) == []


def test_server_start_removes_folders_of_servers_that_are_gone(tmp_path: Path):
    crashed = tmp_path / f"{UPLOAD_PREFIX}{_dead_pid()}-abc"
    older = tmp_path / f"{UPLOAD_PREFIX}k3j2h1"  # an earlier version's name, no process id
    running = new_upload_folder(tmp_path)  # this process: a live server
    for folder in (crashed, older):
        folder.mkdir()
        (folder / "assessments.csv").write_text("patient_id\nP1\n")
    other = tmp_path / "unrelated"
    other.mkdir()
    removed = remove_stale_upload_folders(tmp_path)
    assert set(removed) == {crashed, older}
    assert running.exists() and other.exists()
    assert not crashed.exists() and not older.exists()


def test_only_upload_folders_are_ever_removed(tmp_path: Path):
    other = tmp_path / "clinic-export"
    other.mkdir()
    link = tmp_path / f"{UPLOAD_PREFIX}1-link"
    link.symlink_to(other, target_is_directory=True)
    assert not remove_upload_folder(other)
    assert not remove_upload_folder(link)
    assert other.exists() and link.is_symlink()
