"""Analysis and ingest settings: one typed, frozen object that every function takes.

Defaults follow docs/methods.md §5 and the sources named in :mod:`katoutcomes.instruments`.
Settings load from a TOML file (``[settings]`` table or top-level keys) and can be
overridden one at a time (``--set acute_days=28`` on the CLI). Every output echoes
:meth:`Settings.to_dict` so that a result can be reproduced.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from katoutcomes.errors import SettingsError
from katoutcomes.instruments import GAD7, PHQ9

__all__ = ["Settings", "load_settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable number in one place.

    Attributes
    ----------
    baseline_window_days : baseline is the last valid assessment with
        ``-baseline_window_days <= t <= 0`` (methods §4.2).
    acute_days : the acute treatment window: doses with ``0 <= t <= acute_days`` are acute
        doses, and the endpoint is read at its end (see ``visit_window_days``).
    visit_window_days : days a scheduled end-of-acute visit may slip: the endpoint is the
        last valid assessment with ``0 < t <= acute_days + visit_window_days`` (methods §4.4;
        default 7, one weekly visit, because in a real trial's data a third of the
        "week 6" visits fell after day 42).
    early_improvement : fraction of baseline that counts as early improvement (0.20).
    response : fraction of baseline that counts as response (0.50).
    phq9_max_missing_items, gad7_max_missing_items : prorating limits (methods §2.4).
    min_n : default minimum number of patients for a claim verdict (methods §10.4).
    suppression_k : small-cell suppression threshold for shared outputs (methods §12);
        0 turns suppression off.
    allow_columns : column names the de-identification guard lets through because a site
        knows they are safe (methods §2.7).
    model_max_patients : most eligible patients the trajectory model is fitted on (a
        seeded sample above it), so that a fit stays fast (methods §7.1).
    band_level : coverage of the expected-recovery prediction band (0.80, methods §7.3).
    """

    baseline_window_days: float = 30.0
    acute_days: float = 42.0
    visit_window_days: float = 7.0
    early_improvement: float = 0.20
    response: float = 0.50
    phq9_max_missing_items: int = PHQ9.max_missing_items
    gad7_max_missing_items: int = GAD7.max_missing_items
    min_n: int = 10
    suppression_k: int = 11
    allow_columns: tuple[str, ...] = field(default_factory=tuple)
    model_max_patients: int = 5000
    band_level: float = 0.80

    def __post_init__(self) -> None:
        problems = []
        # Written so that NaN fails too (every comparison with NaN is false).
        window, acute = self.baseline_window_days, self.acute_days
        if not 0 <= window < math.inf:
            problems.append(f"baseline_window_days must be a number of days >= 0, got {window}")
        if not 0 < acute < math.inf:
            problems.append(f"acute_days must be a number of days > 0, got {acute}")
        if not 0 <= self.visit_window_days < math.inf:
            problems.append(
                f"visit_window_days must be a number of days >= 0, got {self.visit_window_days}"
            )
        for name in ("early_improvement", "response"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                percent = 1 < value <= 100 and float(value).is_integer()
                hint = f" (for {value:g}% write {value / 100:g})" if percent else ""
                problems.append(f"{name} must be a fraction in (0, 1], got {value}{hint}")
        if not 0 <= self.phq9_max_missing_items <= 8:
            problems.append("phq9_max_missing_items must be between 0 and 8")
        if not 0 <= self.gad7_max_missing_items <= 6:
            problems.append("gad7_max_missing_items must be between 0 and 6")
        if self.min_n < 1:
            problems.append("min_n must be >= 1")
        if self.suppression_k < 0:
            problems.append("suppression_k must be >= 0 (0 turns suppression off)")
        if self.model_max_patients < 20:
            problems.append("model_max_patients must be >= 20 (a model needs 20 patients)")
        if not 0 < self.band_level < 1:
            problems.append(f"band_level must be a fraction in (0, 1), got {self.band_level}")
        if problems:
            raise SettingsError("Invalid settings: " + "; ".join(problems) + ".")

    @property
    def endpoint_days(self) -> float:
        """Last day an assessment can be the endpoint: ``acute_days + visit_window_days``."""
        return self.acute_days + self.visit_window_days

    def max_missing_items(self, instrument: str) -> int:
        """Prorating limit for ``instrument`` (canonical name)."""
        return (
            self.phq9_max_missing_items
            if instrument == PHQ9.name
            else (self.gad7_max_missing_items)
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for echoing in outputs (JSON/TOML friendly)."""
        out = dataclasses.asdict(self)
        out["allow_columns"] = list(self.allow_columns)
        return out

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated."""
        return _from_mapping({**self.to_dict(), **changes})

    def with_overrides(self, assignments: Iterable[str]) -> Settings:
        """Apply ``KEY=VALUE`` strings as given on the command line."""
        changes: dict[str, Any] = {}
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            key = key.strip()
            if not sep or not key:
                raise SettingsError(
                    f"--set expects KEY=VALUE, got {assignment!r} (for example acute_days=28)."
                )
            changes[key] = _parse_value(key, raw.strip())
        return self.replace(**changes)


def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(Settings)}


def _parse_value(key: str, raw: str) -> Any:
    types = _field_types()
    if key not in types:
        raise SettingsError(f"Unknown setting {key!r}. Known settings: {', '.join(sorted(types))}.")
    kind = types[key]
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        what = "a whole number" if kind == "int" else "a number"
        raise SettingsError(f"Setting {key} expects {what}, got {raw!r}.") from None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _from_mapping(values: Mapping[str, Any]) -> Settings:
    types = _field_types()
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise SettingsError(
            f"Unknown setting(s) {', '.join(unknown)}. Known settings: {', '.join(sorted(types))}."
        )
    clean: dict[str, Any] = {}
    for key, value in values.items():
        kind = types[key]
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
                raise SettingsError(f"Setting {key} expects a whole number, got {value!r}.")
            clean[key] = int(value)
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"Setting {key} expects a number, got {value!r}.")
            clean[key] = float(value)
        else:
            if isinstance(value, str):
                value = [value]
            clean[key] = tuple(str(v) for v in value)
    return Settings(**clean)


def load_settings(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Settings:
    """Settings from a TOML file (optional) with ``KEY=VALUE`` overrides applied.

    The file may hold the keys at top level or under a ``[settings]`` table.
    """
    settings = Settings()
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"Cannot read settings file {path}: {exc.strerror}.") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"Settings file {path} is not valid TOML: {exc}.") from None
        settings = _from_mapping(data.get("settings", data))
    return settings.with_overrides(overrides)
