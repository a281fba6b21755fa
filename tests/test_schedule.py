"""When the cycle runs: schedules parsed, times computed, and the thread that wakes."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime

import pytest

from winback.errors import SettingsError
from winback.schedule import PassScheduler, next_time, slot_of, trigger_of
from winback.settings import load_settings


def test_nightly_cron_runs_at_two_in_the_business_time_zone() -> None:
    trigger = trigger_of("0 2 * * *", "Europe/London")
    assert trigger is not None
    # 2026-07-01 is summer time in London (UTC+1): 02:00 there is 01:00 UTC.
    after = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert next_time(trigger, after) == datetime(2026, 7, 2, 1, 0, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert next_time(trigger, winter) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def test_an_interval_counts_from_a_fixed_origin_so_every_server_wakes_for_the_same_slots() -> None:
    trigger = trigger_of("every 15 minutes")
    assert trigger is not None
    after = datetime(2026, 11, 26, 10, 7, 31, tzinfo=UTC)
    assert next_time(trigger, after) == datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
    # A time exactly on a slot is not run again: the next one is strictly after it.
    on_slot = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
    assert next_time(trigger, on_slot) == datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
    assert slot_of(on_slot) == "2026-11-26T10:15:00Z"


def test_off_means_no_schedule() -> None:
    assert trigger_of("off") is None
    assert trigger_of("  OFF ") is None


@pytest.mark.parametrize("bad", ["every day", "0 2 * *", "61 * * * *", "every 0 minutes", ""])
def test_a_schedule_that_is_not_one_says_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match="cron expression such as '0 2"):
        trigger_of(bad)


def test_a_bad_schedule_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINBACK_CYCLE_SCHEDULE", "at midnight")
    with pytest.raises(SettingsError, match="WINBACK_CYCLE_SCHEDULE"):
        load_settings()


def test_the_scheduler_runs_each_slot_once_and_survives_a_failing_run() -> None:
    trigger = trigger_of("every 1 seconds")
    assert trigger is not None
    slots: list[str] = []
    three = threading.Event()

    def run(slot: str) -> None:
        slots.append(slot)
        if len(slots) >= 3:
            three.set()
        if len(slots) == 1:
            raise RuntimeError("the first pass breaks; the schedule goes on")

    scheduler = PassScheduler(trigger, run)
    scheduler.start()
    try:
        assert three.wait(10), f"only {len(slots)} pass(es) in 10 s"
    finally:
        scheduler.stop()
    assert len(slots) == len(set(slots)) >= 3
    stamps = [datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ") for s in slots]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    stopped_at = len(slots)
    time.sleep(1.5)
    assert len(slots) == stopped_at, "the scheduler ran after it was stopped"
