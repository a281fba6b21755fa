"""Public posts that name their author, with the truth of who wrote each.

The world's ``public_posts`` table signs posts with anonymous handles; the matcher that
routes a public complaint to a customer needs posts that *name* people the way real ones
do: the name typed by hand (case changed, accents added, a typo), sometimes with where
they live, an order number or an e-mail address, and some written by people who are not
customers at all. :func:`named_posts` draws them from a simulated world's customers and
orders on its own random stream, so the rest of the world is unchanged; its
``customer_id`` column is the truth (blank: a stranger). docs/simulator.md describes it;
``benchmarks/accuracy_complaints.py`` grades the matcher on it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winback.simulate.names import draw_people

ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "n": "ñ", "c": "ç"}
COMPLAINTS = (
    "my order arrived two weeks late and nobody answered",
    "they charged me twice and refuse to refund",
    "the product broke after a week, terrible quality",
    "the staff were rude on the phone",
    "prices went up again, I am done with them",
)
SEED_STREAM = 15  # the stream these posts draw from (the world's chunks use 0 and 1)


def perturb(name: str, rng: np.random.Generator) -> tuple[str, str]:
    """``name`` as someone might type it, and what was done (for the benchmark's table)."""
    done = []
    if rng.random() < 0.4:
        vowels = [i for i, c in enumerate(name) if c.lower() in ACCENTS]
        if vowels:
            i = int(rng.choice(vowels))
            accented = ACCENTS[name[i].lower()]
            name = name[:i] + (accented.upper() if name[i].isupper() else accented) + name[i + 1 :]
            done.append("accent")
    if rng.random() < 0.4:
        spots = [i for i in range(1, len(name) - 1) if name[i].isalpha() and name[i + 1].isalpha()]
        if spots:
            i = int(rng.choice(spots))
            how = int(rng.integers(0, 3))
            if how == 0:  # two letters swapped
                name = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
            elif how == 1:  # a letter dropped
                name = name[:i] + name[i + 1 :]
            else:  # a letter doubled
                name = name[: i + 1] + name[i] + name[i + 1 :]
            done.append("typo")
    case = int(rng.integers(0, 4))
    if case == 1:
        name = name.lower()
        done.append("lower case")
    elif case == 2:
        name = name.upper()
        done.append("upper case")
    return name, "+".join(done) or "as written"


def named_posts(
    customers: pa.Table,
    orders: pa.Table,
    *,
    business_name: str,
    n: int,
    seed: int,
    strangers: float = 0.1,
    place_share: float = 0.6,
    order_share: float = 0.3,
    email_share: float = 0.1,
) -> pa.Table:
    """``n`` posts: ``post_id``, ``author``, ``location``, ``text``, ``perturbation`` and
    the truth ``customer_id`` (null for a stranger's post). A customer's post names them
    (perturbed); with ``place_share`` the author line adds their region and country, with
    ``order_share`` the text gives one of their order numbers, with ``email_share`` their
    e-mail address. A share ``strangers`` of posts come from people who are not
    customers, their names drawn as customers' are (so a stranger may share a customer's
    name, as in life)."""
    rng = np.random.default_rng([seed, SEED_STREAM])
    people = customers.select(["customer_id", "name", "email", "region", "country"]).to_pylist()
    people = [p for p in people if p["name"]]
    first_order: dict[str, str] = {}
    for cid, oid in zip(
        orders.column("customer_id").to_pylist(), orders.column("order_id").to_pylist(), strict=True
    ):
        first_order.setdefault(cid, oid)
    rows: list[tuple[str, str, str | None, str, str, str | None]] = []
    for k in range(n):
        gripe = COMPLAINTS[int(rng.integers(0, len(COMPLAINTS)))]
        text = f"Never again with {business_name}: {gripe}."
        if rng.random() < strangers:
            typed, how = perturb(str(draw_people(1, rng)[0]), rng)
            rows.append((f"N{k:06d}", typed, None, text, how, None))
            continue
        p = people[int(rng.integers(0, len(people)))]
        typed, how = perturb(p["name"], rng)
        place = None
        if rng.random() < place_share and p["region"]:
            place = ", ".join(x for x in (p["region"], p["country"]) if x)
            typed = f"{typed}, {place}"
        if rng.random() < order_share and p["customer_id"] in first_order:
            text += f" Order {first_order[p['customer_id']]}."
        if rng.random() < email_share and p["email"]:
            text += f" Write to me at {p['email']}."
        rows.append((f"N{k:06d}", typed, place, text, how, p["customer_id"]))
    names = ("post_id", "author", "location", "text", "perturbation", "customer_id")
    return pa.table({name: [r[i] for r in rows] for i, name in enumerate(names)})
