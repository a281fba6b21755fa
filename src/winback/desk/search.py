"""Find a customer by name, e-mail, phone or part of their id: case-insensitive and
forgiving of typos, in milliseconds at a million customers.

The index is written beside the customer timeline copy (:mod:`winback.ledger.timeline`)
and rebuilt with it, once per ledger state and scan run: every customer's id, name,
e-mail, phone and scan status (an Arrow file), and a trigram index over their folded name,
e-mail's local part, id and phone digits (NumPy files: for each of the 37³ trigrams of
``[ 0-9a-z]``, the rows holding it). Both are memory-mapped, so the desk's workers share
one copy in the page cache.

A query is folded the same way (a phone number to its digits); the rows sharing the most
of its trigrams are the candidates (a typo spoils about three trigrams, not the rest);
rapidfuzz then ranks them: an exact id, e-mail or phone first, then a prefix or part of
the id, then names by weighted ratio. While the ledger has changed since the last
``winback sync``, the index does not match and the search scans the ledger's customers
instead (slower, with no typo tolerance for names beyond Jaro-Winkler, never stale).

Layout: ``$WINBACK_HOME/desk/search/<batches>/{rows.arrow,offsets.npy,postings.npy,done}``,
and ``customers.json``: the customer segments it was built from. A later build from the
same segments (a new scan run; imports of orders and the like) keeps the rows and trigrams
and only writes the new run's statuses.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk.matching import fold
from winback.desk.models import Case, User
from winback.desk.permissions import Action, require
from winback.errors import InvalidInput
from winback.ledger import customer_rows, published
from winback.ledger.customer_rows import ROWS, SIZE
from winback.ledger.store import Ledger
from winback.scan.runs import ScanRun

MAX_QUERY = 200  # characters; a longer query is refused, not cut
MIN_QUERY = 2  # letters or digits
LIMIT = 20  # results shown
MAX_LIMIT = 100
CANDIDATES = 2000  # rows ranked by rapidfuzz, taken by shared trigrams
CUTOFF = 60.0  # a row scoring below this is somebody else
COMMON = 0.2  # a trigram in more than this share of the rows says little: skipped
PHONE_DIGITS = 5  # a query of no letters and at least this many digits is a phone number

_LETTER = re.compile(r"[^\W\d_]")
_NOT_DIGIT = re.compile(r"\D")


def root_of(home: Path) -> Path:
    """Where the index lives in a workspace."""
    return home / "desk" / "search"


def stamp_of(ledger: Ledger, run: ScanRun | None) -> str:
    """What an index was built from: the ledger's batch count and the scan run's id."""
    return f"{ledger.manifest().batches} {run.info.run_id if run else '-'}"


def current(root: Path, ledger: Ledger) -> Path | None:
    """The index matching the ledger as it is now, if one was built."""
    folder = root / str(ledger.manifest().batches)
    return folder if (folder / "done").exists() else None


def build(root: Path, ledger: Ledger, run: ScanRun | None, memory: str = "1GB") -> Path | None:
    """Write the index for the ledger's current state and ``run``'s statuses (a no-op when
    it exists already). About 20 s for a million customers on two cores; ~1 s when the
    last index was built from the same customer segments (a new run, or imports of other
    tables since): its rows and trigrams are kept, the statuses replaced."""
    manifest = ledger.manifest()
    if manifest.batches == 0:
        return None
    stamp = f"{manifest.batches} {run.info.run_id if run else '-'}"
    final = root / str(manifest.batches)
    done = final / "done"
    if done.exists() and done.read_text(encoding="utf-8") == stamp:
        return final
    partial = published.partial_folder(root, str(manifest.batches))
    statuses = run.path / "customers.parquet" if run is not None else None
    customers = customer_rows.customer_segments(manifest)
    previous = _built_from(root, customers)
    if previous is not None:
        # The same customers (only orders and the like imported since, or only a new
        # run): their rows and trigrams stand; only each row's status is the new run's.
        try:
            customer_rows.restatus(previous, partial, statuses)
        except OSError:
            # That index was swept away meanwhile (another build published): build afresh,
            # first dropping what was linked, so no write goes through a link into it.
            for name in (customer_rows.ROWS, *customer_rows.POSTINGS):
                (partial / name).unlink(missing_ok=True)
            previous = None
    if previous is None:
        customer_rows.write_search_rows(ledger, manifest, partial, statuses, memory)
    (partial / customer_rows.SEGMENTS).write_text(json.dumps(customers), encoding="utf-8")
    return published.publish(partial, final, stamp)


def _built_from(root: Path, customers: list[str]) -> Path | None:
    """A published index built from exactly these customer segments, if there is one."""
    if not root.exists():
        return None
    for folder in root.iterdir():
        if folder.name.startswith(".") or not (folder / "done").exists():
            continue
        try:
            held = json.loads((folder / customer_rows.SEGMENTS).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # an index from before the list was kept, or gone
            continue
        if held == customers:
            return folder
    return None


# --- the query side -----------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One customer found, with how well they match (0-100) and their open case."""

    customer_id: str
    name: str | None
    email: str | None
    phone: str | None
    status: str | None
    score: float
    open_case_id: int | None = None


