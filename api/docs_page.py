"""``/api/docs``: the API browsable in Swagger UI, served by the app itself, under a
Content-Security-Policy of its own.

FastAPI's built-in page loads the newest Swagger UI 5 from jsDelivr and starts it with an inline
script; with no network (CI, an air-gapped site) that page is blank. Here Swagger UI's two files
come from the ``fastapi-swagger`` package (a dependency: it bundles the ``swagger-ui-dist``
files and follows its releases) and are served under ``/static/swagger-ui/``; the starting
script is ours, from ``/static``. We use only the package's files, not its ``patch_fastapi``
(which adds a ``/`` redirect and starts Swagger UI with an inline script).

The policy allows our own origin only: no CDN, nothing inline and no eval. Swagger UI 5 needs
neither: it sets its styles through the DOM, which a policy does not govern, so ``style-src``
stays ``'self'`` (tests/live/test_web_hardening.py draws the page in Chromium with the network
cut and fails on any refusal). "Try it out" calls only this origin.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.templating import templates

ASSETS_URL = "/static/swagger-ui"
BUNDLE = f"{ASSETS_URL}/swagger-ui-bundle.js"
STYLESHEET = f"{ASSETS_URL}/swagger-ui.css"
# Only these files of the package are served (not its Python modules).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
DOCS_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

router = APIRouter(include_in_schema=False)


def swagger_ui_directory() -> Path:
    """Where the installed ``fastapi-swagger`` package keeps Swagger UI's files."""
    return Path(str(resources.files("fastapi_swagger") / "resources"))


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        "api_docs.html",
        {"bundle": BUNDLE, "stylesheet": STYLESHEET, "openapi_url": request.app.openapi_url},
    )
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response


@router.get(ASSETS_URL + "/{name}")
def swagger_ui_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(swagger_ui_directory() / name, media_type=ASSETS[name])
