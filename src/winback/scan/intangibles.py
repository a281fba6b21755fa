"""The intangibles: what a customer costs beyond the ledger's money, each with its evidence.

Rude to staff, heavy contact, late payment, return abuse: flags the worth step weighs
("not every customer is a keeper"), each raised with the words a person can check.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from winback.policy import Policy

INTANGIBLES = ("rude", "heavy_contact", "late_payer", "return_abuser")


def number(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").fillna(0.0).astype("float64")


def intangibles(features: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, list[list[str]]]:
    """The four intangibles as flags, and the evidence for each flag raised."""
    w = policy.worth
    rude_n = number(features, "rude_interactions")
    contacts = number(features, "contacts_last_year")
    peers = contacts.where(contacts > 0).groupby(features["segment"]).transform("median")
    peers = peers.fillna(1.0).clip(lower=1.0)
    due = number(features, "invoices_due")
    late = number(features, "invoices_late")
    returns = number(features, "returns")
    returned = number(features, "returned_value")
    revenue = number(features, "revenue")
    flags = pd.DataFrame(
        {
            "rude": rude_n >= w.rude_interactions,
            "heavy_contact": (contacts >= 4) & (contacts > w.heavy_contact_multiple * peers),
            "late_payer": (due >= 3) & (late >= w.late_payer_share * due),
            "return_abuser": (returns >= 3)
            & (returned >= w.return_abuse_share * revenue.clip(lower=0.01)),
        },
        index=features.index,
    )
    evidence: list[list[str]] = [[] for _ in range(len(features))]
    # The words are built only for the customers whose flag is raised.
    rude_v, contacts_v, peers_v = rude_n.to_numpy(), contacts.to_numpy(), peers.to_numpy()
    times_v = (contacts / peers).to_numpy()
    late_v, due_v, returns_v = late.to_numpy(), due.to_numpy(), returns.to_numpy()
    share_v = (returned / revenue.clip(lower=0.01) * 100).to_numpy()
    texts: dict[str, Callable[[int], str]] = {
        "rude": lambda i: f"rude to staff in {rude_v[i]:.0f} recorded interactions",
        "heavy_contact": lambda i: (
            f"contacted us {contacts_v[i]:.0f} times in the last year, "
            f"{times_v[i]:.1f}× the segment's median of {peers_v[i]:.0f}"
        ),
        "late_payer": lambda i: f"paid {late_v[i]:.0f} of {due_v[i]:.0f} invoices late",
        "return_abuser": lambda i: (
            f"returned {share_v[i]:.0f}% of what they bought ({returns_v[i]:.0f} returns)"
        ),
    }
    for name in INTANGIBLES:
        text = texts[name]
        for i in np.flatnonzero(flags[name].to_numpy()):
            evidence[i].append(text(int(i)))
    return flags, evidence
