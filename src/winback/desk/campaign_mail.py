"""A campaign's e-mails: each member's address and how they are reached, the e-mail
rendered with their offer, code and unsubscribe link, and queued in the outbox."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from winback.desk import (
    emails,
    outbox,
    unsubscribe,
)
from winback.desk.campaign_audience import members_of, offers_of
from winback.desk.models import Campaign, CampaignMember, CampaignOffer
from winback.errors import SettingsError
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.settings import Settings

# An address worth queuing (the outbox refuses the whole batch for one bad address, so a
# junk address in the ledger leaves that member without an e-mail instead).
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def channel_of(member: CampaignMember, emails_known: Mapping[str, str] | None = None) -> str:
    """How a treated member is reached: the rep tier by a call, the rest by e-mail (none
    when ``emails_known`` is given and holds no address for them)."""
    if member.tier == "rep":
        return "call"
    if emails_known is not None and not _ADDRESS.match(emails_known.get(member.customer_id, "")):
        return "none"
    return "email"


@dataclass(frozen=True)
class Reach:
    """What launching needs from outside the desk database: each member's e-mail address
    (the ledger's customers), their unsubscribe link, and the business's name.
    ``problem``: why no e-mail can be sent (no public address for unsubscribe links), in
    which case launching a campaign that would e-mail anyone is refused."""

    emails: Mapping[str, str]
    unsubscribe_url: Callable[[str], str]
    business_name: str = ""
    problem: str | None = None


def reach_of(db: Session, campaign: Campaign, ledger: Ledger | None, settings: Settings) -> Reach:
    """The members' e-mail addresses from the ledger (one DuckDB query), and their
    unsubscribe links signed with the workspace's secret."""
    ids = [m.customer_id for m in members_of(db, campaign.id)]
    emails = reads.customer_emails(ledger, ids)
    try:
        unsubscribe.unsubscribe_url(settings, "check")
    except SettingsError as exc:
        return Reach(
            emails, lambda _: "(the unsubscribe link)", settings.business_name, problem=str(exc)
        )
    return Reach(
        emails,
        lambda customer_id: unsubscribe.unsubscribe_url(settings, customer_id),
        settings.business_name,
    )


def email_context(
    member: CampaignMember, offer: CampaignOffer | None, reach: Reach, code: str | None = None
) -> dict[str, Any]:
    """What the e-mail template of ``member`` is rendered with (``code``: instead of the
    member's, for a preview before launch)."""
    return {
        "customer_name": member.customer_name or "",
        "offer_text": offer.text if offer else "",
        "code": code or member.code or "",
        "unsubscribe_url": reach.unsubscribe_url(member.customer_id),
        "business_name": reach.business_name,
        "reasons": list(member.reasons or []),
    }


def render_for(
    campaign: Campaign,
    member: CampaignMember,
    offer: CampaignOffer | None,
    reach: Reach,
    *,
    code: str | None = None,
) -> emails.RenderedEmail:
    template = campaign.template or emails.DEFAULT_TEMPLATE
    return emails.render_email(template, email_context(member, offer, reach, code))


def queue_emails(db: Session, campaign: Campaign, reach: Reach) -> outbox.EnqueueReport:
    """Queue the e-mail of every treated e-mail member of a launched campaign (commits).
    Safe to repeat: a key already queued is skipped (the outbox's idempotency key)."""
    offers = {o.id: o for o in offers_of(db, campaign.id)}
    messages = []
    for m in members_of(db, campaign.id):
        if m.holdout or m.channel != "email" or not m.code:
            continue
        address = reach.emails.get(m.customer_id, "")
        if not _ADDRESS.match(address):
            continue
        offer = offers.get(m.offer_id) if m.offer_id else None
        mail = render_for(campaign, m, offer, reach)
        messages.append(
            outbox.OutgoingMessage(
                key=f"campaign:{campaign.id}:{m.customer_id}:offer:{m.offer_id}",
                customer_id=m.customer_id,
                to_address=address,
                subject=mail.subject,
                text=mail.text,
                html=mail.html,
                campaign_id=campaign.id,
                # The outbox adds RFC 8058's one-click header to an https link.
                headers={"List-Unsubscribe": f"<{reach.unsubscribe_url(m.customer_id)}>"},
            )
        )
    return outbox.enqueue(db, messages)
