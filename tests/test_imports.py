"""Import cost: the package and its statistics load without the heavy libraries.

SciPy, statsmodels, plotly and streamlit take seconds to import; a command or a script
that computes outcomes, rates or claims must not pay for them. Each check runs in a fresh
interpreter, since this test session has imported them already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import katoutcomes

HEAVY = ("scipy", "statsmodels", "plotly", "streamlit")

#: Modules that compute statistics (no figures, no dashboard).
STATISTICS_MODULES = (
    "katoutcomes.stats",
    "katoutcomes.outcomes",
    "katoutcomes.cohort",
    "katoutcomes.claims",
    "katoutcomes.comparisons",
    "katoutcomes.funnel",
    "katoutcomes.suppression",
    "katoutcomes.models",
    "katoutcomes.trajectories",
    "katoutcomes.sensitivity",
    "katoutcomes.benchmarks",
    "katoutcomes.dataset",
)


def _loaded_after(code: str) -> list[str]:
    """The heavy libraries present in ``sys.modules`` after running ``code`` afresh."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    return sorted({name.split(".")[0] for name in modules} & set(HEAVY))


def test_importing_the_package_loads_no_heavy_library_and_not_pandas():
    code = "import katoutcomes"
    assert _loaded_after(code) == []
    probe = f"{code}\nimport sys\nprint('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_importing_the_statistics_modules_loads_no_heavy_library():
    # All in one interpreter: if none of them loads a heavy library together, none does
    # alone (each loads on its own only what it imports).
    assert _loaded_after("\n".join(f"import {module}" for module in STATISTICS_MODULES)) == []


def test_every_exported_name_imports_from_the_package():
    # Each name of __all__ resolves, through the lazy loader, to the object its module
    # defines, in a fresh interpreter as a user's `from katoutcomes import X` would.
    code = (
        "import importlib, katoutcomes\n"
        "wrong = []\n"
        "for name in katoutcomes.__all__:\n"
        "    value = getattr(katoutcomes, name)\n"
        "    module = katoutcomes._EXPORTS.get(name)\n"
        "    if module and value is not getattr(\n"
        "        importlib.import_module('katoutcomes.' + module), name\n"
        "    ):\n"
        "        wrong.append(name)\n"
        "print(wrong)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    # Every exported name but the version is one of the lazily loaded ones.
    assert set(katoutcomes.__all__) - {"__version__"} == set(katoutcomes._EXPORTS)


@pytest.mark.parametrize("name", sorted(set(katoutcomes.__all__) - {"__version__"}))
def test_from_package_import_name_works(name):
    namespace: dict[str, object] = {}
    exec(f"from katoutcomes import {name}", namespace)
    assert namespace[name] is getattr(katoutcomes, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        katoutcomes.not_a_name  # noqa: B018
