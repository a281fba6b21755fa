"""The desk's commands: ``winback user add`` and ``winback sync`` (thin; the work is in
the service functions)."""

from __future__ import annotations

import secrets
import sys
import tomllib
from pathlib import Path

import typer
from rich.console import Console

from winback.desk import red_carpet, timeline_index, users
from winback.desk.assignment import AssignmentPolicy
from winback.desk.db import desk_engine, open_session
from winback.desk.models import ROLES
from winback.desk.outcomes import ExportResult, export_outcomes
from winback.desk.sync import SyncResult, sync_cases
from winback.errors import WinbackError
from winback.ledger.store import Ledger
from winback.scan.runs import latest_run
from winback.settings import Settings, load_settings

user_app = typer.Typer(help="Desk users: add them from the command line.", no_args_is_help=True)
out = Console()


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help="Login name (lower-case letters, digits, . _ -)."),
    role: str = typer.Option(..., help=f"One of: {', '.join(ROLES)}."),
    name: str = typer.Option("", help="Full name (default: the username)."),
    staff_id: str | None = typer.Option(
        None, help="The person's staff_id in the ledger, so cases follow who dealt with whom."
    ),
    password_stdin: bool = typer.Option(
        False, help="Read the password from standard input instead of generating one."
    ),
) -> None:
    """Add a desk user. Prints a generated password once unless --password-stdin."""
    settings = load_settings()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            user = users.create_user(
                db,
                None,
                username=username,
                name=name,
                role=role,
                password=password,
                staff_id=staff_id,
            )
    finally:
        engine.dispose()
    out.print(f"added {user.role} {user.username} (user {user.id})", highlight=False)
    if not password_stdin:
        out.print(f"password: {password}", highlight=False)


def read_assignment_policy(path: Path | None) -> AssignmentPolicy:
    """The ``[assignment]`` section of a policy TOML file (defaults when absent)."""
    if path is None:
        return AssignmentPolicy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WinbackError(f"{path}: cannot read the policy file ({exc})") from None
    return AssignmentPolicy.from_dict(data.get("assignment"))


def export_workspace_outcomes(settings: Settings) -> ExportResult | None:
    """Send the desk's closed cases to the ledger's winback_outcomes (None: no desk)."""
    if not settings.has_desk or not settings.ledger_dir.exists():
        return None
    ledger = Ledger(settings.ledger_dir)
    if not ledger.manifest_path.exists():
        return None
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            return export_outcomes(db, ledger, settings.rejects_dir, memory=settings.import_memory)
    finally:
        engine.dispose()


def sync_workspace(settings: Settings, policy: AssignmentPolicy | None = None) -> SyncResult:
    """Sync the desk with the workspace's latest scan run (what the scan calls at its end)."""
    run = latest_run(settings.runs_dir)
    if run is None:
        raise WinbackError(f"no scan run in {settings.runs_dir} yet: run a scan first")
    ledger = Ledger(settings.ledger_dir) if settings.ledger_dir.exists() else None
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            result = sync_cases(db, None, run, ledger=ledger, policy=policy)
            if ledger is not None and ledger.manifest_path.exists():
                result.outcomes = export_outcomes(
                    db, ledger, settings.rejects_dir, memory=settings.import_memory
                )
            # Red-carpet customers: count what arrived, then watch them through the run.
            rules = settings.read_policy().red_carpet
            result.red_carpet = red_carpet.absorb_ledger(db, ledger, rules)
            result.red_carpet["slipped"] += red_carpet.check_run(db, run, rules)
    finally:
        engine.dispose()
    if ledger is not None:
        timeline_index.build(timeline_index.root_of(settings.home), ledger, settings.import_memory)
    return result


def sync_command(
    policy: Path | None = typer.Option(None, help="Policy TOML whose [assignment] section to use."),
) -> None:
    """Turn the latest scan run into cases: open, refresh, close the returned."""
    result = sync_workspace(load_settings(), read_assignment_policy(policy))
    out.print(
        f"scan run {result.run_id}: {result.opened:,} case(s) opened "
        f"({result.unassigned:,} left for a manager to assign), {result.refreshed:,} refreshed, "
        f"{result.unchanged:,} unchanged, {result.returned:,} closed as returned",
        highlight=False,
    )
    print_export(result.outcomes)
    if result.red_carpet and result.red_carpet.get("watched"):
        out.print(red_carpet.summary(result.red_carpet), highlight=False)


def print_export(result: ExportResult | None) -> None:
    """One line on the outcomes sent to the ledger (nothing when there were none)."""
    if result is None or (result.exported == 0 and result.pending == 0):
        return
    line = f"outcomes: {result.exported:,} written to the ledger's winback_outcomes"
    if result.pending:
        line += f", {result.pending:,} still pending ({result.problem})"
    out.print(line, highlight=False)
