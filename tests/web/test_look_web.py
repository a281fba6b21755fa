"""The look of a tool used all day (issue 13, item 9): amounts in the business's currency,
people by name, a readable timeline and audit log, the customer page and call screen saying
what a rep needs, and unknown addresses answered inside the desk."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from tests.web.conftest import log_in
from winback.desk.models import User
from winback.desk.sync import sync_cases
from winback.errors import WinbackError
from winback.settings import load_settings
from winback.web.app import create_app
from winback.web.templating import money


def test_money_shows_the_currency_symbol_whole_units_or_cents() -> None:
    assert money(1234.5) == "$1,235"
    assert money(1234.5, "EUR") == "€1,235"
    assert money(9.99, "GBP", cents=True) == "£9.99"
    assert money(1500, "JPY") == "¥1,500"
    assert money(None) == "–"


def test_the_currency_setting_takes_an_iso_code_and_refuses_anything_else() -> None:
    assert load_settings(currency="eur").currency == "EUR"
    with pytest.raises(WinbackError, match="WINBACK_CURRENCY.*unknown currency 'DOLLARS'"):
        load_settings(currency="DOLLARS")


def test_the_customer_page_shows_amounts_in_the_settings_currency(
    desk_engine: Engine, db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "ws", secret_key="k" * 40, currency="EUR")
    app = create_app(settings, engine=desk_engine)
    run = make_run(settings.runs_dir, [{"customer_id": "c1", "name": "Acme", "rank": 1}])
    sync_cases(db, None, run, policy=POLICY)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        log_in(client, "manager")
        page = client.get("/customers/c1").text
    assert "<dd>€1,200</dd>" in page  # predicted value
    assert "<dd>€500</dd>" in page  # expected value
