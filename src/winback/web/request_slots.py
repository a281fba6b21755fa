"""At most so many requests at once in one worker; the others wait their turn on the event
loop (an ASGI middleware).

Each request holds at most one connection of the desk's pool, from its first query until
its response is built, and between its steps (the route, the answer's serialisation, the
session's close) it gives its thread back. Counting threads alone therefore does not bound
the connections held: under load more requests hold one than there are threads, the pool
runs dry, and a request then waits for a connection *inside* a thread until SQLAlchemy's
pool time-out answers 500 (measured: 116 of them at 200 reps). Counting whole requests
does: ``limit`` requests at once, each with at most one connection, against a pool of
``limit`` plus spare connections, so none ever waits for a connection; the rest wait here,
first come first served, holding no thread and no connection.

Static files take no connection and pass straight through. So does the login form's
POST: it waits in its own line for a password check (desk.login.PasswordChecks), which
must not hold a place here meanwhile; the pool keeps a connection for each check.
"""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary

from starlette.types import ASGIApp, Receive, Scope, Send


class RequestSlots:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        # One semaphore per event loop (a test may serve one app from several loops).
        self._gates: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path.startswith("/static/")
            or (path == "/login" and scope.get("method") == "POST")
        ):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.limit)
        async with gate:
            await self.app(scope, receive, send)
