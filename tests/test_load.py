"""Two people on the dashboard at once (a short run of ``benchmarks/dashboard_load.py``).

Both sessions change filters and open patients at the same time on one server: no
exception in either, every step drawn. The full run (five sessions, two minutes, 10,000
patients, memory after 50 distinct filter choices) is the benchmark's, with its figures in
the README.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from conftest import ROOT, chromium_path
from katoutcomes.demo import write_demo

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium_path() is None,
        reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "dashboard_load", ROOT / "benchmarks" / "dashboard_load.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_two_concurrent_sessions_change_filters_and_open_patients_without_errors(
    tmp_path: Path,
):
    load = _load_benchmark()
    write_demo(tmp_path, patients=150, seed=4)
    # A number of steps rather than a time, so that a slow machine runs the same test.
    result = load.run_load(tmp_path, sessions=2, seconds=600, max_steps=6)
    for session in result.sessions:
        assert session.exceptions == [] and session.failed_steps == []
        # The first overview, five filter changes, and the fifth step's patient page and
        # return to the overview.
        assert session.steps == 6 and session.pages == 8
    assert result.distinct_choices >= 2
    assert result.peak_mb > 0
