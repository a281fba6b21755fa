"""The business's day: due dates are judged in WINBACK_TIMEZONE, not in UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from winback import clock
from winback.errors import SettingsError
from winback.settings import load_settings


@pytest.fixture(autouse=True)
def _back_to_utc() -> Iterator[None]:
    yield
    clock.use_zone("UTC")


# 23:30 UTC on 22 November: already the 23rd in Tokyo (UTC+9), still the 22nd in Los Angeles.
LATE = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
# 02:00 UTC on 23 November: still the 22nd in Los Angeles (UTC-8).
EARLY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_the_day_is_the_businesss_day() -> None:
    assert clock.today(LATE) == date(2026, 11, 22)  # UTC by default
    clock.use_zone("Asia/Tokyo")
    assert clock.today(LATE) == date(2026, 11, 23)
    clock.use_zone("America/Los_Angeles")
    assert clock.today(EARLY) == date(2026, 11, 22)
    # A time without a zone is UTC, as the desk stores it.
    assert clock.today(EARLY.replace(tzinfo=None)) == date(2026, 11, 22)


def test_the_setting_sets_the_zone_and_a_bad_name_is_refused(tmp_path: object) -> None:
    load_settings(home=tmp_path, timezone="Asia/Tokyo")
    assert clock.today(LATE) == date(2026, 11, 23)
    with pytest.raises(SettingsError, match="WINBACK_TIMEZONE: 'Mars/Olympus' is not a time"):
        load_settings(home=tmp_path, timezone="Mars/Olympus")
