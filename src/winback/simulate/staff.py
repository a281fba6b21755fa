"""The people who deal with customers: reps, service agents, managers and executives.

The staff is sized from the whole customer base before any chunk is drawn, so every chunk
can refer to staff by number and the staff table is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winback.simulate.names import FIRST, LAST, TEAMS, emails, people
from winback.simulate.settings import WorldSettings
from winback.simulate.tables import build, ids, pick

_ACTIVE_SHARE = 0.9


@dataclass(frozen=True)
class Staff:
    """Staff numbers (1-based) by role."""

    reps: np.ndarray
    agents: np.ndarray
    managers: np.ndarray
    executives: np.ndarray

    @property
    def size(self) -> int:
        return self.reps.size + self.agents.size + self.managers.size + self.executives.size


def plan_staff(settings: WorldSettings) -> Staff:
    """How many of each role a business of this size employs."""
    n = settings.customers
    reps = max(2, -(-n // settings.customers_per_rep))
    agents = max(3, -(-n // settings.customers_per_agent))
    managers = max(1, -(-(reps + agents) // 10))
    executives = 3
    bounds = np.cumsum([0, reps, agents, managers, executives]) + 1
    return Staff(*(np.arange(bounds[i], bounds[i + 1]) for i in range(4)))


def staff_table(staff: Staff, rng: np.random.Generator) -> pa.Table:
    """The staff table."""
    n = staff.size
    numbers = np.arange(1, n + 1)
    role = np.concatenate(
        [np.full(r.size, i) for i, r in enumerate(
            (staff.reps, staff.agents, staff.managers, staff.executives)
        )]
    )  # fmt: skip
    names = people(rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n))
    staff_id = ids("S", numbers)
    return build(
        "staff",
        {
            "staff_id": staff_id,
            "name": names,
            "email": emails(names, pc.utf8_lower(staff_id), "business.example"),
            "role": pick(("rep", "service", "manager", "executive"), role),
            "team": pick(TEAMS, rng.integers(0, len(TEAMS), n)),
            "active": rng.random(n) < _ACTIVE_SHARE,
        },
        n,
    )
