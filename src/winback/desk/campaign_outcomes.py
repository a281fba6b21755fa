"""A finished campaign's members as rows of the ledger's ``winback_outcomes`` table, so
the scan's win-back odds learn from campaigns too (and, later, an uplift model).

Once a launched campaign's window is over, each member it reached or held out becomes one
outcome record, ``desk-campaign-<campaign>-<customer>``, dated the window's last day:

- a **treated** member reached by e-mail or a rep's call: tier ``campaign`` (``rep`` for a
  call), ``contacted``, the offer's kind; ``won_back`` when they placed a counted order in
  the window (a return after contact, the desk's one definition), else ``declined``;
- a **holdout** member: tier ``holdout``, not contacted; ``returned_unprompted`` when they
  ordered in the window, else ``not_pursued``: the baseline the scan reads as
  uncontacted (scan/call_lift.py). The member's own case, closed at launch, is not
  exported (``outcomes.NOT_EXPORTED``): the customer counts once in that baseline.

Treated members the campaign could not reach (no address) are left out: they got nothing,
and they were not drawn to get nothing either. The export is idempotent: the rows go
through the ordinary importer (a record stored already comes back as a duplicate), and the
campaign remembers the batch (``counts["outcomes_batch"]``) so it is not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from winback import clock
from winback.desk.campaign_audience import members_of, offers_of
from winback.desk.models import Campaign
from winback.desk.outcomes import import_outcome_rows
from winback.errors import WinbackError
from winback.ledger import reads
from winback.ledger.store import Ledger

REACHED = ("email", "call")


@dataclass
class CampaignExport:
    campaigns: int = 0
    exported: int = 0
    problem: str | None = None


def finished(db: Session) -> list[Campaign]:
    """Launched campaigns whose window is over and whose outcomes are not in the ledger."""
    today = clock.today()
    query = select(Campaign).where(
        Campaign.state == "launched", Campaign.ends_on.is_not(None), Campaign.ends_on < today
    )
    return [c for c in db.scalars(query.order_by(Campaign.id)) if "outcomes_batch" not in c.counts]


def outcome_rows(campaign: Campaign, db: Session, ledger: Ledger | None) -> list[dict[str, Any]]:
    """The campaign's members as winback_outcomes rows (see the module docstring)."""
    assert campaign.ends_on is not None
    since = campaign.ends_on - timedelta(days=campaign.window_days)
    members = [m for m in members_of(db, campaign.id) if m.holdout or m.channel in REACHED]
    kinds = {o.id: o.kind for o in offers_of(db, campaign.id)}
    orders = reads.orders_in_window(
        ledger, [m.customer_id for m in members], since, campaign.ends_on
    )
    came_back = {o.customer_id for o in orders}
    rows = []
    for m in members:
        back = m.customer_id in came_back
        if m.holdout:
            outcome, tier = ("returned_unprompted" if back else "not_pursued"), "holdout"
        else:
            outcome = "won_back" if back else "declined"
            tier = "rep" if m.channel == "call" else "campaign"
        rows.append(
            {
                "outcome_id": f"desk-campaign-{campaign.id}-{m.customer_id}",
                "customer_id": m.customer_id,
                "recorded_on": campaign.ends_on,
                "outcome": outcome,
                "segment": m.segment,
                "tier": tier,
                "offer": kinds.get(m.offer_id) if m.offer_id else None,
                "reason": None,
                "contacted": not m.holdout,
                "value_before": None,
            }
        )
    return rows


def export_campaign_outcomes(
    db: Session,
    ledger: Ledger,
    rejects_dir: Path,
    *,
    wait_seconds: float = 30.0,
    memory: str = "1GB",
) -> CampaignExport:
    """Write every finished campaign's outcomes to the ledger in one import. Never raises
    for a busy ledger: the campaigns stay pending and the next export takes them."""
    campaigns = finished(db)
    if not campaigns:
        return CampaignExport()
    rows = [row for c in campaigns for row in outcome_rows(c, db, ledger)]
    if not rows:
        batch_of = {"outcomes_batch": 0}
        for c in campaigns:
            c.counts = {**c.counts, **batch_of}
        db.commit()
        return CampaignExport(campaigns=len(campaigns))
    try:
        result = import_outcome_rows(
            ledger,
            rows,
            rejects_dir,
            "desk-campaign-outcomes",
            wait_seconds=wait_seconds,
            memory=memory,
        )
    except WinbackError as exc:  # a busy ledger among them: try again next time
        return CampaignExport(problem=str(exc))
    if result.rejected:
        problem = f"{result.rejected} campaign outcome(s) rejected; see {result.rejects_file}"
        return CampaignExport(problem=problem)
    batch = ledger.manifest().batches
    for c in campaigns:
        c.counts = {**c.counts, "outcomes_batch": batch}
    db.commit()
    return CampaignExport(campaigns=len(campaigns), exported=len(rows))
