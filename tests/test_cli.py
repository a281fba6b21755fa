"""The winback command as a user runs it: a real process, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def winback(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WINBACK_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "winback", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_import_prints_counts_and_rejects_and_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,order_date,amount\n1,a,2024-01-01,5\n2,b,2024-01-02,-1\n")

    done = winback("import", "orders", str(path), home=tmp_path / "ws")

    assert done.returncode == 0, done.stderr
    assert "orders.csv line 3: amount '-1' is negative" in done.stdout
    assert "every rejected record, with its reason:" in done.stdout
    strict = winback("import", "orders", str(path), "--fail-on-rejects", home=tmp_path / "ws")
    assert strict.returncode == 1


def test_unreadable_file_exits_non_zero_with_one_clear_line(tmp_path: Path) -> None:
    done = winback("import", "orders", str(tmp_path / "missing.csv"), home=tmp_path / "ws")

    assert done.returncode == 2
    assert "missing.csv: file not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    done = winback("import", "ordres", str(path), home=tmp_path / "ws")
    assert done.returncode == 2
    assert "unknown table 'ordres'; winback knows customers, orders" in done.stderr


def test_bad_setting_stops_the_command(tmp_path: Path) -> None:
    env_home = tmp_path / "ws"
    done = subprocess.run(
        [sys.executable, "-m", "winback", "ledger"],
        capture_output=True,
        text=True,
        env={**os.environ, "WINBACK_HOME": str(env_home), "WINBACK_DESK_URL": "oracle://x"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "WINBACK_DESK_URL" in done.stderr


def test_demo_imports_cdnow_and_shows_the_ledger(tmp_path: Path) -> None:
    done = winback("demo", home=tmp_path / "ws")

    assert done.returncode == 0, done.stderr
    assert "69,659 orders by 23,570 customers" in done.stdout
    assert (tmp_path / "ws" / "ledger" / "manifest.json").exists()
