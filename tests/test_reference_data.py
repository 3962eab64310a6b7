"""The public reference data kept with the tests are whole (tests/data/reference/README.md).

Each expected number is a published fact about the data set: the number of patients, arms,
time points and observations given by its source.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from conftest import REFERENCE_DATA


def _read(reference_data: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(reference_data / name)


def test_the_folder_is_inside_the_repository(reference_data: Path):
    assert reference_data == REFERENCE_DATA
    assert reference_data.is_relative_to(Path(__file__).resolve().parents[1])
    readme = (reference_data / "README.md").read_text(encoding="utf-8")
    for name in ("claus_2020.csv", "jacobson_1989.csv", "aml.csv", "BtheB_long.csv"):
        assert (reference_data / name).is_file()
        assert f"`{name}`" in readme
    for licence in ("GPL (≥ 3)", "LGPL (≥ 2)", "GPL-2"):
        assert licence in readme


def test_aml_has_11_maintained_and_12_nonmaintained_patients(reference_data: Path):
    # R survival ?aml: 23 patients; survfit gives n = 11 (7 events) and n = 12 (11 events).
    aml = _read(reference_data, "aml.csv")
    assert list(aml.columns) == ["time", "status", "x"]
    arms = aml.groupby("x")["status"].agg(["size", "sum"])
    assert arms.loc["Maintained"].tolist() == [11, 7]
    assert arms.loc["Nonmaintained"].tolist() == [12, 11]


def test_claus_2020_has_43_patients_at_4_time_points(reference_data: Path):
    claus = _read(reference_data, "claus_2020.csv")
    assert claus["id"].nunique() == 43
    assert sorted(claus["time"].unique()) == [1, 2, 3, 4]
    assert len(claus) == 43 * 4


def test_jacobson_1989_has_30_couples_before_and_after(reference_data: Path):
    jacobson = _read(reference_data, "jacobson_1989.csv")
    assert jacobson["subject"].nunique() == 30
    times = jacobson.groupby("subject")["time"].agg(lambda t: "/".join(sorted(t)))
    assert (times == "post/pre").all()


def test_btheb_long_has_280_bdi_observations_of_97_patients(reference_data: Path):
    # HSAUR3 ?BtheB: 100 patients; the long form keeps the follow-up visits with a BDI-II,
    # the 280 observations of 97 patients that lme4 fits.
    btheb = _read(reference_data, "BtheB_long.csv")
    assert len(btheb) == 280 and btheb["bdi"].notna().all()
    assert btheb["subject"].nunique() == 97
    assert sorted(btheb["time"].unique()) == [2, 3, 5, 8]
