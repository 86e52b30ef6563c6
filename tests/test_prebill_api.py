"""The pre-bill API and pages over HTTP on a real uvicorn, reading the example store (no
Temporal: reading, approving and finalizing a pre-bill touch the store and the ledger only).
Every staff role reads; finance and admin approve and finalize, anyone else is refused with 403
and audited; a bad month is a 422 naming the field; the app's clock is fixed in December 2026."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from billing.roles import Role
from store.ticket_records import audit_trail
from tests.live.api_server import ServedStore, hidden, served_examples

APP_NOW = datetime(2026, 12, 10, 15, tzinfo=UTC)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ServedStore]:
    with served_examples(tmp_path, now=lambda: APP_NOW) as served:
        yield served


def api(site: ServedStore, role: Role) -> httpx.Client:
    return httpx.Client(
        base_url=site.url, headers={"Authorization": f"Bearer {site.token(role)}"}, timeout=30
    )


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.OPERATOR, Role.MANAGER, Role.FINANCE])
def test_every_staff_role_reads_the_prebill(site: ServedStore, role: Role) -> None:
    with api(site, role) as http:
        listed = http.get("/api/prebill")  # the previous month by the app's clock: 2026-11
        one = http.get("/api/prebill/CUST-9001", params={"month": "2026-11"})
    assert listed.status_code == 200, listed.text
    assert {row["customer_name"] for row in listed.json()} >= {"Acme Dental", "Cedar Clinic"}
    assert all(row["period"] == "2026-11" for row in listed.json())
    assert one.status_code == 200, one.text
    body = one.json()
    assert (body["customer_name"], body["currency"], body["state"]) == (
        "Acme Dental",
        "USD",
        "open",
    )
    [posted] = [t for t in body["tickets"] if t["ticket_id"] == "T-1001"]
    assert posted["lines"][0]["amount"] == "47.50" and posted["lines"][0]["explanation"]


def test_bad_month_and_unknown_customer(site: ServedStore) -> None:
    with api(site, Role.FINANCE) as http:
        bad = http.get("/api/prebill/CUST-9001", params={"month": "2026-13"})
        unknown = http.get("/api/prebill/CUST-0", params={"month": "2026-11"})
        bad_body = http.post(
            "/api/prebill/CUST-9001/approve", json={"month": "Nov", "expected_total": 1.5}
        )
    assert bad.status_code == 422 and "month" in bad.text
    # A month the pattern lets through but no calendar has (the fuzz test found a 500 here).
    for month in ("0000-01", "9999-12"):
        for path in ("/api/prebill", "/api/prebill/CUST-9001"):
            with api(site, Role.FINANCE) as http:
                answer = http.get(path, params={"month": month})
            assert answer.status_code == 422 and "year must be 2000 to 2999" in answer.text
    assert unknown.status_code == 404 and "CUST-0" in unknown.json()["detail"]
    assert bad_body.status_code == 422
    fields = {problem["field"] for problem in bad_body.json()["problems"]}
    assert fields == {"month", "expected_total"}


def test_only_finance_and_admin_approve_and_the_refusal_is_audited(site: ServedStore) -> None:
    with api(site, Role.FINANCE) as http:
        total = http.get("/api/prebill/CUST-9001", params={"month": "2026-11"}).json()["total"]
    with api(site, Role.MANAGER) as http:
        refused = http.post(
            "/api/prebill/CUST-9001/approve",
            json={"month": "2026-11", "expected_total": total, "reason": "looks right"},
        )
    assert refused.status_code == 403 and "finance" in refused.json()["detail"]
    with api(site, Role.FINANCE) as http:
        stale = http.post(
            "/api/prebill/CUST-9001/approve", json={"month": "2026-11", "expected_total": "1.00"}
        )
        approved = http.post(
            "/api/prebill/CUST-9001/approve",
            json={"month": "2026-11", "expected_total": total, "reason": "checked"},
        )
        finalized = http.post(
            "/api/prebill/CUST-9001/finalize", json={"month": "2026-11", "reason": "month end"}
        )
        again = http.post("/api/prebill/CUST-9001/finalize", json={"month": "2026-11"})
        after = http.get("/api/prebill/CUST-9001", params={"month": "2026-11"}).json()
    assert stale.status_code == 409 and "look at it again" in stale.json()["detail"]
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["total"] == total and finalized.json()["invoice_ids"]
    assert again.status_code == 409 and "already finalized" in again.json()["detail"]
    assert after["state"] == "finalized"
    trail = [
        (entry.role, entry.action, entry.outcome)
        for entry in audit_trail(site.engine, "prebill:CUST-9001:2026-11")
    ]
    assert trail == [
        ("manager", "approve_prebill", "refused"),
        ("finance", "approve_prebill", "accepted"),
        ("finance", "finalize_prebill", "accepted"),
        ("finance", "finalize_prebill", "refused"),
    ]


def test_a_month_that_has_not_ended_is_not_finalized(site: ServedStore) -> None:
    with api(site, Role.ADMIN) as http:
        total = http.get("/api/prebill/CUST-9001", params={"month": "2026-12"}).json()["total"]
        http.post(
            "/api/prebill/CUST-9001/approve", json={"month": "2026-12", "expected_total": total}
        )
        refused = http.post("/api/prebill/CUST-9001/finalize", json={"month": "2026-12"})
    assert refused.status_code == 409
    assert "2026-12 has not ended in the book's timezone" in refused.json()["detail"]


def test_the_pages_show_customers_and_a_bad_month_readably(site: ServedStore) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as http:
        form = http.get("/login")
        login = {"token": site.token(Role.SUPPORT), "login_csrf": hidden(form.text, "login_csrf")}
        assert http.post("/login", data=login).status_code == 303
        listing = http.get("/prebill", params={"month": "2026-11"})
        page = http.get("/prebill/CUST-9001", params={"month": "2026-11"})
        bad = http.get("/prebill/CUST-9001", params={"month": "2026-13"})
    assert listing.status_code == 200 and "Acme Dental" in listing.text
    assert page.status_code == 200 and "T-1001" in page.text
    # Support reads, and may dispute a line, but neither holds one nor approves.
    assert "Dispute line" in page.text and "Hold line" not in page.text
    assert "Approve " not in page.text
    assert bad.status_code == 400 and "month:" in bad.text and "Traceback" not in bad.text
