"""Files that used to end the import command in a traceback: each now ends in one line."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.conftest import run_winback


def _import(tmp_path: Path, table: str, path: Path):  # type: ignore[no-untyped-def]
    return run_winback("import", table, str(path), env={"WINBACK_HOME": str(tmp_path / "ws")})


def _one_error_line(stderr: str) -> str:
    """The one error message, its white space made single (the console wraps it at the
    terminal's width, and a wrap may fall where a space was or inside a long path)."""
    assert "Traceback" not in stderr
    assert stderr.count("error:") == 1, stderr
    return " ".join(stderr.split())


def test_a_field_over_128_kb_in_a_rejected_line_is_a_reject(tmp_path: Path) -> None:
    big = "x" * 200_000
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,order_date,amount\nA1,c1,2024-01-05,10\n"
        f"A2,{big},2024-01-05,10,extra\nA3,{big},2024-13-05,10\n",
        encoding="utf-8",
    )
    done = _import(tmp_path, "orders", path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "read 3 · stored 1 · updated 0 · duplicate 0 · 2 rejected" in done.stdout
    assert "orders.csv line 4: order_date '2024-13-05' is not a date" in done.stdout


def test_a_gzip_file_cut_short_is_named_with_what_to_do(tmp_path: Path) -> None:
    # staff has no date column, so nothing samples the file before the full read.
    whole = gzip.compress(
        b"staff_id,name,role\n" + b"".join(b"S%d,Ann,rep\n" % i for i in range(20_000))
    )
    path = tmp_path / "staff.csv.gz"
    path.write_bytes(whole[:-1000])
    done = _import(tmp_path, "staff", path)
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert line.replace(" ", "").startswith(f"error:{path}:cannotreadthefile(")
    assert line.endswith("the compressed file is damaged or cut short: copy or export it again")
    assert not list((tmp_path / "ws" / "ledger").glob("staff/*")), "nothing half-written stays"


def test_a_gzip_file_damaged_at_its_start_is_named(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(b"order_id,customer_id,order_date,amount\nA1,c1,2024-01-05,1\n"))
    for i in range(12, 30):
        data[i] ^= 0x55
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(bytes(data))
    done = _import(tmp_path, "orders", path)
    assert done.returncode == 2
    assert "damaged or cut short" in _one_error_line(done.stderr)


def test_a_header_holding_rich_markup_is_quoted_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,[/],order_date,amount\nA1,c1,2024-01-05,10\n", encoding="utf-8")
    done = _import(tmp_path, "orders", path)
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert "no column for required orders field(s): customer_id" in line
    assert "The file's headers are: 'order_id', '[/]', 'order_date', 'amount'." in line

    extra = tmp_path / "more.csv"
    extra.write_text(
        "order_id,customer_id,order_date,amount,[bold]x[/nope]\nA1,c1,2024-01-05,10,1\n",
        encoding="utf-8",
    )
    done = _import(tmp_path, "orders", extra)
    assert done.returncode == 0, done.stderr
    assert "columns not in the contract, not imported: '[bold]x[/nope]'" in done.stdout
