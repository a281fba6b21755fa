"""How well the scan ranks who buys again, on CDNOW, against two baselines in the same run.

The whole CDNOW cohort (23,570 customers) is imported; the scan runs as of 30 September
1997 (the papers' 39-week calibration period) with the expected-purchases period set to
the 39-week holdout, so it sees nothing after the calibration end. Its outputs are then
graded on the holdout (1 October 1997 to 30 June 1998):

- who buys again: AUC and top-decile lift of a score, for the scan's status (active first,
  lost last), the scan's expected purchases (the model it chose), its lapse risk (lowest
  first; a 90-day probability, here ranking a 39-week holdout), the anchor BG/NBD alone
  and the two other customer-base models alone (each fitted here on the same calibration
  summary), days since the last purchase, chance, and the best possible: a model trained
  on the holdout's own answers with the scan's per-customer columns, graded by 5-fold
  cross-validation (no forecast can know the answers; it shows what the data allows. On
  the cohort only: on the 1/10 sample its trees have too few rows and rank below BG/NBD);
- how many: mean absolute error and root mean squared error of expected holdout
  purchases, for the scan's model and the anchors, beside three references that are not
  forecasts: zero for everyone, and models trained on the holdout's answers (5-fold
  cross-validation) for the mean (Poisson loss) and for the median (absolute-error loss).
  The absolute error rewards predicting the median, which is 0 for anyone more likely not
  to buy than to buy: a lower figure can mean a lower forecast, not a better expectation;
- the backtest harness's figures from inside the scan, and the same scores graded on the
  90 days after the scan (who of the customers active in the year before it bought again).

    uv run python benchmarks/accuracy_cdnow.py [--sample]   # --sample: the 2,357 customers
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from winback.cli.output import backtest_lines
from winback.ledger.presets import import_preset
from winback.ledger.store import Ledger
from winback.models import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel
from winback.policy import Policy
from winback.scan.follow_suit import top_decile_lift
from winback.scan.pipeline import run_scan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "cdnow"
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)
HOLDOUT_WEEKS = (HOLDOUT_END - CALIBRATION_END).days / 7
FOLDS = 5  # the best possible's cross-validation


def _known_columns(scan: pd.DataFrame) -> pd.DataFrame:
    """What the scan knows of each customer, as numbers: the best possible's inputs."""
    first = pd.to_datetime(scan["first_order_date"])
    last = pd.to_datetime(scan["last_order_date"])
    out = pd.DataFrame(index=scan.index)
    for name in (
        "orders",
        "revenue",
        "days_since_last_order",
        "typical_interval_days",
        "usual_basket",
        "p_alive",
        "expected_purchases",
    ):
        out[name] = pd.to_numeric(scan[name], errors="coerce")
    out["age_days"] = (pd.Timestamp(CALIBRATION_END) - first).dt.days
    out["span_days"] = (last - first).dt.days
    out["spend_per_purchase"] = out["revenue"] / out["orders"]
    return out.astype("float64")


def _best_possible(
    known: pd.DataFrame, bought: np.ndarray, actual: np.ndarray
) -> dict[str, np.ndarray]:
    """Scores from models trained on the holdout's own answers, each customer's from the
    folds that did not hold them: the room the scan's data leaves, not a forecast."""
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    settings = {"max_iter": 200, "learning_rate": 0.05, "max_depth": 3, "min_samples_leaf": 50}
    kinds = {
        "who": HistGradientBoostingClassifier(**settings, random_state=0),
        "mean": HistGradientBoostingRegressor(loss="poisson", **settings, random_state=0),
        "median": HistGradientBoostingRegressor(loss="absolute_error", **settings, random_state=0),
    }
    out = {}
    for name, model in kinds.items():
        target = bought if name == "who" else actual
        method = "predict_proba" if name == "who" else "predict"
        # Stratified by who bought again (a count has too many rare values to stratify by).
        splits = list(folds.split(known, bought))
        predicted = cross_val_predict(model, known, target, cv=splits, method=method)
        out[name] = predicted[:, 1] if name == "who" else predicted
    return out


