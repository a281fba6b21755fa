"""Shared fixtures. A test that needs a local service skips when it is absent, except
where WINBACK_REQUIRE_SERVICES=1 (CI), which turns that skip into a failure."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

REQUIRE_SERVICES = os.environ.get("WINBACK_REQUIRE_SERVICES") == "1"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def service_missing(what: str) -> None:
    """Skip (on a laptop) or fail (in CI) because ``what`` is not available."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required here (WINBACK_REQUIRE_SERVICES=1) but is missing")
    pytest.skip(f"{what} is not available")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty winback workspace, set as WINBACK_HOME."""
    home = tmp_path / "ws"
    monkeypatch.setenv("WINBACK_HOME", str(home))
    monkeypatch.delenv("WINBACK_DESK_URL", raising=False)
    return home


def run_winback(
    *args: str, env: Mapping[str, str | None], cwd: Path | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """``winback ARGS`` in a real process, with ``env`` over this one's (None removes a
    variable) and a wide terminal so lines are not wrapped."""
    merged = {**os.environ, "COLUMNS": "200"}
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return subprocess.run(
        [sys.executable, "-m", "winback", *args],
        capture_output=True,
        text=True,
        env=merged,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a fresh event loop in a thread of its own.

    ``asyncio.run`` refuses to start in a thread whose loop is running, and the browser
    tests' session-wide Playwright keeps one running in the main thread for the rest of
    the suite.
    """
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(application: Any, *, lifespan: str = "off") -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port, in a thread, until the block
    ends; ``lifespan="on"`` runs the app's start-up and shut-down (its scheduler)."""
    import uvicorn

    config = uvicorn.Config(
        application, host="127.0.0.1", port=free_port(), log_level="warning", lifespan=lifespan
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        running.should_exit = True
        thread.join(timeout=60)
