"""The web surface's hardening (issue 14), each finding against the real app over a real SQLite
store: FastAPI's TestClient where the client's address or the app's clock must be chosen, a
real uvicorn where the connection itself matters (a client that goes away), Chromium where the
browser must enforce the Content-Security-Policy. No Temporal server: every case here is
answered before a ticket's workflow would be asked.

* security headers on every page and API response, and pages with nothing inline;
* cookies ``Secure`` unless the public URL is plain http on loopback, and a warning at start;
* logout ends the session on the server: a copied cookie stops working;
* flashes from fixed templates, bound to the session: a crafted one shows nothing;
* non-ASCII credentials get 401/403, impossible numbers 422 naming the field, and a client
  that disconnects leaves no traceback;
* log-ins and signoff links throttled per client address and token prefix, in the store, by
  the app's clock; a lockout audited and alerted.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import Engine

from api.app import create_app
from api.docs_page import BUNDLE, DOCS_POLICY, STYLESHEET, swagger_ui_directory
from api.pages import SESSION_COOKIE
from api.security import issue_signoff_link, secret, sign, unsign
from api.web_headers import PAGE_POLICY
from billing.roles import Role
from intake.signed_webhook import webhook_signature
from settings import Settings
from store.database import open_store
from store.page_sessions import live_session, open_session, session_hash
from store.sync_health import alerts_since
from store.ticket_records import audit_trail
from store.tokens import issue_token, revoke_token, token_owner
from tests.live.api_server import hidden, served_examples
from tests.rated_store import EXAMPLES, seed_examples

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
FAILURES = 3  # the throttle's limit in these tests (the default is 10)
LOOPBACK = "http://127.0.0.1:8000"


class Clock:
    """The app's clock: tests move it, nothing waits."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class Site:
    """The app over a store holding the example tickets; ``client(address)`` is a browser at
    that address."""

    app: FastAPI
    settings: Settings
    clock: Clock
    engine: Engine
    issued: list[str] = field(default_factory=list)

    def client(self, address: str = "198.51.100.7", app: FastAPI | None = None) -> TestClient:
        return TestClient(app or self.app, base_url=LOOPBACK, client=(address, 50000))

    def token(self, role: Role) -> str:
        self.issued.append(role.value)
        return issue_token(self.engine, f"{role.value}-{len(self.issued)}", role)

    def another_app(self) -> FastAPI:
        """A second API process over the same store."""
        return create_app(self.settings, engine=self.engine, now=self.clock)


def make_site(directory: Path, **settings: object) -> Site:
    url = f"sqlite:///{directory / 'store.db'}"
    engine = open_store(url)
    seed_examples(engine)
    configured = Settings(
        database_url=url,
        book_path=EXAMPLES / "book.toml",
        secrets_dir=directory / "secrets",
        otel_exporter="none",
        auth_throttle_failures=FAILURES,
        auth_throttle_window=WINDOW,
        **settings,
    )
    clock = Clock(START)
    return Site(create_app(configured, engine=engine, now=clock), configured, clock, engine)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = make_site(tmp_path)
    yield made
    made.engine.dispose()


def log_in(http: TestClient, token: str) -> Response:
    form = http.get("/login")
    return http.post(
        "/login",
        data={"token": token, "login_csrf": hidden(form.text, "login_csrf")},
        follow_redirects=False,
    )


def logged_in(site: Site, role: Role, address: str = "198.51.100.7") -> tuple[TestClient, str]:
    """A client with a session of a new token of ``role``, and the session's CSRF value."""
    http = site.client(address)
    assert log_in(http, site.token(role)).status_code == 303
    page = http.get("/exceptions")
    return http, hidden(page.text, "csrf")


def flash_in(html: str) -> str:
    match = re.search(r'id="flash">(.*?)</div>', html, re.S)
    return match.group(1) if match else ""


# ---- security headers ---------------------------------------------------------------------------

PAGES = ["/exceptions", "/review", "/reports", "/prebill"]


