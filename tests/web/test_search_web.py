"""Finding a customer through the API and the pages, and opening a case for one who calls
in: tokens and sessions checked, bad queries answered with the field named, a double
submit opening one case."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.web.conftest import log_in
from winback.desk import search
from winback.desk.models import Case, User
from winback.ledger.importer import import_file

CUSTOMERS = """customer_id,name,email,phone
c1,Acme Ltd,orders@acme.example,
c7,John Smith,john.smith@example.com,+1 (555) 010-2000
c8,Johan Smit,jsmit@example.com,
"""


@pytest.fixture
def indexed(app: FastAPI, scanned: None, tmp_path: Path) -> None:
    """The ledger's customers, and the search index as ``winback sync`` builds it."""
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS, encoding="utf-8")
    settings = app.state.settings
    import_file(app.state.ledger, "customers", path, rejects_dir=tmp_path / "rejects")
    from winback.scan.runs import latest_run

    search.build(search.root_of(settings.home), app.state.ledger, latest_run(settings.runs_dir))


def _auth(tokens: dict[str, str], role: str = "rep") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_the_api_finds_a_misspelt_name_with_its_open_case(
    client: TestClient, tokens: dict[str, str], indexed: None
) -> None:
    answer = client.get("/api/customers", params={"q": "Jonh Smiht"}, headers=_auth(tokens))
    assert answer.status_code == 200, answer.text
    hits = answer.json()
    assert hits[0]["customer_id"] == "c7"
    assert hits[0]["phone"] == "+1 (555) 010-2000"
    acme = client.get("/api/customers", params={"q": "acme"}, headers=_auth(tokens)).json()
    assert acme[0]["customer_id"] == "c1"
    assert acme[0]["open_case_id"] is not None
    assert acme[0]["status"] == "lapsed"


def test_the_api_wants_a_token(client: TestClient, indexed: None) -> None:
    answer = client.get("/api/customers", params={"q": "acme"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "q: give at least 2 letters"),
        ("%_'", "q: give at least 2 letters"),
        ("a" * 10_000, "q: String should have at most 200 characters"),
    ],
)
def test_the_api_refuses_an_empty_or_huge_query_naming_q(
    client: TestClient, tokens: dict[str, str], indexed: None, q: str, message: str
) -> None:
    answer = client.get("/api/customers", params={"q": q}, headers=_auth(tokens))
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["error"]["message"]


def test_the_search_is_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "q" in [p["name"] for p in paths["/api/customers"]["get"]["parameters"]]
    assert "post" in paths["/api/customers/{customer_id}/cases"]


def test_the_results_page_lists_who_matches_and_hostile_text_is_shown_escaped(
    client: TestClient, indexed: None
) -> None:
    log_in(client, "rep")
    page = client.get("/customers", params={"q": "555 010 2000"})
    assert page.status_code == 200
    assert "John Smith" in page.text
    assert 'href="/customers/c7"' in page.text
    hostile = client.get("/customers", params={"q": "<script>x</script>"})
    assert hostile.status_code == 200
    assert "<script>x</script>" not in hostile.text
    assert "&lt;script&gt;x&lt;/script&gt;" in hostile.text
    refused = client.get("/customers", params={"q": "x" * 10_000})
    assert refused.status_code == 422
    assert "q: the search is 10000 characters long" in refused.text


def test_an_old_customer_id_link_still_goes_to_the_page(
    client: TestClient, people: dict[str, User]
) -> None:
    log_in(client, "rep")
    assert client.get("/customers", params={"customer_id": "c1"}).headers["location"] == (
        "/customers/c1"
    )


def test_a_stranger_is_sent_to_log_in(client: TestClient) -> None:
    assert client.get("/customers", params={"q": "acme"}).headers["location"].startswith("/login")


def test_a_double_submitted_open_case_form_opens_one_case(
    client: TestClient, db: Session, people: dict[str, User], indexed: None
) -> None:
    csrf = log_in(client, "rep")
    page = client.get("/customers/c7")
    assert "Open a case" in page.text
    form = {"csrf_token": csrf, "reason": "price", "note": "rang, unhappy with the price"}
    first = client.post("/customers/c7/cases", data=form)
    again = client.post("/customers/c7/cases", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"] == "/customers/c7"
    made = db.scalars(select(Case).where(Case.customer_id == "c7")).all()
    assert len(made) == 1
    assert made[0].owner_id == people["rep"].id
    page = client.get("/customers/c7")
    assert f"Case {made[0].id}: open" in page.text
    assert "Open a case" not in page.text


def test_the_api_refuses_a_second_case_naming_the_first(
    client: TestClient, db: Session, tokens: dict[str, str], indexed: None
) -> None:
    body = {"reason": "delivery", "note": ""}
    opened = client.post("/api/customers/c8/cases", json=body, headers=_auth(tokens))
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    again = client.post("/api/customers/c8/cases", json=body, headers=_auth(tokens))
    assert again.status_code == 409
    assert f"case {case_id}" in again.json()["error"]["message"]
    assert db.scalar(select(func.count()).select_from(Case).where(Case.customer_id == "c8")) == 1


def test_the_open_case_form_without_a_csrf_token_does_nothing(
    client: TestClient, db: Session, indexed: None
) -> None:
    log_in(client, "rep")
    answer = client.post("/customers/c7/cases", data={"reason": "price"})
    assert answer.status_code == 403
    assert db.scalar(select(func.count()).select_from(Case).where(Case.customer_id == "c7")) == 0
