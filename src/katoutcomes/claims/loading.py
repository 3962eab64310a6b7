"""Reading and validating a claims file (TOML), and claims built in code.

Every problem of a file is collected and reported in one :class:`ClaimsFileError`
naming the claim it concerns; see :mod:`katoutcomes.claims` for the format.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from katoutcomes.claims.definitions import (
    _CLAIM_KEYS,
    _CLAIMED_RANGE,
    _DIFFERENCE_RULES,
    _FILE_KEYS,
    _ID_PATTERN,
    _REQUIRED_KEYS,
    _RULES_NEEDING_CLAIMED,
    DEFAULT_MARGIN,
    RULES,
    Claim,
    ClaimsFileError,
)
from katoutcomes.claims.formatting import _plain
from katoutcomes.claims.quantities import QUANTITIES
from katoutcomes.instruments import normalise_instrument_name

__all__ = ["load_claims"]


# --------------------------------------------------------------------------------------
# Loading and validating a claims file
# --------------------------------------------------------------------------------------


def _default_claims_text() -> tuple[str, str]:
    resource = resources.files("katoutcomes").joinpath("data", "claims.toml")
    return resource.read_text(encoding="utf-8"), "katoutcomes/data/claims.toml (packaged)"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_claimed(prefix: str, quantity: str, claimed: float, problems: list[str]) -> None:
    """A claimed share or probability must be a fraction; a difference of shares too."""
    kind = QUANTITIES[quantity].kind
    if kind not in _CLAIMED_RANGE:
        return
    low, high = _CLAIMED_RANGE[kind]
    if low <= claimed <= high:
        return
    what = "a difference of shares" if kind == "difference" else f"a {kind}"
    # A percentage typed as a number (claimed = 50 for 50%) is the usual slip.
    hint = (
        f"for {_plain(claimed)}% write claimed = {claimed / 100:.2f}"
        if low <= claimed / 100 <= high
        else "50% is claimed = 0.50"
    )
    problems.append(
        f"{prefix}claimed = {_plain(claimed)} is out of range: quantity {quantity} is "
        f"{what}, written as a fraction between {_plain(low)} and {_plain(high)}; {hint}."
    )


def _check_margin(
    prefix: str, quantity: str, rule: str, margin: Any, problems: list[str]
) -> float | None:
    """The margin of a claim, with the default filled in; None for rules without one."""
    kind = QUANTITIES[quantity].kind if quantity in QUANTITIES else None
    if rule != "two_sided":
        if margin is not None:
            problems.append(
                f"{prefix}margin applies to a claim of about a value (rule two_sided); rule "
                f"{rule} is judged against the bound itself, so remove the margin."
            )
        return None
    if margin is None:
        if kind in ("share", "probability"):
            return DEFAULT_MARGIN
        problems.append(
            f"{prefix}rule two_sided on quantity {quantity} needs a margin in its unit "
            f"({QUANTITIES[quantity].unit if kind else 'the quantity unit'}): the claimed "
            "value is supported when the interval lies within claimed ± margin."
        )
        return None
    if not (_is_number(margin) and math.isfinite(margin) and margin > 0):
        problems.append(f"{prefix}margin must be a number above 0, got {margin!r}.")
        return None
    if kind in ("share", "probability") and margin >= 1:
        problems.append(
            f"{prefix}margin = {_plain(margin)} is not a fraction: for a {kind} write it "
            f"between 0 and 1 (10 percentage points is margin = 0.10)."
        )
        return None
    return float(margin)


def _check_params(where: str, quantity: str, given: Any, problems: list[str]) -> dict[str, Any]:
    spec = QUANTITIES[quantity]
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        problems.append(f'{where}: params must be a table such as {{ instrument = "PHQ-9" }}.')
        return dict(spec.defaults)
    params = dict(spec.defaults)
    accepted: set[str] = set()
    for key, value in given.items():
        if key == "threshold" and quantity == "early_change_share":
            # A parameter of earlier claims files, now the setting shared with the outcomes.
            problems.append(
                f"{where}: parameter threshold is now the early_improvement setting, shared "
                "with the outcome columns; remove it and set the fall with --set "
                f"early_improvement={_plain(value) if _is_number(value) else '0.2'} (or a "
                "settings file)."
            )
            continue
        if key not in spec.defaults:
            problems.append(
                f"{where}: unknown parameter {key!r} for quantity {quantity}; it takes "
                f"{', '.join(spec.defaults) or 'no parameters'}."
            )
            continue
        default = spec.defaults[key]
        if key == "instrument" and isinstance(value, str):
            value = normalise_instrument_name(value) or value
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = _is_number(value) and math.isfinite(float(value))
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            kind = {bool: "true or false", int: "a whole number", float: "a number"}.get(
                type(default), "text"
            )
            problems.append(f"{where}: parameter {key} must be {kind}, got {value!r}.")
            continue
        choices = spec.choices.get(key)
        if choices is not None and value not in choices:
            problems.append(
                f"{where}: parameter {key} = {value!r} is not one of "
                f"{', '.join(str(c) for c in choices)}."
            )
            continue
        if _is_number(default):
            if key in spec.positive and not value > 0:
                problems.append(f"{where}: parameter {key} must be above 0, got {value!r}.")
                continue
            if not value >= 0:
                problems.append(f"{where}: parameter {key} must be 0 or more, got {value!r}.")
                continue
        params[key] = value
        accepted.add(key)
    # Bounds are compared only when neither was refused above (it would be its default).
    refused = set(given) - accepted
    for low, high in spec.ordered:
        if not {low, high} & refused and params[low] > params[high]:
            problems.append(
                f"{where}: parameter {low} = {_plain(params[low])} is above {high} = "
                f"{_plain(params[high])}; give the lower bound first."
            )
    return params


def _parse_claims(data: Mapping[str, Any], source: str) -> tuple[Claim, ...]:
    problems: list[str] = []
    unknown_top = sorted(set(data) - set(_FILE_KEYS))
    if unknown_top:
        problems.append(
            f"unknown top-level key(s) {', '.join(unknown_top)}; a claims file holds "
            "[[claims]] tables (and optional title, source, description)."
        )
    entries = data.get("claims")
    if not isinstance(entries, list) or not entries:
        problems.append("no claims found; add [[claims]] tables with id, claim, quantity and rule.")
        entries = []
    claims: list[Claim] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        label = entry.get("id") if isinstance(entry, Mapping) else None
        where = f"claim {number}" + (f" ({label})" if isinstance(label, str) else "")
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: must be a [[claims]] table.")
            continue
        before = len(problems)
        unknown = sorted(set(entry) - set(_CLAIM_KEYS))
        if unknown:
            problems.append(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed keys are "
                f"{', '.join(_CLAIM_KEYS)}."
            )
        missing = [key for key in _REQUIRED_KEYS if key not in entry]
        if missing:
            problems.append(f"{where}: missing required key(s) {', '.join(missing)}.")
            continue
        for key in ("id", "claim", "quantity", "rule"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                problems.append(f"{where}: {key} must be non-empty text.")
        if len(problems) > before:
            continue
        claim_id = entry["id"]
        if not _ID_PATTERN.match(claim_id):
            problems.append(
                f"{where}: id {claim_id!r} may use only letters, digits, _, . and - (at most 64)."
            )
        if claim_id in seen:
            problems.append(
                f"{where}: duplicate id {claim_id!r} (also claim {seen[claim_id]}); ids must "
                "be unique."
            )
        else:
            seen[claim_id] = number
        quantity, rule = entry["quantity"], entry["rule"]
        if quantity not in QUANTITIES:
            problems.append(
                f"{where}: unknown quantity {quantity!r}; known quantities are "
                f"{', '.join(QUANTITIES)}."
            )
        if rule not in RULES:
            problems.append(f"{where}: unknown rule {rule!r}; use one of {', '.join(RULES)}.")
        claimed = entry.get("claimed")
        if claimed is not None and not (_is_number(claimed) and math.isfinite(claimed)):
            problems.append(f"{where}: claimed must be a number, got {claimed!r}.")
            claimed = None
        if claimed is not None and quantity in QUANTITIES:
            _check_claimed(f"{where}: ", quantity, float(claimed), problems)
        if rule in _RULES_NEEDING_CLAIMED and "claimed" not in entry:
            problems.append(f"{where}: rule {rule} needs a claimed value (e.g. claimed = 0.5).")
        if (
            rule in _DIFFERENCE_RULES
            and quantity in QUANTITIES
            and QUANTITIES[quantity].kind != "difference"
        ):
            problems.append(
                f"{where}: rule {rule} applies to a difference; quantity {quantity} is not "
                "one (use response_difference)."
            )
        margin = (
            _check_margin(f"{where}: ", quantity, rule, entry.get("margin"), problems)
            if quantity in QUANTITIES
            else None
        )
        min_n = entry.get("min_n")
        if min_n is not None and (
            not isinstance(min_n, int) or isinstance(min_n, bool) or min_n < 1
        ):
            problems.append(f"{where}: min_n must be a whole number >= 1, got {min_n!r}.")
            min_n = None
        params = (
            _check_params(where, quantity, entry.get("params"), problems)
            if quantity in QUANTITIES
            else {}
        )
        if len(problems) == before:
            claims.append(
                Claim(
                    id=claim_id,
                    claim=entry["claim"].strip(),
                    quantity=quantity,
                    rule=rule,
                    params=MappingProxyType(params),
                    claimed=None if claimed is None else float(claimed),
                    min_n=min_n,
                    margin=margin,
                )
            )
    if problems:
        raise ClaimsFileError(
            f"Claims file {source} has {len(problems)} problem(s):\n- " + "\n- ".join(problems)
        )
    return tuple(claims)


def load_claims(path: str | Path | None = None) -> tuple[Claim, ...]:
    """Read and validate a claims file (the packaged one by default).

    Parameters
    ----------
    path : str or Path, optional
        A TOML claims file (format in the module docstring). ``None`` reads
        ``katoutcomes/data/claims.toml``, the claims of methods §10.6.

    Returns
    -------
    tuple of Claim
        In file order, parameters filled with their defaults.

    Raises
    ------
    ClaimsFileError
        The file cannot be read, is not TOML, or has invalid claims: unknown quantity,
        rule, key or parameter, a missing required key, a rule without the claimed value
        it needs, a claimed share or probability outside [0, 1] (or a difference outside
        [-1, 1]), or duplicate ids. Every problem is listed in one message.

    Examples
    --------
    >>> [claim.id for claim in load_claims()][:2]
    ['response_rate_phq9', 'response_rate_gad7']
    """
    if path is None:
        text, source = _default_claims_text()
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ClaimsFileError(f"Cannot read claims file {source}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise ClaimsFileError(f"Claims file {source} is not UTF-8 text.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClaimsFileError(f"Claims file {source} is not valid TOML: {exc}.") from None
    return _parse_claims(data, source)


def _resolve(claim: Claim) -> Claim:
    """A claim built in code, checked as a file's claim would be and with defaults filled."""
    problems: list[str] = []
    if claim.quantity not in QUANTITIES:
        problems.append(
            f"unknown quantity {claim.quantity!r}; known quantities are {', '.join(QUANTITIES)}."
        )
    if claim.rule not in RULES:
        problems.append(f"unknown rule {claim.rule!r}; use one of {', '.join(RULES)}.")
    if claim.rule in _RULES_NEEDING_CLAIMED and claim.claimed is None:
        problems.append(f"rule {claim.rule} needs a claimed value.")
    if claim.claimed is not None and claim.quantity in QUANTITIES:
        _check_claimed("", claim.quantity, float(claim.claimed), problems)
    params: dict[str, Any] = {}
    margin = None
    if not problems:
        params = _check_params(f"claim {claim.id}", claim.quantity, claim.params, problems)
        margin = _check_margin("", claim.quantity, claim.rule, claim.margin, problems)
    if problems:
        raise ClaimsFileError(f"Claim {claim.id}: " + " ".join(problems))
    return dataclasses.replace(claim, params=MappingProxyType(params), margin=margin)
