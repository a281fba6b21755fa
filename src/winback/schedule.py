"""When the periodic cycle runs (``WINBACK_CYCLE_SCHEDULE``), and the thread that wakes
for each scheduled time.

A schedule is a cron expression (``0 2 * * *``: 02:00 every night, in the business's
time zone), ``every N seconds|minutes|hours``, or ``off``. The times themselves come
from APScheduler's triggers, which handle the calendar and daylight-saving changes.

Every server computes the same times (intervals count from a fixed origin), and each
time is handed to the pass as its *slot*: the desk runs each slot once, however many
servers woke for it. This module knows nothing of what a pass does: the caller gives
the function to run.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

_EVERY = re.compile(r"^every\s+(\d+)\s*(second|minute|hour)s?$")
_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def trigger_of(schedule: str, zone: str = "UTC") -> BaseTrigger | None:
    """The trigger for ``schedule`` (None for ``off``); ValueError saying what to write."""
    text = " ".join(schedule.lower().split())
    if text == "off":
        return None
    every = _EVERY.match(text)
    if every:
        count = int(every.group(1))
        if count <= 0:
            raise ValueError(
                f"{schedule!r}: the interval must be at least 1, as in 'every 6 hours' "
                "(or a cron expression such as '0 2 * * *')"
            )
        unit = every.group(2) + "s"
        return IntervalTrigger(**{unit: count}, start_date=_ORIGIN, timezone=ZoneInfo(zone))
    try:
        return CronTrigger.from_crontab(schedule, timezone=ZoneInfo(zone))
    except ValueError as exc:
        raise ValueError(
            f"{schedule!r} is not a schedule ({exc}); write a cron expression such as "
            "'0 2 * * *' (02:00 every day), 'every 6 hours', or 'off'"
        ) from None


def next_time(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first scheduled time strictly after ``after``."""
    moment: datetime | None = trigger.get_next_fire_time(None, after)
    while moment is not None and moment <= after:
        moment = trigger.get_next_fire_time(moment, moment)
    return moment


def slot_of(moment: datetime) -> str:
    """How a scheduled time is recorded: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PassScheduler:
    """A daemon thread that calls ``run(slot)`` at each scheduled time. ``run`` must not
    raise (the cycle records its own failures); if it does, the error is logged and the
    thread waits for the next time, so one bad pass never stops the schedule."""

    def __init__(
        self,
        trigger: BaseTrigger,
        run: Callable[[str], object],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.trigger, self.run, self.clock = trigger, run, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_at: datetime | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="winback-cycle", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        last = self.clock()
        while not self._stop.is_set():
            self.next_at = next_time(self.trigger, last)
            if self.next_at is None:
                return
            wait = (self.next_at - self.clock()).total_seconds()
            if wait > 0 and self._stop.wait(wait):
                return
            try:
                self.run(slot_of(self.next_at))
            except Exception:
                log.exception("the cycle's pass for %s failed", slot_of(self.next_at))
            # A pass that overran later times skips them: the next one is after now.
            last = max(self.next_at, self.clock())
