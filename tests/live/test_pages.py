"""The pages over HTTP, on a real uvicorn, worker and dev server: login and sessions, CSRF on
every form, who may see the review queue, each queue action reaching the ticket, and help desk
text shown as text.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from api.pages import SESSION_COOKIE
from api.security import issue_signoff_link, secret, sign, unsign
from billing.reconciliation import Finding, FindingKind, Reconciliation
from billing.roles import Role
from devtools.dev_server import DevServer
from messages.ticket import RejectInput
from store.page_sessions import live_session
from store.reconciliation_records import save_reconciliation
from store.ticket_records import audit_trail, ticket_record
from store.tokens import issue_token, revoke_token
from tests.billing.builders import book_text, closed, disputed, logged, opened
from tests.live.api_server import ServedStack, post_login, served_stack
from tests.live.stack import BillingStack

REVIEW_BOOK = book_text(mode='"review"')
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture
async def site(dev_server: DevServer, dev_client: Client, tmp_path: Path) -> AsyncIterator[Any]:
    """Review mode: a ready ticket waits for finance instead of being posted."""
    async with served_stack(dev_server, dev_client, tmp_path, REVIEW_BOOK) as served:
        yield served


@asynccontextmanager
async def browser(served: ServedStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        yield http


async def log_in(http: httpx.AsyncClient, served: ServedStack, role: Role) -> str:
    """Log in as ``role``; the CSRF value the pages put in their forms."""
    response = await post_login(http, served.token(role))
    assert response.status_code == 303, response.text
    page = await http.get(response.headers["location"])
    assert page.status_code == 200, page.text
    return csrf_in(page.text)


def csrf_in(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def flash_in(html: str) -> str:
    match = re.search(r'id="flash">(.*?)</div>', html, re.S)
    return match.group(1) if match else ""


async def ticket_with_status(stack: BillingStack, ticket: str, status: str) -> None:
    """Wait until the review store (what the pages read) shows ``ticket`` in ``status``."""
    deadline = time.monotonic() + 20
    while True:
        record = ticket_record(stack.engine, ticket)
        if record is not None and record.status == status:
            return
        if time.monotonic() > deadline:
            shown = record.status if record else "no record"
            raise AssertionError(f"{ticket} never reached {status} in the store: {shown}")
        await asyncio.sleep(0.05)


async def hour_of_work(stack: BillingStack, name: str, status: str, **fields: Any) -> str:
    """A ticket with one hour of remote work (95.00), in ``status`` once rated."""
    ticket = stack.ticket(name)
    subject = fields.pop("subject", "Printer offline")
    await stack.send(
        opened(ticket_id=ticket, subject=subject),
        logged("te-1", fields.pop("minutes", 60), ticket_id=ticket, **fields),
        closed(ticket_id=ticket),
    )
    await ticket_with_status(stack, ticket, status)
    return ticket


# ---- login and sessions --------------------------------------------------------------------------


async def test_login_with_a_bad_token_fails_and_opens_no_session(site: ServedStack) -> None:
    async with browser(site) as http:
        response = await post_login(http, "hdb_not-a-token")
        assert response.status_code == 401
        assert "unknown or revoked API token" in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
        assert (await http.get("/exceptions")).headers["location"] == "/login"


async def test_a_login_posted_without_the_forms_csrf_value_is_refused(
    site: ServedStack,
) -> None:
    """Another site cannot log a person in as someone else: it can neither read the login
    form's value nor set its cookie."""
    async with browser(site) as http:
        bare = await http.post("/login", data={"token": site.token(Role.FINANCE)})
        assert bare.status_code == 403 and SESSION_COOKIE not in http.cookies
        await http.get("/login")  # the cookie is set, but the form's value is not known
        guessed = await http.post(
            "/login", data={"token": site.token(Role.FINANCE), "login_csrf": "0" * 32}
        )
        assert guessed.status_code == 403 and SESSION_COOKIE not in http.cookies


