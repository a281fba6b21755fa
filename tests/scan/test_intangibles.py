"""The intangibles read from hand-built records: each flag, its evidence, and "unknown"."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_winback
from winback.policy import Policy
from winback.scan.intangibles import fit_mixture, intangibles, readings
from winback.scan.worth import decide


def base(n: int, **columns: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "segment": ["all"] * n,
            "first_order_date": [pd.Timestamp("2023-01-01")] * n,
            "last_order_date": [pd.Timestamp("2025-01-01")] * n,
            "days_since_last_order": [0] * n,
            "orders": [10] * n,
            "revenue": [1000.0] * n,
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def nullable(series: pd.Series) -> list[object]:
    return series.astype(object).where(series.notna(), None).tolist()


def test_the_mixture_finds_the_few_and_their_rate() -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(5, 30, 2000).astype(float)
    few = rng.random(2000) < 0.05
    k = rng.binomial(n.astype(int), np.where(few, 0.4, 0.02)).astype(float)
    m = fit_mixture(k, n, poisson=False)
    assert m.low == pytest.approx(0.02, abs=0.005)
    assert m.high == pytest.approx(0.4, abs=0.05)
    assert m.share == pytest.approx(few.mean(), abs=0.015)


def peers_with_a_few_standing_out(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    """Ordinary customers and every tenth standing out on each record, drawn at random."""
    rng = np.random.default_rng(7)
    few = np.arange(n) % 10 == 0
    judged = rng.integers(4, 12, n)
    due = rng.integers(6, 20, n)
    f = base(
        n,
        interactions_judged=judged,
        rude_noted=rng.binomial(judged, np.where(few, 0.5, 0.002)),
        contacts=rng.poisson(np.where(few, 1.0, 0.1) * 24),  # 24 months with us
        invoices_due=due,
        invoices_late=rng.binomial(due, np.where(few, 0.7, 0.04)),
        returns=rng.binomial(20, np.where(few, 0.45, 0.05)),
    )
    f["orders"] = 20
    return f, few


@pytest.mark.parametrize("flag", ["rude", "heavy_contact", "late_payer", "return_abuser"])
def test_with_enough_peers_each_flag_catches_the_few_and_only_them(flag: str) -> None:
    f, few = peers_with_a_few_standing_out()
    flags, _ = intangibles(f, Policy())
    raised = flags[flag].fillna(False).to_numpy(bool)
    hits = (raised & few).sum()
    assert hits / max(raised.sum(), 1) >= 0.95  # precision
    assert hits / few.sum() >= 0.85  # recall
    assert flags[flag].notna().all()


def test_rudeness_in_a_tag_or_note_counts_and_the_evidence_names_the_numbers() -> None:
    f, _ = peers_with_a_few_standing_out()
    f.loc[1, ["rude_noted", "interactions_judged"]] = [3, 4]  # an ordinary one turns rude
    flags, evidence = intangibles(f, Policy())
    assert bool(flags.rude[1])
    assert "staff recorded rudeness in 3 of 4 interactions" in evidence[1]
    reading = readings(f, Policy())["rude"]
    assert reading.chance[1] > 0.99
    assert reading.ordinary[1] < 0.01


def test_heavy_contact_is_relative_to_peers_not_a_fixed_count() -> None:
    f, few = peers_with_a_few_standing_out()
    calm = f.copy()
    # Everyone contacts ten times as much: the same few stand out, nobody else.
    calm["contacts"] = calm["contacts"] * 10
    flags, evidence = intangibles(calm, Policy())
    raised = flags.heavy_contact.fillna(False).to_numpy(bool)
    assert (raised & ~few).sum() <= 2
    assert (raised & few).sum() >= 0.85 * few.sum()
    first = int(np.flatnonzero(raised & few)[0])
    assert any(
        text.startswith("contacted us") and "not counting complaints" in text
        for text in evidence[first]
    )


def test_what_the_data_cannot_tell_is_unknown_and_never_a_let_go_reason() -> None:
    # No interactions judged, no invoices, no returns anywhere: a small business.
    f = base(
        3,
        interactions_judged=[0, 0, 0],
        rude_noted=[0, 0, 0],
        contacts=[0, 0, 0],
        invoices_due=[0, 0, 0],
        invoices_late=[0, 0, 0],
        returns=[0, 0, 0],
    )
    flags, evidence = intangibles(f, Policy())
    for name in ("rude", "heavy_contact", "late_payer", "return_abuser"):
        assert nullable(flags[name]) == [None, None, None], name
    assert evidence == {}  # none stored
    assert [evidence[i] for i in range(3)] == [[], [], []]


def test_a_customer_with_no_invoices_is_unknown_among_peers_who_have_them() -> None:
    f = base(
        3,
        invoices_due=[6, 6, 0],
        invoices_late=[5, 0, 0],
        returns=[0, 1, 0],
        interactions_judged=[2, 0, 2],
        rude_noted=[0, 0, 0],
    )
    flags, _ = intangibles(f, Policy())
    assert nullable(flags.late_payer) == [True, False, None]
    assert nullable(flags.rude) == [False, None, False]
    # Returns are recorded in this business, so every customer with orders is known.
    assert nullable(flags.return_abuser) == [False, False, False]


def test_thresholds_are_the_policys() -> None:
    f = base(3, invoices_due=[10, 10, 10], invoices_late=[4, 1, 0])
    lenient = Policy.model_validate({"worth": {"late_payer_share": 0.5}})
    assert nullable(intangibles(f, Policy())[0].late_payer) == [True, False, False]
    assert nullable(intangibles(f, lenient)[0].late_payer) == [False, False, False]


def test_winback_customer_says_unknown_where_the_business_has_no_invoices(
    tmp_path: Path,
) -> None:
    env: dict[str, str | None] = {"WINBACK_HOME": str(tmp_path / "ws"), "WINBACK_DESK_URL": None}
    orders = tmp_path / "orders.csv"
    rows = ["order_id,customer_id,order_date,amount"]
    rows += [f"o{k},c1,{date(2024, 6, 20) - timedelta(days=30 * k)},100.00" for k in range(8)]
    orders.write_text("\n".join(rows) + "\n", encoding="utf-8")
    done = run_winback("import", "orders", str(orders), env=env)
    assert done.returncode == 0, done.stderr
    assert run_winback("scan", "--no-sync", env=env).returncode == 0

    shown = run_winback("customer", "c1", env=env)

    assert shown.returncode == 0, shown.stderr
    lines = {
        line.split()[0]: line.split()[-1] for line in shown.stdout.splitlines() if line.split()
    }
    assert lines["late_payer"] == "unknown"
    assert lines["rude"] == "unknown"
    assert "False" not in {lines[k] for k in ("late_payer", "rude", "heavy_contact")}


def test_heavy_contact_is_judged_against_customers_of_similar_value() -> None:
    # 900 customers in one segment: the top third by value contact eight times as often as
    # the rest, as their ordinary; every tenth of the rest contacts like them.
    rng = np.random.default_rng(11)
    n = 900
    value = np.arange(n, dtype=float)
    top = value >= 600
    few = ~top & (np.arange(n) % 10 == 0)
    rate = np.where(top, 0.8, np.where(few, 0.8, 0.1))
    f = base(n, contacts=rng.poisson(rate * 24), revenue_last_year=value)
    flags, _ = intangibles(f, Policy())
    raised = flags.heavy_contact.fillna(False).to_numpy(bool)
    assert raised[top].mean() < 0.02  # ordinary for their value
    assert raised[few].mean() > 0.85
    assert raised[~top & ~few].mean() < 0.02


def test_where_nobody_stands_out_nobody_is_flagged() -> None:
    rng = np.random.default_rng(5)
    n = 400
    due = rng.integers(6, 20, n)
    f = base(
        n,
        contacts=rng.poisson(0.8 * 24, n),  # everyone contacts a lot: that is ordinary here
        invoices_due=due,
        invoices_late=rng.binomial(due, 0.05),
        returns=rng.binomial(10, 0.06, n),
    )
    flags, _ = intangibles(f, Policy())
    for name in ("heavy_contact", "late_payer", "return_abuser"):
        assert int(flags[name].fillna(False).sum()) <= 2, name
    fit = fit_mixture(f["contacts"].to_numpy(), np.full(n, 24.0), poisson=True)
    assert fit.low == pytest.approx(0.8, rel=0.1)


def test_unknown_flags_never_count_toward_letting_go() -> None:
    f = base(2, rude_noted=[1, 0], interactions_judged=[1, 0], margin_past_years=[900.0, 900.0])
    strict = Policy.model_validate({"decision": {"let_go_intangibles": 1}})
    d = decide(f, pd.Series(["lapsed", "lapsed"]), strict)
    # The first is rude on record; the second's every flag is unknown: pursued, not let go.
    assert nullable(d.rude) == [True, None]
    assert nullable(d.late_payer) == [None, None]
    assert d.decision.tolist() == ["let_go", "pursue"]
