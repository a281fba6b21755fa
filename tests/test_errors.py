"""winback raises a specific error for each thing that goes wrong, never the bare base."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from winback import cycle
from winback.cli import app
from winback.errors import ImportFolderError, NoScanRunError, ScanRunError, UsageError
from winback.policy import Policy
from winback.scan.runs import read_run
from winback.settings import Settings

SRC = Path(__file__).resolve().parents[1] / "src" / "winback"


def test_the_base_error_is_never_raised_itself() -> None:
    bare = [
        f"{path.relative_to(SRC.parents[1])}:{node.lineno}"
        for path in sorted(SRC.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and ast.unparse(node.exc.func).rpartition(".")[2] == "WinbackError"
    ]
    assert bare == [], "raise a subclass from winback/errors.py (add one if none fits)"


def test_sync_before_any_scan_is_a_missing_scan_run(workspace: Path) -> None:
    settings = Settings(home=workspace)
    with pytest.raises(NoScanRunError, match=r"no scan run in .*runs yet: run a scan first"):
        cycle.sync(settings, Policy())


def test_a_folder_that_is_not_a_scan_run_is_a_scan_run_error(tmp_path: Path) -> None:
    with pytest.raises(ScanRunError, match="not a readable scan run"):
        read_run(tmp_path)


def test_importing_a_missing_folder_names_the_folder(workspace: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(app, ["import-folder", str(missing)])
    assert isinstance(result.exception, ImportFolderError)
    assert str(result.exception) == f"{missing}: not a folder"


def test_a_bad_as_of_date_is_a_usage_error(workspace: Path) -> None:
    result = CliRunner().invoke(app, ["scan", "--as-of", "2024-13-01"])
    assert isinstance(result.exception, UsageError)
    assert str(result.exception) == "--as-of '2024-13-01' is not a date (expected YYYY-MM-DD)"
