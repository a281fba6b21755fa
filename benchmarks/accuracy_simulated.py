"""How right the scan is about a business whose truth is known (the simulator).

Simulates a retail business, imports it, and scans it once a month over its last year.
Against the ground truth (``truth/customers_truth.parquet``, which no scan reads):

- alerts: precision and recall of "not active" at the last scan, where the truth is
  "has decided to leave by the scan date"; the anchor is the plain "no purchase in
  6 months" rule measured on the same customers in the same run;
- lead time: for customers who truly lapsed during the year, days between the first monthly
  scan that flagged them and the true lapse date (positive: flagged ahead of the lapse);
- intangibles: measured by benchmarks/accuracy_intangibles.py;
- keeper decisions: the true yearly value and true best win-back chance of customers the
  scan says to pursue, not to pursue and let go.

``--backtest`` measures instead the backtest harness (scan/backtest.py) on each profile at
its default size and seed (``winback simulate --profile X``): scans as of one and two
horizons before the end, and prints each score's self-reported AUC (graded by the harness
inside the scan, on the horizon before the scan) beside its AUC on what the customers then
did in the horizon after the scan (data the scan never saw) and against the simulator's
truth ("truly stopped buying by the horizon's end": ``lapse_date``), among the customers
active in the year before the scan.

    uv run python benchmarks/accuracy_simulated.py [--customers 4000] [--seed 11]
    uv run python benchmarks/accuracy_simulated.py --backtest [--profiles retail b2b]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import backtest
from winback.scan.features import customer_features
from winback.scan.follow_suit import classifier, learnable_columns, model_matrix
from winback.scan.pipeline import run_scan
from winback.scan.subscriptions import subscription_features
from winback.simulate.run import simulate

END = date(2026, 6, 30)


def _precision_recall(flag: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = float(np.sum(flag & truth))
    return hits / max(float(flag.sum()), 1.0), hits / max(float(truth.sum()), 1.0)


SCORES = {
    "lapse_risk": "lapse_risk",
    "not_alive": "p_alive",
    "days_since_last_order": "days_since_last_order",
}


def _frame_at(ledger: Ledger, day: date, policy: Policy) -> pd.DataFrame:
    con = ledger.ibis()
    frame = customer_features(con, day, policy).to_pandas()
    if ledger.manifest().segments("subscriptions"):
        frame = frame.merge(subscription_features(con, day), on="customer_id", how="left")
    return frame


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    known = ~np.isnan(score)
    return float(roc_auc_score(y[known], score[known]))


def measure_backtest(profile: str, customers: int, seed: int, work: Path) -> None:
    """Self-reported AUCs beside the AUCs on the next horizon and against the truth."""
    policy = Policy()
    horizon = policy.lapse.follow_suit_window_days
    simulate(profile, customers, 36, seed, work / "sim", "parquet")
    ledger = Ledger(work / "ledger")
    for name in TABLES:
        for path in sorted((work / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=work / "rejects")
    truth = pq.read_table(work / "sim" / "truth" / "customers_truth.parquet").to_pandas()
    lapse_date = pd.to_datetime(truth.set_index("customer_id")["lapse_date"])
    print(f"\n{profile}: {customers:,} customers, seed {seed}")
    print(f"  {'as of':10s} {'score':22s} {'self':>6s} {'next':>6s} {'truth':>6s}  base rates")
    for k in (2, 1):
        as_of = END - timedelta(days=horizon * k)
        run = run_scan(ledger, work / "runs", policy, as_of=as_of)
        bt = run.info.backtest
        scan = run.customers().to_pandas()
        frame = _frame_at(ledger, as_of, policy).set_index("customer_id")
        frame = frame.reindex(scan["customer_id"]).reset_index()
        active = backtest.active_in_year(frame)
        later = _frame_at(ledger, as_of + timedelta(days=horizon), policy)
        y_next = backtest.lapse_labels(frame.loc[active], later, as_of)
        ends = pd.Timestamp(as_of + timedelta(days=horizon))
        gone = lapse_date.reindex(scan["customer_id"][active]) <= ends
        y_truth = gone.fillna(False).to_numpy(dtype=np.int64)
        for name, column in SCORES.items():
            score = scan[column].to_numpy(dtype=np.float64)[active]
            if name == "not_alive":
                score = 1.0 - score
            own = bt.get("scores", {}).get(name, {}).get("auc")
            print(
                f"  {as_of!s:10s} {name:22s} {own if own is not None else float('nan'):6.3f} "
                f"{_auc(y_next, score):6.3f} {_auc(y_truth, score):6.3f}  "
                f"self {bt.get('base_rate')}, next {y_next.mean():.3f}, "
                f"truth {y_truth.mean():.3f}",
                flush=True,
            )


def _import_simulated(profile: str, work: Path) -> pd.DataFrame:
    """Simulate ``profile`` at its default size and seed, import it, return the truth."""
    simulate(profile, 3000, 36, 0, work / "sim", "parquet")
    ledger = Ledger(work / "ledger")
    for name in TABLES:
        for path in sorted((work / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=work / "rejects")
    truth = pq.read_table(work / "sim" / "truth" / "customers_truth.parquet").to_pandas()
    return truth.set_index("customer_id")


def _ceiling_scores(
    x: pd.DataFrame, y: np.ndarray, customers: np.ndarray, seed: int = 0
) -> np.ndarray:
    """The ceiling model's out-of-fold scores: the lapse-risk model's kind and inputs,
    trained on the truth's labels; two folds split by customer, so no customer is scored
    by a model that saw them (at any cutoff)."""
    fold = pd.Series(customers).map(lambda c: hash_fold(str(c))).to_numpy()
    out = np.full(len(y), np.nan)
    for k in (0, 1):
        train, test = fold != k, fold == k
        model = classifier(seed)
        with threadpool_limits(1):
            model.fit(x[train], y[train])
            out[test] = model.predict_proba(x[test])[:, 1]
    return out


def hash_fold(customer_id: str) -> int:
    """A customer's fold (0 or 1), the same in every run."""
    return int(hashlib.sha256(customer_id.encode()).hexdigest(), 16) % 2


