"""Worlds shared by the simulator tests: built once per session, small enough to be fast,
large enough that the statistical checks have tight tolerances."""

from __future__ import annotations

from pathlib import Path

import pytest

from winback.simulate import world as world_module
from winback.simulate.run import simulate

from .simworld import Sim, big

#: Small chunks so every written world spans several chunks, as a big run does.
SMALL_CHUNK = 900


@pytest.fixture(scope="session", params=["retail", "b2b", "subscription"])
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small world of each profile written as CSV."""
    out = tmp_path_factory.mktemp(f"sim-{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(world_module, "CHUNK", SMALL_CHUNK)
        simulate(request.param, 2000, 24, 7, out, "csv")
    return out


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Build worlds in the same small chunks as :func:`written`."""
    monkeypatch.setattr(world_module, "CHUNK", SMALL_CHUNK)
    return SMALL_CHUNK


@pytest.fixture(scope="session")
def retail_world() -> Sim:
    return big("retail", 20000)


@pytest.fixture(scope="session")
def b2b_world() -> Sim:
    return big("b2b", 6000)


@pytest.fixture(scope="session")
def subscription_world() -> Sim:
    return big("subscription", 10000)
