"""Shared test helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DATA = ROOT.parent / "shared" / "reference-data"


def write_csv(folder: Path, name: str, text: str) -> Path:
    """Write a CSV from a triple-quoted block (leading indentation removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [line.strip() for line in text.strip().splitlines()]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def reference_data() -> Path:
    if not REFERENCE_DATA.is_dir():
        pytest.skip(f"reference data folder {REFERENCE_DATA} is absent (it lives in shared/)")
    return REFERENCE_DATA


def chromium_path() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