def _line(name: str, y: np.ndarray, score: np.ndarray) -> str:
    return f"    {name:26s} AUC {_auc(y, score):.3f}"


def measure_ceiling(profile: str, work: Path, cutoffs: int) -> None:
    """Item 7 of issue 18: the lapse risk beside chance, recency and a ceiling model, at
    monthly cutoffs whose 90 days after are inside the simulation; the flag rates; the
    self-reported backtest AUC against the truth."""
    policy = Policy()
    horizon = policy.lapse.follow_suit_window_days
    truth = _import_simulated(profile, work)
    ledger = Ledger(work / "ledger")
    decided_on = pd.to_datetime(truth["decided_on"])
    lapse_date = pd.to_datetime(truth["lapse_date"])
    rows = []
    started, cpu = time.perf_counter(), time.process_time()
    scan_seconds = []
    for k in range(cutoffs - 1, -1, -1):
        as_of = END - timedelta(days=horizon + 30 * k)
        t0 = time.perf_counter()
        run = run_scan(ledger, work / "runs", policy, as_of=as_of)
        scan_seconds.append(time.perf_counter() - t0)
        scan = run.customers().to_pandas()
        frame = _frame_at(ledger, as_of, policy).set_index("customer_id")
        frame = frame.reindex(scan["customer_id"])
        frame["p_alive"] = scan["p_alive"].to_numpy()
        frame["expected_purchases"] = scan["expected_purchases"].to_numpy()
        frame = frame.reset_index()
        recent = (scan["days_since_last_order"] < 365).to_numpy()
        ids = scan["customer_id"].to_numpy()
        cut, ends = pd.Timestamp(as_of), pd.Timestamp(as_of + timedelta(days=horizon))
        dec = decided_on.reindex(ids)
        lap = lapse_date.reindex(ids)
        x = model_matrix(frame, as_of, policy).astype("float64")
        bt = run.info.backtest.get("scores", {}).get("lapse_risk", {})
        stayed = (run.info.backtest.get("stayed_away") or {}).get("auc") or {}
        rows.append(
            pd.DataFrame(
                {
                    "as_of": as_of,
                    "customer_id": ids,
                    "recent": recent,
                    "decided": (dec <= cut).fillna(False).to_numpy(),
                    "never_decided": dec.isna().to_numpy(),
                    "not_gone": (lap.isna() | (lap > cut)).to_numpy(),
                    "lapses_soon": ((lap > cut) & (lap <= ends)).fillna(False).to_numpy(),
                    "stopped_by_end": (lap <= ends).fillna(False).to_numpy(),
                    "lapse_risk": scan["lapse_risk"].to_numpy(np.float64),
                    "not_alive": 1.0 - scan["p_alive"].to_numpy(np.float64),
                    "days": scan["days_since_last_order"].to_numpy(np.float64),
                    "flagged": (scan["status"] != "active").to_numpy(),
                    "self_auc": bt.get("auc"),
                    "stayed_auc": stayed.get("lapse_risk"),
                }
            ).join(x.add_prefix("x_"))
        )
    data = pd.concat(rows, ignore_index=True)
    data = data[data["recent"]].reset_index(drop=True)
    x = data[learnable_columns(data[[c for c in data if c.startswith("x_")]])]
    customers = data["customer_id"].to_numpy()
    ceiling_decided = _ceiling_scores(x, data["decided"].to_numpy(np.int64), customers)
    soon = data["not_gone"].to_numpy()
    ceiling_soon = np.full(len(data), np.nan)
    ceiling_soon[soon] = _ceiling_scores(
        x[soon], data["lapses_soon"].to_numpy(np.int64)[soon], customers[soon]
    )
    data["ceiling_decided"], data["ceiling_soon"] = ceiling_decided, ceiling_soon
    print(
        f"\n{profile}: 3,000 customers, seed 0; {cutoffs} monthly scans "
        f"(mean {np.mean(scan_seconds):.1f} s wall each); among customers who bought in the "
        "year before each",
        flush=True,
    )
    summary: dict[str, list[float]] = {}
    for as_of, at in data.groupby("as_of"):
        print(f"  as of {as_of}: {len(at):,} customers, {int(at['decided'].sum()):,} decided")
        y = at["decided"].to_numpy(np.int64)
        print("   has truly decided to leave by the cutoff:")
        print(f"    {'chance':26s} AUC 0.500")
        for name, col in (
            ("days since last purchase", "days"),
            ("1 - P(alive)", "not_alive"),
            ("lapse_risk", "lapse_risk"),
            ("ceiling (trained on truth)", "ceiling_decided"),
        ):
            auc = _auc(y, at[col].to_numpy(np.float64))
            summary.setdefault(f"decided {name}", []).append(auc)
            print(f"    {name:26s} AUC {auc:.3f}")
        ng = at[at["not_gone"]]
        y_soon = ng["lapses_soon"].to_numpy(np.int64)
        print(f"   truly lapses within {horizon} days ({len(ng):,} not yet gone):")
        for name, col in (
            ("days since last purchase", "days"),
            ("lapse_risk", "lapse_risk"),
            ("ceiling (trained on truth)", "ceiling_soon"),
        ):
            auc = _auc(y_soon, ng[col].to_numpy(np.float64))
            summary.setdefault(f"ahead {name}", []).append(auc)
            print(f"    {name:26s} AUC {auc:.3f}")
        flags = at["flagged"].to_numpy(bool)
        never = at["never_decided"].to_numpy(bool)
        decided = at["decided"].to_numpy(bool)
        false_rate = float(flags[never].mean())
        recall = float(flags[decided].mean())
        summary.setdefault("flags among never-decided", []).append(false_rate)
        summary.setdefault("recall among decided", []).append(recall)
        print(
            f"   slipping-or-worse: {false_rate:.1%} of the never-decided flagged, "
            f"{recall:.1%} of the decided caught"
        )
        stopped = at["stopped_by_end"].to_numpy(np.int64)
        truth_auc = _auc(stopped, at["lapse_risk"].to_numpy(np.float64))
        own = at["self_auc"].iloc[0]
        if own is not None and own == own:
            summary.setdefault("self-reported - truth", []).append(float(own) - truth_auc)
            print(
                f"   self-reported backtest AUC {float(own):.3f}, against the truth "
                f"(stopped buying by {horizon} days on) {truth_auc:.3f}: "
                f"gap {float(own) - truth_auc:+.3f}"
            )
        stayed_own = at["stayed_auc"].iloc[0]
        if stayed_own is not None and stayed_own == stayed_own:
            gap = float(stayed_own) - truth_auc
            summary.setdefault("self-reported stayed away - truth", []).append(gap)
            summary.setdefault("|stayed away - truth| worst", []).append(abs(gap))
            print(
                f"   self-reported AUC for who stays away (graded 180 days back) "
                f"{float(stayed_own):.3f}, against the truth {truth_auc:.3f}: gap {gap:+.3f}"
            )
    print(f"  means over the {cutoffs} cutoffs:")
    for key, values in summary.items():
        value = np.max(values) if key.endswith("worst") else np.mean(values)
        print(f"    {key:40s} {value:.3f}")
    print(
        f"  {time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} s CPU",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--months", type=int, default=12, help="monthly scans over this many")
    parser.add_argument("--backtest", action="store_true", help="grade the harness itself")
    parser.add_argument("--profiles", nargs="+", default=["retail", "b2b", "subscription"])
    parser.add_argument(
        "--ceiling", action="store_true", help="lapse risk beside recency and a ceiling model"
    )
    parser.add_argument("--cutoffs", type=int, default=4, help="monthly cutoffs (--ceiling)")
    args = parser.parse_args()
    if args.ceiling:
        for profile in args.profiles:
            with tempfile.TemporaryDirectory(prefix=f"winback-ceiling-{profile}-") as tmp:
                measure_ceiling(profile, Path(tmp), args.cutoffs)
        return
    if args.backtest:
        for profile in args.profiles:
            with tempfile.TemporaryDirectory(prefix=f"winback-backtest-{profile}-") as tmp:
                measure_backtest(profile, 3000, 0, Path(tmp))
        return
    with tempfile.TemporaryDirectory(prefix="winback-accuracy-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        simulate("retail", args.customers, 48, args.seed, work / "sim", "parquet")
        ledger = Ledger(work / "ledger")
        for name in TABLES:
            for path in sorted((work / "sim").glob(f"{name}.*")):
                import_file(ledger, name, path, rejects_dir=work / "rejects")
        truth = pq.read_table(work / "sim" / "truth" / "customers_truth.parquet").to_pandas()
        truth = truth.set_index("customer_id")
        print(
            f"simulated and imported {args.customers:,} customers in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )

        first_flag: dict[str, date] = {}
        last = None
        for k in range(args.months, -1, -1):
            as_of = END - timedelta(days=round(30.44 * k))
            run = run_scan(ledger, work / "runs", Policy(), as_of=as_of)
            rows = run.customers(["customer_id", "status"]).to_pandas()
            for cid in rows.loc[rows.status != "active", "customer_id"]:
                first_flag.setdefault(cid, as_of)
            print(f"  scan as of {as_of}: {run.info.counts}", flush=True)
            last = run
        assert last is not None
        scan = last.customers().to_pandas().set_index("customer_id")
        t = truth.reindex(scan.index)
        decided = pd.to_datetime(t["decided_on"])
        gone_truth = (decided <= pd.Timestamp(END)).fillna(False).to_numpy()
        flagged = (scan["status"] != "active").to_numpy()
        days_quiet = scan["days_since_last_order"].to_numpy()
        anchor = days_quiet >= 6 * 30.44
        p, r = _precision_recall(flagged, gone_truth)
        ap, ar = _precision_recall(anchor, gone_truth)
        print(f"\nalerts as of {END} ({int(gone_truth.sum()):,} of {len(scan):,} truly leaving)")
        print(f"  scan (not active):        precision {p:.3f}  recall {r:.3f}")
        print(f"  anchor (6 months quiet):  precision {ap:.3f}  recall {ar:.3f}")
        print(f"  ratio scan/anchor recall: {r / max(ar, 1e-9):.2f}x")

        lapse = pd.to_datetime(t["lapse_date"])
        year_start = pd.Timestamp(END - timedelta(days=round(30.44 * args.months)))
        in_year = (lapse > year_start) & (lapse <= pd.Timestamp(END))
        leads = []
        for cid in scan.index[in_year.fillna(False).to_numpy()]:
            if cid in first_flag:
                leads.append((lapse[cid] - pd.Timestamp(first_flag[cid])).days)
        caught = len(leads) / max(int(in_year.sum()), 1)
        if leads:
            print(
                f"\nlead time over {int(in_year.sum()):,} true lapses in the year: flagged "
                f"{caught:.0%}; median {np.median(leads):.0f} days ahead of the true lapse "
                f"(quartiles {np.percentile(leads, 25):.0f} to {np.percentile(leads, 75):.0f})"
            )

        # Intangibles against the truth: benchmarks/accuracy_intangibles.py.

        offers = [c for c in t.columns if c.startswith("p_return_")]
        best = t[offers].max(axis=1)
        print("\nkeeper decisions against the truth (means over the customers in each group)")
        for decision in ("pursue", "dont_pursue", "let_go"):
            mask = (scan["decision"] == decision).to_numpy()
            if mask.any():
                print(
                    f"  {decision:12s} {int(mask.sum()):6,} customers: true value/year "
                    f"{t['value_per_year'][mask].mean():8.2f}, true best win-back chance "
                    f"{best[mask].mean():.3f}"
                )
        listed = scan["rank"].notna().to_numpy()
        truth_ev = (best * t["value_per_year"]).to_numpy()
        if listed.sum() > 2:
            rho = pd.Series(scan["expected_value"].to_numpy()[listed]).corr(
                pd.Series(truth_ev[listed]), method="spearman"
            )
            print(f"  rank correlation of expected value with true value x chance: {rho:.3f}")


if __name__ == "__main__":
    main()
