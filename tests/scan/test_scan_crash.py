"""A scan killed mid-way (kill -9) leaves the last finished run in force, and the next scan
finishes and clears what the killed one left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.scan.runs import latest_run
from winback.simulate.run import simulate


def _scan(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "winback", "scan", "--no-sync", "--top", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_scan_killed_mid_way_leaves_the_last_run_in_force(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    data = tmp_path / "business"
    simulate("retail", 300, 24, 5, data, "csv")
    ledger = Ledger(home / "ledger")
    for table in TABLES:
        if (data / f"{table}.csv").exists():
            import_file(ledger, table, data / f"{table}.csv", rejects_dir=home / "rejects")
    env = {**os.environ, "WINBACK_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("WINBACK_DESK_URL", None)
    first = _scan(env)
    assert first.wait(timeout=600) == 0, first.stderr.read() if first.stderr else ""
    if first.stdout:
        first.stdout.close()
    if first.stderr:
        first.stderr.close()
    before = latest_run(home / "runs")
    assert before is not None

    # Killed while it works: after the ledger is read, before (or while) the run is written.
    killed = _scan(env)
    time.sleep(3)
    assert killed.poll() is None, "the scan finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    for stream in (killed.stdout, killed.stderr):
        if stream:
            stream.close()

    after = latest_run(home / "runs")
    assert after is not None
    assert after.info.run_id == before.info.run_id
    assert after.customers().num_rows == before.customers().num_rows
    # A partial run left by a scan killed long ago is cleared by the next scan.
    stale = home / "runs" / ".20000101T000000Z-dead00.partial"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    again = _scan(env)
    assert again.wait(timeout=600) == 0, again.stderr.read() if again.stderr else ""
    for stream in (again.stdout, again.stderr):
        if stream:
            stream.close()
    newest = latest_run(home / "runs")
    assert newest is not None
    assert newest.info.run_id != before.info.run_id
    assert not stale.exists()
