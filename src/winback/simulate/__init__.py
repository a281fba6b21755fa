"""A simulated business with known ground truth (see docs/simulator.md).

``simulate`` writes a world to a folder; ``generate`` builds it in memory; ``respond``
draws how lapsed customers answer win-back offers; ``answer_campaign`` runs a whole
campaign on it (who returns, the orders that follow, the true lift).
"""

from winback.simulate.campaign import CampaignOutcome, answer_campaign
from winback.simulate.run import SimulationSummary, simulate
from winback.simulate.settings import OFFERS, PROFILES, WorldSettings, settings_for
from winback.simulate.truth import respond
from winback.simulate.world import generate

__all__ = [
    "OFFERS",
    "PROFILES",
    "CampaignOutcome",
    "SimulationSummary",
    "WorldSettings",
    "answer_campaign",
    "generate",
    "respond",
    "settings_for",
    "simulate",
]