async def test_login_opens_a_signed_http_only_session_and_lands_by_role(
    site: ServedStack,
) -> None:
    async with browser(site) as http:
        response = await post_login(http, site.token(Role.FINANCE))
        assert (response.status_code, response.headers["location"]) == (303, "/review")
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        key = secret(site.settings, "signing_key")
        cookie = unsign(key, http.cookies[SESSION_COOKIE])
        # The cookie names the session; who it is and its CSRF value are the store's.
        assert set(cookie) == {"kind", "sid", "exp"} and cookie["kind"] == "session"
        assert abs(int(str(cookie["exp"])) - (time.time() + 12 * 3600)) < 60
        session = live_session(site.stack.engine, str(cookie["sid"]), datetime.now(UTC))
        assert session is not None
        assert (session.name, session.role) == ("finance-person", Role.FINANCE)
        assert re.fullmatch(r"[0-9a-f]{32}", session.csrf)
        page = await http.get("/review")
        assert csrf_in(page.text) == session.csrf
    async with browser(site) as http:
        response = await post_login(http, site.token(Role.SUPPORT))
        assert response.headers["location"] == "/exceptions"


@pytest.mark.parametrize("page", ["/review", "/exceptions", "/tickets/T-1"])
async def test_pages_without_a_valid_session_redirect_to_login(
    site: ServedStack, page: str
) -> None:
    key = secret(site.settings, "signing_key")
    expired = sign(
        key, {"kind": "session", "name": "x", "role": "admin", "csrf": "c", "exp": 1_000}
    )
    forged = sign(
        "another key",
        {"kind": "session", "name": "x", "role": "admin", "csrf": "c", "exp": 2**40},
    )
    # A signoff link is signed with the same key; it must not pass as a session.
    ttl = site.settings.signoff_link_ttl
    link = issue_signoff_link(site.stack.engine, key, "T-1", "someone", ttl)
    for cookie in (None, expired, forged, link, "garbage"):
        cookies = {SESSION_COOKIE: cookie} if cookie else {}
        async with httpx.AsyncClient(base_url=site.url, cookies=cookies) as http:
            response = await http.get(page)
            assert (response.status_code, response.headers.get("location")) == (303, "/login")


async def test_logout_ends_the_session(site: ServedStack) -> None:
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.SUPPORT)
        assert (await http.post("/logout", data={})).status_code == 403
        response = await http.post("/logout", data={"csrf": csrf})
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        assert SESSION_COOKIE not in http.cookies
        assert (await http.get("/exceptions")).headers["location"] == "/login"


async def test_revoking_the_token_ends_its_page_sessions_at_once(site: ServedStack) -> None:
    async with browser(site) as http:
        await log_in(http, site, Role.MANAGER)
        assert (await http.get("/exceptions")).status_code == 200
        assert revoke_token(site.stack.engine, f"{Role.MANAGER.value}-person")
        assert (await http.get("/exceptions")).headers["location"] == "/login"
        # A new token under the same name does not revive the old session either.
        site.tokens.pop(Role.MANAGER)
        site.token(Role.MANAGER)
        assert (await http.get("/exceptions")).headers["location"] == "/login"


# ---- CSRF and roles ----------------------------------------------------------------------------


async def test_a_post_without_or_with_a_wrong_csrf_is_refused(site: ServedStack) -> None:
    stack = site.stack
    ticket = await hour_of_work(stack, "csrf", "in_review")
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.FINANCE)
        forms = [
            (f"/review/{ticket}/approve", {"expected_total": "95.00"}),
            (f"/review/{ticket}/hold", {"reason": "checking"}),
            (f"/review/{ticket}/edit", {"source_id": "te-1", "quantity": "2", "reason": "x"}),
            ("/review/bulk-approve", {"ticket": ticket, f"total.{ticket}": "95.00"}),
            (f"/exceptions/{ticket}/rerate", {}),
            (f"/exceptions/{ticket}/signoff-link", {}),
        ]
        for path, data in forms:
            for wrong in ({}, {"csrf": "0" * 32}, {"csrf": csrf[:-1]}):
                response = await http.post(path, data={**data, **wrong})
                assert response.status_code == 403, (path, wrong)
        assert ticket_record(stack.engine, ticket).status == "in_review"
        assert audit_trail(stack.engine, ticket)[-1].action != "review"
        # The same form with the session's value goes through: the refusals were the CSRF.
        response = await http.post(
            f"/review/{ticket}/approve", data={"csrf": csrf, "expected_total": "95.00"}
        )
        assert response.status_code == 303
    await stack.settled(ticket)
    assert stack.ledger_total(ticket) == Decimal("95.00")


