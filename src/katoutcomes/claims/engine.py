"""The claims scorecard: every claim evaluated against a dataset, and its JSON form."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from katoutcomes.claims.context import _Context
from katoutcomes.claims.definitions import _DIFFERENCE_RULES, CLAIM_COLUMNS, Claim
from katoutcomes.claims.loading import _resolve, load_claims
from katoutcomes.claims.quantities import QUANTITIES
from katoutcomes.claims.verdicts import _decide, _news, _population, _way
from katoutcomes.cohort import (
    NotMeasurableError,
)
from katoutcomes.settings import Settings

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = ["claims_to_dict", "evaluate_claims"]


# --------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------


def evaluate_claims(
    dataset: Dataset,
    settings: Settings | None = None,
    claims: str | Path | Sequence[Claim] | None = None,
) -> pd.DataFrame:
    """Evaluate claims against a dataset: the claims scorecard.

    Parameters
    ----------
    dataset : Dataset
        The clinic's data. Not modified.
    settings : Settings, optional
        Outcome definitions and the default ``min_n``; ``Settings()`` when omitted.
    claims : str, Path or sequence of Claim, optional
        A claims file, claims already loaded with :func:`load_claims`, or ``None`` for the
        packaged claims of methods §10.6.

    Returns
    -------
    pandas.DataFrame
        One row per claim, in file order, with the columns of :data:`CLAIM_COLUMNS`:
        ``id, claim, quantity`` (name and parameters), ``estimate, ci_low, ci_high``
        (float, NaN where undefined), ``n`` (nullable Int64; NA when not measurable),
        ``claimed`` (float, NaN when absent), ``verdict`` (one of :data:`VERDICTS`),
        ``note`` (the result and the reason for the verdict in plain words; for an
        inconclusive claim of about a share, the patients that would likely settle it),
        ``margin`` (the equivalence margin of a ``two_sided`` claim, NaN for other rules)
        and ``population`` (which patients the quantity counts, in words), then
        ``unit`` (``share``, ``difference``, ``mg/kg`` or ``usd``: the quantity's fixed
        :attr:`QuantitySpec.unit`, filled for every row, ``not_measurable`` ones too) so
        that displays can format the estimate and the claimed value, and ``direction``:
        for a contradicted claim with a claimed value, which way the data lie ("better
        than claimed", "worse than claimed", or "higher"/"lower than claimed" where
        neither is better), else "". A clinic doing better than it claims is contradicted
        too; displays show this beside the verdict. Last ``news`` (one of :data:`NEWS`):
        whether the result is good or bad news for patients, which displays show as the
        verdict's colour.

    Raises
    ------
    ClaimsFileError
        When a claims file is invalid (see :func:`load_claims`).

    Notes
    -----
    For each claim: compute the quantity; if the data lack what it needs →
    ``not_measurable``; if it cannot be estimated (a Kaplan–Meier time beyond the last
    follow-up) or ``n < min_n`` → ``inconclusive``; otherwise apply the rule (module
    docstring). The per-patient outcomes are computed once for all claims.

    References
    ----------
    docs/methods.md §10.

    Examples
    --------
    >>> from katoutcomes.claims import VERDICTS
    >>> from katoutcomes.dataset import Dataset
    >>> card = evaluate_claims(Dataset.demo(patients=60))
    >>> card.loc[card["id"] == "response_rate_phq9", "verdict"].isin(VERDICTS).all()
    np.True_
    """
    settings = settings or Settings()
    if claims is None or isinstance(claims, str | Path):
        claims = load_claims(claims)
    ctx = _Context(dataset, settings)
    rows = []
    for claim in map(_resolve, claims):
        min_n = claim.min_n if claim.min_n is not None else settings.min_n
        spec = QUANTITIES[claim.quantity]
        row: dict[str, Any] = {
            "id": claim.id,
            "claim": claim.claim,
            "quantity": claim.quantity_label,
            "claimed": np.nan if claim.claimed is None else claim.claimed,
            "margin": np.nan if claim.margin is None else claim.margin,
            "population": _population(ctx, claim),
        }
        try:
            result = spec.function(ctx, min_n, **claim.params)
        except NotMeasurableError as exc:
            row |= {
                "unit": spec.unit,
                "estimate": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "n": pd.NA,
                "verdict": "not_measurable",
                "note": f"Not measurable: {str(exc)[:1].lower()}{str(exc)[1:]}",
                "direction": "",
                "news": "unclear",
            }
        else:
            verdict, note, higher = _decide(claim, result, min_n, spec.unit)
            # Which way a contradicted claim of a value is wrong; a contradicted difference
            # already means "the other way".
            shows_way = (
                verdict == "contradicted"
                and higher is not None
                and claim.rule not in _DIFFERENCE_RULES
            )
            row |= {
                "direction": (
                    f"{_way(bool(higher), result.higher_is_better)} than claimed"
                    if shows_way
                    else ""
                ),
                "news": _news(claim, verdict, higher, result.higher_is_better),
                "unit": spec.unit,
                "estimate": result.estimate,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "n": result.n,
                "verdict": verdict,
                "note": note,
            }
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*CLAIM_COLUMNS, "unit", "direction", "news"])
    return out.astype(
        {
            "unit": "str",
            "direction": "str",
            "news": "str",
            "margin": np.float64,
            "population": "str",
            "id": "str",
            "claim": "str",
            "quantity": "str",
            "estimate": np.float64,
            "ci_low": np.float64,
            "ci_high": np.float64,
            "n": "Int64",
            "claimed": np.float64,
            "verdict": "str",
            "note": "str",
        }
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def claims_to_dict(
    frame: pd.DataFrame,
    settings: Settings | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The scorecard as a JSON-ready dict: claims, the settings and the data provenance.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`evaluate_claims`.
    settings : Settings, optional
        The settings used (``Settings()`` when omitted), echoed for reproducibility.
    provenance : mapping, optional
        Where the data came from, e.g. ``dataset.provenance``.

    Returns
    -------
    dict
        ``{"claims": [{"id", "claim", "quantity", "estimate", "ci_low", "ci_high", "n",
        "claimed", "verdict", "note", "margin", "population"}, ...], "settings": {...},
        "data": {...}}`` with NaN and NA as ``None``; ``json.dumps`` accepts it as is.

    Examples
    --------
    >>> import json
    >>> from katoutcomes.dataset import Dataset
    >>> data = Dataset.demo(patients=60)
    >>> out = claims_to_dict(evaluate_claims(data), provenance=data.provenance)
    >>> sorted(out), sorted(out["claims"][0])[:3]
    (['claims', 'data', 'settings'], ['ci_high', 'ci_low', 'claim'])
    >>> _ = json.dumps(out, allow_nan=False)
    """
    settings = settings or Settings()
    claims = [
        {column: _json_safe(record[column]) for column in CLAIM_COLUMNS}
        for record in frame[list(CLAIM_COLUMNS)].astype(object).to_dict(orient="records")
    ]
    return {
        "claims": claims,
        "settings": _json_safe(settings.to_dict()),
        "data": _json_safe(dict(provenance or {})),
    }
