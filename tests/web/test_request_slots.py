"""RequestSlots lets at most ``limit`` requests run at once in a worker; the others wait
their turn and all are answered. Static files and the login form's POST pass by it."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import run_async
from winback.web.request_slots import RequestSlots


class Recorder:
    """An ASGI app that counts the requests running at once and answers 200 after a pause."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.served = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.02)
        self.running -= 1
        self.served += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _requests(app: Any, method: str, path: str, count: int) -> list[int]:
    async def one() -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path, "headers": []}
        await app(scope, receive, send)
        status: int = sent[0]["status"]
        return status

    return list(await asyncio.gather(*(one() for _ in range(count))))


def test_at_most_limit_requests_run_at_once_and_every_one_is_answered() -> None:
    inner = Recorder()
    app = RequestSlots(inner, limit=3)
    statuses = run_async(_requests(app, "GET", "/api/queue", 20))
    assert statuses == [200] * 20
    assert inner.served == 20
    assert inner.most == 3


def test_static_files_and_the_login_post_pass_by_the_slots() -> None:
    for method, path in (("GET", "/static/app/desk.css"), ("POST", "/login")):
        inner = Recorder()
        app = RequestSlots(inner, limit=1)
        assert run_async(_requests(app, method, path, 10)) == [200] * 10
        assert inner.most == 10, path
    inner = Recorder()
    run_async(_requests(RequestSlots(inner, limit=1), "GET", "/login", 5))
    assert inner.most == 1  # the login page itself is an ordinary request