async def test_only_finance_and_admin_see_the_review_queue(site: ServedStack) -> None:
    ticket = await hour_of_work(site.stack, "roles", "in_review")
    for role in (Role.SUPPORT, Role.MANAGER, Role.OPERATOR):
        async with browser(site) as http:
            csrf = await log_in(http, site, role)
            page = await http.get("/review")
            assert page.status_code == 403 and ticket not in page.text
            assert 'href="/review"' not in page.text  # not in the nav either
            # Posting anyway is refused by the role check, which audits it.
            response = await http.post(
                f"/review/{ticket}/approve",
                data={"csrf": csrf, "expected_total": "95.00"},
                follow_redirects=True,
            )
            assert "refused" in flash_in(response.text)
    refused = [e for e in audit_trail(site.stack.engine, ticket) if e.outcome == "refused"]
    assert [entry.role for entry in refused] == ["support", "manager", "operator"]
    for role in (Role.FINANCE, Role.ADMIN):
        async with browser(site) as http:
            await log_in(http, site, role)
            page = await http.get("/review")
            assert page.status_code == 200 and f'data-ticket="{ticket}"' in page.text


# ---- the review queue --------------------------------------------------------------------------


async def test_review_queue_shows_lines_with_their_explanations_and_totals(
    site: ServedStack,
) -> None:
    ticket = await hour_of_work(site.stack, "lines", "in_review")
    async with browser(site) as http:
        await log_in(http, site, Role.FINANCE)
        page = (await http.get("/review")).text
    card = page[page.index(f'data-ticket="{ticket}"') :]
    assert "Printer offline: Work on te-1" in card
    assert re.search(
        r'<td class="num" data-label="Quantity">1\.00</td>\s*'
        r'<td class="num" data-label="Unit price">95\.00</td>',
        card,
    )
    assert '<ul class="why"><li>' in card
    assert 'name="expected_total" value="95.00"' in card
    assert "Approve 95.00" in card


async def test_finance_edits_a_line_holds_one_and_bulk_approves_the_rest(
    site: ServedStack,
) -> None:
    stack = site.stack
    edited, held, plain = [
        await hour_of_work(stack, name, "in_review") for name in ("edited", "held", "plain")
    ]
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.FINANCE)

        async def post(path: str, **data: Any) -> str:
            response = await http.post(path, data={"csrf": csrf, **data}, follow_redirects=True)
            assert response.status_code == 200
            return flash_in(response.text)

        flash = await post(f"/review/{edited}/edit", source_id="te-1", unit_price="80", reason="")
        assert "refused" in flash and "reason" in flash
        flash = await post(f"/review/{edited}/edit", source_id="te-1", reason="why not")
        assert "give a new quantity or unit price" in flash
        flash = await post(
            f"/review/{edited}/edit", source_id="te-1", unit_price="80", reason="agreed rate"
        )
        assert f"{edited}: accepted" in flash
        flash = await post(f"/review/{held}/hold", reason="customer asked to wait")
        assert f"{held}: accepted" in flash
        await ticket_with_status(stack, held, "held")
        page = (await http.get("/review")).text
        assert "Approve 80.00" in page and f'data-ticket="{held}"' not in page
        # Bulk approval asks first: how many tickets, what total; nothing is sent yet.
        tickets_and_totals = {
            "ticket": [edited, plain],
            f"total.{edited}": "80.00",
            f"total.{plain}": "95.00",
        }
        response = await http.post(
            "/review/bulk-approve", data={"csrf": csrf, **tickets_and_totals}
        )
        assert response.status_code == 200
        assert "Approve 2 tickets for 175.00 USD?" in response.text
        assert audit_trail(stack.engine, plain)[-1].action != "review"
        response = await http.post(
            "/review/bulk-approve", data={"csrf": csrf, "confirmed": "yes", **tickets_and_totals}
        )
        # Separation of duties: whoever edited a ticket's lines may not approve it.
        assert '<h1 id="bulk-summary">Approved 1 of 2</h1>' in response.text
        rows = {
            ticket: response.text[response.text.index(f'<tr data-ticket="{ticket}"') :]
            for ticket in (edited, plain)
        }
        rows = {ticket: row[: row.index("</tr>")] for ticket, row in rows.items()}
        assert "refused: separation of duties: finance-person edited" in rows[edited]
        assert "<td>in review</td>" in rows[edited]
        assert "accepted: approved total 95.00" in rows[plain]
        assert "<td>posted</td>" in rows[plain]  # its status after the approval, not before
        # The held one waits in the exception queue, for billing, with its way out.
        page = (await http.get("/exceptions?owner=billing")).text
        row = page[page.index(f'data-ticket="{held}"') :]
        assert "finance_hold" in row and "Approve in review 95.00" in row
    async with browser(site) as http:
        # Another person of finance approves the edited ticket.
        token = issue_token(stack.engine, "second-finance-person", Role.FINANCE)
        response = await post_login(http, token)
        csrf = csrf_in((await http.get(response.headers["location"])).text)
        response = await http.post(
            f"/review/{edited}/approve",
            data={"csrf": csrf, "expected_total": "80.00"},
            follow_redirects=True,
        )
        assert f"{edited}: accepted" in flash_in(response.text)
    for ticket in (edited, plain):
        await stack.settled(ticket)
    assert stack.ledger_total(edited) == Decimal("80.00")
    assert stack.ledger_total(plain) == Decimal("95.00")
    assert stack.ledger_lines(held) == []


