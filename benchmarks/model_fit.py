"""Fit BG/NBD and Pareto/NBD with winback and with lifetimes 0.11.3, on the same data in
the same run: CDNOW (2,357 customers) and a large simulated customer base.

    OPENBLAS_NUM_THREADS=1 uv run python benchmarks/model_fit.py            # 1,000,000
    OPENBLAS_NUM_THREADS=1 uv run python benchmarks/model_fit.py --quick    # 100,000

Both libraries get the same input, the distinct (x, t_x, T) rows with ``weights=`` (how many
customers each stands for), so neither profits from de-duplicating on its own. Prints both
parameter sets to 4 significant digits, whether they agree, CPU and wall seconds of each fit
and the ratios to lifetimes (the anchor, measured in the same run). lifetimes is a
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


def timed(fit: Callable[[], Any]) -> tuple[Any, float, float]:
    """The result, CPU seconds (this process) and wall seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fit()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def distinct_rows(columns: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The distinct rows of ``columns`` and how many customers each stands for."""
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return tuple(np.ascontiguousarray(rows[:, i]) for i in range(rows.shape[1])), counts


def compare(label: str, data: pd.DataFrame, ours_cls: Any, theirs_cls: Any) -> None:
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
    say("   fitting with lifetimes (the anchor) ...")
    theirs, their_cpu, their_wall = timed(
        lambda: theirs_cls().fit(*columns, weights=weights.astype(float))
    )
    say(f"   lifetimes CPU {their_cpu:9.3f} s, wall {their_wall:9.3f} s")
    say("   fitting with winback ...")
    ours, our_cpu, our_wall = timed(lambda: ours_cls().fit(*columns, weights=weights))
    say(f"   winback   CPU {our_cpu:9.3f} s, wall {our_wall:9.3f} s")
    names = list(ours.params_.index)
    their_params = theirs.params_.to_numpy()
    all_equal = True
    say(f"   {'param':>6} {'winback':>12} {'lifetimes':>12}  equal to 4 s.f.")
    for name, a, b in zip(names, ours.params_.to_numpy(), their_params, strict=True):
        equal = f"{a:.4g}" == f"{b:.4g}"
        all_equal &= equal
        say(f"   {name:>6} {a:12.4g} {b:12.4g}  {'yes' if equal else 'NO'}")
    # lifetimes drops constants from its log-likelihood, so both parameter sets are scored
    # with winback's full log-likelihood: where they differ, this shows which is higher.
    at_theirs = float(weights @ ours._log_likelihood_rows(their_params, columns))
    say(
        f"   log-likelihood at winback's parameters {ours.log_likelihood_:.4f}, "
        f"at lifetimes' {at_theirs:.4f} (winback higher by {ours.log_likelihood_ - at_theirs:.2g})"
    )
    say(
        f"   all parameters equal to 4 s.f.: {'yes' if all_equal else 'NO'}; "
        f"lifetimes/winback = {their_cpu / our_cpu:.1f}x in CPU, "
        f"{their_wall / our_wall:.1f}x in wall time"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 customers, not 1,000,000")
    parser.add_argument("--size", type=int, help="simulated customers (overrides --quick)")
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--skip-pareto", action="store_true", help="BG/NBD only")
    args = parser.parse_args(argv)
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
    say(f"\nsimulating {size:,} BG/NBD customers ...")
    compare(
        "BG/NBD simulated",
        simulated("bgnbd", size, args.seed),
        BetaGeoModel,
        lifetimes.BetaGeoFitter,
    )
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
