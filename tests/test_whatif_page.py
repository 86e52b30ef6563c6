"""The pre-bill page's "what if this book" over HTTP on a real uvicorn, reading the example store
recorded the worker's way (tests/rated_store.py, each ticket with its folded ticket): an uploaded
candidate book's differences for the customer's month, with both explanations; a bad book names
every problem (422); a bad month, a missing or oversized upload, an unknown customer and a
missing CSRF value are refused readably, never a 500. The app's clock is fixed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from api.prebill_pages import WHATIF_BOOK_MAX_BYTES
from billing.roles import Role
from tests.conftest import EXAMPLES
from tests.live.api_server import ServedStore, hidden, served_examples

APP_NOW = datetime(2026, 12, 10, 15, tzinfo=UTC)
BOOK = (EXAMPLES / "book.toml").read_text()
DEARER = BOOK.replace('technician = "95.00"', 'technician = "120.00"')


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ServedStore]:
    with served_examples(tmp_path, now=lambda: APP_NOW) as served:
        yield served


@contextmanager
def signed_in(site: ServedStore, role: Role) -> Iterator[tuple[httpx.Client, str]]:
    """A browser-like client signed in as ``role`` and the pre-bill page's CSRF value."""
    with httpx.Client(base_url=site.url, timeout=30) as http:
        form = http.get("/login")
        login = {"token": site.token(role), "login_csrf": hidden(form.text, "login_csrf")}
        assert http.post("/login", data=login).status_code == 303
        page = http.get("/prebill/CUST-9001", params={"month": "2026-11"})
        assert page.status_code == 200 and 'id="whatif"' in page.text
        yield http, hidden(page.text, "csrf")


def ask(
    http: httpx.Client,
    csrf: str,
    book: str | bytes | None,
    month: str = "2026-11",
    customer: str = "CUST-9001",
) -> httpx.Response:
    files = {"book": ("dearer.toml", book, "text/plain")} if book is not None else None
    return http.post(
        f"/prebill/{customer}/whatif", data={"csrf": csrf, "month": month}, files=files
    )


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.FINANCE])
def test_a_dearer_book_shows_each_changed_ticket_and_both_explanations(
    site: ServedStore, role: Role
) -> None:
    with signed_in(site, role) as (http, csrf):
        page = ask(http, csrf, DEARER)
    assert page.status_code == 200, page.text
    text = page.text
    assert "What if dearer.toml" in text and "Acme Dental (CUST-9001)" in text
    # T-1001 was posted at 47.50 (30 minutes at 95.00); 60.00 at 120.00.
    assert 'data-ticket="T-1001"' in text
    assert "billed 47.50 USD (posted) · now 60.00 USD" in text and "now 60.00 USD" in text
    assert "billed 326.75 USD (chargeable; status awaiting_approval)" in text
    assert "+12.50 USD" in text
    assert "× 95.00 USD" in text and "× 120.00 USD" in text
    assert "closing order from empty balances" in text
    # Another customer's tickets are not on this customer's what-if.
    assert 'data-ticket="T-1005"' not in text


def test_the_same_book_changes_nothing(site: ServedStore) -> None:
    with signed_in(site, Role.FINANCE) as (http, csrf):
        page = ask(http, csrf, BOOK)
    assert page.status_code == 200
    assert 'id="difference">0.00 USD' in page.text
    assert "No ticket of Acme Dental (CUST-9001) closed in 2026-11 changes" in page.text


def test_a_bad_book_names_every_problem(site: ServedStore) -> None:
    bad = BOOK.replace('type = "retainer"', 'type = "retainr"').replace(
        'technician = "95.00"', "technician = 95.0"
    )
    with signed_in(site, Role.FINANCE) as (http, csrf):
        page = ask(http, csrf, bad)
        not_utf8 = ask(http, csrf, b"\xff\xfe\x00bad")
    assert page.status_code == 422
    assert "book: dearer.toml has 2 problems" in page.text
    assert "retainr" in page.text and "rates.technician" in page.text
    assert not_utf8.status_code == 422 and "book: dearer.toml is not UTF-8 text" in not_utf8.text


def test_bad_requests_are_refused_readably(site: ServedStore) -> None:
    with signed_in(site, Role.FINANCE) as (http, csrf):
        no_file = ask(http, csrf, None)
        bad_month = ask(http, csrf, DEARER, month="2026-13")
        unknown = ask(http, csrf, DEARER, customer="CUST-0")
        too_big = ask(http, csrf, b"#" * (WHATIF_BOOK_MAX_BYTES + 1))
        forged = ask(http, "not-the-csrf", DEARER)
    assert no_file.status_code == 422 and "book: choose a billing book" in no_file.text
    assert bad_month.status_code == 422 and "month: period &#39;2026-13&#39;" in bad_month.text
    assert unknown.status_code == 404 and "customer &#39;CUST-0&#39;" in unknown.text
    assert too_big.status_code == 413 and "book: the upload is over 1024 KiB" in too_big.text
    assert forged.status_code == 403
    for response in (no_file, bad_month, unknown, too_big, forged):
        assert "Traceback" not in response.text


def test_signed_out_goes_to_the_login(site: ServedStore) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as http:
        response = http.post(
            "/prebill/CUST-9001/whatif",
            data={"csrf": "x", "month": "2026-11"},
            files={"book": ("b.toml", DEARER, "text/plain")},
        )
    assert response.status_code == 303 and response.headers["location"] == "/login"
