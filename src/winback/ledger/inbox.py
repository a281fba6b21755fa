"""The drop folder (``WINBACK_INBOX``): files left there are imported by the next pass of
the cycle, each once, then moved out of the way.

* A file is named after the contract table it fills (``orders.csv``,
  ``orders-2026-11-25.csv.gz``, ``customers.parquet``): the name up to the first ``.``
  or ``-`` is the table.
* Files whose names start with ``.`` or end in ``.part`` or ``.tmp`` are still being
  written and wait for the next pass: write a file under such a name, then rename it.
* An imported file moves to ``done/``, with its rejects file beside it when records
  were rejected; a file that cannot be imported at all (no such table, unreadable,
  required columns missing) moves to ``failed/`` with a ``.error.txt`` saying why.
  Either way its new name starts with the time it was handled, so nothing is overwritten.
* A file the ledger was too busy to take stays where it is for the next pass.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from winback.errors import ContractError, ImportFolderError, LedgerBusyError, WinbackError
from winback.ledger.contract import TABLES
from winback.ledger.importer import ImportResult, import_file
from winback.ledger.store import Ledger

_WAITING = (".part", ".tmp")


def table_of(path: Path) -> str:
    """The contract table a file fills, from its name (``orders-2026.csv`` → orders)."""
    name = _named_table(path)
    if name is None:
        raise ContractError(
            f"{path.name}: not named after a contract table (orders.csv, "
            f"customers-2026-11.parquet …); the tables are {', '.join(TABLES)}"
        )
    return name


def _named_table(path: Path) -> str | None:
    name = re.split(r"[.-]", path.name, maxsplit=1)[0]
    return name if name in TABLES else None


def table_files(folder: Path) -> list[tuple[str, Path]]:
    """The files in ``folder`` named after contract tables (the rule of :func:`table_of`),
    in the contract's order, then by name; other files are left alone. Two files with one
    name in two formats (``orders.csv`` and ``orders.parquet``) are refused: which one
    holds the truth is for a person to say."""
    if not folder.is_dir():
        raise ImportFolderError(f"{folder}: not a folder")
    found = sorted(
        ((table, p) for p in folder.iterdir() if p.is_file() and (table := _named_table(p))),
        key=lambda item: (list(TABLES).index(item[0]), item[1].name),
    )
    stems: dict[str, list[str]] = {}
    for _, path in found:
        stems.setdefault(path.name.split(".", 1)[0], []).append(path.name)
    for stem, names in stems.items():
        if len(names) > 1:
            raise ImportFolderError(f"{folder}: more than one file for {stem}: {', '.join(names)}")
    return found


def waiting_files(inbox: Path) -> list[Path]:
    """The files ready for import, oldest first (then by name)."""
    if not inbox.is_dir():
        return []
    ready = [
        p
        for p in inbox.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_WAITING)
    ]
    return sorted(ready, key=lambda p: (p.stat().st_mtime, p.name))


@dataclass
class InboxResult:
    """What one pass over the drop folder did."""

    imported: list[ImportResult] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)
    waiting: list[str] = field(default_factory=list)  # the ledger was busy: next pass

    def counts(self) -> dict[str, int]:
        return {
            "files_imported": len(self.imported),
            "files_failed": len(self.failed),
            "files_waiting": len(self.waiting),
            "rows_stored": sum(r.stored + r.updated for r in self.imported),
            "rows_rejected": sum(r.rejected for r in self.imported),
        }


def _stamped(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S.%f}-{name}"


def import_inbox(
    ledger: Ledger,
    inbox: Path,
    *,
    rejects_dir: Path,
    memory: str = "1GB",
    say: Callable[[str], None] = lambda _text: None,
) -> InboxResult:
    """Import every waiting file in ``inbox`` and move it to ``done/`` or ``failed/``."""
    result = InboxResult()
    for path in waiting_files(inbox):
        say(f"importing {path.name}")
        try:
            imported = import_file(
                ledger, table_of(path), path, rejects_dir=rejects_dir, memory=memory
            )
        except LedgerBusyError:
            result.waiting.append(path.name)
            continue
        except WinbackError as exc:
            target = _stamped(inbox / "failed", path.name)
            shutil.move(path, target)
            target.with_name(target.name + ".error.txt").write_text(f"{exc}\n", encoding="utf-8")
            result.failed.append((path.name, str(exc)))
            continue
        target = _stamped(inbox / "done", path.name)
        shutil.move(path, target)
        if imported.rejects_file is not None and imported.rejects_file.exists():
            shutil.copy(imported.rejects_file, target.with_name(target.name + ".rejects.csv"))
        result.imported.append(imported)
    return result
