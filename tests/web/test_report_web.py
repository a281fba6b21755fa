"""The reasons x revenue dashboard, its download and its API (the numbers are worked out
by hand in tests/desk/test_report.py; here: that the page, file and API show them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.desk.test_report import ORDERS, build_cases
from tests.web.conftest import log_in
from winback.desk.models import User
from winback.insights.reasons import build_report
from winback.insights.render import render_html
from winback.ledger.importer import import_file

ADDRESS = re.compile(r"https?://", re.IGNORECASE)
# Anything that would make the browser fetch: a script, stylesheet, image or frame source.
FETCH = re.compile(r"<script|<link|<img|<iframe|\bsrc\s*=|url\(|@import", re.IGNORECASE)
PANEL = r'<section class="panel" id="{}">.*?</section>'


@pytest.fixture
def worked(app: FastAPI, db: Session, people: dict[str, User], tmp_path: Path) -> None:
    build_cases(db, people)
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS, encoding="utf-8")
    import_file(app.state.ledger, "orders", path, rejects_dir=tmp_path / "rejects")


def reason_row(html: str, label: str) -> list[str]:
    """The cells of ``label``'s row in the revenue-by-reason table."""
    panel = re.search(PANEL.format("by-reason"), html, re.DOTALL)
    assert panel, "no revenue-by-reason panel"
    row = re.search(rf'<th scope="row">{re.escape(label)}</th>(.*?)</tr>', panel.group(0), re.S)
    assert row, f"no row for {label}"
    return re.findall(r"<td>(.*?)</td>", row.group(1))


def test_manager_sees_each_reason_with_its_revenue_and_charts(
    client: TestClient, worked: None
) -> None:
    log_in(client, "manager")
    page = client.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") == 5
    # cases, revenue lost, confirmed, not confirmed, won back, returned, since the win-back
    assert reason_row(html, "Price too high") == ["2", "1,100", "500", "600", "500", "0", "60"]
    assert reason_row(html, "Slow delivery") == ["2", "900", "900", "0", "900", "0", "90"]
    assert reason_row(html, "not diagnosed") == ["3", "600", "0", "600", "0", "300", "0"]
    # The chart labels the bars with the same figures.
    assert ">1,100</text>" in html
    assert "in their words" in html
    assert 'href="/customers/cF"' in html
    assert "Reasons × revenue, " in html
    assert "(all cases)" in html


def test_since_narrows_the_dashboard_and_a_bad_date_is_refused(
    client: TestClient, worked: None
) -> None:
    log_in(client, "manager")
    html = client.get("/dashboard?since=2024-04-01").text
    assert "(cases since 2024-04-01)" in html
    assert "Price too high" not in html  # cA and cB closed before April
    assert reason_row(html, "Slow delivery")[:2] == ["1", "400"]
    assert 'href="/dashboard/report.html?since=2024-04-01"' in html
    bad = client.get("/dashboard?since=last-week")
    assert bad.status_code == 422
    assert "since" in bad.text


def test_the_download_is_one_self_contained_file_with_the_pages_content(
    client: TestClient, worked: None
) -> None:
    log_in(client, "executive")
    page = client.get("/dashboard").text
    download = client.get("/dashboard/report.html")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith(
        'attachment; filename="reasons-report-'
    )
    text = download.text
    assert text.startswith("<!doctype html>")
    assert ADDRESS.search(text) is None, ADDRESS.search(text)
    assert FETCH.search(text) is None, FETCH.search(text)
    assert "<style>" in text
    assert ".rr-chart" in text
    assert text.count("<svg") == 5
    assert reason_row(text, "Price too high")[:2] == ["2", "1,100"]
    # One partial: the page's panels and the file's are the same markup.
    for panel in ("by-reason", "rate-by-reason", "by-tier", "by-rep", "by-offer"):
        in_page = re.search(PANEL.format(panel), page, re.DOTALL)
        in_file = re.search(PANEL.format(panel), text, re.DOTALL)
        assert in_page
        assert in_file
        assert in_page.group(0) == in_file.group(0), panel
    assert 'href="/customers/' not in text  # the file links nowhere


