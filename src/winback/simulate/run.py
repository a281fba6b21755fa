"""``simulate()``: build a world and write it to a folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winback.errors import SettingsError
from winback.simulate.settings import WorldSettings, settings_for
from winback.simulate.world import chunks, iter_world
from winback.simulate.writer import FORMATS, TRUTH_DIR, Format, WorldWriter

SETTINGS_FILE = "settings.json"


@dataclass(frozen=True)
class SimulationSummary:
    """What a run wrote: the folder, rows per table and how long it took."""

    out: Path
    settings: WorldSettings
    fmt: Format
    rows: dict[str, int]
    seconds: float

    @property
    def truth(self) -> Path:
        return self.out / TRUTH_DIR


def simulate(
    profile: str,
    customers: int,
    months: int,
    seed: int,
    out: Path,
    fmt: str = "csv",
    progress: Callable[[int, int], None] | None = None,
    **knobs: Any,
) -> SimulationSummary:
    """Simulate a business and write every contract table plus the ground truth.

    Parameters
    ----------
    profile
        ``retail``, ``b2b`` or ``subscription``.
    customers, months, seed
        Size of the customer base, length of the observation window, random seed.
    out
        Folder to write into (created if needed; files already there are replaced).
    fmt
        ``csv``, ``csv.gz`` (gzip-compressed CSV) or ``parquet``.
    progress
        Called with (customers done, customers in all) after each chunk.
    **knobs
        Any other :class:`WorldSettings` field, e.g. ``late_payer_share=0.2``.

    Raises
    ------
    SettingsError
        For a bad profile, size, format or knob.
    """
    if fmt not in FORMATS:
        raise SettingsError(f"unknown format {fmt!r}; choose csv, csv.gz or parquet")
    settings = settings_for(profile, customers=customers, months=months, seed=seed, **knobs)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SettingsError(f"{out} exists and is not a folder")
    started = time.perf_counter()
    done = 0
    with WorldWriter(out, fmt) as writer:
        for piece in iter_world(settings):
            for name, table in piece.items():
                writer.write(name, table)
            if "customers" in piece:
                done += piece["customers"].num_rows
                if progress is not None:
                    progress(done, settings.customers)
    (out / TRUTH_DIR / SETTINGS_FILE).write_text(
        json.dumps(
            {"format": fmt, "chunks": len(chunks(customers)), **settings.as_json()}, indent=2
        )
        + "\n"
    )
    return SimulationSummary(out, settings, fmt, writer.rows, time.perf_counter() - started)
