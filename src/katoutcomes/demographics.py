"""Patient demographics as exports write them: age bands and raw ages (methods §2.1).

Clinics band ages their own way (``20-24``, ``20–24``, ``20 to 24``, ``65+``, ``<18``) and
katoutcomes keeps each clinic's bands: a well-formed band is accepted as written and only
its spelling is made uniform, so that ``20–24`` and ``20 to 24`` count as one band. A raw
age is put in katoutcomes' own five-year bands (:data:`AGE_BANDS`).

Ages above 89 are never kept more finely than ``90+`` (HIPAA Safe Harbor, 45 CFR
164.514(b)(2)(i)(C): "all ages over 89 ... aggregated into a single category of age 90 or
older"): a raw age of 90 or more, and a band that starts at 90 or above (``90-94``,
``95+``), become ``90+``.

Spellings read as a band, with the form kept (spaces around the separator are allowed):

==========================================  =========
written                                     kept as
==========================================  =========
``20-24``, ``20–24`` (en dash), ``20—24``,  ``20-24``
``20 to 24``, ``20-24 years``
``65+``, ``≥65``, ``>=65``, ``65 and over``  ``65+``
``>64``                                     ``65+``
``<18``, ``under 18``                       ``<18``
``≤17``, ``<=17``                           ``<18``
``42`` (a raw age)                          ``40-44``
==========================================  =========

A band's ages must lie within 0-120 and run upwards (``30-20`` is refused).
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np

__all__ = [
    "AGE_BANDS",
    "AGE_BAND_LABELS",
    "MAX_AGE",
    "band_ages",
    "normalise_age_band",
]

#: katoutcomes' age bands for raw ages: (lowest age, label). Five-year bands from 25 as in
#: the US Census age groups; ages above 89 become ``90+`` (HIPAA Safe Harbor, 45 CFR
#: 164.514(b)(2)(i)(C)).
AGE_BANDS: Final = (
    (0, "<18"),
    (18, "18-24"),
    *((a, f"{a}-{a + 4}") for a in range(25, 90, 5)),
    (90, "90+"),
)
#: The labels of :data:`AGE_BANDS`, youngest first.
AGE_BAND_LABELS: Final = tuple(label for _, label in AGE_BANDS)
#: Oldest plausible age in years; a larger number is a typing error, not an age.
MAX_AGE: Final = 120
#: Lowest age HIPAA Safe Harbor requires to be aggregated into one ``90+`` category.
_SAFE_HARBOR_AGE: Final = 90

_NUMBER: Final = r"(\d{1,3})"
_RANGE: Final = re.compile(
    rf"^{_NUMBER}\s*(?:-|\u2013|\u2014|to)\s*{_NUMBER}(?:\s*(?:years?|yrs?))?$", re.IGNORECASE
)
_AT_LEAST: Final = re.compile(
    rf"^(?:{_NUMBER}\s*\+|(?:>=|\u2265)\s*{_NUMBER}|{_NUMBER}\s*(?:and over|and older|or older))"
    r"(?:\s*(?:years?|yrs?))?$",
    re.IGNORECASE,
)
_ABOVE: Final = re.compile(rf"^>\s*{_NUMBER}$")
_UNDER: Final = re.compile(rf"^(?:<\s*{_NUMBER}|under\s+{_NUMBER})$", re.IGNORECASE)
_AT_MOST: Final = re.compile(rf"^(?:<=|\u2264)\s*{_NUMBER}$")
_RAW_AGE: Final = re.compile(r"^\d{1,3}(?:\.\d+)?$")


def band_ages(ages: np.ndarray) -> np.ndarray:
    """The :data:`AGE_BANDS` label of each age in years (``None`` where the age is NaN).

    Ages are floored first: 24.9 is 24, in ``18-24``. Ages must be within 0-:data:`MAX_AGE`
    (the caller refuses others).

    Examples
    --------
    >>> band_ages(np.array([17.0, 24.9, 89.0, 90.0])).tolist()
    ['<18', '18-24', '85-89', '90+']
    """
    ages = np.asarray(ages, dtype="float64")
    bounds = np.asarray([low for low, _ in AGE_BANDS], dtype="float64")
    idx = np.searchsorted(bounds, np.floor(np.nan_to_num(ages, nan=0.0)), side="right") - 1
    labels = np.asarray(AGE_BAND_LABELS, dtype=object)[np.clip(idx, 0, None)]
    labels[np.isnan(ages)] = None
    return labels


def _open_band(low: int) -> str | None:
    if low > MAX_AGE:
        return None
    return "90+" if low >= _SAFE_HARBOR_AGE else f"{low}+"


def normalise_age_band(text: str) -> str | None:
    """The uniform spelling of an age band, or ``None`` when ``text`` is not one.

    See the module docstring for the spellings read.

    Examples
    --------
    >>> [normalise_age_band(t) for t in ["20\u201324", "20 to 24", "65+", "<18", "95-99", "42"]]
    ['20-24', '20-24', '65+', '<18', '90+', '40-44']
    >>> normalise_age_band("forties") is None
    True
    """
    value = text.strip()
    if m := _RANGE.match(value):
        low, high = int(m.group(1)), int(m.group(2))
        if low > high or high > MAX_AGE:
            return None
        return "90+" if low >= _SAFE_HARBOR_AGE else f"{low}-{high}"
    if m := _AT_LEAST.match(value):
        return _open_band(int(next(g for g in m.groups() if g is not None)))
    if m := _ABOVE.match(value):
        return _open_band(int(m.group(1)) + 1)
    if m := _UNDER.match(value):
        limit = int(next(g for g in m.groups() if g is not None))
        return f"<{limit}" if 0 < limit <= MAX_AGE else None
    if m := _AT_MOST.match(value):
        limit = int(m.group(1)) + 1
        return f"<{limit}" if limit <= MAX_AGE else None
    if _RAW_AGE.match(value):
        age = float(value)
        if age > MAX_AGE:
            return None
        return str(band_ages(np.array([age]))[0])
    return None
