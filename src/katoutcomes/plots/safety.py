"""Safety figures of the cohort: adverse events recorded per 100 treatment sessions.

PHQ-9 item-9 flags belong to each patient and are drawn in
:func:`katoutcomes.plots.patient_trajectory`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from katoutcomes.plots._base import COLORS, _no_data, _style
from katoutcomes.schema import load_schema

if TYPE_CHECKING:
    from katoutcomes.dataset import Dataset

__all__ = ["adverse_events", "adverse_events_data"]

# --------------------------------------------------------------------------------------
# Adverse events
# --------------------------------------------------------------------------------------

_AE_COLUMNS: Final = ("event", "label", "sessions_with_event", "patients", "sessions", "per_100")
_ANY_EVENT: Final = "any"


def _event_codes() -> tuple[str, ...]:
    codes = load_schema("treatments").field("adverse_events").item_enum
    return tuple(codes or ())


def adverse_events_data(dataset: Dataset) -> pd.DataFrame:
    """Adverse events per 100 sessions, by type, with counts.

    Parameters
    ----------
    dataset : Dataset
        Reads ``treatments`` (``patient_id, adverse_events``). Not modified.

    Returns
    -------
    pandas.DataFrame
        One row for "any adverse event", then one per event code of the treatments schema
        (even when never recorded) and any other code found, most frequent first:
        ``event`` (code, ``"any"`` for the first row), ``label``, ``sessions_with_event``,
        ``patients`` (with at least one such session), ``sessions`` (all sessions) and
        ``per_100`` (``100 * sessions_with_event / sessions``). Empty without treatments.

    Notes
    -----
    A session listing one code twice counts once for that code. A blank
    ``adverse_events`` is "none recorded", which is not the same as "none occurred".
    Sessions of one patient are not independent, so no interval is drawn.
    """
    if not dataset.has_treatments:
        return pd.DataFrame(
            {
                "event": pd.Series(dtype="str"),
                "label": pd.Series(dtype="str"),
                "sessions_with_event": pd.Series(dtype=np.int64),
                "patients": pd.Series(dtype=np.int64),
                "sessions": pd.Series(dtype=np.int64),
                "per_100": pd.Series(dtype=np.float64),
            }
        )
    treatments = dataset.treatments
    sessions = len(treatments)
    codes = (
        treatments["adverse_events"]
        .astype("str")
        .str.split(";")
        .rename("event")
        .to_frame()
        .assign(
            patient_id=treatments["patient_id"].astype(str).to_numpy(),
            session=np.arange(sessions),
        )
        .explode("event")
    )
    # A column with no code at all explodes to floats (NaN): back to text before .str.
    codes["event"] = codes["event"].astype("str").str.strip().str.lower()
    codes = codes[codes["event"].notna() & (codes["event"] != "")]
    codes = codes.drop_duplicates(["session", "event"])
    per_event = codes.groupby("event").agg(
        sessions_with_event=("session", "size"), patients=("patient_id", "nunique")
    )
    known = _event_codes()
    order = list(known) + sorted(set(per_event.index) - set(known))
    per_event = per_event.reindex(order, fill_value=0).reset_index()
    per_event = per_event.sort_values(
        ["sessions_with_event", "event"], ascending=[False, True], kind="stable"
    )
    any_event = pd.DataFrame(
        {
            "event": [_ANY_EVENT],
            "sessions_with_event": [codes["session"].nunique()],
            "patients": [codes["patient_id"].nunique()],
        }
    )
    out = pd.concat([any_event, per_event], ignore_index=True)
    out["label"] = np.where(
        out["event"] == _ANY_EVENT,
        "Any adverse event",
        out["event"].str.replace("_", " ", regex=False).str.capitalize(),
    )
    out["sessions"] = sessions
    out["per_100"] = 100.0 * out["sessions_with_event"] / sessions
    out = out.astype(
        {
            "event": "str",
            "label": "str",
            "sessions_with_event": np.int64,
            "patients": np.int64,
            "sessions": np.int64,
        }
    )
    return out[list(_AE_COLUMNS)]


def adverse_events(dataset: Dataset) -> go.Figure:
    """Horizontal bars: adverse events per 100 sessions by type, counts in the hover.

    Parameters
    ----------
    dataset : Dataset

    Returns
    -------
    plotly.graph_objects.Figure
        "Any adverse event" on top in a darker colour, then each type, most frequent first
        (numbers: :func:`adverse_events_data`).
    """
    title = "Adverse events recorded per 100 sessions"
    data = adverse_events_data(dataset)
    if data.empty:
        return _no_data(title, "no treatment sessions are recorded.")
    colors = np.where(data["event"] == _ANY_EVENT, COLORS["event_any"], COLORS["event"])
    custom = np.column_stack(
        [data["sessions_with_event"].to_numpy(), data["patients"].to_numpy(), data["sessions"]]
    )
    fig = go.Figure(
        go.Bar(
            x=data["per_100"],
            y=data["label"],
            orientation="h",
            marker={"color": colors},
            customdata=custom,
            text=data["per_100"].map("{:.1f}".format),
            textposition="outside",
            cliponaxis=False,
            name="Events per 100 sessions",
            showlegend=False,
            hovertemplate=(
                "<b>%{y}</b><br>%{x:.1f} per 100 sessions<br>"
                "%{customdata[0]} of %{customdata[2]} sessions, %{customdata[1]} patients"
                "<extra></extra>"
            ),
        )
    )
    sessions = int(data["sessions"].iloc[0])
    any_row = data.iloc[0]
    subtitle = (
        f"{sessions} sessions; {int(any_row['sessions_with_event'])} with at least one adverse "
        f"event recorded, in {int(any_row['patients'])} patients. A blank record counts as "
        "none recorded."
    )
    _style(fig, title, subtitle, height=max(360, 150 + 34 * len(data)), legend="none")
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=list(data["label"]),
        autorange="reversed",
        showgrid=False,
        ticklabelstandoff=6,
    )
    top = float(data["per_100"].max())
    fig.update_xaxes(
        title_text="Sessions with the event, per 100 sessions",
        range=[0, max(top * 1.15, 1.0)],
        zeroline=False,
    )
    return fig
