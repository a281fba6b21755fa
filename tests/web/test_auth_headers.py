"""Security headers: no framing, no sniffing, no stored copies of personal data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import log_in
from winback.desk.models import User

FRAMING = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _csp(answer_headers: dict[str, str] | object) -> dict[str, str]:
    policy = answer_headers["Content-Security-Policy"]  # type: ignore[index]
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in policy.split("; ") if " " in part
    }


@pytest.mark.parametrize("path", ["/login", "/queue", "/customers/c1", "/users", "/nowhere"])
def test_every_page_is_unframeable_unsniffable_and_never_stored(
    client: TestClient, people: dict[str, User], scanned: None, path: str
) -> None:
    log_in(client, "admin")
    answer = client.get(path)
    for name, value in FRAMING.items():
        assert answer.headers[name] == value, name
    assert answer.headers["Cache-Control"] == "no-store"
    csp = _csp(answer.headers)
    assert csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == "'self'"  # htmx from /static; no inline script
    assert csp["form-action"] == "'self'"


@pytest.mark.parametrize("path", ["/api/me", "/api/cases", "/api/customers/c1", "/api/nowhere"])
def test_every_api_answer_carries_the_headers_and_no_store(
    client: TestClient, tokens: dict[str, str], scanned: None, path: str
) -> None:
    answer = client.get(path, headers={"Authorization": f"Bearer {tokens['manager']}"})
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_a_refused_login_carries_the_headers(client: TestClient, people: dict[str, User]) -> None:
    answer = client.post("/login", data={"username": "rep", "password": "x"})
    assert answer.status_code == 403
    assert answer.headers["Cache-Control"] == "no-store"
    assert _csp(answer.headers)["frame-ancestors"] == "'none'"


def test_static_files_may_be_cached_but_not_sniffed(client: TestClient) -> None:
    answer = client.get("/static/app/desk.css")
    assert answer.status_code == 200
    assert "no-store" not in answer.headers.get("Cache-Control", "")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_only_the_api_docs_page_may_run_its_one_inline_script(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "<script>" in docs.text or "<script " in docs.text
    assert _csp(docs.headers)["script-src"] == "'self' 'unsafe-inline'"
    assert _csp(docs.headers)["frame-ancestors"] == "'none'"
