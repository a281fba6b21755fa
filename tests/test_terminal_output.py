"""What the winback command prints from data shows as written: no Rich markup, no terminal
control sequences (issue 12, item 10). Run in a real process that Rich takes for a terminal
(FORCE_COLOR), where a hyperlink would be written as an OSC-8 escape."""

from __future__ import annotations

import csv
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import run_winback

MARKUP = "[link=https://evil.example]click[/link] [bold red]x[/]"
# A raw OSC-8 hyperlink, a carriage return that would overwrite the line, a bell, a CSI.
CONTROLS = "\x1b]8;;https://evil.example\x07raw\x1b]8;;\x07 \rover\x07 \x1b[2J"
HOSTILE = f"{MARKUP} {CONTROLS}"
AS_OF = date(2024, 6, 30)
SGR = re.compile(r"\x1b\[[0-9;]*m")  # colours and bold: the only escapes Rich may write


def _printed(text: str) -> str:
    """``text`` without Rich's colour codes; whatever escape is left came from data."""
    return SGR.sub("", text)


@pytest.fixture(scope="module")
def hostile_scan(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, str | None], subprocess.CompletedProcess[str]]:
    """A workspace whose one lapsed, valuable customer has a hostile name, and what
    ``winback scan`` printed of it."""
    tmp = tmp_path_factory.mktemp("hostile")
    env: dict[str, str | None] = {"WINBACK_HOME": str(tmp / "ws"), "WINBACK_DESK_URL": None}
    with (tmp / "customers.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["customer_id", "name", "segment"])
        writer.writerow(["c1", "Ada", "retail"])
        writer.writerow(["c2", HOSTILE, "retail"])
    with (tmp / "orders.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["order_id", "customer_id", "order_date", "amount"])
        for k in range(12):  # c1 buys every 30 days, up to 10 days ago: active
            writer.writerow([f"a{k}", "c1", AS_OF - timedelta(days=10 + 30 * k), "100.00"])
        for k in range(8):  # c2 bought every 30 days, last 100 days ago: lapsed
            writer.writerow([f"b{k}", "c2", AS_OF - timedelta(days=100 + 30 * k), "500.00"])
    for table in ("orders", "customers"):
        done = run_winback("import", table, str(tmp / f"{table}.csv"), env=env)
        assert done.returncode == 0, done.stderr
    env["FORCE_COLOR"] = "1"
    return env, run_winback("scan", "--no-sync", env=env)


def test_a_hostile_name_shows_as_written_in_winback_customer(
    hostile_scan: tuple[dict[str, str | None], subprocess.CompletedProcess[str]],
) -> None:
    env, _ = hostile_scan
    done = run_winback("customer", "c2", env=env)

    assert done.returncode == 0, done.stderr
    shown = _printed(done.stdout)
    assert f"c2 {MARKUP} \\x1b]8;;https://evil.example\\x07raw" in shown
    assert "\\rover\\x07 \\x1b[2J" in shown
    assert "\x1b]8;" not in done.stdout  # no hyperlink, Rich's or the data's
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "\r" not in shown


def test_a_hostile_name_shows_as_written_in_the_ranked_list(
    hostile_scan: tuple[dict[str, str | None], subprocess.CompletedProcess[str]],
) -> None:
    _, done = hostile_scan

    assert done.returncode == 0, done.stderr
    shown = _printed(done.stdout)
    assert "[link=https://evil.example]" in shown
    assert "[/link]" in shown
    assert "\x1b]8;" not in done.stdout
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "\r" not in shown


def test_an_error_message_shows_its_brackets(tmp_path: Path) -> None:
    missing = tmp_path / "[link=https://evil.example]x[/link]"
    done = run_winback(
        "import-folder", str(missing), env={"WINBACK_HOME": str(tmp_path), "FORCE_COLOR": "1"}
    )

    assert done.returncode == 2
    assert f"{missing}: not a folder" in _printed(done.stderr)
    assert "\x1b]8;" not in done.stderr


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (("policy", "--help"), ["[lapse]", "[red_carpet]", "[assignment]"]),
        (("scan", "--help"), ["winback[spark]"]),
        (("import", "--help"), ["[columns]", "[formats]", "[defaults]"]),
    ],
)
def test_help_keeps_its_brackets(command: tuple[str, ...], words: list[str]) -> None:
    done = run_winback(*command, env={"FORCE_COLOR": "1"})

    assert done.returncode == 0, done.stderr
    for word in words:
        assert word in _printed(done.stdout), word


def test_the_list_shows_the_chances_without_and_with_a_call(
    hostile_scan: tuple[dict[str, str | None], subprocess.CompletedProcess[str]],
) -> None:
    _, done = hostile_scan
    printed = _printed(done.stdout)
    assert "anyway → call" in printed
    # c2, gone by every sign (P(alive) near 0): the priors, 10 % anyway and 30 % with a call
    assert re.search(r"│ 1\s+│.*│ 1\d% → 3\d%\s+│", printed), printed
