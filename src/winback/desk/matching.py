"""Who wrote a public post: match its author to one customer, with a confidence.

The order of evidence (docs/complaints.md):

1. An e-mail address in the author or the text that a customer holds: certain (1.0).
2. An order number in the text: that order's customer (0.95, 1.0 when the name agrees).
3. The author's name, compared with every customer's name after folding case, accents
   and punctuation, scored by rapidfuzz's token-sort ratio (typos and swapped first and
   last names cost a few points). The confidence is the score over 100. Several
   customers with the name (within 3 points of the best) are told apart by the location
   the post gives ("Ben Hart, West, US" or the webhook's ``location``); when it does not
   tell them apart the confidence is split between them, so the post goes to triage with
   every one of them listed: never two customers silently. A name that is not the
   customer's as written but is made wholly of names other customers carry ("Michael
   Cox" against a customer Michael Fox) is more likely somebody else's than a typo: its
   confidence is cut (x0.8), so a person confirms it in triage.

Pure: no I/O. The caller reads the customers (``ledger.reads.customer_directory``) and
the orders the posts mention (``ledger.reads.order_customers``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

NAME_CUTOFF = 80.0  # a name scoring below this is somebody else
TIE_POINTS = 3.0  # names scoring within this of the best are all contenders
ORDER_CONFIDENCE = 0.95
LIKE_NAME = 0.8  # a name close to a customer's but made of other customers' names: x this
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{3,}")


def fold(text: str | None) -> str:
    """Lower case, accents off, anything but letters and digits a single space."""
    if not text:
        return ""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


def order_tokens(text: str | None) -> list[str]:
    """Words in ``text`` that could be order numbers (the caller looks them up)."""
    return sorted(set(_TOKEN.findall(text or "")))


def emails_in(*texts: str | None) -> list[str]:
    return sorted({e.lower().rstrip(".") for t in texts if t for e in _EMAIL.findall(t)})


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str | None
    email: str | None = None
    region: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Match:
    """The customer (None: nobody), how sure, how it was found, and every customer
    considered (the triage list shows them)."""

    customer_id: str | None
    confidence: float
    method: str
    candidates: tuple[str, ...] = field(default=())


NOBODY = Match(None, 0.0, "none")


def split_author(author: str | None) -> tuple[str, str]:
    """``"Ben Hart, West, US"`` -> ("Ben Hart", "West, US"); ``"Ben Hart (Leeds)"`` too.
    A handle (``@ben``) or an e-mail address is no name."""
    text = (author or "").strip()
    if not text or text.startswith("@") or _EMAIL.fullmatch(text):
        return "", ""
    parts = re.split(r"\s*[,(]\s*", text, maxsplit=1)
    name = parts[0]
    rest = parts[1].rstrip(")") if len(parts) > 1 else ""
    return name, rest


class Directory:
    """The customers a post can be matched to, indexed by e-mail and folded name."""

    def __init__(self, customers: Iterable[Customer]) -> None:
        self.customers: dict[str, Customer] = {}
        self._by_email: dict[str, list[str]] = defaultdict(list)
        by_name: dict[str, list[str]] = defaultdict(list)
        for c in customers:
            self.customers[c.customer_id] = c
            if c.email:
                self._by_email[c.email.strip().lower()].append(c.customer_id)
            if folded := fold(c.name):
                by_name[folded].append(c.customer_id)
        self._names = list(by_name)
        self._words = {word for folded in by_name for word in folded.split()}
        self._ids_of_name = [by_name[n] for n in self._names]

    def __len__(self) -> int:
        return len(self.customers)

    def match(
        self,
        author: str | None,
        text: str | None,
        *,
        location: str | None = None,
        orders: Mapping[str, str] | None = None,
    ) -> Match:
        """The customer who wrote the post. ``orders``: order number -> customer for the
        order numbers the post mentions (``order_tokens``)."""
        by_email = {cid for e in emails_in(author, text) for cid in self._by_email.get(e, [])}
        if len(by_email) == 1:
            return Match(next(iter(by_email)), 1.0, "email", tuple(by_email))
        name, place = split_author(author)
        scored = self._names_like(name)
        if len(by_email) > 1:
            return Match(None, 0.5, "email shared", tuple(sorted(by_email)))
        by_order = {
            cid for t in order_tokens(text) if (cid := (orders or {}).get(t)) in self.customers
        }
        if len(by_order) == 1:
            cid = next(iter(by_order))
            if not name or scored.get(cid, 0.0) >= NAME_CUTOFF:
                confidence = 1.0 if name else ORDER_CONFIDENCE
                return Match(cid, confidence, "order number", (cid,))
            # The order is someone else's than the name says: a person decides.
            return Match(None, 0.5, "order and name disagree", (cid, *sorted(scored)))
        if len(by_order) > 1:
            return Match(None, 0.5, "several orders", tuple(sorted(by_order)))
        if not scored:
            return NOBODY
        best = max(scored.values())
        contenders = sorted(c for c, s in scored.items() if s >= best - TIE_POINTS)
        where = fold(" ".join(p for p in (place, location) if p))
        if len(contenders) > 1 and where:
            placed = [c for c in contenders if self._is_at(c, where)]
            if len(placed) == 1:
                confidence = self._name_confidence(name, scored[placed[0]])
                return Match(placed[0], confidence, "name and place", tuple(contenders))
            if placed:
                contenders = placed
        if len(contenders) == 1:
            cid = contenders[0]
            return Match(cid, self._name_confidence(name, scored[cid]), "name", (cid,))
        return Match(None, best / 100 / len(contenders), "name shared", tuple(contenders))

    def _names_like(self, name: str) -> dict[str, float]:
        """Customer -> name score, for every customer whose name scores NAME_CUTOFF+."""
        folded = fold(name)
        if not folded or not self._names:
            return {}
        found = process.extract(
            folded,
            self._names,
            scorer=fuzz.token_sort_ratio,
            score_cutoff=NAME_CUTOFF,
            limit=None,
        )
        return {cid: float(score) for _name, score, i in found for cid in self._ids_of_name[i]}

    def _name_confidence(self, name: str, score: float) -> float:
        """The score over 100, cut when the name is not the customer's as written but every
        word of it is in some customer's name: likelier a namesake's than a typo."""
        words = fold(name).split()
        if score < 100 and all(w in self._words for w in words):
            return score / 100 * LIKE_NAME
        return score / 100

    def _is_at(self, customer_id: str, where: str) -> bool:
        """Whether the customer's region is in the place the post gives, and their country
        too when the place names a country (a two-letter code)."""
        c = self.customers[customer_id]
        words = set(where.split())
        region = fold(c.region)
        if not region or not set(region.split()) <= words:
            return False
        codes = {w for w in words if len(w) == 2}
        return not codes or fold(c.country) in codes
