"""The feature columns the scan lets go of after the lapse risk
(``pipeline.READ_ONLY_UP_TO_LAPSE_RISK``) are read by no later step: the modules of the
statuses, contracts, worth and run never name them, and a scan that keeps them writes the
same run, on a retail and on a subscription business."""

from __future__ import annotations

import inspect
import re
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.scan.test_follow_suit import _simulated
from winback.models import uplift
from winback.policy import Policy
from winback.scan import (
    call_lift,
    contact,
    intangibles,
    lapse,
    pipeline,
    runs,
    subscriptions,
    worth,
)

END = pd.Timestamp("2026-06-30").date()  # the simulator's default end

# What runs on the frame after the lapse risk: whole modules, and the pipeline's own
# functions that build the run from it.
LATER = [lapse, subscriptions, worth, intangibles, call_lift, contact, runs, uplift]
LATER_IN_PIPELINE = [
    pipeline._run_pieces,
    pipeline._run_table,
    pipeline._due_dates,
    pipeline._with_more_reasons,
]


def test_no_later_step_names_a_column_let_go() -> None:
    sources = [inspect.getsource(m) for m in [*LATER, *LATER_IN_PIPELINE]]
    # The part of the scan after the columns go, up to writing the run.
    scan = inspect.getsource(pipeline._scan)
    sources.append(scan[scan.index("READ_ONLY_UP_TO_LAPSE_RISK") :])
    for name in pipeline.READ_ONLY_UP_TO_LAPSE_RISK:
        quoted = re.compile(rf"[\"']{name}[\"']")
        named = [i for i, text in enumerate(sources) if quoted.search(text)]
        assert not named, f"{name} is read after the lapse risk"
    assert len(set(pipeline.READ_ONLY_UP_TO_LAPSE_RISK)) == len(pipeline.READ_ONLY_UP_TO_LAPSE_RISK)


@pytest.mark.parametrize(("profile", "customers"), [("retail", 1500), ("subscription", 800)])
def test_a_scan_keeping_every_column_writes_the_same_run(
    profile: str, customers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = _simulated(profile, customers, tmp_path)
    policy = Policy.model_validate({"decision": {"let_go_intangibles": 1}})
    as_of = END - timedelta(days=90)
    seen: dict[str, list[str]] = {}
    decide = pipeline.decide

    def decide_seen(features: pd.DataFrame, *args: object) -> pd.DataFrame:
        seen.setdefault("columns", []).append(",".join(features.columns))
        return decide(features, *args)

    monkeypatch.setattr(pipeline, "decide", decide_seen)
    slim = pipeline.run_scan(ledger, tmp_path / "slim", policy, as_of=as_of)
    monkeypatch.setattr(pipeline, "READ_ONLY_UP_TO_LAPSE_RISK", ())
    whole = pipeline.run_scan(ledger, tmp_path / "whole", policy, as_of=as_of)
    # The columns were there to let go of, and went.
    dropped = set(seen["columns"][1].split(",")) - set(seen["columns"][0].split(","))
    assert len(dropped) >= 15, dropped
    assert slim.info.counts == whole.info.counts
    assert slim.customers().equals(whole.customers())
    for name in ("winback_list.parquet",):
        assert pq.read_table(slim.path / name).equals(pq.read_table(whole.path / name))