async def test_a_stale_total_is_refused(site: ServedStack) -> None:
    ticket = await hour_of_work(site.stack, "stale", "in_review")
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.FINANCE)
        response = await http.post(
            f"/review/{ticket}/approve",
            data={"csrf": csrf, "expected_total": "90.00"},
            follow_redirects=True,
        )
    assert "refused" in flash_in(response.text) and "95.00" in flash_in(response.text)
    assert site.stack.ledger_lines(ticket) == []


# ---- the exception queue -----------------------------------------------------------------------


async def test_exception_queue_filters_by_owner_and_offers_what_clears_each_reason(
    site: ServedStack,
) -> None:
    stack = site.stack
    no_time = stack.ticket("no-time")
    await stack.send(opened(ticket_id=no_time), closed(ticket_id=no_time))
    dispute = stack.ticket("dispute")
    await stack.send(
        opened(ticket_id=dispute),
        logged("te-1", 60, ticket_id=dispute),
        disputed(ticket_id=dispute),
        closed(ticket_id=dispute),
    )
    big = await hour_of_work(stack, "big", "awaiting_approval", minutes=11 * 60)
    onsite = await hour_of_work(stack, "onsite", "awaiting_approval", work_type="onsite")
    await ticket_with_status(stack, no_time, "held")
    await ticket_with_status(stack, dispute, "held")
    expected = {
        no_time: ("support", "mark-non-billable"),
        dispute: ("manager", "resolve-dispute"),
        big: ("manager", "approve"),
        onsite: ("customer", "signoff-link"),
    }
    async with browser(site) as http:
        await log_in(http, site, Role.ADMIN)
        page = (await http.get("/exceptions")).text
        for ticket, (owner, remedy) in expected.items():
            row = page[page.index(f'data-ticket="{ticket}"') :]
            row = row[: row.index("</tr>")]
            assert f'<td data-label="Owner">{owner}</td>' in row
            assert f'data-remedy="{remedy}"' in row
            assert f'href="/tickets/{ticket}"' in row
        for owner in ("support", "manager", "customer", "billing"):
            shown = (await http.get(f"/exceptions?owner={owner}")).text
            for ticket, (ticket_owner, _) in expected.items():
                assert (f'data-ticket="{ticket}"' in shown) == (ticket_owner == owner)
    async with browser(site) as http:
        await log_in(http, site, Role.SUPPORT)
        page = (await http.get("/exceptions")).text
        assert 'data-remedy="mark-non-billable"' in page
        assert 'data-remedy="resolve-dispute"' not in page  # a manager's, shown as text
        assert "Resolve dispute: for admin, manager" in page


