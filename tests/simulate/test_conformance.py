"""Every written file conforms to the data contract, so ``winback import`` takes it with no
rejects: exact column names, required values present, every value parses under its kind,
category values allowed, ranges respected, keys unique and references resolved."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from winback.ledger.contract import TABLES, Column
from winback.simulate.run import simulate
from winback.simulate.settings import settings_for
from winback.simulate.tables import schema
from winback.simulate.world import generate
from winback.simulate.writer import WRITTEN

PATTERNS = {
    "date": r"\d{4}-\d{2}-\d{2}",
    "timestamp": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "money": r"-?\d+\.\d{2}",
    "integer": r"-?\d+",
    "number": r"-?\d+(\.\d+)?([eE]-?\d+)?",
    "boolean": r"true|false",
}


def read_text(path: Path) -> pa.Table:
    """A CSV file with every column read as text (blank = null), as an importer sees it."""
    with path.open() as f:
        header = f.readline().strip().split(",")
    options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
    )
    return pacsv.read_csv(path, convert_options=options)


def check_column(table: str, col: Column, values: list[str | None]) -> None:
    present = [v for v in values if v is not None]
    if col.required:
        assert len(present) == len(values), f"{table}.{col.name}: required value missing"
    assert all(v.strip() for v in present), f"{table}.{col.name}: blank-looking value"
    if col.kind in PATTERNS:
        pattern = re.compile(PATTERNS[col.kind])
        bad = [v for v in present if not pattern.fullmatch(v)]
        assert not bad, f"{table}.{col.name}: {bad[:3]} are not {col.kind}"
    if col.kind in ("date", "timestamp") and present:
        parsed = np.array(present, dtype="datetime64[s]")
        assert not np.isnat(parsed).any()
    if col.kind == "category" and col.values:
        assert set(present) <= set(col.values), f"{table}.{col.name}: {set(present)}"
    if col.kind in ("money", "integer", "number") and present:
        numbers = np.array(present, dtype=float)
        low = 0 if col.kind == "money" else col.minimum
        if low is not None:
            assert numbers.min() >= low, f"{table}.{col.name} below {low}"
        if col.maximum is not None:
            assert numbers.max() <= col.maximum, f"{table}.{col.name} above {col.maximum}"


def test_every_table_conforms_to_the_contract(written: Path) -> None:
    tables = {name: read_text(written / f"{name}.csv") for name in WRITTEN}
    for name, table in tables.items():
        contract = TABLES[name]
        assert tuple(table.column_names) == contract.column_names
        for col in contract.columns:
            check_column(name, col, table.column(col.name).to_pylist())
        key = list(zip(*(table.column(k).to_pylist() for k in contract.key), strict=True))
        assert len(set(key)) == len(key), f"{name}: duplicate keys"

    customers = set(tables["customers"].column("customer_id").to_pylist())
    staff = set(tables["staff"].column("staff_id").to_pylist())
    orders = set(tables["orders"].column("order_id").to_pylist())
    for name, table in tables.items():
        cols = table.column_names
        if "customer_id" in cols and name != "customers":
            assert set(table.column("customer_id").drop_null().to_pylist()) <= customers, name
        for ref in ("staff_id", "owner_staff_id"):
            if ref in cols:
                assert set(table.column(ref).drop_null().to_pylist()) <= staff, name
        if "order_id" in cols and name != "orders":
            assert set(table.column("order_id").drop_null().to_pylist()) <= orders, name
    assert tables["customers"].num_rows == 2000
    assert tables["orders"].num_rows > 2000


@pytest.mark.usefixtures("small_chunks")
def test_csv_reads_back_as_exactly_the_world_in_memory(written: Path) -> None:
    recorded = json.loads((written / "truth" / "settings.json").read_text())
    assert recorded["chunks"] == 3
    memory = generate(settings_for(recorded["profile"], customers=2000, months=24, seed=7))
    for name in WRITTEN:
        typed = pacsv.read_csv(
            written / f"{name}.csv",
            convert_options=pacsv.ConvertOptions(
                column_types=schema(name), strings_can_be_null=True
            ),
        )
        assert typed.select(schema(name).names).equals(memory[name]), name


def test_parquet_holds_the_same_world_as_memory(tmp_path: Path) -> None:
    summary = simulate("b2b", 600, 12, 3, tmp_path, "parquet")
    memory = generate(settings_for("b2b", customers=600, months=12, seed=3))
    for name in WRITTEN:
        on_disk = pq.read_table(tmp_path / f"{name}.parquet")
        # Parquet has no second-resolution timestamps; it keeps them as milliseconds.
        assert on_disk.schema.names == schema(name).names
        on_disk = on_disk.cast(schema(name))
        assert on_disk.equals(memory[name]), name
        assert summary.rows[name] == on_disk.num_rows
    truth = pq.read_table(tmp_path / "truth" / "customers_truth.parquet")
    assert truth.equals(memory["truth"])


def test_nothing_under_truth_is_a_contract_table(written: Path) -> None:
    names = {p.name for p in (written / "truth").iterdir()}
    assert names == {"customers_truth.parquet", "settings.json"}
    assert {p.stem for p in written.glob("*.csv")} == set(WRITTEN)


@pytest.mark.parametrize("profile", ["retail", "b2b", "subscription"])
def test_a_tiny_business_is_still_well_formed(profile: str) -> None:
    world = generate(settings_for(profile, customers=1, months=1, seed=5))
    assert world["customers"].num_rows == 1
    for name in WRITTEN:
        assert world[name].schema == schema(name)
