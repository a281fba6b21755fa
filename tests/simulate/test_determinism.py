"""Same seed, same files to the byte; another seed, another world; bad settings refused."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from winback.cli import app
from winback.errors import SettingsError
from winback.simulate.run import simulate
from winback.simulate.settings import settings_for


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_same_seed_writes_identical_files(tmp_path: Path, fmt: str) -> None:
    simulate("retail", 400, 12, 42, tmp_path / "a", fmt)
    simulate("retail", 400, 12, 42, tmp_path / "b", fmt)
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert len(a) == 13
    assert a == b


def test_gzip_csv_holds_the_same_bytes_as_csv(tmp_path: Path) -> None:
    simulate("subscription", 300, 12, 4, tmp_path / "plain", "csv")
    simulate("subscription", 300, 12, 4, tmp_path / "gz", "csv.gz")
    for plain in (tmp_path / "plain").glob("*.csv"):
        packed = tmp_path / "gz" / (plain.name + ".gz")
        assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()


def test_a_rerun_in_another_format_leaves_no_stale_tables(tmp_path: Path) -> None:
    simulate("retail", 50, 6, 0, tmp_path, "csv")
    simulate("retail", 50, 6, 0, tmp_path, "parquet")
    assert not list(tmp_path.glob("*.csv"))
    assert len(list(tmp_path.glob("*.parquet"))) == 11


def test_another_seed_writes_another_world(tmp_path: Path) -> None:
    simulate("retail", 400, 12, 1, tmp_path / "a")
    simulate("retail", 400, 12, 2, tmp_path / "b")
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert a["orders.csv"] != b["orders.csv"]
    assert a["truth/customers_truth.parquet"] != b["truth/customers_truth.parquet"]


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"customers": 0}, "at least 1"),
        ({"months": 0}, "between 1 and 240"),
        ({"seed": -1}, "zero or positive"),
        ({"never_share": 0.9}, "exceeds 1"),
        ({"no_such_knob": 1}, "unknown simulation setting"),
    ],
)
def test_bad_settings_are_refused(knobs: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_for("retail", **knobs)


def test_unknown_profile_and_format_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="unknown profile"):
        simulate("grocery", 10, 12, 0, tmp_path)
    with pytest.raises(SettingsError, match="unknown format"):
        simulate("retail", 10, 12, 0, tmp_path, "xlsx")


def test_the_command_writes_a_world(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["simulate", "--profile", "b2b", "--customers", "300", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "orders.csv").stat().st_size > 1000
    assert (out / "truth" / "customers_truth.parquet").exists()


def test_the_command_refuses_zero_customers(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--customers", "0", "--out", str(tmp_path)])
    assert isinstance(result.exception, SettingsError)


def test_knobs_can_be_set_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "knobs"
    args = ["simulate", "--customers", "50", "--out", str(out), "--profile", "b2b"]
    knobs = ["--set", "late_payer_share=1", "--set", "end=2025-12-31"]
    result = CliRunner().invoke(app, args + knobs + ["--set", "cycle_regularity=[2, 4]"])
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "truth" / "settings.json").read_text())
    assert recorded["late_payer_share"] == 1.0
    assert recorded["end"] == "2025-12-31"
    assert recorded["cycle_regularity"] == [2, 4]
    truth = pq.read_table(out / "truth" / "customers_truth.parquet")
    assert all(truth.column("late_payer").to_pylist())


@pytest.mark.parametrize(
    ("knob", "message"),
    [
        ("late_payer_share=lots", "must be float"),
        ("end=2025-13-01", "must be a date"),
        ("no_equals_sign", "name=value"),
    ],
)
def test_bad_knobs_are_refused(tmp_path: Path, knob: str, message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--set", knob])
    assert isinstance(result.exception, SettingsError)
    assert message in str(result.exception)
