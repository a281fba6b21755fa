"""Docs that cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from winback.cli import reference
from winback.ledger.contract_doc import render_markdown
from winback.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_data_contract_doc_is_generated_from_the_code() -> None:
    written = (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert written == render_markdown(), (
        "docs/data-contract.md is out of date: run "
        "`uv run winback contract --markdown > docs/data-contract.md`"
    )


def test_every_setting_is_documented() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"WINBACK_{name.upper()}" in operations, name


def test_readme_gives_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./scripts/demo" in readme
    assert "./scripts/test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/lint" in ci
    assert "exec ./scripts/test" in ci
    check = (ROOT / "scripts" / "check").read_text(encoding="utf-8")
    assert '"$here/lint"' in check
    assert 'exec "$here/test"' in check


def test_cli_reference_is_generated_from_the_commands() -> None:
    written = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, _command, _ctx in reference.commands():
        assert f"\n## {name}\n" in written, f"docs/cli.md has no section for `{name}`"
    assert written == reference.render_markdown(), (
        "docs/cli.md is out of date: run `uv run python -m winback.cli.reference > docs/cli.md`"
    )


def test_every_command_and_option_says_what_it_does() -> None:
    silent = []
    for name, command, _ctx in reference.commands():
        if not (command.help or "").strip():
            silent.append(name)
        silent += [
            f"{name} {param.name}"
            for param in command.params
            if not (getattr(param, "help", None) or "").strip()
        ]
    assert silent == []
    names = [name for name, _command, _ctx in reference.commands()]
    assert {"winback scan", "winback import-folder", "winback user add"} <= set(names)


def test_readme_links_the_cli_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "[docs/cli.md](docs/cli.md)" in readme
