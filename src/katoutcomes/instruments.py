"""Instrument facts: items, ranges, severity bands, thresholds, reliabilities and norms.

This module is the single place where the clinical facts about the PHQ-9 and the GAD-7
live. Nothing else in katoutcomes hard-codes a range, a band or a threshold; it reads them
from :data:`INSTRUMENTS`.

Sources
-------
- Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression severity
  measure. J Gen Intern Med 2001;16:606-613. (range 0-27, severity bands, test-retest
  reliability 0.84)
- Spitzer RL, Kroenke K, Williams JBW, Löwe B. A brief measure for assessing generalized
  anxiety disorder: the GAD-7. Arch Intern Med 2006;166:1092-1097. (range 0-21, severity
  bands, test-retest reliability 0.83)
- NHS Talking Therapies for anxiety and depression manual (v7, 2024), appendix on
  measuring recovery: caseness PHQ-9 >= 10 and GAD-7 >= 8; reliable change 6 points
  (PHQ-9) and 4 points (GAD-7).
- Remission PHQ-9 < 5 as used by ORKA-1 (McInnes 2022) and SUSTAIN-3 (Zaki 2023).
- Kocalevent RD, Hinz A, Brähler E. Standardization of the depression screener PHQ-9 in
  the general population. Gen Hosp Psychiatry 2013;35:551-555. (general population norm
  mean 2.91, SD 3.52)
- Löwe B, Decker O, Müller S, et al. Validation and standardization of the GAD-7 in the
  general population. Med Care 2008;46:266-274. (general population norm mean 2.95,
  SD 3.41)
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "GAD7",
    "INSTRUMENTS",
    "INSTRUMENT_ALIASES",
    "ITEM_COLUMNS",
    "ITEM_MAX",
    "PHQ9",
    "SELF_HARM_FLAG",
    "SELF_HARM_HIGH",
    "SELF_HARM_ITEM",
    "Instrument",
    "SeverityBand",
    "normalise_instrument_name",
]

#: Every item of both questionnaires is scored 0 ("not at all") to 3 ("nearly every day").
ITEM_MAX: Final = 3

#: Canonical item columns, in order. PHQ-9 uses all nine, GAD-7 the first seven.
ITEM_COLUMNS: Final = tuple(f"item_{i}" for i in range(1, 10))

#: PHQ-9 item 9: "Thoughts that you would be better off dead or of hurting yourself".
SELF_HARM_ITEM: Final = "item_9"
#: Item 9 at or above this value ("several days" or more) raises a safety flag, and at or
#: above :data:`SELF_HARM_HIGH` ("more than half the days") a high-level one (Kroenke 2001
#: scoring instructions; Simon 2013, Psychiatr Serv 64:1195, on item-9 answers and later
#: suicide attempts).
SELF_HARM_FLAG: Final = 1
SELF_HARM_HIGH: Final = 2


@dataclass(frozen=True, slots=True)
class SeverityBand:
    """A closed score interval ``[low, high]`` with its label."""

    label: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Instrument:
    """Facts about one questionnaire.

    Attributes
    ----------
    name : canonical name (``"PHQ-9"``).
    n_items : number of items.
    max_score : highest possible total (``3 * n_items``).
    bands : severity bands, ascending, covering ``0..max_score``.
    caseness : lowest baseline counted as a clinical case (``min_baseline``).
    remission_below : a score strictly below this is remission.
    reliable_change : smallest change in points counted as reliable.
    reliability : test-retest reliability, for the Jacobson-Truax RCI.
    functional_mean, functional_sd : general-population norm, for the cut-off ``c``.
    max_missing_items : default limit for prorating a total from items.
    """

    name: str
    n_items: int
    max_score: int
    bands: tuple[SeverityBand, ...]
    caseness: int
    remission_below: int
    reliable_change: int
    reliability: float
    functional_mean: float
    functional_sd: float
    max_missing_items: int

    @property
    def items(self) -> tuple[str, ...]:
        """The item columns this instrument uses."""
        return ITEM_COLUMNS[: self.n_items]

    def band_of(self, score: float) -> str:
        """Label of the severity band holding ``score``."""
        for band in self.bands:
            if band.low <= score <= band.high:
                return band.label
        raise ValueError(f"{score} is outside the {self.name} range 0-{self.max_score}")


PHQ9: Final = Instrument(
    name="PHQ-9",
    n_items=9,
    max_score=27,
    bands=(
        SeverityBand("minimal", 0, 4),
        SeverityBand("mild", 5, 9),
        SeverityBand("moderate", 10, 14),
        SeverityBand("moderately severe", 15, 19),
        SeverityBand("severe", 20, 27),
    ),
    caseness=10,
    remission_below=5,
    reliable_change=6,
    reliability=0.84,
    functional_mean=2.91,
    functional_sd=3.52,
    # Prorating with up to 2 of 9 items missing (Kroenke 2001 scoring guidance; methods §2.4).
    max_missing_items=2,
)

GAD7: Final = Instrument(
    name="GAD-7",
    n_items=7,
    max_score=21,
    bands=(
        SeverityBand("minimal", 0, 4),
        SeverityBand("mild", 5, 9),
        SeverityBand("moderate", 10, 14),
        SeverityBand("severe", 15, 21),
    ),
    caseness=8,
    remission_below=5,
    reliable_change=4,
    reliability=0.83,
    functional_mean=2.95,
    functional_sd=3.41,
    # Prorating with 1 of 7 items missing (methods §2.4).
    max_missing_items=1,
)

#: Instruments by canonical name.
INSTRUMENTS: Final = MappingProxyType({PHQ9.name: PHQ9, GAD7.name: GAD7})

#: Spellings seen in clinic exports, keyed by their normalised form (see
#: :func:`normalise_instrument_name`).
INSTRUMENT_ALIASES: Final = MappingProxyType(
    {
        "phq9": "PHQ-9",
        "phq": "PHQ-9",
        "phq9total": "PHQ-9",
        "phq9score": "PHQ-9",
        "patienthealthquestionnaire9": "PHQ-9",
        "gad7": "GAD-7",
        "gad": "GAD-7",
        "gad7total": "GAD-7",
        "gad7score": "GAD-7",
        "generalizedanxietydisorder7": "GAD-7",
        "generalisedanxietydisorder7": "GAD-7",
    }
)


def _alias_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def normalise_instrument_name(name: str) -> str | None:
    """Canonical instrument name for a spelling such as ``phq9`` or ``GAD 7``.

    Returns ``None`` for a name that is not a known instrument.

    Examples
    --------
    >>> normalise_instrument_name("phq-9")
    'PHQ-9'
    >>> normalise_instrument_name("HADS") is None
    True
    """
    return INSTRUMENT_ALIASES.get(_alias_key(name))
