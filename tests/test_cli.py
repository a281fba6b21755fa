"""The winback command as a user runs it: a real process, real files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run_winback


def winback(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return run_winback(*args, env={"WINBACK_HOME": str(home)})


def test_import_prints_counts_and_rejects_and_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,order_date,amount\n1,a,2024-01-01,5\n2,b,2024-01-02,-1\n")

    done = winback("import", "orders", str(path), home=tmp_path / "ws")

    assert done.returncode == 0, done.stderr
    assert "orders ← orders.csv: read 2 · stored 1 · updated 0 · duplicate 0 · 1 rejected" in (
        done.stdout
    )
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
    done = run_winback(
        "ledger", env={"WINBACK_HOME": str(env_home), "WINBACK_DESK_URL": "oracle://x"}, timeout=60
    )
    assert done.returncode == 2
    assert "WINBACK_DESK_URL" in done.stderr


def test_import_folder_imports_every_table_file_in_contract_order(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_text("order_id,customer_id,order_date,amount\n1,a,2024-01-01,5\n")
    (data / "customers.csv").write_text("customer_id,name\na,Ann\n")
    (data / "notes.txt").write_text("not a table")

    done = winback("import-folder", str(data), home=tmp_path / "ws")

    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "←" in line]
    assert lines[0].startswith("customers ← customers.csv: read 1 · stored 1")
    assert lines[1].startswith("orders ← orders.csv: read 1 · stored 1")
