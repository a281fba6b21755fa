"""Fit BG/NBD and Pareto/NBD with winback and with lifetimes 0.11.3, on the same data in
the same run: CDNOW (2,357 customers) and a large simulated customer base.

    OPENBLAS_NUM_THREADS=1 uv run python benchmarks/model_fit.py            # 1,000,000
    OPENBLAS_NUM_THREADS=1 uv run python benchmarks/model_fit.py --quick    # 100,000
    OPENBLAS_NUM_THREADS=1 uv run python benchmarks/model_fit.py --cdnow-only --repeat 21

Both libraries get the same input, the distinct (x, t_x, T) rows with ``weights=`` (how many
customers each stands for), so neither profits from de-duplicating on its own. Prints both
parameter sets to 4 significant digits, whether they agree and their largest relative
difference, CPU and wall seconds of each fit and the ratios to lifetimes (the anchor,
measured in the same run). For the simulated BG/NBD base it also times the predictions a
scan makes for every customer (P(alive), expected purchases at each month of a 36-month
horizon, the discounted value), against lifetimes' own prediction functions on the same
customers and parameters. lifetimes is a
development-only reference (dependency group ``bench``). lifetimes' Pareto/NBD starts its
optimiser from random values (seeded here), and its last digits depend on that start; both
parameter sets are therefore also scored with winback's log-likelihood, to show which is the
higher.

The simulated base looks like a real one summarised by day: customers join on one of 365
days and are observed until day 730, and purchase times are whole days. winback merges
identical rows before fitting anyway; here it receives them already merged, like lifetimes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from winback.models.bgnbd import BetaGeoModel, sample_bgnbd
from winback.models.data import summarise_transactions
from winback.models.gamma_gamma import GammaGammaModel
from winback.models.mbgnbd import ModifiedBetaGeoModel
from winback.models.paretonbd import ParetoNBDModel, sample_paretonbd
from winback.models.transaction import discounted

ROOT = Path(__file__).resolve().parents[1]


def say(message: str) -> None:
    print(message, flush=True)


def import_lifetimes() -> Any:
    # lifetimes 0.11.3 predates numpy 2 and pandas 3: it still runs here, but emits
    # deprecation warnings (pkg_resources, autograd, pandas), which this script silences.
    warnings.filterwarnings("ignore")
    import lifetimes

    return lifetimes


def cdnow() -> pd.DataFrame:
    tx = pd.read_csv(
        ROOT / "examples" / "cdnow" / "CDNOW_sample.txt.gz",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "value"],
        dtype={"date": str},
    )
    return summarise_transactions(
        tx, "customer_id", "date", "1997-09-30", value_col="value", unit="weeks"
    )


def simulated(kind: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = (730 - rng.integers(0, 365, n)).astype(float)
    if kind == "bgnbd":  # the CDNOW fit, rescaled from weeks to days
        x, t_x, T = sample_bgnbd(T, 0.243, 4.414 * 7, 0.793, 2.426, rng)
    else:
        x, t_x, T = sample_paretonbd(T, 0.553, 10.578 * 7, 0.606, 11.669 * 7, rng)
    t_x = np.where(x > 0, np.maximum(np.ceil(t_x), 1.0), 0.0)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


# How many times each fit is repeated (``--repeat``); the median CPU and wall seconds are
# printed. A CDNOW fit takes milliseconds, where one timing on a shared machine is noise.
REPEAT = [1]


def timed(fit: Callable[[], Any], repeat: int = 1) -> tuple[Any, float, float]:
    """The result, CPU seconds (this process) and wall seconds: the medians of ``repeat``
    calls."""
    cpus, walls = [], []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        result = fit()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return result, float(np.median(cpus)), float(np.median(walls))


def distinct_rows(columns: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The distinct rows of ``columns`` and how many customers each stands for."""
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return tuple(np.ascontiguousarray(rows[:, i]) for i in range(rows.shape[1])), counts


def compare(label: str, data: pd.DataFrame, ours_cls: Any, theirs_cls: Any) -> tuple[Any, Any]:
    """Fit both on the same distinct rows; print times, ratios and parameter agreement."""
    if ours_cls is GammaGammaModel:
        repeat = data[data["frequency"] > 0]
        full = (repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy())
        customers = len(repeat)
    else:
        full = tuple(data[c].to_numpy() for c in ("frequency", "recency", "T"))
        customers = len(data)
    # Both libraries get the same input: the distinct rows, weighted by their counts.
    columns, weights = distinct_rows(full)
    say(f"\n== {label}: {customers:,} customers, {len(weights):,} distinct rows (weights=)")
    repeat = REPEAT[0] if customers < 10_000 else 1
    if repeat > 1:
        say(f"   median of {repeat} fits each")
    say("   fitting with lifetimes (the anchor) ...")
    theirs, their_cpu, their_wall = timed(
        lambda: theirs_cls().fit(*columns, weights=weights.astype(float)), repeat
    )
    say(f"   lifetimes CPU {their_cpu:9.3f} s, wall {their_wall:9.3f} s")
    say("   fitting with winback ...")
    ours, our_cpu, our_wall = timed(lambda: ours_cls().fit(*columns, weights=weights), repeat)
    say(f"   winback   CPU {our_cpu:9.3f} s, wall {our_wall:9.3f} s")
    names = list(ours.params_.index)
    their_params = theirs.params_.to_numpy()
    all_equal = True
    say(f"   {'param':>6} {'winback':>12} {'lifetimes':>12}  equal to 4 s.f.  rel. difference")
    for name, a, b in zip(names, ours.params_.to_numpy(), their_params, strict=True):
        equal = f"{a:.4g}" == f"{b:.4g}"
        all_equal &= equal
        flag = "yes" if equal else "NO"
        say(f"   {name:>6} {a:12.4g} {b:12.4g}  {flag:15s}  {abs(a - b) / abs(b):.1e}")
    largest = float(np.max(np.abs(ours.params_.to_numpy() - their_params) / np.abs(their_params)))
    # lifetimes drops constants from its log-likelihood, so both parameter sets are scored
    # with winback's full log-likelihood: where they differ, this shows which is higher.
    at_theirs = float(weights @ ours._log_likelihood_rows(their_params, columns))
    say(
        f"   log-likelihood at winback's parameters {ours.log_likelihood_:.4f}, "
        f"at lifetimes' {at_theirs:.4f} (winback higher by {ours.log_likelihood_ - at_theirs:.2g})"
    )
    say(
        f"   all parameters equal to 4 s.f.: {'yes' if all_equal else 'NO'} "
        f"(max relative difference {largest:.1e}); "
        f"lifetimes/winback = {their_cpu / our_cpu:.1f}x in CPU, "
        f"{their_wall / our_wall:.1f}x in wall time"
    )
    return ours, theirs


