"""Names, places and products, so the demo reads like a real business.

Customers' names are as diverse as a real customer base's: first names and surnames drawn
from Faker's lists (MIT licence), weighted like real ones. The head is Faker's ``en_US``
lists, which carry the US Social Security (first names) and Census (surnames) shares: a few
very common names (Smith, James, Mary) and a long way down; the tail is every other
first name and surname Faker holds for the locales in :data:`TAIL_LOCALES`, all equally
rare (each rarer than the rarest in the head), standing in for the long tail of rare names
a real base has. Two customers share a full name about as often as in a real base: 0.3% of
3,000 customers share theirs with another, 3% of 20,000, 9% of 100,000.
Staff keep the short made-up lists below (:data:`FIRST`, :data:`LAST`).
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winback.simulate.tables import pick

FIRST = (
    "Ada", "Ben", "Cara", "Dev", "Elif", "Finn", "Gita", "Hugo", "Ines", "Jon", "Kemi", "Luca",
    "Mara", "Nils", "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tess", "Umar", "Vera", "Wes",
    "Xenia", "Yusuf", "Zoe", "Anil", "Beth", "Chen", "Dana", "Emil", "Fatima", "Greg", "Hana",
)  # fmt: skip
LAST = (
    "Abbot", "Baker", "Costa", "Dahl", "Eze", "Ferris", "Gomez", "Hart", "Ito", "Jensen",
    "Kowal", "Lund", "Moreau", "Novak", "Okafor", "Price", "Quade", "Rossi", "Silva", "Tanaka",
    "Ueda", "Varga", "Walsh", "Xu", "Young", "Zorn", "Achebe", "Brandt", "Cruz", "Doyle",
)  # fmt: skip
COMPANY_WORDS = (
    "Alder", "Birch", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Harbour", "Iris",
    "Juniper", "Kestrel", "Lumen", "Meridian", "Northgate", "Orchard", "Pioneer", "Quarry",
    "Riverside", "Summit", "Tidewater", "Upland", "Vantage", "Westfield", "Yarrow", "Zenith",
)  # fmt: skip
COMPANY_KINDS = ("Ltd", "& Co", "Supplies", "Group", "Works", "Partners", "Trading", "Labs")
COUNTRIES = ("US", "US", "US", "CA", "GB", "DE", "FR", "AU")
REGIONS = ("North", "South", "East", "West", "Central")
TEAMS = ("North", "South", "East", "West", "Central")


HEAD_LOCALE = "en_US"
TAIL_LOCALES = (
    "de_AT", "de_DE", "en_GB", "en_IE", "en_IN", "en_KE", "en_NZ", "es_ES", "es_MX", "fr_BE",
    "fr_FR", "hr_HR", "it_IT", "nl_NL", "pt_BR", "sk_SK", "sv_SE", "tr_TR", "yo_NG", "zu_ZA",
)  # fmt: skip
#: The share of people whose first name (surname) is in the head list: the US lists Faker
#: carries are the most common ~700 first names and 1,000 surnames, which cover about
#: four fifths of first names and two fifths of surnames in the US.
HEAD_SHARE = {"first": 0.8, "last": 0.4}
_ONE_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@dataclass(frozen=True)
class NamePool:
    """Names and the share of people who carry each (summing to 1)."""

    names: tuple[str, ...]
    shares: np.ndarray

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Indexes of ``n`` names drawn by their shares."""
        return np.minimum(
            np.searchsorted(np.cumsum(self.shares), rng.random(n), side="right"),
            len(self.names) - 1,
        )


def _listed(locale: str, kind: str) -> list[str]:
    """A Faker locale's first names or surnames, one word of Latin letters each."""
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    if kind == "last":
        keys: tuple[str, ...] = ("last_names",)
    elif _attribute(provider, "first_names"):
        keys = ("first_names",)
    else:
        keys = ("first_names_female", "first_names_male")
    out = []
    for key in keys:
        for name in _attribute(provider, key):
            plain = "".join(
                c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
            )
            if _ONE_WORD.fullmatch(plain):
                out.append(name)
    return out


def _attribute(provider: type, key: str) -> list[str]:
    for klass in provider.__mro__:
        value = vars(klass).get(key)
        if isinstance(value, dict | list | tuple):
            return list(value)
    return []


@cache
def name_pool(kind: str) -> NamePool:
    """First names (``kind="first"``) or surnames (``"last"``) with their shares."""
    provider = importlib.import_module(f"faker.providers.person.{HEAD_LOCALE}").Provider
    key = "first_names" if kind == "first" else "last_names"
    weighted: dict[str, float] = {}
    for name, share in vars(provider)[key].items():
        weighted[name] = weighted.get(name, 0.0) + float(share)
    head = np.array(list(weighted.values()))
    head = head / head.sum() * HEAD_SHARE[kind]
    seen = {n.casefold() for n in weighted}
    tail: list[str] = []
    for locale in TAIL_LOCALES:
        for name in _listed(locale, kind):
            if name.casefold() not in seen:
                seen.add(name.casefold())
                tail.append(name)
    rest = np.full(len(tail), (1 - HEAD_SHARE[kind]) / len(tail))
    return NamePool((*weighted, *tail), np.concatenate([head, rest]))


def draw_people(n: int, rng: np.random.Generator) -> pa.Array:
    """``n`` customers' ``First Last`` names, drawn by how common each name is."""
    first, last = name_pool("first"), name_pool("last")
    return pc.binary_join_element_wise(
        pick(first.names, first.draw(n, rng)), pick(last.names, last.draw(n, rng)), " "
    )


def people(first: np.ndarray, last: np.ndarray) -> pa.Array:
    """``First Last`` from two index arrays."""
    return pc.binary_join_element_wise(pick(FIRST, first), pick(LAST, last), " ")


def companies(word: np.ndarray, kind: np.ndarray) -> pa.Array:
    """``Word Kind`` company names from two index arrays."""
    return pc.binary_join_element_wise(pick(COMPANY_WORDS, word), pick(COMPANY_KINDS, kind), " ")


def draw_names(n: int, business: bool, rng: np.random.Generator) -> pa.Array:
    """``n`` person or company names."""
    if business:
        return companies(
            rng.integers(0, len(COMPANY_WORDS), n), rng.integers(0, len(COMPANY_KINDS), n)
        )
    return people(rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n))


def emails(local: pa.Array, numbers: pa.Array, domain: str) -> pa.Array:
    """``local.number@domain`` in lower case, accents off, spaces and ampersands dropped."""
    plain = pc.replace_substring_regex(pc.utf8_normalize(local, form="NFKD"), r"\p{Mn}+", "")
    clean = pc.replace_substring_regex(pc.utf8_lower(plain), r"[^a-z]+", ".")
    return pc.binary_join_element_wise(clean, ".", numbers, "@", domain, "")
