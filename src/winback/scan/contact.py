"""Contact details that may be out of date: bounced e-mails, returned mail, wrong numbers.

An e-mail address is doubtful when a campaign send to it bounced after the customer last
opened, clicked or bought from one (``marketing_events``). An interaction tagged as a
bounce, returned mail or a wrong number (``interactions.tags``, any case; "bounced",
"returned mail", "return to sender", "wrong number", "disconnected") makes that detail
doubtful from its date. The result is a short note per customer ("e-mail bounced on 02 May
2026; wrong number on 01 April 2026"), shown to the rep and added to the scan's reasons.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis
import pandas as pd

#: Tag words (lower case) → the detail they put in doubt.
TAGS = {
    "bounced": "e-mail bounced",
    "bounce": "e-mail bounced",
    "returned mail": "mail returned",
    "return to sender": "mail returned",
    "wrong number": "wrong number",
    "disconnected": "wrong number",
}


def doubtful_contacts(con: Any, as_of: date) -> pd.Series:
    """The note of every customer with a doubtful contact detail, indexed by customer id."""
    cut = ibis.timestamp(f"{as_of.isoformat()} 23:59:59")
    e = con.table("marketing_events")
    e = e.filter(e.occurred_at <= cut)
    engaged = e.event.isin(("opened", "clicked", "converted"))
    mail = e.group_by("customer_id").aggregate(
        bounced=ibis.ifelse(e.event == "bounced", e.occurred_at, ibis.null()).max(),
        engaged=ibis.ifelse(engaged, e.occurred_at, ibis.null()).max(),
    )
    mail = mail.filter(
        mail.bounced.notnull() & (mail.engaged.isnull() | (mail.bounced > mail.engaged))
    )
    x = con.table("interactions")
    x = x.filter((x.occurred_at <= cut) & x.tags.notnull())
    tags = x.tags.lower()
    parts = []
    for word, what in TAGS.items():
        hit = x.filter(tags.contains(word))
        parts.append(
            hit.select(
                customer_id=hit.customer_id.cast("string"),
                what=ibis.literal(what, type="string"),
                at=hit.occurred_at,
            )
        )
    parts.append(
        mail.select(
            customer_id=mail.customer_id.cast("string"),
            what=ibis.literal("e-mail bounced", type="string"),
            at=mail.bounced,
        )
    )
    every = ibis.union(*parts)
    latest = every.group_by(["customer_id", "what"]).aggregate(at=every.at.max())
    frame: pd.DataFrame = latest.to_pyarrow().to_pandas()
    if frame.empty:
        return pd.Series(dtype=object, name="doubtful_contact")
    frame["at"] = pd.to_datetime(frame["at"])
    frame = frame.sort_values(["customer_id", "at"], ascending=[True, False], kind="stable")
    frame["text"] = frame["what"] + " on " + frame["at"].dt.strftime("%d %B %Y")
    notes = frame.groupby("customer_id", sort=True)["text"].agg("; ".join)
    notes.name = "doubtful_contact"
    return notes


def reason(note: str) -> str:
    """The scan's reason for a customer with a doubtful contact detail."""
    return f"we may have been writing to an old address or number: {note}"
