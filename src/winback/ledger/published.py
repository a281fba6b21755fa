"""Folders built from the ledger and published whole: a reader sees the old one or the new
one, never half of either.

The desk's timeline copy (:mod:`winback.ledger.timeline`) and its search index
(:mod:`winback.desk.search`) are each written into a hidden ``.partial`` folder of the
building process and thread, stamped with a ``done`` file saying what they were built from,
renamed into place in one step and the older ones swept away.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path


def partial_folder(root: Path, name: str) -> Path:
    """A fresh, empty hidden folder in ``root`` for this process and thread to build
    ``name`` in (what a crashed build left there is cleared)."""
    partial = root / f".{name}.{os.getpid()}.{threading.get_ident()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def publish(partial: Path, final: Path, stamp: str) -> Path:
    """Stamp ``partial`` done (``stamp`` in its ``done`` file), put it in ``final``'s place
    and remove every other published folder beside it; its ``tmp`` spill folder goes."""
    shutil.rmtree(partial / "tmp", ignore_errors=True)
    (partial / "done").write_text(stamp, encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    for old in final.parent.iterdir():
        if old != final and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return final
