"""Made-up names, places and products, so the demo reads like a real business."""

from __future__ import annotations

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
    """``local.number@domain`` in lower case, spaces and ampersands dropped."""
    clean = pc.replace_substring_regex(pc.utf8_lower(local), r"[^a-z]+", ".")
    return pc.binary_join_element_wise(clean, ".", numbers, "@", domain, "")
