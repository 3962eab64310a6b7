"""What a claim, a quantity and a verdict are: the claims' vocabulary.

The columns of the scorecard, the verdicts, decision rules and news words, the default
equivalence margin, and the dataclasses :class:`Claim`, :class:`QuantityResult` and
:class:`QuantitySpec` (see :mod:`katoutcomes.claims` for the claims file and the rules).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from katoutcomes.claims.formatting import _plain
from katoutcomes.errors import KatoutcomesError

__all__ = [
    "CLAIM_COLUMNS",
    "DEFAULT_MARGIN",
    "NEWS",
    "RULES",
    "VERDICTS",
    "Claim",
    "ClaimsFileError",
    "QuantityResult",
    "QuantitySpec",
]


#: Columns of :func:`evaluate_claims`, in order.
CLAIM_COLUMNS: Final = (
    "id",
    "claim",
    "quantity",
    "estimate",
    "ci_low",
    "ci_high",
    "n",
    "claimed",
    "verdict",
    "note",
    "margin",
    "population",
)

#: Whether a result is good or bad news for patients (methods §10.7: the colour follows the
#: news, the word the verdict): ``good`` and ``bad``; ``neutral`` where neither way is
#: better (descriptive claims, a share with no better direction, a difference that is
#: only claimed to exist); ``unclear`` where the data cannot tell yet (inconclusive, not
#: measurable).
NEWS: Final = ("good", "bad", "neutral", "unclear")

#: Equivalence margin of a claim of about a share or a probability (methods §10.3): "a 50%
#: response rate" is supported by an interval inside 40%–60%.
DEFAULT_MARGIN: Final = 0.10

#: Slack, in the quantity's unit, for "touching" a bound or a band edge: p0 ± δ is a sum
#: of binary fractions (0.3 + 0.1 = 0.4000000000000001), far finer than any interval.
_EDGE_TOLERANCE: Final = 1e-12

#: Possible verdicts (methods §10.2).
VERDICTS: Final = ("supported", "contradicted", "inconclusive", "not_measurable", "descriptive")

#: Decision rules a claim may use (see the module docstring).
RULES: Final = (
    "two_sided",
    "above",
    "below",
    "difference_positive",
    "difference_nonzero",
    "descriptive",
)
_RULES_NEEDING_CLAIMED: Final = frozenset({"two_sided", "above", "below"})

#: Range of a claimed value by quantity kind: shares and probabilities are fractions, a
#: difference of two shares lies between -1 and 1.
_CLAIMED_RANGE: Final = {"share": (0.0, 1.0), "probability": (0.0, 1.0), "difference": (-1.0, 1.0)}
_DIFFERENCE_RULES: Final = frozenset({"difference_positive", "difference_nonzero"})

_CLAIM_KEYS: Final = ("id", "claim", "quantity", "params", "claimed", "margin", "rule", "min_n")
_REQUIRED_KEYS: Final = ("id", "claim", "quantity", "rule")
_FILE_KEYS: Final = ("claims", "title", "source", "description")
_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

#: 95% intervals throughout, as methods §1.2.
_ALPHA: Final = 0.05

#: 1 lb = 0.45359237 kg exactly (international yard and pound agreement, 1959).
_KG_PER_LB: Final = 0.45359237

Unit = Literal["share", "difference", "mg/kg", "usd"]
Verdict = Literal["supported", "contradicted", "inconclusive", "not_measurable", "descriptive"]


class ClaimsFileError(KatoutcomesError):
    """A claims file that cannot be used: unreadable, not TOML, or with invalid claims.

    The message lists every problem found, each with the claim it concerns.
    """


# --------------------------------------------------------------------------------------
# Claims and quantity results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One claim of a claims file, validated.

    Attributes
    ----------
    id : unique name.
    claim : the claim as quoted.
    quantity : name of a quantity in :data:`QUANTITIES`.
    rule : one of :data:`RULES`.
    params : every parameter of the quantity, defaults filled in.
    claimed : the claimed value, or None.
    min_n : minimum number of patients for a verdict, or None for the setting.
    margin : the equivalence margin of a ``two_sided`` claim (filled with
        :data:`DEFAULT_MARGIN` for a share or a probability when loaded); None for other
        rules, which judge against the bound itself.
    """

    id: str
    claim: str
    quantity: str
    rule: str
    params: Mapping[str, Any] = field(default_factory=dict)
    claimed: float | None = None
    min_n: int | None = None
    margin: float | None = None

    @property
    def quantity_label(self) -> str:
        """The quantity with its parameters, e.g. ``response_rate(instrument=PHQ-9, ...)``."""
        inside = ", ".join(f"{key}={_plain(value)}" for key, value in self.params.items())
        return f"{self.quantity}({inside})"


@dataclass(frozen=True, slots=True)
class QuantityResult:
    """What a quantity function returns.

    Attributes
    ----------
    estimate, ci_low, ci_high : the value and its 95% interval (NaN where undefined), in
        the unit of the quantity (:attr:`QuantitySpec.unit`).
    n : patients the value is computed over (for a session-level quantity, the patients
        contributing sessions; ``min_n`` applies to them).
    statement : the result in plain words, without a verdict.
    higher_is_better : whether a higher value means better care (None when neither).
    not_estimated : why the value could not be estimated (e.g. a time beyond the last
        follow-up); the verdict is then ``inconclusive``.
    """

    estimate: float
    ci_low: float
    ci_high: float
    n: int
    statement: str
    higher_is_better: bool | None = None
    not_estimated: str | None = None


QuantityFunction = Callable[..., QuantityResult]


@dataclass(frozen=True)
class QuantitySpec:
    """A quantity a claim can name.

    Attributes
    ----------
    function : ``function(context, min_n, **params) -> QuantityResult``.
    kind : ``"share"``, ``"probability"``, ``"difference"`` or ``"value"``; a claimed
        share or probability must lie in [0, 1], a claimed difference in [-1, 1].
    defaults : every parameter with its default (its type is the accepted type).
    choices : allowed values of parameters that take one of a few values.
    summary : one line for :func:`describe_quantities`.
    unit : the unit of the estimate, its interval and the claimed value, fixed for the
        quantity and known without data: ``"share"`` (a fraction shown as a
        percentage; probabilities too), ``"difference"`` (of shares, shown in
        percentage points), ``"mg/kg"`` or ``"usd"``.
    positive : number parameters that must be above 0; every other number parameter (a
        count, days, minutes, mg or dollars) must be 0 or more.
    ordered : pairs of parameters ``(low, high)`` that must satisfy ``low <= high``.
    """

    function: QuantityFunction
    kind: str
    defaults: Mapping[str, Any]
    choices: Mapping[str, tuple[Any, ...]]
    summary: str
    unit: Unit
    positive: tuple[str, ...] = ()
    ordered: tuple[tuple[str, str], ...] = ()