def _holdout_purchases(ledger: Ledger, end: date = HOLDOUT_END) -> pd.Series:
    con = ledger.connect()
    rows = con.sql(
        f"SELECT customer_id, count(DISTINCT order_date) FROM orders "
        f"WHERE order_date > DATE '{CALIBRATION_END}' AND order_date <= DATE '{end}' "
        "GROUP BY customer_id"
    ).fetchall()
    con.close()
    return pd.Series(dict(rows), dtype="float64")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", action="store_true", help="the 1/10 sample only")
    args = parser.parse_args()
    data = EXAMPLES / ("CDNOW_sample.txt.gz" if args.sample else "CDNOW_master.txt.gz")
    with tempfile.TemporaryDirectory(prefix="winback-cdnow-") as tmp:
        work = Path(tmp)
        ledger = Ledger(work / "ledger")
        import_preset(ledger, "cdnow", data, rejects_dir=work)
        policy = Policy.model_validate(
            {"lapse": {"expected_purchases_days": round(HOLDOUT_WEEKS * 7)}}
        )
        started = time.perf_counter()
        run = run_scan(ledger, work / "runs", policy, as_of=CALIBRATION_END)
        seconds = time.perf_counter() - started
        scan = run.customers().to_pandas().set_index("customer_id")
        actual = _holdout_purchases(ledger).reindex(scan.index).fillna(0.0)
        bought = (actual > 0).to_numpy().astype(int)

        x = scan["orders"].to_numpy(dtype=float) - 1
        first = pd.to_datetime(scan["first_order_date"])
        last = pd.to_datetime(scan["last_order_date"])
        t_x = (last - first).dt.days.to_numpy(dtype=float) / 7
        big_t = (pd.Timestamp(CALIBRATION_END) - first).dt.days.to_numpy(dtype=float) / 7
        anchors = {}
        for label, kind in (
            ("BG/NBD", BetaGeoModel),
            ("MBG/NBD", ModifiedBetaGeoModel),
            ("Pareto/NBD", ParetoNBDModel),
        ):
            fitted = kind().fit(x, t_x, big_t)
            anchors[label] = fitted.conditional_expected_purchases(HOLDOUT_WEEKS, x, t_x, big_t)
        bgnbd = anchors["BG/NBD"]
        truth = actual.to_numpy()
        best = _best_possible(_known_columns(scan), bought, truth)

        severity = scan["status"].map({"active": 0, "slipping": 1, "lapsed": 2, "lost": 3})
        scores = {
            "scan status (active first)": -severity.to_numpy(dtype=float),
            "scan expected purchases": scan["expected_purchases"].to_numpy(dtype=float),
            "scan 1 - lapse risk": 1 - scan["lapse_risk"].to_numpy(dtype=float),
            "BG/NBD alone": bgnbd,
            "MBG/NBD alone": anchors["MBG/NBD"],
            "Pareto/NBD alone": anchors["Pareto/NBD"],
            "days since last purchase": -scan["days_since_last_order"].to_numpy(dtype=float),
            "chance": np.zeros(len(scan)),
            f"best possible ({FOLDS}-fold, answers)": best["who"],
        }
        print(
            f"CDNOW {'sample' if args.sample else 'cohort'}: {len(scan):,} customers, "
            f"{bought.mean():.1%} bought again in the {HOLDOUT_WEEKS:.0f}-week holdout; "
            f"scan took {seconds:.1f} s; scan model {run.info.models['repeat_model']} "
            f"{ {k: round(v, 3) for k, v in run.info.models['params'].items()} }"
        )
        print(f"{'score':32s} {'AUC':>6s} {'top-decile lift':>16s}")
        for name, score in scores.items():
            if np.isnan(score).any():
                print(f"{name:32s} not scored for {int(np.isnan(score).sum()):,} customers")
                continue
            auc = roc_auc_score(bought, score)
            lift = top_decile_lift(bought, score)
            print(f"{name:32s} {auc:6.3f} {lift:16.2f}")
        mae_scan = float(np.mean(np.abs(scores["scan expected purchases"] - truth)))
        mae_bg = float(np.mean(np.abs(bgnbd - truth)))
        print(
            f"mean absolute error of expected holdout purchases: scan {mae_scan:.3f}, "
            f"BG/NBD alone {mae_bg:.3f} (ratio {mae_scan / mae_bg:.2f}x)"
        )
        forecasts = {
            "scan expected purchases": scores["scan expected purchases"],
            **{f"{label} alone": values for label, values in anchors.items()},
            "reference: zero for everyone": np.zeros(len(truth)),
            f"reference: mean from the answers ({FOLDS}-fold)": best["mean"],
            f"reference: median from the answers ({FOLDS}-fold)": best["median"],
        }
        print(f"{'expected holdout purchases':44s} {'MAE':>6s} {'RMSE':>6s} {'total':>8s}")
        for name, values in forecasts.items():
            mae = float(np.mean(np.abs(values - truth)))
            rmse = float(np.sqrt(np.mean((values - truth) ** 2)))
            print(f"{name:44s} {mae:6.3f} {rmse:6.3f} {values.sum():8,.0f}")
        print(f"{'actual':44s} {'':6s} {'':6s} {truth.sum():8,.0f}")
        # The harness's own figures (graded on the horizon before the scan), beside the same
        # scores graded on what the customers did in the horizon after it.
        for line in backtest_lines(run.info.backtest):
            print(line)
        horizon = policy.lapse.follow_suit_window_days
        active = (scan["days_since_last_order"] < 365).to_numpy()
        after = _holdout_purchases(ledger, CALIBRATION_END + timedelta(days=horizon))
        lapsed = (after.reindex(scan.index).fillna(0.0) == 0).to_numpy()[active].astype(int)
        print(
            f"the same scores on the {horizon} days after the scan ({int(active.sum()):,} "
            f"customers active in the year before it, {lapsed.mean():.1%} lapsed):"
        )
        ahead = {
            "lapse risk": scan["lapse_risk"],
            "1 - P(alive)": 1 - scan["p_alive"],
            "days since last purchase": scan["days_since_last_order"],
        }
        for name, score in ahead.items():
            values = score.to_numpy(dtype=float)[active]
            known = ~np.isnan(values)
            auc = roc_auc_score(lapsed[known], values[known])
            print(f"  {name:26s} AUC {auc:.3f}")


if __name__ == "__main__":
    main()
