"""The statuses' and the worth step's reasons, now built a line at a time over the
customers, say word for word what the loops over customers they replaced said, on the
frames of a simulated retail scan (captured as the scan hands them over)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import lapse, pipeline, worth
from winback.scan.call_lift import Rates
from winback.simulate.run import simulate

END = pd.Timestamp("2026-06-30").date()  # the simulator's default end


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A simulated retail business (1,500 customers, 36 months, seed 0) scanned a horizon
    before its end, with what ``classify`` and ``decide`` were given and gave back."""
    tmp = tmp_path_factory.mktemp("worth-reasons")
    simulate("retail", 1500, 36, 0, tmp / "sim", "parquet")
    ledger = Ledger(tmp / "ledger")
    for name in TABLES:
        for path in sorted((tmp / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=tmp / "rejects")
    seen: dict[str, Any] = {}
    classify, decide = pipeline.classify, pipeline.decide

    def classify_seen(features: pd.DataFrame, *args: Any, **kwargs: Any) -> pd.DataFrame:
        seen["classify"] = (features.copy(), args, kwargs)
        said = classify(features, *args, **kwargs)
        # A copy: the scan then adds the risk driver and contact doubt to the frame's.
        seen["lapse"] = said.copy(deep=True)
        return said

    def decide_seen(features: pd.DataFrame, *args: Any) -> pd.DataFrame:
        seen["decide"] = (features.copy(), args)
        seen["worth"] = decide(features, *args)
        return seen["worth"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "classify", classify_seen)
        patch.setattr(pipeline, "decide", decide_seen)
        # One intangible is enough to let a customer go: some are, with their evidence.
        policy = Policy.model_validate({"decision": {"let_go_intangibles": 1}})
        pipeline.run_scan(ledger, tmp / "runs", policy, as_of=END - timedelta(days=90))
    return seen


def test_the_decision_reasons_are_those_of_the_loop_over_customers(
    scanned: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    features, (status, policy, outcomes) = scanned["decide"]
    said = scanned["worth"]["decision_reasons"].tolist()
    # The loop, given the same inputs as the new build (captured from inside ``decide``).
    given: dict[str, Any] = {}

    def capture(chunk: range, *args: Any) -> list[list[str]]:
        # ``decide`` builds the reasons a piece of customers at a time (``REASONS_CHUNK``).
        given["args"] = args
        return _old_decision_reasons(*args)[chunk.start : chunk.stop]

    # In pieces of 7 customers (the scan's 1,500 fit in one) the new build says the same.
    monkeypatch.setattr(worth, "REASONS_CHUNK", 7)
    pieces = worth.decide(features, status, policy, outcomes)["decision_reasons"].tolist()
    assert pieces == said
    monkeypatch.setattr(worth, "_decision_reasons", capture)
    before = worth.decide(features, status, policy, outcomes)["decision_reasons"].tolist()
    assert said == before
    decision = given["args"][0]
    # Every kind of customer the reasons treat apart is in the scan: the test reads them all.
    assert {"pursue", "dont_pursue", "let_go"} <= set(decision[pd.notna(decision)])
    assert (given["args"][3].to_numpy() > 0).any()  # a recent mistake of ours
    assert any(given["args"][5].values())  # an intangible's evidence
    assert sum(d is None for d in decision) > 0  # active: no reasons


def test_the_status_reasons_are_those_formatted_by_series_map(
    scanned: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    features, args, kwargs = scanned["classify"]
    said = scanned["lapse"]["reasons"].tolist()
    monkeypatch.setattr(
        lapse, "_fmt", lambda series, spec=".0f": series.map(lambda v: format(v, spec))
    )
    before = lapse.classify(features, *args, **kwargs)["reasons"].tolist()
    assert said == before
    assert sum(len(r) for r in said) > len(said) // 4  # numbers said for many customers
    assert scanned["lapse"]["status"].isin(["slipping", "lapsed", "lost"]).any()


def test_the_status_reasons_built_in_pieces_are_those_built_at_once(
    scanned: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scan's statuses come from the lapse risk; their reasons are built a piece of
    # customers at a time, straight into Arrow: in pieces of 7, 1 and all, the same.
    features, args, kwargs = scanned["classify"]
    assert kwargs.get("risk_threshold") is not None
    said = scanned["lapse"]["reasons"].tolist()
    assert sum(len(r) for r in said) > len(said) // 4
    for piece in (7, 1, len(features)):
        monkeypatch.setattr(worth, "REASONS_CHUNK", piece)
        got = lapse.classify(features, *args, **kwargs)["reasons"]
        assert got.tolist() == said
        assert got.array._pa_array.num_chunks == -(-len(features) // piece)


def test_numbers_are_formatted_as_format_gives_them_nan_and_all() -> None:
    values = pd.Series([0.5, 1.5, 2.5, -0.5, np.nan, 1234567.891, 1e-9, -0.0], index=range(3, 11))
    for spec in (".0f", ".1f", ".2f", ",.2f"):
        got = lapse._fmt(values, spec)
        assert got.index.equals(values.index)
        assert got.tolist() == [format(v, spec) for v in values]


def _old_decision_reasons(
    decision: np.ndarray,
    value: np.ndarray,
    margin: pd.Series,
    incidents: pd.Series,
    features: pd.DataFrame,
    evidence: list[list[str]],
    ev: np.ndarray,
    risk: pd.Series,
    source: pd.Series,
    rates: Rates,
    policy: Policy,
) -> list[list[str]]:
    """``worth._decision_reasons`` as it was: a loop over every customer."""
    w = policy.worth
    last_type = (
        features["last_incident_type"].astype("object").to_numpy()
        if "last_incident_type" in features
        else np.full(len(features), None)
    )
    margin_v, incidents_v = margin.to_numpy(), incidents.to_numpy()
    risk_v, source_v = risk.to_numpy(), source.to_numpy()
    call_v, unprompted_v = rates.won_by_call.to_numpy(), rates.unprompted.to_numpy()
    learned_v = (rates.call_outcomes + rates.uncontacted_outcomes).to_numpy()
    out: list[list[str]] = []
    for i, d in enumerate(decision):
        if d is None:
            out.append([])
            continue
        anyway = 1 - risk_v[i] + risk_v[i] * unprompted_v[i]
        called = 1 - risk_v[i] + risk_v[i] * call_v[i]
        learned = (
            f"learned from {learned_v[i]:.0f} recorded outcomes"
            if learned_v[i]
            else "the policy's prior: no outcomes recorded yet"
        )
        lines = [
            f"would come back anyway: {anyway:.0%}; with a call: {called:.0%}; the call adds "
            f"{(called - anyway) * 100:.0f} points, worth {ev[i]:,.0f} after costs",
            f"chance they have gone: {risk_v[i]:.0%} ({source_v[i]}); of those gone, a call "
            f"wins back {call_v[i]:.0%} and {unprompted_v[i]:.0%} return unprompted ({learned})",
            f"worth {value[i]:,.2f} over {w.horizon_months} months if won back "
            f"(margin {margin_v[i]:,.2f} over the past {w.years} years)",
        ]
        if incidents_v[i] > 0:
            kind = str(last_type[i]).replace("_", " ") if last_type[i] else "an incident"
            lines.append(
                f"{incidents_v[i]:.0f} mistake(s) of ours in the last "
                f"{w.recent_incident_days} days (latest: {kind}): an apology is due"
            )
        lines.extend(evidence[i])
        if d == "let_go":
            lines.insert(0, "let go gracefully: " + ("; ".join(evidence[i]) or "unprofitable"))
        elif d == "dont_pursue":
            lines.insert(
                0,
                f"not worth pursuing: value {value[i]:,.2f} is below the policy's "
                f"{policy.decision.min_value:,.2f}",
            )
        out.append(lines)
    return out
