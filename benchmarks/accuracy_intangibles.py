"""How right the intangibles are about a business whose truth is known (the simulator).

For each profile (retail, b2b, subscription; default size and seed, as
``winback simulate --profile X``), simulates the business, imports it, builds the scan's
features as of the last day and reads the intangibles exactly as the scan's worth step does
(``scan.intangibles.intangibles``). Each flag is graded against the truth's flag
(``truth/customers_truth.parquet``, which no scan reads):

- precision and recall of the flag, beside chance (the truth's base rate: the precision of
  flagging at random) and beside the anchor, the rules the scan used before (a fixed count
  or share, measured in the same run);
- whether the flag's signal is in the data at all: the rate the flag reads (rude notes per
  judged interaction, contacts a month, late invoices per invoice, returns per order) for
  customers truly so and for the rest, and the share of the truly flagged whose record
  holds any trace of it (at least one event); a flag nobody can read is reported as such;
- ``trace r``: the recall among the truly flagged whose record holds a trace;
- ``ceiling``: the best recall at precision 0.9 of the same reading with its two groups
  taken from the truth (rates and share of the truly flagged and the rest) and its
  threshold chosen knowing the truth: what the counts can tell at best;
- unknown: how many customers get "unknown" (null) instead of yes or no.

    uv run python benchmarks/accuracy_intangibles.py [--profiles retail b2b subscription]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.features import customer_features
from winback.scan.intangibles import INTANGIBLES, Mixture, intangibles, number, readings
from winback.simulate.run import simulate

END = date(2026, 6, 30)


def precision_recall(flag: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = float(np.sum(flag & truth))
    return hits / max(float(flag.sum()), 1.0), hits / max(float(truth.sum()), 1.0)


def anchor(f: pd.DataFrame) -> dict[str, np.ndarray]:
    """The rules the scan used before this reading (fixed counts and shares)."""
    contacts = number(f, "contacts_last_year")
    peers = contacts.where(contacts > 0).groupby(f["segment"]).transform("median")
    peers = peers.fillna(1.0).clip(lower=1.0)
    due, late = number(f, "invoices_due"), number(f, "invoices_late")
    revenue = number(f, "revenue").clip(lower=0.01)
    return {
        "rude": (number(f, "rude_interactions") >= 2).to_numpy(),
        "heavy_contact": ((contacts >= 4) & (contacts > 3 * peers)).to_numpy(),
        "late_payer": ((due >= 3) & (late >= 0.3 * due)).to_numpy(),
        "return_abuser": (
            (number(f, "returns") >= 3) & (number(f, "returned_value") >= 0.3 * revenue)
        ).to_numpy(),
    }


UNITS = {
    "rude": "rude/interaction",
    "heavy_contact": "contacts/month",
    "late_payer": "late/invoice",
    "return_abuser": "returns/order",
}


def best_recall(chance: np.ndarray, truth: np.ndarray, precision: float = 0.9) -> float:
    """The most recall any threshold on the reading's chance reaches at this precision,
    the threshold chosen knowing the truth (a ceiling for this reading of the data).

    Customers with the same chance fall on the same side of any threshold.
    """
    known = ~np.isnan(chance)
    values, truth_known = chance[known], truth[known]
    best = 0.0
    for cut in np.unique(values):
        flagged = values >= cut
        hits = float(np.sum(flagged & truth_known))
        if hits / max(float(flagged.sum()), 1.0) >= precision:
            best = max(best, hits / max(float(truth.sum()), 1.0))
    return best


def measure(profile: str, work: Path) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    summary = simulate(profile, 3000, 36, 0, work / "sim", "parquet")
    del summary
    ledger = Ledger(work / "ledger")
    for name in TABLES:
        for path in sorted((work / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=work / "rejects")
    truth = pq.read_table(work / "sim" / "truth" / "customers_truth.parquet").to_pandas()
    policy = Policy()
    f = customer_features(ledger.ibis(), END, policy).to_pandas()
    f = f.sort_values("customer_id", kind="stable").reset_index(drop=True)
    prepared = time.perf_counter() - started
    t0, c0 = time.perf_counter(), time.process_time()
    flags, _ = intangibles(f, policy)
    read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
    t = truth.set_index("customer_id").reindex(f["customer_id"])
    old = anchor(f)
    read = readings(f, policy)
    print(
        f"\n{profile}: {len(f):,} customers who bought by {END} (3,000 simulated, seed 0); "
        f"intangibles read in {read_s:.2f} s wall, {read_cpu:.2f} s CPU "
        f"(simulate+import+features {prepared:.0f} s)"
    )
    print(
        f"  {'flag':14s} {'true':>5s} {'chance':>6s} {'prec':>6s} {'recall':>6s} "
        f"{'r/anchor':>8s} {'anchor p':>8s} {'anchor r':>8s} {'unknown':>7s} "
        f"{'trace r':>7s} {'ceiling':>7s}"
    )
    for name in INTANGIBLES:
        real = t[name].fillna(False).to_numpy(dtype=bool)
        raw = flags[name]
        flag = raw.fillna(False).to_numpy(dtype=bool)
        unknown = int(raw.isna().sum())
        p, r = precision_recall(flag, real)
        ap, ar = precision_recall(old[name], real)
        reading = read[name]
        kk, nn, unit = reading.k, reading.n, UNITS[name]
        chances = nn > 0
        poisson = name == "heavy_contact"

        def rate(mask: np.ndarray, kk: np.ndarray = kk, nn: np.ndarray = nn) -> float:
            return float(kk[mask].sum() / max(nn[mask].sum(), 1e-12))

        traced = real & (kk > 0)
        trace_r = float((flag & traced).sum() / max(traced.sum(), 1))
        if chances.any() and real.any() and (~real).any():
            # The same reading with its two groups taken from the truth: no reader of these
            # counts does better (at precision 0.9, the threshold chosen knowing the truth).
            known = rate(real & chances), rate(~real & chances)
            truth_fit = Mixture(low=max(known[1], 1e-7), high=known[0], share=float(real.mean()))
            ceiling = best_recall(
                np.where(chances, truth_fit.log_odds(kk, nn, poisson), np.nan), real
            )
            signal = (
                f"{unit} {known[0]:.3f} truly vs {known[1]:.3f} not; "
                f"{traced.sum() / max(real.sum(), 1):.0%} of the truly flagged have any"
            )
        else:
            ceiling = 0.0
            signal = "none: the data holds no record to read (unknown)"
        print(
            f"  {name:14s} {int(real.sum()):5d} {real.mean():6.3f} {p:6.3f} {r:6.3f} "
            f"{r / max(ar, 1e-9):8.2f} {ap:8.3f} {ar:8.3f} {unknown:7d} "
            f"{trace_r:7.3f} {ceiling:7.3f}\n  {'':14s} signal: {signal}",
            flush=True,
        )
    print(
        f"  ({time.perf_counter() - started:.0f} s wall, "
        f"{time.process_time() - cpu:.0f} s CPU for the profile)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["retail", "b2b", "subscription"])
    args = parser.parse_args()
    for profile in args.profiles:
        with tempfile.TemporaryDirectory(prefix=f"winback-intang-{profile}-") as tmp:
            measure(profile, Path(tmp))


if __name__ == "__main__":
    main()
