"""Time to first render of the clinic overview, and of a filter change once cached.

Writes a synthetic cohort of ``--patients`` patients, points the dashboard at it
(``KATOUTCOMES_DATA``) and drives ``app.py`` with Streamlit's AppTest (no browser): the
first run includes reading and validating the files, outcomes, claims and the figures of
the section open by default (the others are drawn when their tab is opened); the second
run changes the site filter; the third returns to all patients (cached).

    python benchmarks/dashboard_render.py --patients 10000

This is the Python side alone; ``benchmarks/dashboard_browser.py`` times the same draws in
headless Chromium, as a reader sees them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from katoutcomes.demo import write_demo

APP = Path(__file__).resolve().parents[1] / "app.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_demo(Path(tmp), patients=args.patients, seed=1)
        rows = sum(1 for _ in paths["assessments"].open()) - 1
        print(f"cohort: {args.patients:,} patients, {rows:,} assessment rows")
        os.environ["KATOUTCOMES_DATA"] = tmp
        at = AppTest.from_file(str(APP), default_timeout=600)
        start = time.perf_counter()
        at.run()
        first = time.perf_counter() - start
        assert not at.exception, at.exception
        print(f"first render of the overview:      {first:6.2f} s")
        site = at.sidebar.multiselect[0]
        start = time.perf_counter()
        site.select(site.options[0]).run()
        change = time.perf_counter() - start
        assert not at.exception, at.exception
        print(f"filter change ({site.label} = {site.options[0]}): {change:6.2f} s")
        start = time.perf_counter()
        at.sidebar.multiselect[0].unselect(site.options[0]).run()
        back = time.perf_counter() - start
        print(f"back to all patients (cached):     {back:6.2f} s")


if __name__ == "__main__":
    main()
