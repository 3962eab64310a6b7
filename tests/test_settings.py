"""Settings: defaults from methods §5.1, TOML files, --set overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from katoutcomes.errors import SettingsError
from katoutcomes.settings import Settings, load_settings


def test_defaults_are_those_of_the_design():
    # methods §5.1: baseline window 30 days, acute window 42 days, early improvement 20%,
    # response 50%; methods §2.4: prorating limits 2 (PHQ-9) and 1 (GAD-7); methods §12: k = 11.
    s = Settings()
    assert (s.baseline_window_days, s.acute_days, s.early_improvement, s.response) == (
        30.0,
        42.0,
        0.20,
        0.50,
    )
    assert (s.phq9_max_missing_items, s.gad7_max_missing_items) == (2, 1)
    assert (s.min_n, s.suppression_k) == (10, 11)
    # methods §4.4: a 7-day visit window after the acute window, so the endpoint window is
    # 0 < t <= 49 days.
    assert (s.visit_window_days, s.endpoint_days) == (7.0, 49.0)


def test_visit_window_is_a_setting_in_toml_set_and_every_echo(tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text("[settings]\nvisit_window_days = 10\n")
    assert load_settings(path).visit_window_days == 10.0
    s = load_settings(path, ["visit_window_days=0"])
    assert (s.visit_window_days, s.endpoint_days) == (0.0, 42.0)
    assert s.to_dict()["visit_window_days"] == 0.0
    assert Settings().replace(visit_window_days=14).endpoint_days == 56.0


def test_settings_load_from_toml_top_level_or_settings_table(tmp_path: Path):
    top = tmp_path / "a.toml"
    top.write_text("acute_days = 28\nresponse = 0.5\n")
    table = tmp_path / "b.toml"
    table.write_text("[settings]\nacute_days = 56\nallow_columns = ['Site Name']\n")
    assert load_settings(top).acute_days == 28.0
    loaded = load_settings(table)
    assert loaded.acute_days == 56.0 and loaded.allow_columns == ("Site Name",)


def test_set_overrides_apply_after_the_file(tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text("acute_days = 28\n")
    s = load_settings(path, ["acute_days=35", "min_n=5", "allow_columns=Site Name,Notes"])
    assert (s.acute_days, s.min_n, s.allow_columns) == (35.0, 5, ("Site Name", "Notes"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("acute_days", "expects KEY=VALUE"),
        ("nonsense=1", "Unknown setting 'nonsense'"),
        ("acute_days=soon", "expects a number"),
        ("response=1.5", "response must be a fraction"),
        ("response=50", r"response must be a fraction in \(0, 1\], got 50.0 \(for 50% write 0.5\)"),
        ("response=1.5", r"response must be a fraction in \(0, 1\], got 1.5\.$"),
        ("min_n=2.5", "Setting min_n expects a whole number, got '2.5'"),
        ("acute_days=0", "acute_days must be a number of days > 0, got 0.0"),
        # NaN and infinity are numbers to float() but not lengths of a window.
        ("acute_days=nan", "acute_days must be a number of days > 0, got nan"),
        ("acute_days=inf", "acute_days must be a number of days > 0, got inf"),
        ("baseline_window_days=nan", "baseline_window_days must be a number of days >= 0"),
        ("baseline_window_days=-1", "baseline_window_days must be a number of days >= 0"),
        ("visit_window_days=-1", "visit_window_days must be a number of days >= 0, got -1.0"),
        ("visit_window_days=nan", "visit_window_days must be a number of days >= 0"),
        ("early_improvement=nan", "early_improvement must be a fraction"),
        ("suppression_k=-1", "suppression_k must be >= 0"),
    ],
)
def test_bad_overrides_say_what_is_wrong(override, message):
    with pytest.raises(SettingsError, match=message):
        Settings().with_overrides([override])


def test_bad_settings_file_is_reported(tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text("acute_days = [\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(path)
    path.write_text("min_n = 2.5\n")
    with pytest.raises(SettingsError, match="whole number"):
        load_settings(path)


def test_to_dict_round_trips():
    s = Settings(acute_days=28, allow_columns=("x",))
    assert Settings().replace(**s.to_dict()) == s