@dataclass(frozen=True)
class Query:
    """A query as typed, checked and folded."""

    text: str
    folded: str
    digits: str

    @property
    def phone_like(self) -> bool:
        return len(self.digits) >= PHONE_DIGITS and not _LETTER.search(self.text)

    @property
    def needle(self) -> str:
        """What the trigram index is asked for."""
        return self.digits if self.phone_like else self.folded


def parse(text: str) -> Query:
    """``text`` checked: 2-200 characters, some of them letters or digits."""
    text = (text or "").strip()
    if len(text) > MAX_QUERY:
        raise InvalidInput(
            f"q: the search is {len(text)} characters long; give at most {MAX_QUERY} "
            "(a name, e-mail, phone number or part of an id)"
        )
    query = Query(text, fold(text), _NOT_DIGIT.sub("", text))
    if len(query.needle.replace(" ", "")) < MIN_QUERY:
        raise InvalidInput(
            f"q: give at least {MIN_QUERY} letters or digits of a name, e-mail, phone "
            "number or customer id"
        )
    return query


def _code(c: str) -> int:
    return 0 if c == " " else (ord(c) - 47 if c <= "9" else ord(c) - 86)


def trigram_keys(needle: str) -> list[int]:
    """The distinct trigram keys of a folded string (padded with a space each side)."""
    padded = f" {needle} "
    keys = {
        (_code(padded[i]) * SIZE + _code(padded[i + 1])) * SIZE + _code(padded[i + 2])
        for i in range(len(padded) - 2)
    }
    return sorted(keys)


def scores(query: Query, rows: pa.Table) -> np.ndarray:
    """How well each of ``rows`` answers ``query``, 0-100: an exact id, e-mail or phone
    100; a prefix of the id 97, part of it 93; an e-mail starting with the query 96; a
    phone holding the query's digits 90; else the weighted ratio of the folded name (or,
    at 0.95, of the e-mail's folded local part). rapidfuzz scores the names in C++."""
    wanted = query.text.casefold()
    ids = pc.utf8_lower(rows.column("customer_id"))
    emails = pc.utf8_lower(pc.fill_null(rows.column("email"), ""))
    best = np.zeros(rows.num_rows, dtype=np.float64)

    def at_least(value: float, mask: Any) -> None:
        hit = np.asarray(pc.fill_null(mask, False), dtype=bool)
        best[hit] = np.maximum(best[hit], value)

    at_least(93.0, pc.match_substring(ids, wanted))
    at_least(97.0, pc.starts_with(ids, wanted))
    at_least(100.0, pc.equal(ids, wanted))
    at_least(100.0, pc.equal(emails, wanted))
    if query.phone_like:
        digits = rows.column("digits")
        at_least(90.0, pc.match_substring(digits, query.digits))
        # The same number: equal, or one ends with the other (a country code or trunk
        # prefix more or less) when both have 7 digits or more.
        at_least(100.0, pc.equal(digits, query.digits))
        if len(query.digits) >= 7:
            at_least(100.0, pc.ends_with(digits, query.digits))
            tails = [query.digits[-k:] for k in range(7, len(query.digits))]
            at_least(100.0, pc.is_in(digits, value_set=pa.array(tails, pa.string())))
        return best
    at_least(96.0, pc.starts_with(emails, wanted))
    best = np.maximum(best, _likeness(query.folded, rows.column("folded")))
    result: np.ndarray = np.maximum(best, 0.95 * _likeness(query.folded, rows.column("local")))
    return result


def _likeness(folded: str, texts: Any) -> np.ndarray:
    """rapidfuzz's weighted ratio of ``folded`` to each text (a part of a name scores
    high: "smith" for "john smith"), but plain token-sort for a text shorter than the
    query, so a short e-mail ("js@…") is no match for everything that holds its letters."""
    values = pc.fill_null(texts, "").to_pylist()
    weighted = process.cdist([folded], values, scorer=fuzz.WRatio)[0]
    plain = process.cdist([folded], values, scorer=fuzz.token_sort_ratio)[0]
    shorter = np.asarray(pc.utf8_length(pc.fill_null(texts, ""))) < len(folded)
    result: np.ndarray = np.where(shorter, plain, weighted)
    return result


