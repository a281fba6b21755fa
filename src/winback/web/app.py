"""The desk's web app: ``create_app(settings)`` gives the FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from winback import __version__, clock
from winback.desk import login as desk_login
from winback.desk import search as desk_search
from winback.desk.db import desk_engine, session_factory
from winback.errors import (
    Conflict,
    DeskError,
    InvalidInput,
    PermissionDenied,
    PolicyError,
    WinbackError,
)
from winback.insights import render as report_render
from winback.insights.kept import ReportStore
from winback.ledger import timeline as timeline_index
from winback.ledger.store import Ledger
from winback.scan.runs import ScanRun, latest_run
from winback.settings import Settings
from winback.web import (
    api,
    calls,
    campaigns,
    complaints,
    concessions,
    contact,
    forms,
    incentives,
    pages,
    red_carpet,
    reports,
    unsubscribe,
)
from winback.web import cycle as cycle_pages
from winback.web import search as search_pages
from winback.web.deps import LoginRequired
from winback.web.errors import api_error, retry_after, status_of
from winback.web.request_slots import RequestSlots
from winback.web.security_headers import SecurityHeaders
from winback.web.sessions import SessionCookies
from winback.web.templating import page_templates

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
# The npm packages' files the desk uses. An installed wheel carries them in static/vendor
# (hatch_build.py copies them there at build time) and looks nowhere else; only a checkout
# (package.json at the repository root; scripts/_env.sh installs the packages) serves
# them from its node_modules.
PACKAGED = HERE / "static" / "vendor"
CHECKOUT = HERE.parents[2]
IN_NODE_MODULES = {"htmx": "htmx.org/dist", "swagger-ui": "swagger-ui-dist"}


def _vendor(name: str) -> Path:
    packaged = PACKAGED / name
    if packaged.is_dir() or not (CHECKOUT / "package.json").is_file():
        return packaged
    return CHECKOUT / "node_modules" / IN_NODE_MODULES[name]


VENDOR = {name: _vendor(name) for name in IN_NODE_MODULES}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path. Starlette's own 405 names only the first
    route that matched the path, and GET /api/filters and POST /api/filters are two."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    return ", ".join(
        method
        for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    )


def served_app() -> FastAPI:
    """The app ``winback serve`` runs in each worker: settings from the environment, and
    the periodic cycle on its schedule (each scheduled pass runs once across workers)."""
    from winback.settings import load_settings

    return create_app(load_settings(), schedule=True)


def _lifespan(settings: Settings, schedule: bool) -> Any:
    """While the app runs: its thread pool sized to the requests let in at once
    (RequestSlots) and the password checks, as the connection pool is, so a request let in
    never waits long for a thread or a connection; with ``schedule``, the cycle's
    scheduler, started with the app and stopped with it."""
    from winback import cycle
    from winback.schedule import PassScheduler, trigger_of

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threads = settings.desk_threads + app.state.password_checks.limit
        to_thread.current_default_thread_limiter().total_tokens = threads
        trigger = trigger_of(settings.cycle_schedule, settings.timezone) if schedule else None
        scheduler = None
        if trigger is not None:
            scheduler = PassScheduler(
                trigger, lambda slot: cycle.run_pass(settings, trigger="schedule", slot=slot)
            )
            scheduler.start()
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()

    return lifespan


def create_app(
    settings: Settings, engine: Engine | None = None, *, schedule: bool = False
) -> FastAPI:
    """The app over the desk database of ``settings`` (or ``engine``, migrated already);
    ``schedule``: run the periodic cycle in this process while the app runs (with
    ``engine``, size its pool to ``settings.desk_threads`` for the thread pool to match)."""
    app = FastAPI(
        lifespan=_lifespan(settings, schedule),
        title="winback desk",
        version=__version__,
        description="The win-back desk's JSON API. Authenticate with "
        '`Authorization: Bearer <token>`; errors are `{"error": {"code", "message"}}`.',
        # /docs is served below from the swagger-ui-dist package, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    password_checks = desk_login.checks_of(settings)
    # A connection for each request at once (RequestSlots) and each password check.
    connections = settings.desk_threads + password_checks.limit
    engine = engine or desk_engine(settings.desk_database_url, connections)
    clock.use_zone(settings.timezone)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.cookies = SessionCookies(settings.session_secret, int(settings.session_hours * 3600))
    app.state.ledger = Ledger(settings.ledger_dir)
    app.state.timeline = timeline_index.TimelineReader(timeline_index.root_of(settings.home))
    app.state.search = desk_search.SearchReader(desk_search.root_of(settings.home))
    app.state.reason_reports = ReportStore()
    app.state.login_throttle = desk_login.throttle_of(settings)
    app.state.password_checks = password_checks

    def _latest() -> ScanRun | None:
        return latest_run(settings.runs_dir)

    app.state.latest_run = _latest
    app.state.scheduler = None
    app.state.templates = page_templates(settings.currency)
    app.add_middleware(RequestSlots, limit=settings.desk_threads)
    app.add_middleware(SecurityHeaders)

    for name, folder in VENDOR.items():
        if not folder.is_dir():
            # Served anyway (a 404 per file) so the API still works; the pages lose htmx.
            log.warning(
                "the desk's front-end files for %s are missing (looked in %s): in a "
                "checkout run `npm ci --ignore-scripts`; an installed wheel carries them, so "
                "reinstall it",
                name,
                folder,
            )
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=folder, check_dir=False), name)
    app.mount("/static/app", StaticFiles(directory=HERE / "static"), "app-static")
    app.mount("/static/insights", StaticFiles(directory=report_render.STATIC), "insights-static")
    # Each feature module has an API router (under /api) and a page router.
    features = (
        calls,
        campaigns,
        complaints,
        concessions,
        contact,
        cycle_pages,
        incentives,
        red_carpet,
        reports,
        search_pages,
    )
    app.include_router(api.router)
    for feature in features:
        app.include_router(feature.api_router)

    @app.get("/docs", include_in_schema=False)
    def _docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="winback desk API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        )

    app.include_router(pages.router)
    for feature in features:
        app.include_router(feature.page_router)
    # Public: the customer's signed link is the proof (no login, no CSRF token).
    app.include_router(unsubscribe.page_router)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        target = "/login?next=" + quote(str(request.url.path))
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(WinbackError)
    async def _desk_error(request: Request, exc: WinbackError) -> Response:
        status, code = status_of(exc) if isinstance(exc, DeskError) else (400, "error")
        if isinstance(exc, PolicyError):
            code = "policy_error"  # the workspace's policy file: a manager must fix it
        if _is_api(request):
            return api_error(status, code, str(exc), retry_after(exc))
        if isinstance(exc, InvalidInput | Conflict | PermissionDenied):
            # A refused form: its page again, with what was typed and why (a refusal of
            # the role itself stays a page of its own; one about a field's value does not).
            errors = forms.refused_form(request, [(getattr(exc, "field", None), str(exc))])
            about_a_field = "" not in errors.errors
            if not isinstance(exc, PermissionDenied) or about_a_field:
                again = await forms.show_again(request, status, errors)
                if again is not None:
                    return again
        page = pages.error_page(request, status, str(exc))
        page.headers.update(retry_after(exc))
        return page

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        if _is_api(request):
            return api_error(422, "invalid_input", problems)
        errors = forms.refused_form(request, forms.validation_problems(list(exc.errors())))
        again = await forms.show_again(request, 422, errors)
        return again or pages.error_page(request, 422, problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        if _is_api(request):
            return api_error(exc.status_code, code, str(exc.detail), headers)
        if exc.status_code == 404 and getattr(request.state, "user", None) is None:
            # No route took it: look up the session's user, for the page's nav and search.
            message = f"There is no page at {request.url.path}."
            page = await run_in_threadpool(
                pages.error_page_with_chrome, request, exc.status_code, message
            )
        else:
            page = pages.error_page(request, exc.status_code, str(exc.detail))
        page.headers.update(headers)
        return page

    return app
