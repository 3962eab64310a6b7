"""Where the dashboard's data come from: the demo cohort, a dataset path (validated on
load, optionally with a column mapping) or a DuckDB store; loading it, with caching and
progress; the session's upload folders; and the settings in force.

Datasets are cached with ``st.cache_resource`` (one object shared by every session), keyed
by the source (kind, location and a content token: file sizes and modification times, so an
edited file is read again).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import pandas as pd
import streamlit as st

from katoutcomes.dataset import Dataset
from katoutcomes.errors import KatoutcomesError
from katoutcomes.ingest import IngestProgress, IngestResult, ProgressCallback, validate_path
from katoutcomes.mapping import ColumnMapping, mapping_from_text, mapping_to_toml
from katoutcomes.mapping_builder import BUILT_SOURCE, read_export
from katoutcomes.settings import Settings
from katoutcomes.store import Store
from katoutcomes.uploads import UploadFolders, remove_stale_upload_folders

__all__ = [
    "DEMO_PATIENTS",
    "ENV_DATA",
    "ENV_DB",
    "Source",
    "current_settings",
    "current_source",
    "default_source",
    "demo_source",
    "load_dataset",
    "path_source",
    "store_source",
    "use_settings",
    "use_source",
    "validated",
]

DEMO_PATIENTS: Final = 400
ENV_DATA: Final = "KATOUTCOMES_DATA"
ENV_DB: Final = "KATOUTCOMES_DB"

SOURCE_KEY: Final = "katoutcomes_source"
SOURCE_ERROR_KEY: Final = "katoutcomes_source_error"
_SETTINGS_KEY: Final = "katoutcomes_settings"


# --------------------------------------------------------------------------------------
# Data sources
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where the dashboard's data come from.

    kind : ``"demo"``, ``"path"`` (a dataset folder or file, validated on load) or
        ``"store"`` (a DuckDB store written by ``katoutcomes ingest``).
    location : the path (empty for the demo).
    label : what the sidebar, the report and the bundles call it: the folder or file
        name, never the path (which can carry a person's name).
    token : changes when the content changes (sizes and modification times).
    mapping : the text of the mapping file the path is read with (``""``: none).
    """

    kind: str
    location: str = ""
    label: str = ""
    token: str = ""
    mapping: str = ""

    @property
    def key(self) -> str:
        key = f"{self.kind}|{self.location}|{self.token}"
        if self.mapping:
            key += "|mapping:" + hashlib.sha256(self.mapping.encode()).hexdigest()[:16]
        return key

    @property
    def short_key(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()[:10]


def content_token(path: str | Path) -> str:
    """Sizes and modification times of a file or of a folder's files."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.glob("*") if p.is_file())
    parts = []
    for file in files:
        stat = file.stat()
        parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def demo_source() -> Source:
    return Source(
        "demo",
        label=f"Built-in demo cohort ({DEMO_PATIENTS} synthetic patients)",
        token=str(DEMO_PATIENTS),
    )


def path_source(path: str | Path, label: str | None = None) -> Source:
    """A dataset folder or file. The label names its folder or file name, not its path:
    the label goes into the report, the bundles and their provenance, and a path can carry
    a person's name (methods §12.9)."""
    path = Path(path).expanduser()
    return Source("path", str(path), label or f"Dataset: {path.name}", content_token(path))


def with_mapping(source: Source, mapping: str) -> Source:
    """The same files read with the mapping file ``mapping`` (text; ``""``: none)."""
    base = source.label.removesuffix(_WITH_MAPPING)
    return replace(source, mapping=mapping, label=base + (_WITH_MAPPING if mapping else ""))


_WITH_MAPPING: Final = " (with a column mapping)"


def source_mapping(source: Source) -> ColumnMapping | None:
    """The mapping a source is read with (None: names as they are)."""
    return mapping_from_text(source.mapping, BUILT_SOURCE) if source.mapping else None


#: A sentence of advice aimed at the command line (it names ``--mapping``).
_CLI_MAPPING_ADVICE: Final = re.compile(r"(?:^|(?<=[.:;]))\s*[^.:;]*--mapping[^.]*\.?")
_PAGE_MAPPING_ADVICE: Final = (
    "Say which column is which under “Column names and values” on this page (build a "
    "mapping there, or upload a mapping file), or rename the column in the file."
)


def for_this_page(message: str) -> str:
    """A file-level message as the Data page gives it: a sentence advising ``--mapping``
    on the command line becomes a pointer to the page's own mapping controls."""
    if "--mapping" not in message:
        return message
    return _CLI_MAPPING_ADVICE.sub("", message).rstrip() + " " + _PAGE_MAPPING_ADVICE


def store_source(path: str | Path) -> Source:
    path = Path(path).expanduser()
    token = content_token(path) if path.exists() else "missing"
    return Source("store", str(path), f"DuckDB store: {path.name}", token)


def default_source() -> Source:
    """``KATOUTCOMES_DATA`` (a dataset path), else ``KATOUTCOMES_DB`` (a store), else demo."""
    if os.environ.get(ENV_DATA):
        return path_source(os.environ[ENV_DATA])
    if os.environ.get(ENV_DB):
        return store_source(os.environ[ENV_DB])
    return demo_source()


def _release_uploads(folders: UploadFolders) -> None:
    folders.remove_all()


@st.cache_resource(scope="session", on_release=_release_uploads, show_spinner=False)
def session_upload_folders() -> UploadFolders:
    """This session's upload folders, removed when the session ends."""
    return UploadFolders()


@st.cache_resource(show_spinner=False)
def remove_stale_uploads() -> int:
    """Once per server: remove upload folders left by servers that no longer run."""
    return len(remove_stale_upload_folders())


@st.cache_resource(show_spinner=False, max_entries=8)
def _validated(
    location: str, token: str, mapping: str, _progress: ProgressCallback | None = None
) -> IngestResult:
    return validate_path(
        location, mapping=mapping_from_text(mapping, BUILT_SOURCE), progress=_progress
    )


def validated(source: Source, progress: ProgressCallback | None = None) -> IngestResult:
    """:func:`katoutcomes.ingest.validate_path` of a path source with its mapping, cached
    while the files and the mapping are unchanged; ``progress`` hears from a validation
    that runs (not from a cached result)."""
    return _validated(source.location, source.token, source.mapping, progress)


def ingest_progress(report: Callable[[float, str], None]) -> ProgressCallback:
    """A progress callback for :func:`validate_path` or ``Store.ingest`` that moves the bar
    of :func:`progress_feedback` with the rows read and the rate."""

    def callback(progress: IngestProgress) -> None:
        rate = progress.rows_per_second
        speed = f" ({rate:,.0f} rows/s)" if rate else ""
        report(progress.fraction, f"{progress.rows_done:,} rows {progress.stage}{speed}")

    return callback


@contextmanager
def progress_feedback(label: str) -> Iterator[Callable[[float, str], None]]:
    """A spinner (after half a second) while work runs.

    Yields ``report(fraction, text)``: work that reports its progress calls it with the
    fraction done (0 to 1) and a line such as "120,000 rows read (40,000 rows/s)", and the
    spinner gains a progress bar. The bar is removed when the work ends.
    """
    bar: Any = None

    def report(fraction: float, text: str = "") -> None:
        nonlocal bar
        done = min(max(float(fraction), 0.0), 1.0)
        if bar is None:
            bar = st.progress(done, text=text or label)
        else:
            bar.progress(done, text=text or label)

    with st.spinner(label, show_time=True):
        try:
            yield report
        finally:
            if bar is not None:
                bar.empty()


@st.cache_resource(show_spinner=False, max_entries=4)
def _export_frames(location: str, token: str, mapping: str) -> dict[str, pd.DataFrame]:
    return read_export(location, mapping=mapping_from_text(mapping, BUILT_SOURCE))


def export_frames(source: Source, reading: ColumnMapping) -> dict[str, pd.DataFrame]:
    """Each table's file of a path source as text, read as the ingest reads it under the
    mapping ``reading`` (sheet, header row), for building a mapping. Shared, not copied:
    do not modify."""
    return _export_frames(source.location, source.token, mapping_to_toml(reading))


@st.cache_resource(show_spinner="Loading the data…", max_entries=8)
def _load(kind: str, location: str, token: str, mapping: str = "") -> Dataset:
    if kind == "demo":
        return Dataset.demo(patients=DEMO_PATIENTS)
    if kind == "path":
        return Dataset.from_result(_validated(location, token, mapping))
    if kind == "store":
        if not Path(location).exists():
            raise KatoutcomesError(f"The store {location} does not exist yet.")
        # Read everything and close at once: the Data page may open the same file to write.
        with Store(location, read_only=True) as store:
            return Dataset.from_store(store)
    raise ValueError(f"Unknown data source kind {kind!r}.")


def load_dataset(source: Source) -> Dataset:
    return _load(source.kind, source.location, source.token, source.mapping)


def current_source() -> Source:
    if SOURCE_KEY not in st.session_state:
        st.session_state[SOURCE_KEY] = default_source()
    return st.session_state[SOURCE_KEY]


def use_source(source: Source) -> None:
    """Switch the whole dashboard to ``source`` (from the Data page)."""
    st.session_state[SOURCE_KEY] = source
    st.session_state.pop(SOURCE_ERROR_KEY, None)


def current_settings() -> Settings:
    if _SETTINGS_KEY not in st.session_state:
        st.session_state[_SETTINGS_KEY] = Settings()
    return st.session_state[_SETTINGS_KEY]


def use_settings(settings: Settings) -> None:
    st.session_state[_SETTINGS_KEY] = settings
