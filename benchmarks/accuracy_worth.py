"""Does the list put first the customers a call really changes? Graded by the simulator's truth.

For each profile (default b2b and retail) at its default size and seed (``winback simulate
--profile X``: 3,000 customers, 36 months, seed 0): simulate, import, scan as of the end of
the data, and grade the ranked list against ``truth/customers_truth.parquet``, which no
scan reads:

- the executive tier and the top 60 of the list: the share of accounts that truly decided
  to leave by the scan (``decided_on``), and by the end of the policy's horizon;
- the true incremental value a call captures in the top k of the list: for a customer who
  truly decided to leave by the scan, (best offer's ``p_return_*`` − ``p_return_baseline``)
  × the true yearly margin carried over the horizon like ``value_if_won``; for anyone else
  0 (they buy anyway: a call changes nothing). The rep is assumed to make the offer that
  fits (the guided call diagnoses the reason), so this is the call's most.

Each figure is printed for the new ranking (what the call changes), the anchor (the old
ranking, measured in the same run: win-back odds × value − cost from the same scan's
columns), chance (k customers drawn at random among those the scan flags), and the best
possible (the top k by the truth itself).

Then outcomes accumulate: the flagged customers are split at random in two halves; a
campaign over the first half's pursued customers (a fifth held out, no call) is drawn from
the truth (``simulate.truth.respond``: the rep offers the remedy for the reason the call
verifies; a customer who never left simply buys again), written to the ledger's
winback_outcomes as the desk would (won back, declined, returned unprompted, not pursued,
with the verified reason), and the scan runs again. The second half, which no outcome
names, is graded by the same measures before and after the learning (k halved).

    uv run python benchmarks/accuracy_worth.py [--profiles b2b retail] [--k 20 60 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.pipeline import run_scan
from winback.scan.worth import value_if_won
from winback.simulate.run import simulate
from winback.simulate.truth import REMEDIES, respond

END = date(2026, 6, 30)


def old_ranking(scan: pd.DataFrame, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """The ranking before this change (odds x value - cost, odds by segment, returned
    unprompted counted as a win), rebuilt from the run's own columns: ranked rows, best
    first, and the executive tier."""
    value = value_if_won(scan, policy).to_numpy()
    # The benchmark's ledger has no outcomes, so the old odds were the segment's prior.
    o = policy.odds
    odds = scan["segment"].map(lambda s: o.segment_prior_means.get(s, o.prior_mean)).to_numpy()
    c, t = policy.costs, policy.tiers
    cost = np.where(value >= t.rep_min_value, c.rep_call, c.campaign) + c.offer_share * odds * value
    ev = odds * value - cost
    pursue = (scan["decision"] == "pursue").to_numpy() & (ev > 0)
    order = np.argsort(-np.where(pursue, ev, -np.inf), kind="stable")
    listed = order[pursue[order]]
    executives = listed[value[listed] >= t.executive_min_value][: t.executive_top]
    return listed, executives


def truth_frame(sim: Path, ids: pd.Series, as_of: date, policy: Policy) -> pd.DataFrame:
    """Per scanned customer: decided by the scan, by the horizon's end, and the true
    incremental value of a call now."""
    truth = pq.read_table(sim / "truth" / "customers_truth.parquet").to_pandas()
    t = truth.set_index("customer_id").reindex(ids)
    decided = pd.to_datetime(t["decided_on"])
    horizon = timedelta(days=policy.lapse.follow_suit_window_days)
    offers = [c for c in t.columns if c.startswith("p_return_") and c != "p_return_baseline"]
    lift = (t[offers].max(axis=1) - t["p_return_baseline"]).clip(lower=0).fillna(0.0)
    w = policy.worth
    years, rate = w.horizon_months / 12.0, w.yearly_discount_rate
    annuity = years if rate == 0 else (1 - (1 + rate) ** -years) / rate
    gone = (decided <= pd.Timestamp(as_of)).fillna(False)
    return pd.DataFrame(
        {
            "decided": gone.to_numpy(),
            "decided_in_horizon": (decided <= pd.Timestamp(as_of + horizon)).fillna(False),
            "incremental": np.where(gone, lift * t["value_per_year"].fillna(0.0) * annuity, 0.0),
        }
    ).reset_index(drop=True)


def grade(profile: str, work: Path, ks: list[int]) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    policy = Policy()
    simulate(profile, 3000, 36, 0, work / "sim", "parquet")
    ledger = Ledger(work / "ledger")
    for name in TABLES:
        for path in sorted((work / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=work / "rejects")
    run = run_scan(ledger, work / "runs", policy, as_of=END)
    scan = run.customers().to_pandas()
    truth = truth_frame(work / "sim", scan["customer_id"], END, policy)
    flagged = np.flatnonzero((scan["status"] != "active").to_numpy())
    ranked = scan["rank"].notna().to_numpy()
    new_listed = np.flatnonzero(ranked)[np.argsort(scan["rank"].to_numpy()[ranked])]
    new_exec = np.flatnonzero((scan["tier"] == "executive").to_numpy())
    old_listed, old_exec = old_ranking(scan, policy)
    value = value_if_won(scan, policy).to_numpy()
    big = flagged[value[flagged] >= policy.tiers.executive_min_value]
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu

    print(
        f"\n{profile}: 3,000 customers, seed 0, scan as of {END}; "
        f"{len(flagged):,} flagged, {len(new_listed):,} listed (before: {len(old_listed):,}); "
        f"{seconds:.0f} s wall, {cpu_seconds:.0f} s CPU"
    )

    def share(rows: np.ndarray, column: str) -> str:
        if len(rows) == 0:
            return "   -  "
        return f"{truth[column].to_numpy()[rows].mean():6.0%}"

    print(f"  {'truly decided to leave':34s} {'new':>6s} {'old':>6s} {'chance':>6s} {'best':>6s}")
    for label, new, old, chance in (
        ("executive tier", new_exec, old_exec, big),
        ("top 60 of the list", new_listed[:60], old_listed[:60], flagged),
    ):
        for column, when in (("decided", "by the scan"), ("decided_in_horizon", "+ horizon")):
            best_rows = flagged[truth[column].to_numpy()[flagged]][: max(len(new), 1)]
            print(
                f"  {label + ', ' + when:34s} {share(new, column)} {share(old, column)} "
                f"{share(chance, column)} {share(best_rows, column)}   "
                f"({len(new)} new, {len(old)} old)"
            )
    _captured(truth["incremental"].to_numpy(), new_listed, old_listed, flagged, ks, "old")
    _learning_round(profile, work, ledger, policy, scan, truth, ks)


def _captured(
    inc: np.ndarray,
    new: np.ndarray,
    anchor: np.ndarray,
    pool: np.ndarray,
    ks: list[int],
    anchor_name: str,
) -> None:
    """True incremental value in the top k of two rankings, beside chance and the best."""
    best = pool[np.argsort(-inc[pool], kind="stable")]
    print(
        f"  {'true incremental value in top k':34s} {'new':>10s} {anchor_name:>10s} "
        f"{'chance':>10s} {'best':>10s}  new/{anchor_name}  new/best"
    )
    for k in ks:
        new_v, old_v = inc[new[:k]].sum(), inc[anchor[:k]].sum()
        chance_v = inc[pool].mean() * min(k, len(pool))
        best_v = inc[best[:k]].sum()
        print(
            f"  {'k = ' + str(k):34s} {new_v:10,.0f} {old_v:10,.0f} {chance_v:10,.0f} "
            f"{best_v:10,.0f}  {new_v / max(old_v, 1e-9):6.2f}x  {new_v / max(best_v, 1e-9):6.0%}",
            flush=True,
        )


def _learning_round(
    profile: str,
    work: Path,
    ledger: Ledger,
    policy: Policy,
    scan: pd.DataFrame,
    truth: pd.DataFrame,
    ks: list[int],
) -> None:
    """A campaign over half the flagged customers, its outcomes imported, the scan again;
    graded on the other half."""
    rng = np.random.default_rng(0)
    flagged = np.flatnonzero((scan["status"] != "active").to_numpy())
    campaign_half = rng.random(len(flagged)) < 0.5
    reached = flagged[campaign_half & scan["rank"].notna().to_numpy()[flagged]]
    graded = flagged[~campaign_half]
    holdout = rng.random(len(reached)) < 0.2
    t = pq.read_table(work / "sim" / "truth" / "customers_truth.parquet").to_pandas()
    t = t.set_index("customer_id").reindex(scan["customer_id"].to_numpy()[reached])
    reasons = t["primary_reason"].astype("object").to_numpy()
    offers: list[str | None] = [
        None if h else REMEDIES.get(str(r), ("plus_extra",))[0]
        for h, r in zip(holdout, reasons, strict=True)
    ]
    came_back = respond(pa.Table.from_pandas(t.reset_index()), offers, seed=1)
    came_back |= ~truth["decided"].to_numpy()[reached]  # never left: they buy again
    outcome = np.where(
        holdout,
        np.where(came_back, "returned_unprompted", "not_pursued"),
        np.where(came_back, "won_back", "declined"),
    )
    rows = pd.DataFrame(
        {
            "outcome_id": [f"bench-{i}" for i in range(len(reached))],
            "customer_id": scan["customer_id"].to_numpy()[reached],
            "recorded_on": END.isoformat(),
            "outcome": outcome,
            "segment": scan["segment"].to_numpy()[reached],
            "tier": np.where(holdout, "holdout", scan["tier"].to_numpy()[reached]),
            "offer": [o or "" for o in offers],
            "reason": np.where(holdout | pd.isna(reasons), "", reasons),
            "contacted": np.where(holdout, "false", "true"),
        }
    )
    rows["tier"] = rows["tier"].where(rows["tier"] != "none", "campaign")
    path = work / "winback_outcomes.csv"
    rows.to_csv(path, index=False)
    import_file(ledger, "winback_outcomes", path, rejects_dir=work / "rejects")
    after = run_scan(ledger, work / "runs", policy, as_of=END).customers().to_pandas()

    def ranked(frame: pd.DataFrame) -> np.ndarray:
        listed = frame["rank"].notna().to_numpy() & np.isin(np.arange(len(frame)), graded)
        rows = np.flatnonzero(listed)
        return rows[np.argsort(frame["rank"].to_numpy()[rows])]

    calls = ~holdout
    print(
        f"  after a campaign over {len(reached)} of the other half ({int(calls.sum())} called: "
        f"{(outcome[calls] == 'won_back').mean():.0%} won back; {int(holdout.sum())} held "
        f"out: {(outcome[holdout] == 'returned_unprompted').mean():.0%} returned), graded on "
        f"{len(graded)} flagged customers no outcome names"
    )
    _captured(
        truth["incremental"].to_numpy(),
        ranked(after),
        ranked(scan),
        graded,
        [k // 2 for k in ks],
        "before",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["b2b", "retail"])
    parser.add_argument("--k", nargs="+", type=int, default=[20, 60, 200])
    args = parser.parse_args()
    for profile in args.profiles:
        with tempfile.TemporaryDirectory(prefix=f"winback-worth-{profile}-") as tmp:
            grade(profile, Path(tmp), args.k)


if __name__ == "__main__":
    main()
