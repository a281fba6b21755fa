"""The desk's calendar: which day it is where the business works (``WINBACK_TIMEZONE``).

Due dates, "overdue" and "not in the past" are judged in this zone, so a rep in Los Angeles
is not told at 6 pm that today's date is already past. Times are still stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_zone = ZoneInfo("UTC")


def zone_of(name: str) -> ZoneInfo:
    """The named IANA time zone; ValueError with the fix when there is none by that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone name; use an IANA name such as Europe/London, "
            "America/New_York or UTC"
        ) from None


def use_zone(name: str) -> None:
    """Judge days in ``name`` from now on (the settings call this at start-up)."""
    global _zone
    _zone = zone_of(name)


def local(moment: datetime) -> datetime:
    """A stored (naive UTC) or zoned time as the business's wall-clock time, zoned."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_zone)


def naive_utc(moment: datetime) -> datetime:
    """A time as the desk stores it: UTC without a zone (a zone-less time is taken as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def today(now: datetime | None = None) -> date:
    """The business's date at ``now`` (default: this instant)."""
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_zone).date()
