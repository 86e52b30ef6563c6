"""``/api/docs``: the API browsable in Swagger UI, under a Content-Security-Policy of its own.

FastAPI's built-in page loads the newest Swagger UI 5 from jsDelivr and starts it with an inline
script. Here the version is pinned and each file carries its Subresource Integrity hash, so the
browser runs exactly the files checked when the version was chosen, or nothing; the starting
script is ours, from ``/static``. The policy allows those two files and our own origin, nothing
inline and no eval (Swagger UI 5 needs neither: it sets its styles through the DOM, which a
policy does not govern), and "Try it out" calls only this origin.

To move to another Swagger UI version, take the hashes of its ``swagger-ui-bundle.js`` and
``swagger-ui.css`` from the npm package (``npm pack swagger-ui-dist@X``, then ``openssl dgst
-sha384 -binary FILE | base64``): jsDelivr serves the package's files as they are. Then run
``tests/live/test_web_hardening.py`` with ``HDB_TEST_SWAGGER_UI_DIST`` naming the unpacked
package: Chromium draws the page under its policy, with the CDN's files taken from there.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.templating import templates

SWAGGER_UI_VERSION = "5.35.0"
SWAGGER_UI = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
BUNDLE = f"{SWAGGER_UI}/swagger-ui-bundle.js"
BUNDLE_INTEGRITY = "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
STYLESHEET = f"{SWAGGER_UI}/swagger-ui.css"
STYLESHEET_INTEGRITY = "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I"
DOCS_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src 'self' {BUNDLE}",
        f"style-src 'self' {STYLESHEET}",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

router = APIRouter(include_in_schema=False)


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        "api_docs.html",
        {
            "bundle": BUNDLE,
            "bundle_integrity": BUNDLE_INTEGRITY,
            "stylesheet": STYLESHEET,
            "stylesheet_integrity": STYLESHEET_INTEGRITY,
            "openapi_url": request.app.openapi_url,
        },
    )
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response
