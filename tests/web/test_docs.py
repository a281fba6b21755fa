"""The desk's docs cannot drift from the app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[2]


def test_every_api_call_is_in_docs_api_md(app: FastAPI) -> None:
    written = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for path, methods in app.openapi()["paths"].items():
        for method in methods:
            assert f"{method.upper()} {path}" in written, f"{method.upper()} {path}"


def test_every_desk_command_is_in_docs_desk_md() -> None:
    written = (ROOT / "docs" / "desk.md").read_text(encoding="utf-8")
    for command in (
        "winback user add",
        "winback sync",
        "winback serve",
        "--password-stdin",
        "--policy",
    ):
        assert command in written, command
