"""Screenshots of the demo desk: the queue, a customer page, a guided call and the
dashboard, each at 1366 px and 390 px wide, saved as PNGs in the folder given.

    scripts/screenshots OUT_DIR [--customers 600]

It builds the demo in a workspace of its own (a temporary folder, removed afterwards),
serves the desk on a free loopback port, and drives Debian's Chromium with Playwright:
a rep for their queue, their first customer and a call on that customer's case, a manager
for the dashboard. Nothing is written outside OUT_DIR.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import serve
from winback.demo import DemoUser, build_demo
from winback.desk import calls
from winback.desk.models import Case, User
from winback.settings import load_settings
from winback.web.app import create_app

WIDTHS = (1366, 390)


def _log_in(context: Any, base: str, who: DemoUser) -> Any:
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", who.username)
    page.fill("input[name=password]", who.password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def take(out: Path, customers: int) -> list[Path]:
    """Build the demo, serve it, and save the screenshots; returns their paths."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="winback-screenshots-") as home:
        settings = load_settings(
            home=Path(home) / "ws", secret_key="s" * 40, public_url="http://127.0.0.1:8000"
        )
        demo = build_demo(settings, customers=customers, say=lambda t: print("demo:", t))
        app = create_app(settings)
        with app.state.sessions() as db:
            # The rep with the most open cases, their first case, and a call on it.
            busiest = db.execute(
                select(Case.owner_id, func.count())
                .join(User, User.id == Case.owner_id)
                .where(Case.state != "closed", User.role == "rep")
                .group_by(Case.owner_id)
                .order_by(func.count().desc())
            ).first()
            if busiest is None:
                raise SystemExit("the demo gave no rep an open case: nothing to show")
            rep_user = db.get(User, busiest[0])
            assert rep_user is not None
            case = db.scalars(
                select(Case)
                .where(Case.owner_id == rep_user.id, Case.state != "closed")
                .order_by(Case.priority)
            ).first()
            assert case is not None
            call = calls.start_call(db, rep_user, case.id)
            rep = next(u for u in demo.users if u.username == rep_user.username)
            customer_id, call_id = case.customer_id, call.id
        manager = next(u for u in demo.users if u.role == "manager")
        shots = {
            "queue": (rep, "/queue"),
            "customer": (rep, f"/customers/{customer_id}"),
            "call": (rep, f"/calls/{call_id}"),
            "dashboard": (manager, "/dashboard"),
        }
        with serve(app) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                for width in WIDTHS:
                    for name, (who, path) in shots.items():
                        context = browser.new_context(viewport={"width": width, "height": 900})
                        page = _log_in(context, base, who)
                        answer = page.goto(base + path)
                        if answer is None or answer.status != 200:
                            status = answer.status if answer else "no answer"
                            raise SystemExit(f"{path} as {who.username} answered {status}")
                        target = out / f"{name}-{width}.png"
                        page.screenshot(path=str(target), full_page=True)
                        saved.append(target)
                        context.close()
            finally:
                browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder the PNGs go to (made if missing)")
    parser.add_argument("--customers", type=int, default=600, help="the demo's size")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"no Chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    for path in take(args.out, args.customers):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
