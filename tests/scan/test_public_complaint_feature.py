"""The scan reads public complaints: recent, negative posts matched to the customer."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.features import customer_features

AS_OF = date(2025, 6, 30)
FILES = {
    "orders": "order_id,customer_id,order_date,amount\n"
    "o1,a,2025-01-05,100\no2,b,2025-02-05,100\no3,c,2025-03-05,100\n",
    "public_posts": "post_id,posted_at,source,author,customer_id,url,text,sentiment\n"
    "p1,2025-06-01 10:00:00,reviews,@a,a,https://r/1,late again,-0.8\n"
    "p2,2025-06-20 10:00:00,reviews,@a,a,https://r/2,still late,-0.6\n"
    "p3,2025-06-21 10:00:00,reviews,@b,b,https://r/3,lovely,0.9\n"
    "p4,2024-01-01 10:00:00,reviews,@c,c,https://r/4,ancient gripe,-0.9\n"
    "p5,2025-06-22 10:00:00,reviews,@x,,https://r/5,who am I,-0.9\n"
    "p6,2025-07-02 10:00:00,reviews,@b,b,https://r/6,after the scan date,-0.9\n",
}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    made = Ledger(tmp_path / "ledger")
    for table, text in FILES.items():
        path = tmp_path / f"{table}.csv"
        path.write_text(text, encoding="utf-8")
        done = import_file(made, table, path, rejects_dir=tmp_path / "rejects")
        assert done.rejected == 0
    return made


def test_recent_negative_matched_posts_count_as_public_complaints(ledger: Ledger) -> None:
    f = customer_features(ledger.ibis(), AS_OF, Policy()).to_pandas().set_index("customer_id")
    counts = f["public_complaints"].fillna(0).astype(int).to_dict()
    # a: two in the window; b: praise, and one after the scan date; c: too old.
    assert counts == {"a": 2, "b": 0, "c": 0}
    assert str(f.loc["a", "last_public_complaint_at"]).startswith("2025-06-20")