def assert_secured(response: Response, policy: str = PAGE_POLICY) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == policy, response.url
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_every_page_and_api_response_carries_the_security_headers(site: Site) -> None:
    http, _ = logged_in(site, Role.ADMIN)
    token = site.token(Role.OPERATOR)
    responses = [http.get(path) for path in PAGES]
    responses += [
        http.get("/login"),
        http.get("/signoff/not-a-link"),  # 403, the signoff page
        http.get("/api/tickets", headers={"Authorization": f"Bearer {token}"}),  # 200 JSON
        http.get("/api/tickets"),  # 401
        http.get("/api/tickets", params={"min_age_hours": "inf"}),  # 422
        http.get("/api/openapi.json"),
        http.get("/health/live"),
        http.post("/webhooks/events", content=b"{}"),  # 401, unsigned
        http.get("/no-such-page"),  # 404
    ]
    for response in responses:
        assert_secured(response)
        assert response.headers["cache-control"] == "no-store", response.url
    static = http.get("/static/pages.css")
    assert static.status_code == 200
    assert_secured(static)
    assert static.headers["cache-control"] == "no-cache"  # revalidated, never stale


INLINE = {
    "an inline script": re.compile(r"<script(?![^>]*\bsrc=)", re.I),
    "an inline style element": re.compile(r"<style", re.I),
    "a style attribute": re.compile(r"\sstyle=", re.I),
    "an event handler attribute": re.compile(r"\son[a-z]+=", re.I),
}


def test_pages_load_nothing_inline_that_the_policy_would_block(site: Site) -> None:
    http, _ = logged_in(site, Role.ADMIN)
    pages = {path: http.get(path).text for path in PAGES}
    pages["/login"] = site.client().get("/login").text
    pages["/signoff"] = http.get("/signoff/not-a-link").text
    for path, html in pages.items():
        assert '<link rel="stylesheet" href="/static/pages.css">' in html, path
        for what, pattern in INLINE.items():
            assert not pattern.search(html), f"{path} has {what}"


def test_the_api_docs_page_runs_only_swagger_ui_and_our_starter_from_this_origin(
    site: Site,
) -> None:
    page = site.client().get("/api/docs")
    assert page.status_code == 200
    assert_secured(page, DOCS_POLICY)
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts == [
        '<script src="/static/swagger-ui/swagger-ui-bundle.js">',
        '<script src="/static/api_docs.js">',
    ]
    assert '<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">' in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from another origin
    policy = dict(part.split(" ", 1) for part in DOCS_POLICY.split("; "))
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert policy["style-src"] == "'self'"
    assert site.client().get("/static/api_docs.js").status_code == 200


def test_swagger_ui_files_come_from_the_installed_package_and_nothing_else_does(
    site: Site,
) -> None:
    for url, kind in ((BUNDLE, "text/javascript"), (STYLESHEET, "text/css")):
        served = site.client().get(url)
        assert served.status_code == 200, url
        assert served.headers["content-type"].startswith(kind), url
        assert served.headers["cache-control"] == "no-cache"  # a /static file: kept, revalidated
        assert served.content == (swagger_ui_directory() / url.rsplit("/", 1)[1]).read_bytes()
    for other in ("__init__.py", "favicon-32x32.png", "..%2F__init__.py", "nope.js"):
        assert site.client().get(f"/static/swagger-ui/{other}").status_code == 404, other


# ---- cookies: Secure unless plain http on loopback ----------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "secure", "warned"),
    [
        ("http://127.0.0.1:8000", False, False),
        ("http://localhost:8000", False, False),
        ("http://[::1]:8000", False, False),
        ("https://billing.example.com", True, False),
        ("https://127.0.0.1:8443", True, False),
        ("http://billing.example.com", True, True),
        ("http://10.0.0.5:8000", True, True),
    ],
)
def test_cookies_are_secure_unless_the_public_url_is_plain_http_on_loopback(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    public_url: str,
    secure: bool,
    warned: bool,
) -> None:
    with caplog.at_level(logging.WARNING, logger="api.app"):
        site = make_site(tmp_path, public_url=public_url)
    warnings = [r.getMessage() for r in caplog.records if r.name == "api.app"]
    assert bool(warnings) == warned
    if warned:
        assert public_url in warnings[0] and "Secure" in warnings[0] and "https://" in warnings[0]
    # A browser sends a Secure cookie back over https only.
    http = TestClient(site.app, base_url="https://127.0.0.1:8443" if secure else LOOPBACK)
    form = http.get("/login")
    login = http.post(
        "/login",
        data={"token": site.token(Role.FINANCE), "login_csrf": hidden(form.text, "login_csrf")},
        follow_redirects=False,
    )
    assert login.status_code == 303
    for response, cookie in ((form, "hdb_login="), (login, f"{SESSION_COOKIE}=")):
        set_cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith(cookie)
        )
        assert ("; secure" in set_cookie.lower()) == secure, set_cookie
    site.engine.dispose()


