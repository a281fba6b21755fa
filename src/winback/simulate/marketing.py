"""Marketing sends and the customer's opens, clicks and unsubscribes.

Engagement is the customer's own open rate times how much of their interest is left:
all of it until they decide to leave, fading through the slip to a floor after the lapse.
The business keeps mailing a lapsed customer for a year, then suppresses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winback.ledger.contract import MARKETING_EVENTS
from winback.simulate.calendar import Window
from winback.simulate.lifecycle import Lives, fade_at
from winback.simulate.people import Customers
from winback.simulate.settings import WorldSettings

SENT, OPENED, CLICKED, UNSUBSCRIBED, BOUNCED, CONVERTED = (
    MARKETING_EVENTS.index(e)
    for e in ("sent", "opened", "clicked", "unsubscribed", "bounced", "converted")
)
_BOUNCE_RATE = 0.004
_CONVERT_RATE = 0.1
_SUPPRESS_AFTER_DAYS = 365
_DAY = 86400


@dataclass
class Mailings:
    """Marketing events of one chunk; ``campaign`` indexes :func:`campaign_names`."""

    customer: np.ndarray
    campaign: np.ndarray
    event: np.ndarray
    second: np.ndarray


def campaign_names(settings: WorldSettings, window: Window) -> list[str]:
    """Campaign ids, ``CMP-YYYYMM-k``, in the order the campaigns go out."""
    months = window.start.astype("datetime64[M]") + np.arange(window.months)
    return [
        f"CMP-{str(m).replace('-', '')}-{k + 1}"
        for m in months
        for k in range(settings.sends_per_month)
    ]


def send_day(settings: WorldSettings, window: Window, campaign: int) -> int:
    """The day a campaign goes out: evenly spaced through its month."""
    m, k = divmod(campaign, settings.sends_per_month)
    a, b = window.month_starts[m], window.month_starts[m + 1]
    return int(a + (k + 0.5) * (b - a) // settings.sends_per_month)


def mail(
    settings: WorldSettings,
    window: Window,
    c: Customers,
    lives: Lives,
    rng: np.random.Generator,
) -> Mailings:
    """Every send and response to the chunk's opted-in customers."""
    s = settings
    unsubscribed = np.zeros(c.n, dtype=bool)
    last_second = window.days * _DAY - 1
    parts: list[tuple[np.ndarray, int, int, np.ndarray]] = []
    for campaign in range(window.months * s.sends_per_month):
        day = send_day(s, window, campaign)
        who = np.flatnonzero(
            c.opted_in
            & ~unsubscribed
            & (c.signup_day <= day)
            & (lives.lapse_day + _SUPPRESS_AFTER_DAYS > day)
        )
        if not who.size:
            continue
        sent_at = day * _DAY + 9 * 3600 + rng.integers(0, 7200, who.size)
        parts.append((who, campaign, SENT, sent_at))
        bounced = rng.random(who.size) < _BOUNCE_RATE
        parts.append((who[bounced], campaign, BOUNCED, sent_at[bounced] + 60))

        left = fade_at(np.full(who.size, float(day)), lives.decided_day[who], lives.lapse_day[who])
        interest = s.engagement_floor + (1 - s.engagement_floor) * left
        opened = ~bounced & (rng.random(who.size) < c.open_rate[who] * interest)
        opened_at = sent_at + rng.exponential(8 * 3600, who.size).astype(np.int64)
        parts.append((who[opened], campaign, OPENED, opened_at[opened]))
        clicked = opened & (rng.random(who.size) < s.click_rate)
        clicked_at = opened_at + 30 + rng.exponential(300, who.size).astype(np.int64)
        parts.append((who[clicked], campaign, CLICKED, clicked_at[clicked]))
        converted = clicked & (rng.random(who.size) < _CONVERT_RATE)
        converted_at = clicked_at + 60 + rng.exponential(3600, who.size).astype(np.int64)
        parts.append((who[converted], campaign, CONVERTED, converted_at[converted]))
        # A customer on the way out is three times as likely to unsubscribe.
        leaving = left < 1
        quits = ~bounced & (rng.random(who.size) < s.unsubscribe_rate * np.where(leaving, 3, 1))
        quit_at = opened_at + 120
        parts.append((who[quits], campaign, UNSUBSCRIBED, quit_at[quits]))
        unsubscribed[who[quits]] = True

    customer = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    campaign_ = np.concatenate([np.full(p[0].size, p[1]) for p in parts]) if parts else customer
    event = np.concatenate([np.full(p[0].size, p[2]) for p in parts]) if parts else customer
    second = np.concatenate([p[3] for p in parts]) if parts else customer
    keep = second <= last_second
    order = np.lexsort((second[keep], customer[keep]))
    return Mailings(
        customer=customer[keep][order].astype(np.int64),
        campaign=campaign_[keep][order].astype(np.int64),
        event=event[keep][order].astype(np.int64),
        second=second[keep][order].astype(np.int64),
    )
