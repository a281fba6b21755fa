"""A simulated business with known ground truth (see docs/simulator.md).

``simulate`` writes a world to a folder; ``generate`` builds it in memory; ``respond``
draws how lapsed customers answer win-back offers.
"""

from winback.simulate.run import SimulationSummary, simulate
from winback.simulate.settings import OFFERS, PROFILES, WorldSettings, settings_for
from winback.simulate.truth import respond
from winback.simulate.world import generate

__all__ = [
    "OFFERS",
    "PROFILES",
    "SimulationSummary",
    "WorldSettings",
    "generate",
    "respond",
    "settings_for",
    "simulate",
]
