"""``winback backup`` and ``winback restore``: the workspace to a folder or .tar.gz and back."""

from __future__ import annotations

from pathlib import Path

import typer

from winback.backup import Contents, make_backup, restore_backup
from winback.cli.output import out, safe
from winback.settings import load_settings


def backup_command(
    dest: Path = typer.Argument(
        ...,
        help="A new (or empty) folder, or a new file ending in .tar.gz.",
        show_default=False,
    ),
) -> None:
    """Back up the workspace while it runs: the ledger (a consistent snapshot), scan runs,
    rejects, the policy file, the session key, and a SQLite desk (PostgreSQL: pg_dump)."""
    contents = make_backup(load_settings(), dest)
    out.print(
        f"backed up to {safe(dest)}: {len(contents.files):,} files, "
        f"{contents.total_bytes / 1e6:,.1f} MB, checksums in winback-backup.json",
        highlight=False,
        soft_wrap=True,
    )
    _say(contents)


def restore_command(
    source: Path = typer.Argument(
        ..., help="A backup folder or .tar.gz made by winback backup.", show_default=False
    ),
) -> None:
    """Restore a backup into an empty workspace (WINBACK_HOME), after checking every file."""
    restored = restore_backup(load_settings(), source)
    out.print(
        f"restored {safe(source)} into {safe(restored.home)} "
        f"(backed up {safe(restored.contents.created_at)} by winback "
        f"{safe(restored.contents.version)}); every checksum matched",
        highlight=False,
        soft_wrap=True,
    )
    _say(restored.contents, restored.notes)


def _say(contents: Contents, extra: list[str] | None = None) -> None:
    ledger = sum(contents.ledger_rows.values())
    tables = sum(1 for rows in contents.ledger_rows.values() if rows)
    lines = [
        f"ledger: {ledger:,} rows in {tables} tables",
        f"scan runs: {len(contents.runs)}"
        + (f" (latest {safe(contents.latest_run)})" if contents.latest_run else ""),
        f"rejects files: {contents.rejects_files}",
        f"policy file: {'yes' if contents.policy else 'no (the defaults)'}",
        f"session key: {'yes' if contents.secret_key else 'no'}",
    ]
    if contents.desk == "sqlite":
        rows = contents.desk_rows
        lines.append(
            f"desk (SQLite): {rows.get('users', 0):,} users, {rows.get('cases', 0):,} cases, "
            f"{rows.get('audit_log', 0):,} audit rows"
        )
    else:
        where = "PostgreSQL, not in the backup" if contents.desk == "postgresql" else "none"
        lines.append(f"desk: {where}")
    for line in lines:
        out.print(f"  {line}", highlight=False, soft_wrap=True)
    for note in [*contents.notes, *(extra or [])]:
        out.print(f"  note: {safe(note)}", highlight=False, soft_wrap=True)
