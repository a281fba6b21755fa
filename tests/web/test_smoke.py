from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import log_in


def test_manager_walks_the_pages(client: TestClient, scanned: None) -> None:
    log_in(client, "manager")
    for path in ("/queue", "/cases", "/customers/c1", "/audit", "/users", "/account"):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:2000])
