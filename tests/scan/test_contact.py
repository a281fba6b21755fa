"""Doubtful contact details: bounces after the last engagement, returned mail, wrong numbers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.scan.contact import doubtful_contacts, reason


def test_bounces_returned_mail_and_wrong_numbers_are_noted(tmp_path: Path) -> None:
    events = "\n".join(
        [
            "customer_id,campaign_id,event,occurred_at",
            "c1,m1,sent,2026-04-01 09:00:00",
            "c1,m1,opened,2026-04-01 10:00:00",
            "c1,m2,bounced,2026-05-02 09:00:00",  # bounced after the last open: doubtful
            "c2,m1,bounced,2026-04-01 09:00:00",
            "c2,m2,clicked,2026-05-02 09:00:00",  # engaged since: the address works
            "c4,m3,bounced,2026-07-02 09:00:00",  # after the scan's date
        ]
    )
    interactions = "\n".join(
        [
            "interaction_id,customer_id,occurred_at,channel,tags",
            "x1,c3,2026-03-10 12:00:00,note,Returned mail;address",
            "x2,c3,2026-04-01 12:00:00,call,WRONG NUMBER",
            "x3,c2,2026-04-01 12:00:00,call,complaint",
        ]
    )
    ledger = Ledger(tmp_path / "ledger")
    for name, text in (("marketing_events", events), ("interactions", interactions)):
        path = tmp_path / f"{name}.csv"
        path.write_text(text + "\n", encoding="utf-8")
        import_file(ledger, name, path, rejects_dir=tmp_path / "rejects")

    notes = doubtful_contacts(ledger.ibis(), date(2026, 6, 30)).to_dict()
    assert notes == {
        "c1": "e-mail bounced on 02 May 2026",
        "c3": "wrong number on 01 April 2026; mail returned on 10 March 2026",
    }
    assert reason(notes["c1"]).startswith("we may have been writing to an old address")
