"""The security headers on every response of the HTTP service (pages, signoff, API, webhook,
codec): an ASGI middleware, so it sees every response, the error pages included.

* ``Content-Security-Policy``: the pages load only their own stylesheet and scripts from
  ``/static`` (no inline script or style anywhere: api/templates), post forms only to us, and
  may not be framed (``frame-ancestors 'none'``, clickjacking). A route that needs another policy
  sets its own (the API docs page, api/docs_page.py), and it is kept.
* ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``.
* ``X-Content-Type-Options: nosniff``: a help desk's text served as JSON or CSV is never run as
  a script or rendered as HTML.
* ``Referrer-Policy: no-referrer``: a signoff link (the customer's credential, in the URL) never
  leaves in a Referer header.
* ``Cache-Control: no-store`` on every response (pages show ticket text and money, the signoff
  page a customer's charges, the API the same as JSON): nothing lands in a shared cache or the
  browser's disk cache. ``/static`` files are ``no-cache`` instead (kept, revalidated).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
ALWAYS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATIC_PREFIX = "/static/"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = PAGE_POLICY
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-cache" if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
