"""Running one measurement in a fresh process and reading its own CPU, wall time and peak.

Shared by the speed benchmarks: the child's CPU seconds (user + system, every thread) and
peak resident memory come from ``wait4``, so they are the child's alone whatever else the
machine runs; wall time is measured around it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def measure_child(which: str, arguments: list[str], out: Path) -> dict[str, Any]:
    """Run ``python arguments…`` (stdout to ``out``); the JSON object on its last line,
    with ``seconds`` (wall), ``cpu`` and ``peak_mb`` added. Exits naming ``which`` and the
    end of the child's errors when it fails."""
    with out.open("w") as stdout:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, *arguments],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        )
        assert child.stderr is not None
        errors = child.stderr.read()
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{which} failed:\n{errors[-3000:]}")
    measured: dict[str, Any] = json.loads(out.read_text().strip().splitlines()[-1])
    measured |= {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
    }
    return measured
