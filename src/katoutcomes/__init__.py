"""katoutcomes: outcomes tracking for ketamine-assisted therapy clinics."""

from __future__ import annotations

from katoutcomes.errors import IngestError, KatoutcomesError, SettingsError
from katoutcomes.instruments import GAD7, INSTRUMENTS, PHQ9, Instrument
from katoutcomes.settings import Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "GAD7",
    "INSTRUMENTS",
    "PHQ9",
    "IngestError",
    "Instrument",
    "KatoutcomesError",
    "Settings",
    "SettingsError",
    "__version__",
    "load_settings",
]
