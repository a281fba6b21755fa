"""The scan's choice of repeat-purchase model made on a sample of customers, against the
same choice made on all of them.

``modelling._choose`` fits BG/NBD, MBG/NBD and Pareto/NBD on the history before the
holdout and grades each by its mean absolute error over the holdout; above
``CHOICE_CUSTOMERS`` customers it does so on a random sample of them. Here, for each
simulated profile (retail, b2b, subscription) and for CDNOW, the choice is made on all the
customers and on a sample (``--sample``, smaller than the scan's, so that the check is a
real one at these sizes), and the two are printed side by side with each candidate's error
and the CPU seconds of each comparison.

    uv run python benchmarks/choice_sample.py [--customers 20000] [--sample 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.presets import import_preset
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import modelling
from winback.scan.features import customer_days, purchase_summary
from winback.scan.pipeline import default_as_of, feature_frame
from winback.simulate.run import simulate

CDNOW = Path(__file__).resolve().parents[1] / "examples" / "cdnow" / "CDNOW_sample.txt.gz"


def _choice(ledger: Ledger, sample: int | None) -> tuple[dict[str, Any], float]:
    policy = Policy()
    con = ledger.ibis()
    as_of = default_as_of(con)
    days = customer_days(con.table("orders"))
    features = feature_frame(purchase_summary(days, as_of))
    cutoff = as_of - timedelta(days=policy.models.holdout_days)
    calibration = feature_frame(purchase_summary(days, cutoff))
    kept = modelling.CHOICE_CUSTOMERS
    modelling.CHOICE_CUSTOMERS = sample or len(calibration) + 1
    try:
        report = modelling.ModelReport(repeat_model="auto")
        started = time.process_time()
        modelling._choose(features, as_of, policy, calibration, report)
        return report.choice, time.process_time() - started
    finally:
        modelling.CHOICE_CUSTOMERS = kept


def _line(label: str, choice: dict[str, Any], cpu: float) -> str:
    errors = ", ".join(
        f"{n} {c['mae']:.4f}" if c["mae"] is not None else f"{n} (no usable fit)"
        for n, c in choice["candidates"].items()
    )
    who = f"{choice['customers']:>7,} customers"
    return f"  {label:8s} {who}: {choice['chosen']:10s} {errors}; {cpu:.2f} cpu s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--profiles", nargs="+", default=["retail", "b2b", "subscription"])
    args = parser.parse_args()
    agree = True
    with tempfile.TemporaryDirectory(prefix="winback-choice-") as tmp:
        work = Path(tmp)
        ledgers: list[tuple[str, Ledger, int]] = []
        for profile in args.profiles:
            simulate(profile, args.customers, 36, 0, work / profile / "sim", "parquet")
            ledger = Ledger(work / profile / "ledger")
            for name in TABLES:
                for path in sorted((work / profile / "sim").glob(f"{name}.*")):
                    import_file(ledger, name, path, rejects_dir=work / profile / "rejects")
            ledgers.append((profile, ledger, args.sample))
        cdnow = Ledger(work / "cdnow" / "ledger")
        import_preset(cdnow, "cdnow", CDNOW, rejects_dir=work / "cdnow")
        ledgers.append(("cdnow", cdnow, min(args.sample, 1_000)))
        for name, ledger, sample in ledgers:
            full, full_cpu = _choice(ledger, None)
            part, part_cpu = _choice(ledger, sample)
            same = full["chosen"] == part["chosen"]
            agree &= same
            print(f"{name}: {'the same choice' if same else 'A DIFFERENT CHOICE'}")
            print(_line("all", full, full_cpu))
            print(_line("sample", part, part_cpu))
    print("every choice agrees" if agree else "some choices differ")


if __name__ == "__main__":
    main()