def test_a_public_url_that_is_not_http_is_refused_at_start() -> None:
    with pytest.raises(Exception, match="HDB_PUBLIC_URL"):
        Settings.from_environment({"HDB_PUBLIC_URL": "ftp://billing.example.com"})


# ---- logout ends the session on the server ------------------------------------------------------


def test_logout_ends_the_session_so_a_copied_cookie_stops_working(site: Site) -> None:
    http, csrf = logged_in(site, Role.ADMIN)
    copied = http.cookies[SESSION_COOKIE]
    other_process = site.client(app=site.another_app())
    other_process.cookies.set(SESSION_COOKIE, copied)
    assert other_process.get("/exceptions", follow_redirects=False).status_code == 200
    codec = {"payloads": []}
    assert other_process.post("/codec/decode", json=codec).status_code == 200

    response = http.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")

    # The copy, sent from elsewhere and to another API process, is no session any more.
    thief = site.client("203.0.113.66", app=site.another_app())
    thief.cookies.set(SESSION_COOKIE, copied)
    page = thief.get("/exceptions", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/login")
    posted = thief.post("/exceptions/T-1001/rerate", data={"csrf": csrf}, follow_redirects=False)
    assert (posted.status_code, posted.headers["location"]) == (303, "/login")
    assert thief.post("/codec/decode", json=codec).status_code == 401
    with site.engine.connect() as connection:
        ended = connection.exec_driver_sql(
            "SELECT ended_at FROM page_session WHERE session_hash = ?",
            (session_hash(_session_id(site, copied)),),
        ).scalar()
    assert ended is not None


def _session_id(site: Site, cookie: str) -> str:
    return str(unsign(secret(site.settings, "signing_key"), cookie)["sid"])


def test_a_session_ends_at_its_expiry_or_with_its_token(site: Site) -> None:
    """The store's side, at explicit times: a row counts until ``expires_at``; a revoked
    token's sessions end with it."""
    owner = token_owner(site.engine, site.token(Role.SUPPORT))
    assert owner is not None
    session_id, _ = open_session(
        site.engine,
        owner.token_id,
        owner.name,
        owner.role,
        START,
        timedelta(hours=12),
    )
    assert live_session(site.engine, session_id, START + timedelta(hours=11)) is not None
    assert live_session(site.engine, session_id, START + timedelta(hours=12)) is None
    assert revoke_token(site.engine, owner.name)
    assert live_session(site.engine, session_id, START) is None


# ---- flashes: fixed templates, bound to the session ---------------------------------------------


def test_a_flash_is_shown_only_to_the_session_that_made_it(site: Site) -> None:
    http, csrf = logged_in(site, Role.FINANCE)
    response = http.post(
        "/review/T-1001/edit",
        data={"csrf": csrf, "source_id": "te-1", "reason": "why not"},
        follow_redirects=False,
    )
    location = response.headers["location"]
    assert re.fullmatch(r"/review\?flash=[A-Za-z0-9_-]{16}", location)
    assert flash_in(http.get(location).text) == "T-1001: give a new quantity or unit price"
    # Another person given the same link sees nothing; nor does anyone without a session.
    someone, _ = logged_in(site, Role.FINANCE, address="198.51.100.8")
    assert 'id="flash"' not in someone.get(location).text
    # It lasts a few minutes: a reload shows it, a later visit does not.
    site.clock.advance(timedelta(minutes=6))
    assert 'id="flash"' not in http.get(location).text


@pytest.mark.parametrize(
    "flash",
    [
        "Paste your token at https://evil.example",
        # The old format: free text signed with our own key is no longer read at all.
        "SIGNED",
        "../../etc/passwd",
        "é€" * 10,
    ],
)
def test_a_crafted_flash_parameter_puts_no_words_on_our_pages(site: Site, flash: str) -> None:
    http, _ = logged_in(site, Role.ADMIN)
    if flash == "SIGNED":
        key = secret(site.settings, "signing_key")
        flash = sign(key, {"kind": "flash", "msg": "Paste your token at evil", "ok": True})
    for path in ("/exceptions", "/review", "/prebill"):
        page = http.get(path, params={"flash": flash})
        assert page.status_code == 200
        assert 'id="flash"' not in page.text and "evil" not in page.text


# ---- non-ASCII credentials, impossible numbers, clients that go away ----------------------------

NON_ASCII = "é€"


def _valid_link(site: Site) -> str:
    key = secret(site.settings, "signing_key")
    return issue_signoff_link(site.engine, key, "T-1002", "someone", timedelta(days=1))


@pytest.mark.parametrize(
    "case",
    [
        "session cookie",
        "session cookie, signed shape",
        "page form CSRF",
        "login form CSRF",
        "signoff link",
        "signoff form token",
        "bearer token",
        "codec bearer token",
        "webhook signature",
        "webhook timestamp",
    ],
)
def test_a_non_ascii_credential_is_refused_not_a_server_error(site: Site, case: str) -> None:
    http = site.client()
    raw = NON_ASCII.encode()
    if case == "session cookie":
        response = http.get(
            "/exceptions", headers={"Cookie": b"hdb_session=" + raw}, follow_redirects=False
        )
        expected = {303}
    elif case == "session cookie, signed shape":
        value = b"eyJraW5kIjoic2Vzc2lvbiJ9" + raw + b"." + raw
        response = http.get(
            "/exceptions", headers={"Cookie": b"hdb_session=" + value}, follow_redirects=False
        )
        expected = {303}
    elif case == "page form CSRF":
        http, _ = logged_in(site, Role.ADMIN)
        response = http.post("/logout", data={"csrf": NON_ASCII}, follow_redirects=False)
        expected = {403}
    elif case == "login form CSRF":
        http.get("/login")
        response = http.post("/login", data={"token": "x", "login_csrf": NON_ASCII})
        expected = {403}
    elif case == "signoff link":
        response = http.get(f"/signoff/{NON_ASCII}")
        expected = {403}
    elif case == "signoff form token":
        link = _valid_link(site)
        response = http.post(
            f"/signoff/{link}", data={"decision": "accept", "form_token": NON_ASCII}
        )
        expected = {403}
    elif case == "bearer token":
        response = http.get("/api/tickets", headers={"Authorization": b"Bearer hdb_" + raw})
        expected = {401}
    elif case == "codec bearer token":
        response = http.post(
            "/codec/decode", json={"payloads": []}, headers={"Authorization": b"Bearer " + raw}
        )
        expected = {401}
    elif case == "webhook signature":
        stamp = str(int(time.time())).encode()
        response = http.post(
            "/webhooks/events",
            content=b"{}",
            headers={"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": b"sha256=" + raw},
        )
        expected = {401}
    else:  # a timestamp of digits int() cannot read, correctly signed
        stamp = "²³"
        key = secret(site.settings, "webhook_secret")
        signature = webhook_signature(key, stamp, b"{}")
        response = http.post(
            "/webhooks/events",
            content=b"{}",
            headers={"X-Webhook-Timestamp": stamp.encode(), "X-Webhook-Signature": signature},
        )
        expected = {401}
    assert response.status_code in expected, (response.status_code, response.text[:300])
    if response.status_code == 303:
        assert response.headers["location"] == "/login"


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e308", "nan", "NaN", "-1", "x"])
def test_an_impossible_min_age_hours_is_422_naming_the_field(site: Site, value: str) -> None:
    token = site.token(Role.OPERATOR)
    response = site.client().get(
        "/api/tickets",
        params={"min_age_hours": value},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert problem["field"].endswith("min_age_hours")


NOT_A_TOTAL = ['"NaN"', "NaN", '"Infinity"', "Infinity", '"-Infinity"', '"1e308"', "1e308"]


@pytest.mark.parametrize("total", NOT_A_TOTAL)
@pytest.mark.parametrize(
    ("path", "body", "field_name"),
    [
        ("/api/tickets/T-1002/approve", '{"expected_total": %s}', "expected_total"),
        ("/api/tickets/T-1002/signoff", '{"expected_total": %s}', "expected_total"),
        (
            "/api/tickets/T-1002/review",
            '{"action": "approve", "expected_total": %s}',
            "expected_total",
        ),
        (
            "/api/tickets/T-1002/review",
            '{"action": "edit", "reason": "r", "line_edits": '
            '[{"source_id": "te-1", "unit_price": %s}]}',
            "line_edits[0].unit_price",
        ),
        (
            "/api/prebill/CUST-9001/approve",
            '{"month": "2026-11", "expected_total": %s}',
            "expected_total",
        ),
    ],
)
def test_a_nan_or_infinite_total_is_422_naming_the_field(
    site: Site, path: str, body: str, field_name: str, total: str
) -> None:
    token = site.token(Role.ADMIN)
    response = site.client().post(
        path,
        content=(body % total).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    fields = [problem["field"] for problem in response.json()["problems"]]
    assert field_name in fields, fields


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _send_and_hang_up(port: int, head: bytes, partial_body: bytes) -> None:
    """Send a request that promises more body than it sends, then close the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + partial_body)


def test_a_client_that_hangs_up_mid_request_leaves_no_traceback(tmp_path: Path) -> None:
    with served_examples(tmp_path) as served:
        port = int(served.url.rsplit(":", 1)[1])
        # After the server has configured its logging: records from our app, uvicorn's errors.
        seen = _Records()
        watched = [logging.getLogger(name) for name in ("uvicorn.error", "api.app", "")]
        levels = [logger.level for logger in watched]
        for logger in watched:
            logger.addHandler(seen)
        logging.getLogger("api.app").setLevel(logging.DEBUG)
        try:
            with httpx_client(served.url) as http:
                form = http.get("/login")
                http.post(
                    "/login",
                    data={
                        "token": served.token(Role.ADMIN),
                        "login_csrf": hidden(form.text, "login_csrf"),
                    },
                )
                cookie = f"{SESSION_COOKIE}={http.cookies[SESSION_COOKIE]}"
            requests = [
                # the signed webhook, which reads its body as a stream
                b"POST /webhooks/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                b"\r\nContent-Length: 5000\r\n\r\n",
                # a page form the route reads itself (a decision from the exception queue)
                b"POST /exceptions/T-1001/rerate HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                + f"Cookie: {cookie}\r\n".encode()
                + b"Content-Length: 5000\r\n\r\n",
                # a form FastAPI reads (the log-in)
                b"POST /login HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 5000\r\n\r\n",
            ]
            for head in requests:
                _send_and_hang_up(port, head, b"csrf=abc&reason=")
            went_away = [r for r in seen.records if "went away" in r.getMessage()]
            deadline = time.monotonic() + 20  # a guard against hanging, not a timed assertion
            while len(went_away) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
                went_away = [r for r in seen.records if "went away" in r.getMessage()]
            # Still answering: the next client is served as usual.
            with httpx_client(served.url) as http:
                assert http.get("/health/live").status_code == 200
        finally:
            for logger, level in zip(watched, levels, strict=True):
                logger.removeHandler(seen)
                logger.setLevel(level)
    assert len(went_away) >= 2  # the webhook and the exception queue's form
    errors = [r for r in seen.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
    # The path is not logged: a signoff page's path is the customer's credential.
    assert all("/exceptions" not in r.getMessage() for r in went_away)


def httpx_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30)


# ---- throttling log-ins and signoff links -------------------------------------------------------


def bad_token(prefix: str = "", n: int = 0) -> str:
    return f"hdb_{prefix}{'x' * (8 - len(prefix))}not-a-token-{n}"


def test_log_ins_are_throttled_per_client_address(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    good = site.token(Role.FINANCE)
    http = site.client("203.0.113.9")
    for n in range(FAILURES):
        assert log_in(http, bad_token(f"p{n}", n)).status_code == 401
    locked = log_in(http, good)  # the right token, while locked out: not even checked
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == str(int(WINDOW.total_seconds()))
    assert "Too many failed log-ins" in locked.text
    assert SESSION_COOKIE not in locked.headers.get("set-cookie", "")
    # Another address is not affected.
    assert log_in(site.client("203.0.113.10"), site.token(Role.FINANCE)).status_code == 303
    # The wait shortens as the app's clock moves; then the address may log in again.
    site.clock.advance(timedelta(minutes=10))
    assert log_in(http, good).headers["retry-after"] == "300"
    site.clock.advance(timedelta(minutes=5, seconds=1))
    assert log_in(http, good).status_code == 303


def test_log_ins_are_throttled_per_token_prefix_across_addresses(site: Site) -> None:
    for n in range(FAILURES):
        response = log_in(site.client(f"203.0.113.{20 + n}"), bad_token("AAAAAAAA", n))
        assert response.status_code == 401
    same_prefix = log_in(site.client("203.0.113.30"), bad_token("AAAAAAAA", 99))
    assert same_prefix.status_code == 429 and same_prefix.headers["retry-after"]
    other_prefix = log_in(site.client("203.0.113.31"), bad_token("BBBBBBBB"))
    assert other_prefix.status_code == 401


def test_a_log_in_lockout_is_audited_alerted_and_logged(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="api.throttle"):
        for n in range(FAILURES):
            log_in(site.client("203.0.113.40"), bad_token("CCCCCCCC", n))
    trail = audit_trail(site.engine, "web:login")
    lockouts = [entry for entry in trail if entry.action == "login_lockout"]
    # The third failure locked out both the address and the prefix: once each.
    assert len(lockouts) == 2
    assert {entry.role for entry in lockouts} == {"unauthenticated"}
    assert {entry.actor for entry in lockouts} == {"client 203.0.113.40"}
    details = " | ".join(entry.detail for entry in lockouts)
    assert "3 failed log-ins within 15m from address 203.0.113.40" in details
    assert "with token prefix 'CCCCCCCC'" in details
    assert "refused until 2026-12-01 09:15 UTC" in details
    # Refused attempts while locked out are not failures: no second lockout, no longer wait.
    assert log_in(site.client("203.0.113.40"), bad_token("DDDDDDDD")).status_code == 429
    trail = audit_trail(site.engine, "web:login")
    assert len([e for e in trail if e.action == "login_lockout"]) == 2
    assert [r.getMessage() for r in caplog.records if r.name == "api.throttle"] == [
        entry.detail for entry in lockouts
    ]
    # Operators see it on the pages' banner, as a security alert.
    alerts = alerts_since(site.engine, START - timedelta(hours=1), ["web"])
    assert alerts and "failed log-ins" in alerts[0]
    http, _ = logged_in(site, Role.OPERATOR, address="198.51.100.50")
    page = http.get("/exceptions").text
    assert "data-security-alert" in page and "Security alert: 3 failed log-ins" in page
    assert "data-sync-alert" not in page  # not a sync alert


def test_every_api_process_counts_the_same_failures(site: Site) -> None:
    """Counts live in the store: failures on one process lock out on another."""
    first, second = site.app, site.another_app()
    for n in range(FAILURES - 1):
        log_in(site.client("203.0.113.60", app=first), bad_token("EEEEEEEE", n))
    log_in(site.client("203.0.113.60", app=second), bad_token("FFFFFFFF"))
    assert log_in(site.client("203.0.113.60", app=first), "x").status_code == 429


def test_signoff_links_are_throttled_per_address_and_per_link(site: Site) -> None:
    http = site.client("203.0.113.70")
    for n in range(FAILURES):
        assert http.get(f"/signoff/made-up-{n}").status_code == 403
    locked = http.get("/signoff/made-up-again")
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == str(int(WINDOW.total_seconds()))
    assert "Too many attempts" in locked.text
    assert http.post("/signoff/x", data={"decision": "accept"}).status_code == 429

    # A real link, tampered with from many addresses: the link itself is locked out.
    link = _valid_link(site)
    body, _, mac = link.partition(".")
    for n in range(FAILURES):
        forged = f"{body}.{'A' * len(mac[:-1])}{n}"
        assert site.client(f"203.0.113.{80 + n}").get(f"/signoff/{forged}").status_code == 403
    assert site.client("203.0.113.90").get(f"/signoff/{link}").status_code == 429
    trail = audit_trail(site.engine, "web:signoff")
    details = [entry.detail for entry in trail if entry.action == "signoff_lockout"]
    assert any("from address 203.0.113.70" in detail for detail in details)
    assert any("failed signoff-link attempts" in detail for detail in details)
    # A wrong form token is not a failed attempt: another site could post one from the
    # customer's browser and lock the customer out.
    site.clock.advance(WINDOW + timedelta(seconds=1))
    customer = site.client("203.0.113.91")
    for _ in range(FAILURES + 1):
        refused = customer.post(f"/signoff/{link}", data={"decision": "accept", "form_token": "x"})
        assert refused.status_code == 403


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("HDB_AUTH_THROTTLE_FAILURES", "0", "HDB_AUTH_THROTTLE_FAILURES"),
        ("HDB_AUTH_THROTTLE_WINDOW", "0", "HDB_AUTH_THROTTLE_WINDOW"),
        ("HDB_AUTH_THROTTLE_WINDOW", "soon", "HDB_AUTH_THROTTLE_WINDOW"),
    ],
)
def test_bad_throttle_settings_stop_the_start_naming_the_variable(
    variable: str, value: str, problem: str
) -> None:
    with pytest.raises(Exception, match=problem):
        Settings.from_environment({variable: value})
    defaults = Settings()
    assert (defaults.auth_throttle_failures, defaults.auth_throttle_window) == (
        10,
        timedelta(minutes=15),
    )


# ---- the policy in a real browser ---------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing")
async def test_chromium_enforces_the_policy_and_the_pages_still_work(tmp_path: Path) -> None:
    """Every page styled from /static, nothing refused by the policy, and the browser will not
    show a page inside a frame."""
    from playwright.async_api import async_playwright

    with served_examples(tmp_path) as served:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu"],
            )
            page = await browser.new_page()
            refused: list[str] = []
            page.on(
                "console",
                lambda message: (
                    refused.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            await page.goto(f"{served.url}/login")
            await page.get_by_label("Your API token").fill(served.token(Role.ADMIN))
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url("**/review")
            for path in ("/exceptions", "/review", "/reports", "/prebill", "/signoff/nope"):
                await page.goto(f"{served.url}{path}")
                background = await page.evaluate(
                    "getComputedStyle(document.querySelector('header')).backgroundColor"
                )
                assert background == "rgb(29, 35, 48)", path  # pages.css applied
            assert refused == []
            # A page of ours inside another page's frame is refused by the browser.
            framing = tmp_path / "framing.html"
            framing.write_text(f'<iframe src="{served.url}/login"></iframe>')
            await page.goto(framing.as_uri())
            frame = page.frames[-1]
            assert await frame.query_selector("#token") is None
            await browser.close()
    assert any("frame-ancestors 'none'" in message for message in refused), refused


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing")
async def test_the_api_docs_page_works_offline_under_its_policy(tmp_path: Path) -> None:
    """Swagger UI drawn in Chromium under the docs page's policy with every other origin cut
    off: the operations are listed, nothing is refused or fails, and "Try it out" reaches the
    API."""
    from playwright.async_api import Route, async_playwright

    with served_examples(tmp_path) as served:
        elsewhere: list[str] = []

        async def only_this_origin(route: Route) -> None:
            if route.request.url.startswith(served.url + "/"):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort("internetdisconnected")

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            page = await browser.new_page()
            said: list[str] = []
            page.on("console", lambda message: said.append(message.text))
            page.on("pageerror", lambda error: said.append(str(error)))
            await page.route("**/*", only_this_origin)
            await page.goto(f"{served.url}/api/docs")
            await page.wait_for_selector(".opblock")
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/api/tickets" in path for path in paths), paths
            assert await page.locator(".opblock").count() >= 10
            title = await page.locator(".info .title").first.inner_text()
            assert title.startswith("helpdesk-billing")
            await page.locator(".opblock").first.click()
            await page.get_by_role("button", name="Try it out").click()
            await page.get_by_role("button", name="Execute").click()
            await page.wait_for_selector(".live-responses-table")
            await browser.close()
    assert elsewhere == []
    assert said == []


def test_a_stored_flash_is_a_template_name_and_values(site: Site) -> None:
    """A flash row holds a template name and values, never a whole message."""
    http, csrf = logged_in(site, Role.FINANCE)
    http.post("/review/bulk-approve", data={"csrf": csrf}, follow_redirects=False)
    with site.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT template, values_json FROM page_flash").all()
    assert [(row[0], json.loads(row[1])) for row in rows] == [("nothing_selected", {})]
