"""How well public posts are matched to the customer who wrote them, against the truth.

Simulates a business (its customers and orders), draws posts that name their authors the
way people type them (``winback.simulate.posts.named_posts``: case, accents, typos; a
place, an order number or an e-mail address sometimes; a tenth from strangers), and
matches each with ``winback.desk.matching.Directory``. A post is matched when the
confidence reaches the policy's ``[complaints] match_threshold``; below it the post goes
to triage.

- precision: of the posts matched, the share matched to the customer who wrote them;
- recall: of the posts written by customers, the share matched to their author;
- beside them, in the same run: chance (a customer drawn at random), the anchor (an exact
  name match after folding case and accents, only when one customer has the name) and the
  best possible (a post whose name, place, order and e-mail fit its author alone), and
  the time to match every post, wall and CPU seconds, with the anchor's.

    uv run python benchmarks/accuracy_complaints.py [--customers 20000] [--posts 3000]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable

import pyarrow as pa

from winback.desk.matching import Customer, Directory, Match, fold, order_tokens
from winback.policy import Policy
from winback.simulate.posts import named_posts
from winback.simulate.settings import settings_for
from winback.simulate.world import iter_world


def world(profile: str, customers: int, seed: int) -> tuple[str, pa.Table, pa.Table]:
    settings = settings_for(profile, customers=customers, months=24, seed=seed)
    people, orders = [], []
    for chunk in iter_world(settings):
        if "customers" in chunk:
            people.append(chunk["customers"])
            orders.append(chunk["orders"].select(["order_id", "customer_id"]))
    return settings.business_name, pa.concat_tables(people), pa.concat_tables(orders)


def grade(found: list[Match], truth: list[str | None], threshold: float) -> tuple[float, float]:
    matched = [(m.customer_id, t) for m, t in zip(found, truth, strict=True)]
    taken = [(m, t) for (m, t), f in zip(matched, found, strict=True) if f.confidence >= threshold]
    right = sum(m == t for m, t in taken if m is not None)
    wrote = sum(t is not None for t in truth)
    precision = right / len([m for m, _ in taken if m is not None]) if taken else float("nan")
    return precision, right / wrote


def timed(fn: Callable[[], list[Match]]) -> tuple[list[Match], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--profile", default="retail")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    threshold = Policy().complaints.match_threshold

    business, people, orders = world(args.profile, args.customers, args.seed)
    posts = named_posts(people, orders, business_name=business, n=args.posts, seed=args.seed)
    customers = [Customer(**row) for row in people.select(
        ["customer_id", "name", "email", "region", "country"]).to_pylist()]  # fmt: skip
    owner = dict(
        zip(orders.column("order_id").to_pylist(), orders.column("customer_id").to_pylist(),
            strict=True)
    )  # fmt: skip
    rows = posts.to_pylist()
    truth = [r["customer_id"] for r in rows]
    directory = Directory(customers)

    def match_all() -> list[Match]:
        out = []
        for r in rows:
            mentioned = {t: owner[t] for t in order_tokens(r["text"]) if t in owner}
            out.append(directory.match(r["author"], r["text"], orders=mentioned))
        return out

    exact_index = Counter(fold(c.name) for c in customers)
    by_exact = {fold(c.name): c.customer_id for c in customers}

    def anchor() -> list[Match]:
        out = []
        for r in rows:
            name = fold(r["author"].split(",")[0])
            unique = exact_index.get(name) == 1
            out.append(Match(by_exact[name] if unique else None, 1.0 if unique else 0.0, "exact"))
        return out

    found, wall, cpu = timed(match_all)
    exact, a_wall, a_cpu = timed(anchor)
    precision, recall = grade(found, truth, threshold)
    a_precision, a_recall = grade(exact, truth, 1.0)
    # The best possible: the author is the only customer with their exact name and place,
    # or the post carries their order number or e-mail.
    key = Counter((fold(c.name), fold(c.region), fold(c.country)) for c in customers)
    by_id = {c.customer_id: c for c in customers}
    ideal = 0
    for r, t in zip(rows, truth, strict=True):
        if t is None:
            continue
        c = by_id[t]
        places = (fold(c.region), fold(c.country)) if r["location"] else None
        told = any(tok in owner for tok in order_tokens(r["text"])) or (
            c.email and c.email in r["text"]
        )
        if (
            told
            or (places and key[(fold(c.name), *places)] == 1)
            or (not places and exact_index[fold(c.name)] == 1)
        ):
            ideal += 1
    wrote = sum(t is not None for t in truth)
    triage = sum(m.confidence < threshold for m in found)
    print(f"{args.profile}: {len(customers):,} customers, {len(rows):,} posts "
          f"({wrote:,} by customers), threshold {threshold}")  # fmt: skip
    print(f"matcher   precision {precision:.4f}  recall {recall:.4f}  "
          f"to triage {triage / len(rows):.3f}  {wall:.2f} s wall, {cpu:.2f} s CPU")  # fmt: skip
    print(f"anchor    precision {a_precision:.4f}  recall {a_recall:.4f}  "
          f"(exact unique name)  {a_wall:.2f} s wall, {a_cpu:.2f} s CPU")  # fmt: skip
    print(f"chance    precision {1 / len(customers):.6f}  (a customer at random)")
    print(f"best possible recall {ideal / wrote:.4f}  (the post's evidence fits its author alone)")
    print(f"recall of the identifiable posts {recall * wrote / max(ideal, 1):.4f}")
    ratio = f"x{recall / a_recall:.2f}" if a_recall else "(the anchor matched none)"
    print(f"ratio to anchor: recall {ratio}, time x{wall / max(a_wall, 1e-9):.1f}")
    for t in (0.8, 0.85, 0.9, 0.95):
        p, r = grade(found, truth, t)
        print(f"  at threshold {t:.2f}: precision {p:.4f} recall {r:.4f}")
    goal = precision >= 0.98 and recall >= 0.9
    print(f"goal precision >= 0.98 at recall >= 0.9: {'met' if goal else 'missed'}")


if __name__ == "__main__":
    main()
