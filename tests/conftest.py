"""Shared fixtures. A test that needs a local service skips when it is absent, except
where WINBACK_REQUIRE_SERVICES=1 (CI), which turns that skip into a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

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
