"""The unsubscribe link, round trip: the link in an e-mail opens a confirm page (a GET
changes nothing), the button or a one-click POST blocks the customer for good, and a
changed or cut-short link gets a clear page."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.desk.test_outbox_queue import offer
from winback.desk import do_not_contact
from winback.desk.models import ContactBlock
from winback.desk.outbox import enqueue
from winback.desk.unsubscribe import (
    make_token,
    read_token,
    unsubscribe_headers,
    unsubscribe_url,
)
from winback.errors import InvalidInput
from winback.settings import load_settings


def test_the_link_confirms_then_blocks_for_good(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    settings = load_settings(
        home=app.state.settings.home,
        secret_key=app.state.settings.secret_key,
        public_url="https://desk.example.com/",
    )
    url = unsubscribe_url(settings, "C42")
    assert url.startswith("https://desk.example.com/unsubscribe/")
    path = url.removeprefix("https://desk.example.com")
    page = client.get(path)
    assert page.status_code == 200
    assert "Stop these e-mails?" in page.text
    assert f'action="{path}"' in page.text
    assert not do_not_contact.is_blocked(db, "C42")
    # Mail programs' one-click unsubscribe (RFC 8058): a form POST with this body.
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "You are unsubscribed" in done.text
    db.expire_all()
    row = db.get(ContactBlock, "C42")
    assert row is not None
    assert row.source == "unsubscribe"
    # Pressing it again, or opening the link later, says so and changes nothing.
    assert client.post(path).status_code == 200
    assert "You are unsubscribed" in client.get(path).text
    # Honoured from then on: a campaign's e-mail to them is not queued.
    assert enqueue(db, [offer("C42")]).blocked == 1
    headers = unsubscribe_headers(settings, "C42")
    assert headers["List-Unsubscribe"] == f"<{url}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("change", ["flip", "cut", "swap", "junk"])
def test_a_changed_link_is_refused_with_a_clear_page(
    app: FastAPI, client: TestClient, db: Session, change: str
) -> None:
    secret = app.state.settings.session_secret
    token = make_token(secret, "C1")
    other = make_token(secret, "C2")
    bad = {
        "flip": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "cut": token[:-4],
        "swap": other.split(".")[0] + "." + token.split(".")[1],
        "junk": "%%%.!!!",
    }[change]
    for answer in (client.get(f"/unsubscribe/{bad}"), client.post(f"/unsubscribe/{bad}")):
        assert answer.status_code == 400
        assert "This link does not work" in answer.text
        assert "cut short or changed" in answer.text
        assert "Traceback" not in answer.text
    assert db.query(ContactBlock).count() == 0


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = make_token("a" * 40, "C1")
    assert read_token("a" * 40, token) == "C1"
    with pytest.raises(InvalidInput, match="not valid"):
        read_token("b" * 40, token)