def compare_predictions(label: str, data: pd.DataFrame, ours: Any, theirs: Any) -> None:
    """Time the predictions a scan makes for every customer, with each library's own fitted
    model: P(alive), expected purchases over each month of a 36-month horizon, and the
    discounted value over it (lifetimes: conditional_expected_number_of_purchases_up_to_time
    once per month over every customer, as its own customer_lifetime_value does; both
    sides are discounted by the same function)."""
    x, t_x, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    spend = np.full(len(x), 35.0)
    months = 36
    month = 30.0  # days, the simulated base's unit
    ends = np.arange(1, months + 1) * month
    rate = 0.01
    say(f"\n== predictions, {label}: {len(x):,} customers, {months} monthly horizons")

    def winback_predict() -> Any:
        predictions = ours.predict_horizons(ends, x, t_x, T)
        return predictions, predictions.discounted_value(rate) * spend

    def lifetimes_predict() -> Any:
        p_alive = theirs.conditional_probability_alive(x, t_x, T)
        cumulative = np.array(
            [theirs.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T) for t in ends]
        )
        return p_alive, cumulative, discounted(cumulative, rate) * spend

    (predictions, v_ours), our_cpu, our_wall = timed(winback_predict)
    # Per customer and month only for the comparison below (a scan never needs it).
    p_ours, c_ours = predictions.p_alive, predictions.all_expected()
    say(f"   winback   CPU {our_cpu:9.3f} s, wall {our_wall:9.3f} s")
    # The anchor in the same run: lifetimes' own predictions, with winback's parameters so
    # that the numbers are comparable.
    theirs.params_ = pd.Series(ours.params_.to_numpy(), index=theirs.params_.index)
    (p_theirs, c_theirs, v_theirs), their_cpu, their_wall = timed(lifetimes_predict)
    say(f"   lifetimes CPU {their_cpu:9.3f} s, wall {their_wall:9.3f} s")

    def rel(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))

    say(
        f"   max relative difference: P(alive) {rel(p_ours, p_theirs):.1e}, expected "
        f"purchases {rel(c_ours, c_theirs):.1e}, value {rel(v_ours, v_theirs):.1e}"
    )
    say(
        f"   lifetimes/winback = {their_cpu / our_cpu:.1f}x in CPU, "
        f"{their_wall / our_wall:.1f}x in wall time"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 customers, not 1,000,000")
    parser.add_argument("--size", type=int, help="simulated customers (overrides --quick)")
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--skip-pareto", action="store_true", help="BG/NBD only")
    parser.add_argument("--cdnow-only", action="store_true", help="no simulated customers")
    parser.add_argument(
        "--repeat", type=int, default=1, help="fits on CDNOW timed this many times (median)"
    )
    args = parser.parse_args(argv)
    REPEAT[0] = max(args.repeat, 1)
    size = args.size or (100_000 if args.quick else 1_000_000)
    lifetimes = import_lifetimes()
    # lifetimes' Pareto/NBD draws its starting values from numpy's global generator.
    np.random.seed(args.seed)
    say(f"numpy {np.__version__}, lifetimes {lifetimes.__version__}, simulated size {size:,}")

    data = cdnow()
    compare("BG/NBD on CDNOW", data, BetaGeoModel, lifetimes.BetaGeoFitter)
    if not args.skip_pareto:
        compare("Pareto/NBD on CDNOW", data, ParetoNBDModel, lifetimes.ParetoNBDFitter)
    compare("MBG/NBD on CDNOW", data, ModifiedBetaGeoModel, lifetimes.ModifiedBetaGeoFitter)
    compare("Gamma-gamma on CDNOW", data, GammaGammaModel, lifetimes.GammaGammaFitter)
    if args.cdnow_only:
        return 0
    say(f"\nsimulating {size:,} BG/NBD customers ...")
    bg_data = simulated("bgnbd", size, args.seed)
    ours, theirs = compare("BG/NBD simulated", bg_data, BetaGeoModel, lifetimes.BetaGeoFitter)
    compare_predictions("BG/NBD simulated", bg_data, ours, theirs)
    if not args.skip_pareto:
        say(f"\nsimulating {size:,} Pareto/NBD customers ...")
        compare(
            "Pareto/NBD simulated",
            simulated("pnbd", size, args.seed),
            ParetoNBDModel,
            lifetimes.ParetoNBDFitter,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
