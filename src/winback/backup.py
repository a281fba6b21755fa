"""Backing up a workspace, and restoring one into an empty folder.

A backup holds what a workspace cannot rebuild: the ledger (a consistent snapshot, see
:mod:`winback.ledger.backup`), the finished scan runs, the rejects files, the policy file,
the session-signing key, and the desk when it is a SQLite file (copied with SQLite's
online backup API, see :mod:`winback.desk.backup`). A PostgreSQL desk is backed up with
``pg_dump``; the backup says so and gives the commands. Left out on purpose: the customer
timeline copy (``winback sync`` rebuilds it), the drop folder, and the ledger's spill space.

A backup is a folder, or one ``.tar.gz`` file, holding ``winback-backup.json``: when it was
made, by which version, each file with its size and SHA-256, the ledger's rows per table,
the scan runs and the desk's rows per table. It is built under a hidden name beside the
target and renamed into place at the end, so a backup that exists is a whole one.

A restore goes into an empty workspace only. It unpacks into a hidden folder beside the
workspace, checks every checksum, reads every ledger segment and SQLite's integrity check
of the desk, and compares their rows with what the backup recorded; only then is the
folder renamed into place, so a damaged backup restores nothing at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from winback import __version__
from winback.desk.backup import check_sqlite, copy_sqlite, pg_dump_commands, sqlite_path
from winback.errors import BackupError, LedgerError
from winback.ledger.backup import check_ledger, copy_ledger
from winback.ledger.store import Ledger
from winback.settings import Settings

MANIFEST = "winback-backup.json"
FORMAT = 1
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True)
class BackupFile:
    """One file of a backup: its place in the workspace, size and SHA-256."""

    path: str
    bytes: int
    sha256: str


@dataclass
class Contents:
    """What a backup holds: the record written into it as ``winback-backup.json``."""

    created_at: str
    version: str
    ledger_rows: dict[str, int] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    latest_run: str | None = None
    rejects_files: int = 0
    desk: str = "none"  # "sqlite", "postgresql" (not in the backup: pg_dump), or "none"
    desk_rows: dict[str, int] = field(default_factory=dict)
    policy: bool = False
    secret_key: bool = False
    notes: list[str] = field(default_factory=list)
    files: list[BackupFile] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=1)

    @classmethod
    def from_json(cls, text: str, where: str) -> Contents:
        try:
            data = json.loads(text)
            if data.pop("format", None) != FORMAT:
                raise BackupError(
                    f"{where}: backup format is not {FORMAT}; it was made by another version "
                    "of winback"
                )
            data["files"] = [BackupFile(**f) for f in data["files"]]
            return cls(**data)
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"{where}: {MANIFEST} is damaged ({exc})") from None


@dataclass
class Restored:
    """What :func:`restore_backup` put where, and what the user must still do."""

    home: Path
    contents: Contents
    notes: list[str]


def make_backup(settings: Settings, dest: Path) -> Contents:
    """Back up the workspace of ``settings`` into ``dest``: a new or empty folder, or a new
    file ending in ``.tar.gz``. Imports, scans and the desk may keep running meanwhile."""
    archive = dest.name.endswith(ARCHIVE_SUFFIXES)
    if archive and dest.exists():
        raise BackupError(f"{dest}: already exists; give a new file name")
    if not archive and dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(
            f"{dest}: already exists and is not an empty folder; give a new folder "
            "(or a file name ending in .tar.gz)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700)
    try:
        contents = _gather(settings, staging)
        (staging / MANIFEST).write_text(contents.to_json(), encoding="utf-8")
        if archive:
            partial = staging.with_name(staging.name + ".tar.gz")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                for path in sorted(staging.rglob("*")):
                    tar.add(path, arcname=path.relative_to(staging).as_posix(), recursive=False)
            os.replace(partial, dest)
        else:
            if dest.exists():
                dest.rmdir()
            os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        staging.with_name(staging.name + ".tar.gz").unlink(missing_ok=True)
    return contents


def _gather(settings: Settings, into: Path) -> Contents:
    """Copy each part of the workspace into ``into``; the record of what was copied."""
    home = settings.home
    made = datetime.now(UTC).isoformat(timespec="seconds")
    contents = Contents(created_at=made, version=__version__)
    ledger = Ledger(settings.ledger_dir)
    if ledger.manifest_path.exists():
        contents.ledger_rows = copy_ledger(ledger, into / "ledger")
    else:
        contents.notes.append("the workspace has no ledger yet (nothing was imported)")
    contents.runs, contents.latest_run = _copy_runs(settings.runs_dir, into / "runs")
    if settings.rejects_dir.is_dir():
        for path in sorted(settings.rejects_dir.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                (into / "rejects").mkdir(exist_ok=True)
                shutil.copyfile(path, into / "rejects" / path.name)
                contents.rejects_files += 1
    policy = settings.policy_path
    if policy is not None:
        shutil.copyfile(policy, into / "policy.toml")
        contents.policy = True
        if settings.policy is not None:
            contents.notes.append(
                f"the policy file {policy} (WINBACK_POLICY) is in the backup as policy.toml"
            )
    if settings.secret_key:
        contents.notes.append(
            "the session key is set by WINBACK_SECRET_KEY and is not in the backup: keep it "
            "with your other secrets"
        )
    elif (home / "secret_key").is_file():
        shutil.copyfile(home / "secret_key", into / "secret_key")
        os.chmod(into / "secret_key", 0o600)
        contents.secret_key = True
    _copy_desk(settings, into, contents)
    contents.files = [_describe(path, into) for path in _files(into)]
    return contents


def _copy_runs(runs: Path, into: Path) -> tuple[list[str], str | None]:
    """The finished scan runs (a run is written under a hidden name and renamed when whole,
    so hidden folders are runs still being written). LATEST is read before the folders are
    listed, so the run it names is always among those copied."""
    if not runs.is_dir():
        return [], None
    latest = None
    if (runs / "LATEST").is_file():
        latest = (runs / "LATEST").read_text(encoding="utf-8").strip()
    copied = []
    for path in sorted(runs.iterdir()):
        if path.is_dir() and not path.name.startswith("."):
            shutil.copytree(path, into / path.name)
            copied.append(path.name)
    if latest is not None:
        (into / "LATEST").write_text(latest, encoding="utf-8")
    return copied, latest


def _copy_desk(settings: Settings, into: Path, contents: Contents) -> None:
    url = settings.desk_database_url
    path = sqlite_path(url)
    if path is None:
        contents.desk = "postgresql"
        dump, _ = pg_dump_commands(url)
        contents.notes.append(
            "the desk is on PostgreSQL and is not in this backup: back it up with its own "
            f"tools, at the same time: {dump}"
        )
    elif path.is_file():
        contents.desk = "sqlite"
        contents.desk_rows = copy_sqlite(path, into / "desk.sqlite3")
        if settings.desk_url:
            contents.notes.append(
                f"the desk {path} (WINBACK_DESK_URL) is in the backup as desk.sqlite3"
            )
    else:
        contents.notes.append("the workspace has no desk database yet")


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            yield path


def _describe(path: Path, root: Path) -> BackupFile:
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return BackupFile(path.relative_to(root).as_posix(), path.stat().st_size, digest)


def restore_backup(settings: Settings, source: Path) -> Restored:
    """Restore the backup at ``source`` (a folder or a ``.tar.gz``) into the workspace of
    ``settings``, which must be empty or absent. Checks everything before it places anything."""
    home = settings.home
    if home.exists() and any(home.iterdir()):
        held = ", ".join(sorted(p.name for p in home.iterdir())[:5])
        raise BackupError(
            f"{home} is not empty (it holds {held}); a backup restores into an empty workspace "
            "only: set WINBACK_HOME to a new folder, or move this one away first"
        )
    if not source.exists():
        raise BackupError(f"{source}: no such backup")
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = home.parent / f".{home.name}.restore-{secrets.token_hex(4)}"
    try:
        _unpack(source, staging)
        contents = _verify(source, staging)
        (staging / MANIFEST).unlink()
        if home.exists():
            home.rmdir()
        os.replace(staging, home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Restored(home, contents, _restore_notes(settings, contents))


def _extract_plain_files(tar: tarfile.TarFile, staging: Path) -> None:
    """Unpack folders and regular files only, each inside ``staging``: a backup holds
    nothing else, so an absolute path, a ``..``, a link or a device means the file is not
    one of ours. (tarfile's own "data" filter does this from Python 3.11.4; winback runs
    on every 3.11.)"""
    members = tar.getmembers()
    root = staging.resolve()
    for member in members:
        target = (staging / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            raise tarfile.TarError(f"{member.name!r} is not a file inside the backup")
    staging.mkdir(parents=True, exist_ok=True)
    for member in members:
        target = staging / member.name
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            raise tarfile.TarError(f"{member.name!r} cannot be read")
        with source, target.open("wb") as out:
            shutil.copyfileobj(source, out)
        target.chmod(member.mode & 0o777)  # the session key stays readable by its owner only


def _unpack(source: Path, staging: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, staging)
        return
    try:
        with tarfile.open(source, mode="r:*") as tar:
            _extract_plain_files(tar, staging)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{source}: not a readable .tar.gz backup ({exc})") from None
    staging.chmod(0o700)


def _verify(source: Path, staging: Path) -> Contents:
    """Every file present and whole, nothing extra, the ledger and the desk as recorded."""
    try:
        text = (staging / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BackupError(f"{source}: not a winback backup (it holds no {MANIFEST})") from None
    contents = Contents.from_json(text, str(source))
    listed = {f.path: f for f in contents.files}
    found = {p.relative_to(staging).as_posix() for p in _files(staging)}
    extra = sorted(found - set(listed))
    if extra:
        raise BackupError(
            f"{source}: {extra[0]} is not in the backup's list of files; not restoring"
        )
    for name, item in sorted(listed.items()):
        if name not in found:
            raise BackupError(f"{source}: {name} is missing; the backup is incomplete")
        actual = _describe(staging / name, staging)
        if (actual.bytes, actual.sha256) != (item.bytes, item.sha256):
            raise BackupError(
                f"{source}: {name} does not match its checksum; the backup is damaged"
            )
    if contents.ledger_rows:
        try:
            rows = check_ledger(Ledger(staging / "ledger"))
        except LedgerError as exc:
            raise BackupError(f"{source}: the ledger in the backup is damaged: {exc}") from None
        if rows != contents.ledger_rows:
            raise BackupError(
                f"{source}: the ledger holds rows {rows}, the backup recorded "
                f"{contents.ledger_rows}; the backup is damaged"
            )
    if contents.desk == "sqlite":
        rows = check_sqlite(staging / "desk.sqlite3")
        if rows != contents.desk_rows:
            raise BackupError(
                f"{source}: the desk holds rows {rows}, the backup recorded "
                f"{contents.desk_rows}; the backup is damaged"
            )
    return contents


def _restore_notes(settings: Settings, contents: Contents) -> list[str]:
    notes = []
    if contents.desk == "postgresql":
        if sqlite_path(settings.desk_database_url) is None:
            _, restore = pg_dump_commands(settings.desk_database_url)
            notes.append(f"the desk was on PostgreSQL: restore its pg_dump file with {restore}")
        else:
            notes.append(
                "the desk was on PostgreSQL: restore its pg_dump file with pg_restore and set "
                "WINBACK_DESK_URL (see docs/operations.md)"
            )
    elif contents.desk == "sqlite" and settings.desk_url:
        notes.append(
            "the desk is restored as desk.sqlite3 in the workspace, but WINBACK_DESK_URL points "
            "elsewhere: unset it to use the restored desk"
        )
    if contents.policy and settings.policy is not None:
        notes.append(
            "the policy is restored as policy.toml in the workspace, but WINBACK_POLICY points "
            "elsewhere: unset it to use the restored policy"
        )
    if not contents.secret_key:
        notes.append(
            "the backup holds no session key: set WINBACK_SECRET_KEY as before (or everyone "
            "logs in again with a new key)"
        )
    return notes