def test_the_page_and_the_file_share_the_insights_rooms_stylesheet(
    client: TestClient, worked: None
) -> None:
    log_in(client, "manager")
    page = client.get("/dashboard").text
    assert '<link rel="stylesheet" href="/static/insights/report.css">' in page
    served = client.get("/static/insights/report.css")
    assert served.status_code == 200
    assert ".rr-chart svg { max-width: 100%; height: auto; }" in served.text
    # The desk's own stylesheet no longer carries the report's rules.
    assert ".rr-chart" not in client.get("/static/app/desk.css").text
    download = client.get("/dashboard/report.html").text
    assert served.text in download  # inlined byte for byte


def test_the_report_is_drawn_from_the_insights_room_alone() -> None:
    import winback.insights.render as report_render

    insights = Path(report_render.__file__).parent
    for path in (report_render.TEMPLATES, report_render.REPORT_CSS):
        assert path.is_relative_to(insights), path
    assert sorted(p.name for p in report_render.TEMPLATES.iterdir()) == [
        "_drivers.html",
        "_numbers.html",
        "_reasons_report.html",
        "reasons_report_file.html",
    ]
    for module in insights.glob("*.py"):
        assert "web" not in re.findall(r'"(\w+)"', module.read_text(encoding="utf-8")), module


def test_render_html_of_an_empty_desk_is_self_contained_too(
    db: Session, people: dict[str, User]
) -> None:
    text = render_html(build_report(db, None, None))
    assert ADDRESS.search(text) is None
    assert FETCH.search(text) is None
    assert "No worked cases yet." in text
    assert "no ledger: the revenue since the win-back is not counted (0)" in text


def test_api_gives_the_reports_numbers(
    client: TestClient, worked: None, tokens: dict[str, str]
) -> None:
    answer = client.get(
        "/api/reports/reasons", headers={"Authorization": f"Bearer {tokens['manager']}"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"]["value_lost"] == pytest.approx(3400.0)
    assert body["total"]["rate"] == 0.5
    first = body["by_reason"][0]
    assert (first["key"], first["label"], first["value_lost"]) == (
        "too_dear",
        "Price too high",
        pytest.approx(1100.0),
    )
    assert [v["customer_id"] for v in body["voices"]] == ["cF", "cC", "cA"]
    later = client.get(
        "/api/reports/reasons?since=2024-04-01",
        headers={"Authorization": f"Bearer {tokens['manager']}"},
    ).json()
    assert (later["since"], later["total"]["cases"]) == ("2024-04-01", 4)


def test_a_rep_gets_403_on_page_file_and_api(
    client: TestClient, worked: None, tokens: dict[str, str]
) -> None:
    log_in(client, "rep")
    for path in ("/dashboard", "/dashboard/report.html"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "Price too high" not in answer.text
    api = client.get("/api/reports/reasons", headers={"Authorization": f"Bearer {tokens['rep']}"})
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "permission_denied"
    assert 'href="/dashboard"' not in client.get("/queue").text


def test_logged_out_dashboard_goes_to_login(client: TestClient) -> None:
    answer = client.get("/dashboard")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/dashboard"


def test_the_report_is_built_again_when_the_desk_changes(
    client: TestClient,
    db: Session,
    people: dict[str, User],
    worked: None,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import select

    from winback.desk.models import Case
    from winback.insights import kept

    built: list[object] = []

    def counting(*args: object, **kwargs: object) -> object:
        built.append(args)
        return build_report(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kept, "build_report", counting)
    auth = {"Authorization": f"Bearer {tokens['manager']}"}
    first = client.get("/api/reports/reasons", headers=auth).json()
    # Read again with nothing changed: the same report, not built a second time.
    assert client.get("/api/reports/reasons", headers=auth).json() == first
    assert len(built) == 1
    # Any change goes through the audit log; the next report counts it.
    still_open = db.scalars(select(Case).where(Case.state != "closed")).first()
    assert still_open is not None
    closed = client.post(
        f"/api/cases/{still_open.id}/close",
        json={"outcome": "declined", "confirm": True},
        headers=auth,
    )
    assert closed.status_code == 200, closed.text
    after = client.get("/api/reports/reasons", headers=auth).json()
    assert after["total"]["attempted"] == first["total"]["attempted"] + 1
    assert len(built) == 2