async def test_each_exception_offers_the_whole_action_that_clears_it(site: ServedStack) -> None:
    """Issue 15: a rejected ticket offered only Rerate; "adjust" on a dispute had no line fields
    and was refused; sensitive text offered a Rerate that cannot clear it."""
    stack = site.stack
    dispute, rejected = stack.ticket("adjust"), stack.ticket("rejected")
    await stack.send(
        opened(ticket_id=dispute),
        logged("te-1", 60, ticket_id=dispute),
        disputed(ticket_id=dispute),
        closed(ticket_id=dispute),
    )
    await ticket_with_status(stack, dispute, "held")
    await hour_of_work(stack, "rejected", "awaiting_approval", minutes=11 * 60)
    await stack.signal(rejected, "reject", RejectInput("max", "manager", "too many hours"))
    await ticket_with_status(stack, rejected, "held")
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.MANAGER)
        page = (await http.get("/exceptions?owner=manager")).text
        row = page[page.index(f'data-ticket="{dispute}"') :]
        row = row[: row.index("</tr>")]
        assert 'name="source_id"' in row and '<option value="te-1">' in row
        assert 'name="quantity"' in row and 'name="unit_price"' in row
        response = await http.post(
            f"/exceptions/{dispute}/resolve-dispute",
            data={
                "csrf": csrf,
                "outcome": "adjust",
                "source_id": "te-1",
                "quantity": "0.5",
                "unit_price": "",
                "reason": "half an hour was ours",
            },
            follow_redirects=True,
        )
        assert f"{dispute}: accepted: dispute resolved: adjust" in flash_in(response.text)
        page = (await http.get("/exceptions?owner=support")).text
        row = page[page.index(f'data-ticket="{rejected}"') :]
        row = row[: row.index("</tr>")]
        assert 'data-remedy="approve"' in row and "Approve anyway" in row
        # The book's name beside the help desk's id.
        assert '<td data-label="Customer">Acme (org-1)</td>' in row
        ticket_page = (await http.get(f"/tickets/{rejected}")).text
        assert '<span class="muted">Acme (org-1)</span>' in ticket_page
        response = await http.post(
            f"/exceptions/{rejected}/approve",
            data={"csrf": csrf, "expected_total": "1045.00", "reason": "agreed after all"},
            follow_redirects=True,
        )
        assert f"{rejected}: accepted: approved total 1045.00" in flash_in(response.text)


async def test_the_home_page_shows_what_waits_for_each_role(site: ServedStack) -> None:
    """`/` was a 404. Now each person sees their own queues: count, total in the book's
    currency and the oldest wait, each linking to the queue's page."""
    stack = site.stack
    await hour_of_work(stack, "home-big", "awaiting_approval", minutes=11 * 60)
    await hour_of_work(stack, "home-onsite", "awaiting_approval", work_type="onsite")
    async with browser(site) as http:
        assert (await http.get("/")).headers["location"] == "/login"
        await log_in(http, site, Role.MANAGER)
        page = (await http.get("/")).text
        manager = page[page.index('data-queue="manager"') :]
        manager = manager[: manager.index("</tr>")]
        assert 'href="/exceptions?owner=manager"' in manager
        assert (
            '<td class="num" data-label="Tickets">1</td>' in manager and "1,045.00 USD" in manager
        )
        customer = page[page.index('data-queue="customer"') :]
        assert "95.00 USD" in customer[: customer.index("</tr>")]
        assert 'data-queue="support"' not in page and 'data-queue="billing"' not in page
    async with browser(site) as http:
        await log_in(http, site, Role.SUPPORT)
        page = (await http.get("/")).text
        support = page[page.index('data-queue="support"') :]
        assert '<td class="num" data-label="Tickets">0</td>' in support[: support.index("</tr>")]
        assert 'data-queue="manager"' not in page


