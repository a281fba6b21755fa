"""What the simulator writes, `winback import` stores whole: no rejects, nothing ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.simulate.run import simulate


@pytest.mark.parametrize(
    ("profile", "fmt"),
    [("retail", "csv"), ("b2b", "csv.gz"), ("subscription", "parquet")],
)
def test_every_simulated_table_imports_with_no_rejects(
    profile: str, fmt: str, tmp_path: Path
) -> None:
    out = tmp_path / "sim"
    simulate(profile, 400, 18, 3, out, fmt)
    ledger = Ledger(tmp_path / "ledger")
    imported = {}
    for name in TABLES:
        files = sorted(out.glob(f"{name}.*"))
        if not files:
            continue
        (path,) = files
        result = import_file(ledger, name, path, rejects_dir=tmp_path / "rejects")
        assert result.rejected == 0, (name, result.rejects[:3])
        assert result.ignored_columns == (), name
        assert result.duplicates == 0, name
        assert result.stored == result.read, name
        imported[name] = result.stored
    assert imported["customers"] == 400
    assert imported["orders"] > 400
    assert imported["staff"] > 0
