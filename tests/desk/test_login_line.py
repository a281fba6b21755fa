"""The line of logins waiting for a password check (desk.login.PasswordChecks): first come,
first served, bounded in length and in wait, and no place lost when a waiting login gives
up (its wait ends, or its client leaves) at the moment a place is handed to it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.conftest import run_async
from winback.desk.login import PasswordChecks
from winback.errors import Busy


async def _hold(checks: PasswordChecks, name: str, order: list[str], go: asyncio.Event) -> None:
    async with checks.turn():
        order.append(name)
        await go.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_waiting_logins_get_their_turn_in_the_order_they_came() -> None:
    async def scenario() -> list[str]:
        checks = PasswordChecks(1, queue=5, wait=30)
        order: list[str] = []
        go = asyncio.Event()
        tasks = []
        for name in ["a", "b", "c", "d"]:
            tasks.append(asyncio.create_task(_hold(checks, name, order, go)))
            await _settle()
        assert (checks.running, checks.waiting) == (1, 3)
        assert order == ["a"]
        go.set()
        await asyncio.gather(*tasks)
        assert (checks.running, checks.waiting) == (0, 0)
        return order

    assert run_async(scenario()) == ["a", "b", "c", "d"]


def test_a_full_line_refuses_at_once_and_a_long_wait_refuses_after_its_bound() -> None:
    async def scenario() -> None:
        checks = PasswordChecks(1, queue=1, wait=0.2)
        go = asyncio.Event()
        first = asyncio.create_task(_hold(checks, "a", [], go))
        await _settle()
        second = asyncio.create_task(_hold(checks, "b", [], go))
        await _settle()
        with pytest.raises(Busy, match="busy checking other logins"):
            async with checks.turn():
                pass  # the line (one long) is full
        with pytest.raises(Busy):
            await second  # waited 0.2 s in line
        assert (checks.running, checks.waiting) == (1, 0)
        go.set()
        await first
        assert (checks.running, checks.waiting) == (0, 0)

    run_async(scenario())


def test_a_login_whose_client_leaves_while_waiting_passes_its_place_on() -> None:
    async def scenario() -> list[str]:
        checks = PasswordChecks(1, queue=5, wait=30)
        order: list[str] = []
        go = asyncio.Event()
        first = asyncio.create_task(_hold(checks, "a", order, go))
        await _settle()
        leaving = asyncio.create_task(_hold(checks, "b", order, go))
        staying = asyncio.create_task(_hold(checks, "c", order, go))
        await _settle()
        leaving.cancel()
        await _settle()
        assert checks.waiting == 1
        go.set()
        await asyncio.gather(first, staying)
        assert leaving.cancelled()
        assert (checks.running, checks.waiting) == (0, 0)
        return order

    assert run_async(scenario()) == ["a", "c"]


def test_a_place_handed_over_as_its_login_gives_up_goes_to_the_next() -> None:
    """The hand-over is on its way (scheduled on the waiter's loop) when the waiter is
    cancelled: the place must reach the next login, not vanish."""

    async def scenario() -> list[str]:
        checks = PasswordChecks(1, queue=5, wait=30)
        order: list[str] = []
        go = asyncio.Event()
        holder = checks.turn()
        await holder.__aenter__()
        giving_up = asyncio.create_task(_hold(checks, "b", order, go))
        next_one = asyncio.create_task(_hold(checks, "c", order, go))
        await _settle()
        await holder.__aexit__(None, None, None)  # schedules the hand-over to "b"
        giving_up.cancel()  # before the loop runs the hand-over
        go.set()
        await asyncio.gather(next_one)
        assert giving_up.cancelled()
        assert (checks.running, checks.waiting) == (0, 0)
        return order

    assert run_async(scenario()) == ["c"]


def test_a_place_freed_by_a_thread_reaches_a_login_waiting_on_an_event_loop() -> None:
    """The web waits on its event loop; a check elsewhere (``slot``) frees its place from
    another thread: the waiting login is woken on its own loop."""
    checks = PasswordChecks(1, queue=5, wait=30)
    taken, free = threading.Event(), threading.Event()

    def elsewhere() -> None:
        with checks.slot():
            taken.set()
            free.wait(timeout=30)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    assert taken.wait(timeout=30)
    with pytest.raises(Busy), checks.slot():
        pass  # slot() never waits

    async def scenario() -> None:
        order: list[str] = []
        go = asyncio.Event()
        go.set()
        waiting = asyncio.create_task(_hold(checks, "web", order, go))
        await _settle()
        assert checks.waiting == 1
        free.set()
        await asyncio.wait_for(waiting, timeout=30)
        assert order == ["web"]

    run_async(scenario())
    thread.join(timeout=30)
    assert (checks.running, checks.waiting) == (0, 0)