async def test_support_marks_non_billable_and_a_manager_sends_a_signoff_link(
    site: ServedStack,
) -> None:
    stack = site.stack
    no_time = stack.ticket("nb")
    await stack.send(opened(ticket_id=no_time), closed(ticket_id=no_time))
    await ticket_with_status(stack, no_time, "held")
    onsite = await hour_of_work(stack, "onsite", "awaiting_approval", work_type="onsite")
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.SUPPORT)
        response = await http.post(
            f"/exceptions/{no_time}/mark-non-billable",
            data={"csrf": csrf, "reason": "warranty call", "owner": "support"},
        )
        assert response.headers["location"].startswith("/exceptions?owner=support&flash=")
        page = await http.get(response.headers["location"])
        assert f"{no_time}: accepted" in flash_in(page.text)
        # Support may not sign off, so it may not hold the customer's credential either.
        response = await http.post(
            f"/exceptions/{onsite}/signoff-link", data={"csrf": csrf}, follow_redirects=True
        )
        assert "may not send signoff links" in flash_in(response.text)
    await stack.settled(no_time)
    assert (await stack.state(no_time)).status == "no_charge"
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.MANAGER)
        response = await http.post(f"/exceptions/{onsite}/signoff-link", data={"csrf": csrf})
        assert response.status_code == 200  # shown at once: the link never rides in a URL
        match = re.search(r'<code id="signoff-url">([^<]+)</code>', response.text)
        assert match and match.group(1).startswith(f"{site.url}/signoff/")
    async with httpx.AsyncClient(timeout=30) as customer:  # the customer's own browser
        signoff = await customer.get(match.group(1))
        assert signoff.status_code == 200 and "I accept these charges" in signoff.text
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.FINANCE)  # finance may not send signoff links
        response = await http.post(
            f"/exceptions/{onsite}/signoff-link", data={"csrf": csrf}, follow_redirects=True
        )
        assert "may not send signoff links" in flash_in(response.text)


# ---- the ticket page, and help desk text as text -------------------------------------------------


async def test_ticket_page_shows_lines_why_status_audit_and_the_workflow(
    site: ServedStack,
) -> None:
    ticket = await hour_of_work(site.stack, "page", "in_review")
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.FINANCE)
        await http.post(f"/review/{ticket}/hold", data={"csrf": csrf, "reason": "ask Ana"})
        await ticket_with_status(site.stack, ticket, "held")
        page = (await http.get(f"/tickets/{ticket}")).text
        missing = await http.get("/tickets/no-such-ticket")
    assert '<strong id="status">held</strong>' in page
    assert "finance_hold" in page and "ask Ana" in page
    assert "Printer offline: Work on te-1" in page and '<ul class="why"><li>' in page
    assert "Finance hold" in page  # the approvals table
    assert f"/workflows/ticket-{ticket}" in page
    assert '<td data-label="Action">review</td><td data-label="Outcome">accepted</td>' in page
    assert missing.status_code == 404 and "unknown" in missing.text


async def test_help_desk_text_is_shown_as_text(site: ServedStack) -> None:
    stack = site.stack
    script = "<script>alert(1)</script>"
    ticket = await hour_of_work(
        stack, "xss", "in_review", subject=f"Printer {script}", note=f"Fixed {script}"
    )
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.FINANCE)
        pages = [(await http.get("/review")).text]
        await http.post(f"/review/{ticket}/hold", data={"csrf": csrf, "reason": f"hm {script}"})
        await ticket_with_status(stack, ticket, "held")
        pages += [(await http.get(path)).text for path in ("/exceptions", f"/tickets/{ticket}")]
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for page in pages:
        assert script not in page
    assert escaped in pages[0] and escaped in pages[2]  # the lines' descriptions
    assert f"hm {escaped}" in pages[2]  # the hold reason in the audit trail


async def test_a_flash_from_elsewhere_is_not_shown(site: ServedStack) -> None:
    forged = sign("not our key", {"kind": "flash", "msg": "Paste your token at evil", "ok": True})
    async with browser(site) as http:
        await log_in(http, site, Role.ADMIN)
        for query in (f"flash={forged}", "msg=Paste+your+token+at+evil&ok=1"):
            page = (await http.get(f"/exceptions?{query}")).text
            assert "evil" not in page and 'id="flash"' not in page


# ---- the reconciliation banner -------------------------------------------------------------------


async def test_pages_show_a_banner_when_the_last_reconciliation_found_differences(
    site: ServedStack,
) -> None:
    async with browser(site) as http:
        await log_in(http, site, Role.SUPPORT)
        assert 'id="alert"' not in (await http.get("/exceptions")).text
        start = datetime(2026, 11, 24, tzinfo=UTC)
        found = Reconciliation(start, start + timedelta(days=1), datetime.now(UTC))
        found.findings.append(
            Finding(FindingKind.LINES_WITHOUT_TICKET, "T-9", "CUST-1", "lines", Decimal("1.00"))
        )
        save_reconciliation(site.stack.engine, "reconcile-daily:test", found, tickets=3)
        page = (await http.get("/exceptions")).text
        assert 'id="alert"' in page and "found 1 difference" in page and "2026-11-24" in page
