"""1,000 mutated files (CSV, CSV.gz, Parquet, JSON Lines, mapping files), seeded.

Every input ends in a result or one readable WinbackError, never another exception; the
counts add up; the manifest names only complete segments and no staged file is left.
A sample runs through the real ``winback import`` command: exit 0 or 2, no traceback.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_winback
from winback.errors import WinbackError
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger

SEED = 20261126
INPUTS = 1000
KINDS = ("csv", "csv.gz", "parquet", "jsonl", "mapping")

_HEADER = ["order_id", "customer_id", "order_date", "amount", "status"]
_NASTY = [
    ",",
    ";",
    '"',
    "'",
    "\n",
    "\r\n",
    "\t",
    "|",
    "\x00",
    "\ufeff",
    "=",
    "-",
    "[/]",
    "{}",
    "0000-00-00",
    "9999-12-31",
    "2024-02-30",
    "1e308",
    "-1",
    "NaN",
    "é",
    " ",
]


def _good_rows(rng: random.Random) -> list[list[str]]:
    rows = []
    for i in range(rng.randint(1, 25)):
        rows.append(
            [
                f"O{rng.randint(0, 30)}",
                f"C{rng.randint(0, 9)}",
                f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(0, 9999) / 100:.2f}",
                rng.choice(["completed", "cancelled", "Refunded", "pending"]),
            ]
        )
        if i and rng.random() < 0.1:
            rows.append(list(rows[-1]))  # an exact repeat
    return rows


def _mutate_text(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 6)):
        if not text:
            break
        at = rng.randrange(len(text))
        what = rng.random()
        if what < 0.35:
            text = text[:at] + rng.choice(_NASTY) + text[at:]
        elif what < 0.55:
            text = text[:at] + text[at + rng.randint(1, 8) :]
        elif what < 0.7:
            text = text[:at]
        elif what < 0.8:
            line_end = text.find("\n", at)
            text = (
                text[:line_end] + "," * rng.randint(1, 3) + text[line_end:]
                if line_end > 0
                else text
            )
        elif what < 0.9:
            lines = text.split("\n")
            text = "\n".join([*lines, rng.choice(lines)])
        else:
            text = text[:at] + "x" * rng.choice([10, 1000, 140_000]) + text[at:]
    return text


def _csv_text(rng: random.Random) -> str:
    header = list(_HEADER)
    if rng.random() < 0.2:
        rng.shuffle(header)
    if rng.random() < 0.1:
        header[rng.randrange(len(header))] = rng.choice(["", "[bold]x[/y]", "order id", "amount"])
    delimiter = rng.choice([",", ",", ";", "\t", "|"])
    lines = [delimiter.join(header)]
    for row in _good_rows(rng):
        lines.append(delimiter.join(f'"{v}"' if rng.random() < 0.1 else v for v in row))
    return _mutate_text(rng, "\n".join(lines) + rng.choice(["\n", "", "\r\n"]))


def _encode(rng: random.Random, text: str) -> bytes:
    data = text.encode("utf-8")
    if data and rng.random() < 0.1:  # a byte that is not UTF-8
        at = rng.randrange(len(data))
        data = data[:at] + b"\xff" + data[at:]
    return data


def _flip(rng: random.Random, data: bytes) -> bytes:
    if not data or rng.random() < 0.5:
        return data
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    return bytes(buffer[: rng.randint(1, len(buffer))] if rng.random() < 0.3 else buffer)


def make_input(rng: random.Random, kind: str, folder: Path) -> tuple[Path, Path | None]:
    """One mutated file (and a mapping file for kind "mapping")."""
    if kind == "csv":
        path = folder / "orders.csv"
        path.write_bytes(_encode(rng, _csv_text(rng)))
        return path, None
    if kind == "csv.gz":
        path = folder / "orders.csv.gz"
        path.write_bytes(_flip(rng, gzip.compress(_encode(rng, _csv_text(rng)), mtime=0)))
        return path, None
    if kind == "parquet":
        rows = _good_rows(rng)
        columns = {name: [r[i] for r in rows] for i, name in enumerate(_HEADER)}
        for name in columns:
            if rng.random() < 0.3:
                columns[name] = [
                    _mutate_text(rng, v) if rng.random() < 0.5 else v for v in columns[name]
                ]
        table = pa.table(columns)
        if rng.random() < 0.3:
            table = table.set_column(3, "amount", pa.array([rng.uniform(-5, 1e6) for _ in rows]))
        if rng.random() < 0.2:
            table = table.drop_columns([rng.choice(_HEADER)])
        sink = io.BytesIO()
        pq.write_table(table, sink)
        path = folder / "orders.parquet"
        path.write_bytes(_flip(rng, sink.getvalue()) if rng.random() < 0.3 else sink.getvalue())
        return path, None
    if kind == "jsonl":
        lines = []
        for row in _good_rows(rng):
            record: object = dict(zip(_HEADER, row, strict=True))
            if rng.random() < 0.1:
                record = rng.choice([[1, 2], "text", None, {"order_id": {"nested": 1}}])
            lines.append(json.dumps(record))
        path = folder / "orders.jsonl"
        path.write_bytes(_encode(rng, _mutate_text(rng, "\n".join(lines) + "\n")))
        return path, None
    # A good file with a mutated mapping file.
    data = folder / "orders.csv"
    data.write_text(
        "Order No;Client;Day;Total\n"
        + "".join(f"O{i};C{i % 3};0{i % 9 + 1}/02/2024;{i}.50\n" for i in range(rng.randint(1, 9))),
        encoding="utf-8",
    )
    mapping = (
        '[columns]\n"Order No" = "order_id"\n"Client" = "customer_id"\n"Day" = "order_date"\n'
        '"Total" = "amount"\n[formats]\norder_date = "%d/%m/%Y"\n[defaults]\ncurrency = "EUR"\n'
    )
    if rng.random() < 0.3:
        mapping = mapping.replace(
            "%d/%m/%Y", rng.choice(["%Q", "%d", "", "%Y-%m-%d", "%d/%m/%Y %H"])
        )
    path = folder / "map.toml"
    path.write_bytes(_encode(rng, _mutate_text(rng, mapping)))
    return data, path


def _check_ledger(ledger: Ledger, checked: set[str]) -> None:
    """The manifest names only complete segments; nothing staged is left."""
    for segments in ledger.manifest().tables.values():
        for segment in segments:
            if segment.file not in checked:
                metadata = pq.ParquetFile(ledger.root / segment.file).metadata
                assert metadata.num_rows == segment.rows, segment
                checked.add(segment.file)
    assert list(ledger.root.glob("*/*.staged")) == []


def test_a_thousand_mutated_files_end_in_a_result_or_one_readable_error(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    outcomes = {"imported": 0, "refused": 0}
    checked: set[str] = set()
    for n in range(INPUTS):
        kind = KINDS[n % len(KINDS)]
        # Imports meet earlier ones (duplicates, updates) within a ledger of 25 inputs;
        # a ledger of hundreds of tiny segments would only measure reading them.
        ledger = Ledger(tmp_path / f"ledger{n // 25}")
        folder = tmp_path / f"in{n % 2}"
        folder.mkdir(exist_ok=True)
        path, mapping = make_input(rng, kind, folder)
        segments_before = sum(len(s) for s in ledger.manifest().tables.values())
        try:
            result = import_file(
                ledger,
                "orders",
                path,
                rejects_dir=tmp_path / "rejects",
                mapping_path=mapping,
                wait_seconds=0,
            )
        except WinbackError as exc:
            message = str(exc)
            assert message, (n, kind)
            assert "\n" not in message, (n, kind, message)
            assert "Traceback" not in message
            outcomes["refused"] += 1
            assert sum(len(s) for s in ledger.manifest().tables.values()) == segments_before
        except Exception as exc:  # the bug this test is for: say which input
            raise AssertionError(f"input {n} ({kind}, seed {SEED}): {exc!r}") from exc
        else:
            assert result.balanced, (n, kind, result)
            assert result.read == (
                result.stored + result.updated + result.duplicates + result.rejected
            )
            outcomes["imported"] += 1
        _check_ledger(ledger, checked)
    # The mutations must exercise both ends: some files import, some are refused.
    assert outcomes["imported"] > 300, outcomes
    assert outcomes["refused"] > 50, outcomes


@pytest.mark.slow
def test_a_sample_of_mutated_files_through_the_command_exit_0_or_2(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    env = {"WINBACK_HOME": str(tmp_path / "ws")}
    seen = set()
    for n in range(6):
        kind = KINDS[n % len(KINDS)]
        folder = tmp_path / f"cli{n}"
        folder.mkdir()
        path, mapping = make_input(rng, kind, folder)
        args = ["import", "orders", str(path)] + (["--mapping", str(mapping)] if mapping else [])
        done = run_winback(*args, env=env)
        assert done.returncode in (0, 2), (n, kind, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, (n, kind, done.stderr[-2000:])
        if done.returncode == 2:
            assert done.stderr.count("error:") == 1
        seen.add(done.returncode)
