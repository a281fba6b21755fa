"""Running one measurement in a fresh process and reading its own CPU, wall time and peak.

Shared by the speed benchmarks: the child's CPU seconds (user + system, every thread) and
peak resident memory come from ``wait4``, so they are the child's alone whatever else the
machine runs; wall time is measured around it. On request, the resident memory of the
child and its own children (Spark's JVM) is also sampled as it runs, for the peak of each
of its steps.

The children run with their modules' bytecode compiled beforehand (:func:`compiled_env`),
as an installed program has it: where ``PYTHONDONTWRITEBYTECODE`` is set (this project's
machines set it), every child otherwise compiled winback's and its libraries' sources
afresh, some 4 CPU seconds of a scan's start-up, which no user waits for twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any


def measure_child(
    which: str, arguments: list[str], out: Path, sample_every: float | None = None
) -> dict[str, Any]:
    """Run ``python arguments…`` (stdout to ``out``); the JSON object on its last line,
    with ``seconds`` (wall), ``cpu`` and ``peak_mb`` added. Exits naming ``which`` and the
    end of the child's errors when it fails. With ``sample_every`` (seconds), also
    ``rss``: ``[time.time(), MB]`` pairs, the resident memory of the child and its
    descendants together at each sample."""
    samples: list[list[float]] = []
    env = compiled_env()
    with out.open("w") as stdout:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, *arguments],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        done = threading.Event()
        if sample_every:
            sampler = threading.Thread(
                target=_sample, args=(child.pid, sample_every, done, samples), daemon=True
            )
            sampler.start()
        assert child.stderr is not None
        errors = child.stderr.read()
        done.set()
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        # A JVM's stack trace can push the exception's own message out of the tail shown.
        kept = out.with_suffix(".err")
        kept.write_text(errors)
        raise SystemExit(f"{which} failed (all its errors in {kept}):\n{errors[-3000:]}")
    measured: dict[str, Any] = json.loads(out.read_text().strip().splitlines()[-1])
    measured |= {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
    }
    if sample_every:
        measured["rss"] = samples
    return measured


def _sample(pid: int, every: float, done: threading.Event, into: list[list[float]]) -> None:
    while not done.wait(every):
        into.append([time.time(), _tree_rss_mb(pid)])


def _tree_rss_mb(pid: int) -> float:
    """Resident MB of ``pid`` and every process below it (0 for those already gone)."""
    kib, todo, seen = 0, [pid], set()
    while todo:
        at = todo.pop()
        if at in seen:
            continue
        seen.add(at)
        try:
            with open(f"/proc/{at}/status") as status:
                kib += next((int(x.split()[1]) for x in status if x.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{at}/task"):
                with open(f"/proc/{at}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except OSError:  # the process (or a thread) ended meanwhile
            continue
    return kib / 1024


#: Where the children's compiled bytecode is kept (Python's ``PYTHONPYCACHEPREFIX``), shared
#: by every benchmark and run: a module compiled once is compiled again only when its
#: source changes (Python compares the source's time and size).
BYTECODE = Path(tempfile.gettempdir()) / "winback-bench-bytecode"


@cache
def compiled_env() -> dict[str, str]:
    """The children's environment: one thread for OpenBLAS, and bytecode read from (and
    written to) :data:`BYTECODE`, every module of this interpreter's libraries and of
    winback compiled there first (about 30 CPU seconds the first time, a second after)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPYCACHEPREFIX": str(BYTECODE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    import winback

    sources = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    sources.add(str(Path(winback.__file__).parent))
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *sorted(sources)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,  # a library file Python cannot compile (a test fixture) is no matter
    )
    return env
