"""The desk's commands: ``winback user add`` and ``winback sync`` (thin; the work is in
the desk's service functions and the cycle)."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import typer

from winback import cycle
from winback.cli.output import out, print_export, safe
from winback.desk import red_carpet, users
from winback.desk.models import ROLES
from winback.desk.sync import SyncResult
from winback.errors import UsageError
from winback.settings import load_settings

user_app = typer.Typer(
    help="Desk users: add them, change a role, reset a password.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


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
    email: str = typer.Option(
        "", help="Where their daily digest of unread notices goes (when SMTP is set up)."
    ),
) -> None:
    """Add a desk user. Prints a generated password once unless --password-stdin."""
    settings = load_settings()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    with cycle.desk_session(settings) as db:
        user = users.create_user(
            db,
            None,
            username=username,
            name=name,
            role=role,
            password=password,
            staff_id=staff_id,
            email=email,
        )
    out.print(f"added {safe(user.role)} {safe(user.username)} (user {user.id})", highlight=False)
    if not password_stdin:
        out.print(f"password: {safe(password)}", highlight=False)


@user_app.command("role")
def user_role(
    username: str = typer.Argument(..., help="The user's login name."),
    role: str = typer.Option(..., help=f"The new role, one of: {', '.join(ROLES)}."),
) -> None:
    """Change a user's role (their concession limits become the role's starting ones)."""
    settings = load_settings()
    with cycle.desk_session(settings) as db:
        user = users.set_role(db, None, users.by_username(db, username).id, role)
    out.print(f"{safe(user.username)} is now {safe(user.role)}", highlight=False)


@user_app.command("email")
def user_email(
    username: str = typer.Argument(..., help="The user's login name."),
    address: str = typer.Argument(
        ..., help="Where their daily digest of unread notices goes; '' removes it."
    ),
) -> None:
    """Set (or remove) a user's e-mail address, where their daily digest goes."""
    settings = load_settings()
    with cycle.desk_session(settings) as db:
        user = users.set_email(db, None, users.by_username(db, username).id, address)
    where = f"e-mail {user.email}" if user.email else "no e-mail address (no digest)"
    out.print(f"{safe(user.username)}: {safe(where)}", highlight=False)


@user_app.command("reset-password")
def user_reset_password(
    username: str = typer.Argument(..., help="The user's login name."),
    password_stdin: bool = typer.Option(
        False, help="Read the new password from standard input instead of generating one."
    ),
) -> None:
    """Reset a user's password and end their sessions. Prints a generated one once
    unless --password-stdin."""
    settings = load_settings()
    typed = sys.stdin.readline().rstrip("\n") if password_stdin else ""
    if password_stdin and not typed:
        raise UsageError("--password-stdin: standard input held no password")
    with cycle.desk_session(settings) as db:
        chosen = users.reset_password(db, None, users.by_username(db, username).id, typed)
    out.print(f"password of {safe(username)} reset; their sessions have ended", highlight=False)
    if not password_stdin:
        out.print(f"password: {safe(chosen)}", highlight=False)


def sync_command(
    policy: Path | None = typer.Option(
        None, help="Policy file (default: WINBACK_POLICY, else the workspace's policy.toml)."
    ),
) -> None:
    """Turn the latest scan run into cases: open, refresh, close the returned."""
    settings = load_settings()
    result = cycle.sync(settings, cycle.policy_in_force(settings, policy))
    print_sync(result)


def print_sync(result: SyncResult) -> None:
    """What a sync did: cases, outcomes sent to the ledger, the red carpet."""
    out.print(
        f"scan run {safe(result.run_id)}: {result.opened:,} case(s) opened "
        f"({result.unassigned:,} left for a manager to assign), {result.refreshed:,} refreshed, "
        f"{result.unchanged:,} unchanged, {result.returned:,} closed as returned "
        f"({result.won_back:,} won back after contact)",
        highlight=False,
    )
    held = ", ".join(
        f"{count:,} {rule.replace('_', ' ')}" for rule, count in result.held_back.items() if count
    )
    if held:
        out.print(f"held back by the contact rules (no new case): {held}", highlight=False)
    if result.assigned or result.reassigned:
        out.print(
            f"owners repaired: {result.assigned:,} unassigned case(s) given an owner, "
            f"{result.reassigned:,} moved off users who no longer hold work",
            highlight=False,
        )
    print_export(result.outcomes)
    if result.red_carpet and result.red_carpet.get("watched"):
        out.print(safe(red_carpet.summary(result.red_carpet)), highlight=False)
