"""The security headers every answer carries (an ASGI middleware, so streamed answers and
background tasks are untouched).

- No other site may frame a page (``X-Frame-Options: DENY`` and CSP ``frame-ancestors
  'none'``): the one-click forms (approve, deactivate, close) cannot be clickjacked.
- A Content-Security-Policy the pages satisfy: scripts only from this site's /static
  files (htmx), no inline script, forms post only here. Inline *styles* are allowed: the
  charts are inline SVG with style attributes, and htmx adds one style element. The API
  docs page (Swagger UI) starts itself with one inline script, so it alone may run one.
- ``X-Content-Type-Options: nosniff``: a browser takes each file for what it says it is.
- ``Referrer-Policy: same-origin``: no address of the desk (which names customers) leaks to
  another site; the desk's own pages still see where a form came from.
- ``Cache-Control: no-store`` on pages and API answers, which carry personal data, so no
  shared computer or proxy keeps a copy. The static files (CSS, htmx) are cacheable.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_DOCS_CSP = _CSP.replace("script-src 'self';", "script-src 'self' 'unsafe-inline';")
_ALWAYS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def headers_for(path: str) -> dict[str, str]:
    """The security headers of the answer to a request for ``path``."""
    headers = dict(_ALWAYS)
    headers["Content-Security-Policy"] = _DOCS_CSP if path == "/docs" else _CSP
    if not path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    return headers


class SecurityHeaders:
    """Adds ``headers_for(path)`` to every HTTP answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