def ranked(query: Query, rows: pa.Table, limit: int) -> list[Hit]:
    """The best ``limit`` of ``rows`` for ``query``, best first. Ties go to the name
    fewer edits away, a swap of two letters counting one (optimal string alignment:
    "Jonh Smiht" is 2 from "John Smith", 4 from "Johan Smit"), then by name and id."""
    if rows.num_rows == 0:
        return []
    points = scores(query, rows)
    good = np.flatnonzero(points >= CUTOFF)
    if len(good) == 0:
        return []
    # Everyone scoring at least the limit-th best score, then ordered in Python.
    floor = np.sort(points[good])[::-1][min(limit, len(good)) - 1]
    kept = good[points[good] >= floor]
    chosen = rows.take(pa.array(kept, pa.int64())).to_pylist()
    names = [r["folded"] or "" for r in chosen]
    edits = process.cdist([query.folded], names, scorer=OSA.distance)[0].tolist()
    scored = sorted(
        zip(points[kept].tolist(), edits, chosen, strict=True),
        key=lambda p: (-p[0], p[1], p[2]["folded"] or "", str(p[2]["customer_id"])),
    )
    return [
        Hit(str(r["customer_id"]), r["name"], r["email"], r["phone"], r["status"], round(s, 1))
        for s, _, r in scored[:limit]
    ]


def scan_ledger(ledger: Ledger, query: Query, limit: int) -> list[Hit]:
    """The search without an index: one DuckDB scan of the ledger's customers (a part of
    the id, name or e-mail, any case; the phone's digits; a name within Jaro-Winkler 0.85),
    ranked as the index ranks. Its cost grows with the ledger."""
    rows = customer_rows.scan_customers(
        ledger, query.text, query.digits if query.phone_like else None, query.folded, CANDIDATES
    )
    return ranked(query, rows, limit)


class SearchIndex:
    """One built index, memory-mapped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stamp = (folder / "done").read_text(encoding="utf-8")
        source = pa.memory_map(str(folder / ROWS))
        self.rows = pa.ipc.open_file(source).read_all()
        self.offsets = np.load(folder / "offsets.npy", mmap_mode="r")
        self.postings = np.load(folder / "postings.npy", mmap_mode="r")

    def __len__(self) -> int:
        return int(self.rows.num_rows)

    def candidates(self, query: Query) -> np.ndarray:
        """Rows sharing the most trigrams with the query, at most :data:`CANDIDATES`."""
        keys = trigram_keys(query.needle)
        spans = [(int(self.offsets[k]), int(self.offsets[k + 1])) for k in keys]
        spans = [s for s in spans if s[1] > s[0]]
        if not spans:
            return np.empty(0, dtype=np.int64)
        telling = [s for s in spans if s[1] - s[0] <= max(COMMON * len(self), 10_000)]
        spans = telling or sorted(spans, key=lambda s: s[1] - s[0])[:3]
        hits = np.bincount(
            np.concatenate([self.postings[a:b] for a, b in spans]), minlength=len(self)
        )
        found = np.flatnonzero(hits)
        if len(found) <= CANDIDATES:
            return found
        # The rows sharing the most trigrams, without sorting: counts are small numbers.
        counts = hits[found]
        at_least = np.cumsum(np.bincount(counts)[::-1])[::-1]  # rows with >= t shared
        t = int(np.flatnonzero(at_least >= CANDIDATES)[-1])
        above = found[counts > t]
        tied = found[counts == t][: CANDIDATES - len(above)]
        return np.concatenate([above, tied])

    def search(self, query: Query, limit: int) -> list[Hit]:
        return ranked(query, self.rows.take(pa.array(self.candidates(query), pa.int64())), limit)


class SearchReader:
    """Keeps the current index open (memory-mapped) for the app's requests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._index: SearchIndex | None = None

    def index(self, ledger: Ledger) -> SearchIndex | None:
        """The index matching ``ledger`` now, or None (scan the ledger)."""
        folder = current(self.root, ledger)
        if folder is None:
            return None
        try:
            stamp = (folder / "done").read_text(encoding="utf-8")
        except FileNotFoundError:  # being replaced this instant
            return None
        with self._lock:
            held = self._index
            if held is None or held.folder != folder or held.stamp != stamp:
                held = self._index = SearchIndex(folder)
            return held


def search_customers(
    db: Session,
    actor: User,
    text: str,
    *,
    ledger: Ledger | None,
    reader: SearchReader | None = None,
    limit: int = LIMIT,
) -> list[Hit]:
    """Customers matching ``text`` (name, e-mail, phone or part of an id), best first, each
    with their open case and status (the open case's status as of the last sync, else the
    scan run's)."""
    require(actor, Action.VIEW_CUSTOMER)
    query = parse(text)
    limit = max(1, min(int(limit), MAX_LIMIT))
    if ledger is None or not ledger.manifest_path.exists() or ledger.manifest().batches == 0:
        return []
    index = reader.index(ledger) if reader else None
    hits = index.search(query, limit) if index else scan_ledger(ledger, query, limit)
    if not hits:
        return hits
    open_cases = {
        cid: (case_id, status)
        for cid, case_id, status in db.execute(
            select(Case.customer_id, Case.id, Case.customer_status).where(
                Case.customer_id.in_([h.customer_id for h in hits]), Case.state != "closed"
            )
        )
    }
    return [
        Hit(
            h.customer_id,
            h.name,
            h.email,
            h.phone,
            open_cases[h.customer_id][1] if h.customer_id in open_cases else h.status,
            h.score,
            open_cases[h.customer_id][0] if h.customer_id in open_cases else None,
        )
        for h in hits
    ]
