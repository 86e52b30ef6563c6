"""The pages people work from: log in with an API token, the billing review queue (finance),
the exception queue (whoever clears holds and approvals), and one ticket in full.

Server-rendered, no JavaScript needed. A session is a row in the store (store/page_sessions.py)
whose id the cookie carries, signed: each page reads the row, so logging out ends the session on
the server (a copied cookie stops working), and revoking the token ends its sessions at once. A
session expires after ``SESSION_TTL``. Every form carries the session's CSRF value and every
POST checks it. A form post's outcome comes back as a flash: one of the fixed templates of
api/flashes.py, kept for the session, its id in the redirect. Log-ins are throttled
(api/throttle.py). Decisions go through the API's own ``decide``, so a page refuses, audits and
reports exactly what the API would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine

from api import throttle
from api import tickets as api_tickets
from api.context import context_of, wall_clock
from api.flashes import Flash, FlashTemplate, flash, stored
from api.security import (
    SESSION_TTL,
    Principal,
    Unauthorized,
    authenticate,
    same_secret,
    sign,
    unsign,
)
from api.templating import templates
from billing.book import BillingBook
from billing.decisions import Decision
from billing.holds import ExceptionCode
from billing.money import for_people, format_decimal, integer_cents
from billing.numbers import exact_decimal
from billing.period_lock import LOCKED_PERIOD_ADJUSTMENT
from billing.problems import describe, key_path
from billing.roles import ALLOWED, Action, Role
from connectors.helpdesk_links import helpdesk_ticket_url
from messages.ticket import Approvals, BillingStatus, NextActor
from messages.views import TicketBillingView
from settings import Settings
from store.alert_history import recent_alerts
from store.database import as_utc
from store.decision_requests import DECISION_ALERTS
from store.models import TicketRecord
from store.page_sessions import end_session, live_session, open_session, read_flash, save_flash
from store.queue_pages import SORTS, QueueFilter, QueuePage, matching_records, queue_page
from store.reconciliation_records import latest_alert
from store.reports import EARLIEST_DAY, LATEST_DAY
from store.sync_health import alerts_since
from store.ticket_records import audit_trail, queue_totals, ticket_record
from store.tokens import STAFF_ROLES
from usecases.queues import age_text, chargeable_total, queue_owner, waiting_reason
from usecases.tickets import VIEW
from workflows.assessment import CUSTOMER_CHANGED, FINANCE_HOLD, REJECTED

router = APIRouter(tags=["pages"], include_in_schema=False)

SESSION_COOKIE = "hdb_session"
REVIEW_ROLES = frozenset({Role.FINANCE, Role.ADMIN})
# The reports page (api/report_pages.py) shows money: not for support.
REPORT_ROLES = frozenset({Role.FINANCE, Role.MANAGER, Role.OPERATOR, Role.ADMIN})
# The customer ledgers (api/customer_pages.py): invoices and credits, for those who bill.
LEDGER_ROLES = frozenset({Role.FINANCE, Role.MANAGER, Role.ADMIN})
# The outbox (api/notification_pages.py): what was sent to whom, for those who run the service.
OUTBOX_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})
# The home page lists this many of the latest alerts the banner draws from.
RECENT_ALERTS = 10
OWNERS = ("support", "manager", "billing", "customer")
EXCEPTION_STATUSES = [BillingStatus.HELD.value, BillingStatus.AWAITING_APPROVAL.value]
# A session lives by the wall clock, as its cookie's signed expiry does; the app's clock
# (``context.now``) is the pages' "today", which tests move by months. A flash is shown by the
# page a form post redirects to, and on a reload soon after (by the app's clock).
FLASH_TTL = timedelta(minutes=5)
STORE_WAIT_SECONDS = 3.0
# The systems whose calls the sync-health check counts (its alerts' banner).
SYNCED = ("helpdesk", "billing")
LOGIN_COOKIE = "hdb_login"
LOGIN_FORM_SECONDS = 600


# ---- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    csrf: str
    session_id: str  # the secret the cookie carries: it finds the row, and the session's flashes


def read_session(request: Request) -> Session | None:
    """The signed-in person, or None: no cookie, a forged or expired one, or one whose session
    has ended (logged out) or whose token was revoked."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    context = context_of(request)
    try:
        payload = unsign(context.signing_key, value)
    except Unauthorized:
        return None
    session_id = payload.get("sid")
    # The same key signs signoff links: only a value signed as a session counts.
    if payload.get("kind") != "session" or not isinstance(session_id, str) or not session_id:
        return None
    found = live_session(context.engine, session_id, wall_clock())
    if found is None or found.role not in STAFF_ROLES:
        return None
    return Session(Principal(found.name, found.role, found.token_id), found.csrf, session_id)


def _session_cookie(request: Request, session_id: str) -> str:
    expires = int(datetime.now(UTC).timestamp() + SESSION_TTL.total_seconds())
    return sign(
        context_of(request).signing_key, {"kind": "session", "sid": session_id, "exp": expires}
    )


def _guard(request: Request, csrf: str | None) -> Session | Response:
    """The session of a form post, or the response that ends it: the login page without a
    session, 403 when the form's CSRF value is not the session's."""
    session = read_session(request)
    if session is None:
        return _to_login()
    if not same_secret(csrf or "", session.csrf):
        return _error(request, session, "The form has expired or did not come from us.", 403)
    return session


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def _home(role: Role) -> str:
    return "/review" if role in REVIEW_ROLES else "/exceptions"


# ---- flash messages ----------------------------------------------------------------------------


def _back(
    request: Request,
    session: Session,
    path: str,
    message: Flash,
    queue_view: str = "",
    **query: str,
) -> RedirectResponse:
    """Redirect (303) to ``path`` with a flash: kept in the store for this session, only its id
    in the URL, so a link from elsewhere cannot put its own words on our pages. ``queue_view``:
    the queue's filter, sort and page as the form that acted carried them (its ``back`` field),
    so the person comes back to the list they were working, not the whole queue."""
    context = context_of(request)
    flash_id = save_flash(
        context.engine,
        session.session_id,
        message.template.value,
        message.values,
        message.ok,
        context.now(),
        FLASH_TTL,
    )
    kept = {**_queue_view(queue_view), **{key: value for key, value in query.items() if value}}
    return RedirectResponse(f"{path}?{urlencode({**kept, 'flash': flash_id})}", status_code=303)


# The query parameters a queue's view is made of (QueueQuery's fields): only these come back
# from a form's ``back`` field, each bounded, so a form cannot steer the redirect elsewhere.
QUEUE_VIEW_KEYS = frozenset(
    {"q", "sort", "page", "min_total", "max_total", "status", "owner"}
    | {"customer", "technician", "closed_from", "closed_to", "age"}
)


def _queue_view(text: str) -> dict[str, str]:
    return {
        key: value[:200]
        for key, value in parse_qsl(text[:2000])
        if key in QUEUE_VIEW_KEYS and value
    }


def _read_flash(request: Request, session: Session | None) -> dict[str, Any] | None:
    flash_id = request.query_params.get("flash")
    if not flash_id or session is None:
        return None
    context = context_of(request)
    found = read_flash(context.engine, session.session_id, flash_id, context.now(), FLASH_TTL)
    shown = stored(found.template, found.values, found.ok) if found is not None else None
    return {"message": shown.text, "ok": shown.ok} if shown is not None else None


def _outcome(ticket_id: str, response: JSONResponse) -> Flash:
    """What ``decide`` answered, in words: ``T-1: accepted: approved total 95.00 (now ready)``."""
    answer = json.loads(bytes(response.body))
    status = f" (now {answer['status'].replace('_', ' ')})" if answer.get("status") else ""
    return flash(
        FlashTemplate.DECISION,
        response.status_code == 200,
        ticket=ticket_id,
        outcome=answer["outcome"],
        detail=answer["detail"],
        status=status,
    )


# ---- rendering ---------------------------------------------------------------------------------


def _render(
    request: Request,
    template: str,
    session: Session | None,
    http_status: int = 200,
    **values: Any,
) -> HTMLResponse:
    context = {
        "me": session.principal if session else None,
        "csrf": session.csrf if session else "",
        "may_review": session is not None and session.principal.role in REVIEW_ROLES,
        "may_report": session is not None and session.principal.role in REPORT_ROLES,
        "may_see_customers": session is not None and session.principal.role in LEDGER_ROLES,
        "may_see_outbox": session is not None and session.principal.role in OUTBOX_ROLES,
        "flash": _read_flash(request, session),
        # The banner: the last reconciliation found what finance must look at.
        "alert": latest_alert(
            context_of(request).engine,
            context_of(request).settings.reconciliation_alert_findings,
        )
        if session is not None
        else None,
        # Sync alerts of the last day: calls to the help desk or billing failing, or odd volume.
        "sync_alerts": alerts_since(
            context_of(request).engine, context_of(request).now() - timedelta(days=1), SYNCED
        )
        if session is not None
        else [],
        # Security alerts of the last day: log-ins or signoff links locked out, decisions sent
        # around the API and refused.
        "security_alerts": alerts_since(
            context_of(request).engine,
            context_of(request).now() - timedelta(days=1),
            [throttle.WEB_ALERTS, DECISION_ALERTS],
        )
        if session is not None
        else [],
        **values,
    }
    return templates.TemplateResponse(request, template, context, status_code=http_status)


def _error(request: Request, session: Session | None, message: str, status: int) -> HTMLResponse:
    return _render(request, "error.html", session, status, message=message, status_code=status)


def signed_in_as(request: Request, roles: frozenset[Role], refusal: str) -> Session | Response:
    """The session of a page open to ``roles``: the log-in page without one, a 403 page with
    ``refusal`` for another role."""
    session = read_session(request)
    if session is None:
        return _to_login()
    if session.principal.role not in roles:
        return _error(request, session, refusal, 403)
    return session


def _book(request: Request) -> BillingBook | None:
    """The billing book as it is now (None when it cannot be read): read once per page, not
    once per row (each read checks the file)."""
    book, _ = context_of(request).book.current()
    return book


def _currency(book: BillingBook | None) -> str:
    return book.book.currency if book is not None else ""


def _customer_label(book: BillingBook | None, customer_id: str | None) -> str:
    """A customer as people know it: the book's name and the help desk's id ("Acme Dental
    (org-100)"); the id alone for a customer the book does not know (or no book)."""
    if not customer_id:
        return ""
    customer = book.customer(customer_id) if book is not None else None
    return f"{customer.name} ({customer_id})" if customer is not None else customer_id


def _money(value: Decimal | None) -> str:
    return format_decimal(value) if value is not None else ""


def _when(moment: datetime | None) -> str:
    return f"{as_utc(moment):%Y-%m-%d %H:%M} UTC" if moment else ""


def _lines(view: TicketBillingView | None) -> list[dict[str, Any]]:
    if view is None or view.rating is None:
        return []
    return [
        {
            "source_id": line.source_id,
            "description": line.description,
            "quantity": format_decimal(line.quantity),
            "unit_price": format_decimal(line.unit_price),
            "amount": format_decimal(line.amount),
            "coverage": line.coverage.value.replace("_", " ") if line.coverage else "",
            "charged": line.is_charged,
            "explanation": list(line.explanation),
        }
        for line in view.rating.lines
    ]


def _stored_view(record: TicketRecord) -> TicketBillingView | None:
    """The view the workflow last recorded: the queues show it without a Temporal query."""
    try:
        return VIEW.validate_json(record.detail_json)
    except ValidationError:
        return None


# ---- login -------------------------------------------------------------------------------------


def _login_form(request: Request, status: int = 200, problem: str = "") -> Response:
    """The login page, with a fresh pre-session CSRF value in a cookie and in the form: a
    login posted from another site (which cannot read either) is refused, so nobody can be
    logged in as someone else behind their back."""
    value = secrets.token_hex(16)
    response = _render(request, "login.html", None, status, problem=problem, login_csrf=value)
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        max_age=LOGIN_FORM_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=context_of(request).settings.secure_cookies,
    )
    return response


# ---- home --------------------------------------------------------------------------------------

# The queues each role works, in the order they are shown; admins and operators see them all.
MY_QUEUES: dict[Role, tuple[str, ...]] = {
    Role.SUPPORT: ("support",),
    Role.MANAGER: ("manager", "customer"),
    Role.FINANCE: ("billing",),
}
ALL_QUEUES = ("billing", "manager", "support", "customer")
QUEUE_LABELS = {
    "billing": ("Billing: finance review and billing holds", "/review"),
    "manager": ("Manager: approvals and disputes", "/exceptions?owner=manager"),
    "support": (
        "Support: tickets to correct (no time, a rejected total, a note to redact)",
        "/exceptions?owner=support",
    ),
    "customer": ("Customers: waiting for their signoff", "/exceptions?owner=customer"),
}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home_page(request: Request) -> Response:
    """What waits for the signed-in person: each of their queues with its count, total and
    oldest wait (one aggregate query), the alerts of the day (the banner), the latest alerts
    with their times (the banner's sources, further back), and the pages."""
    session = read_session(request)
    if session is None:
        return _to_login()
    context = context_of(request)
    currency = _currency(_book(request))
    totals = {total.owner: total for total in queue_totals(context.engine)}
    now = context.now()
    queues = []
    for owner in MY_QUEUES.get(session.principal.role, ALL_QUEUES):
        label, link = QUEUE_LABELS[owner]
        total = totals.get(owner)
        cents = total.chargeable_cents if total else 0
        queues.append(
            {
                "owner": owner,
                "label": label,
                "link": link,
                "tickets": f"{total.tickets:,}" if total else "0",
                "total": _amount(cents, currency),
                "oldest": age_text(now - total.oldest_since)
                if total and total.oldest_since
                else "",
            }
        )
    # The banner's sources, shown to whoever the banner shows them to: every signed-in person.
    alerts = recent_alerts(
        context.engine,
        [*SYNCED, throttle.WEB_ALERTS, DECISION_ALERTS],
        context.settings.reconciliation_alert_findings,
        RECENT_ALERTS,
    )
    return _render(
        request,
        "home.html",
        session,
        queues=queues,
        recent_alerts=[
            {"at": _when(alert.at), "source": alert.source, "message": alert.message}
            for alert in alerts
        ],
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    session = read_session(request)
    if session is not None:
        return RedirectResponse(_home(session.principal.role), status_code=303)
    return _login_form(request)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: str = Form(""), login_csrf: str = Form("")) -> Response:
    context = context_of(request)
    attempt = throttle.login_attempt(request, token)
    wait = throttle.retry_after(request, attempt)
    if wait is not None:
        response = _login_form(request, 429, _too_many(wait))
        response.headers["Retry-After"] = str(wait)
        return response
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not same_secret(login_csrf, expected):
        return _login_form(request, 403, "The login form has expired; please log in again.")
    try:
        principal = authenticate(context.engine, token.strip())
    except Unauthorized as error:
        throttle.failed(request, attempt)
        return _login_form(request, 401, str(error))
    assert principal.token_id is not None  # a token from the store has its id
    session_id, _ = open_session(
        context.engine,
        principal.token_id,
        principal.name,
        principal.role,
        wall_clock(),
        SESSION_TTL,
    )
    response = RedirectResponse(_home(principal.role), status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    response.set_cookie(
        SESSION_COOKIE,
        _session_cookie(request, session_id),
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=context.settings.secure_cookies,
    )
    return response


def _too_many(wait_seconds: int) -> str:
    minutes = max(1, -(-wait_seconds // 60))
    return (
        "Too many failed log-ins from your address or with this token: try again in "
        f"{minutes} minute{'' if minutes == 1 else 's'}."
    )


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    """End the session on the server, not just in this browser: a copy of the cookie is
    refused from now on, wherever it is sent from."""
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    context = context_of(request)
    end_session(context.engine, session.session_id, wall_clock())
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- the queues' filter, sort and page ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """A queue's filter, sort and page, as its form and links carry them (text as typed: the
    page reads and checks it, so a bad value is a message naming its field)."""

    owner: str = ""
    q: str = ""
    sort: str = "age"
    page: int = 1
    min_total: str = ""
    max_total: str = ""
    path: str = "/exceptions"
    status: str = ""  # the ticket list's status filter (empty: every status)
    customer: str = ""  # a help desk customer id
    technician: str = ""  # someone who logged time on the ticket
    closed_from: str = ""  # YYYY-MM-DD, a day in the book's timezone
    closed_to: str = ""  # inclusive
    age: str = ""  # waiting at least this many days

    @property
    def view(self) -> str:
        """This view's query string (filter, sort, page): a row's forms carry it back, so an
        action returns to the same list (``_back``)."""
        return self.link().partition("?")[2]

    @property
    def filtered(self) -> bool:
        """Whether a filter narrows the queue (an empty page then says "that matches")."""
        narrowing = (self.q, self.customer, self.technician, self.closed_from, self.closed_to)
        return any((*narrowing, self.age, self.min_total, self.max_total))

    def link(self, **changes: Any) -> str:
        """This queue's URL with ``changes`` (another page): defaults are left out."""
        values = {**dataclasses.asdict(self), **changes}
        # The sort always rides along: each page has its own default (the queues oldest
        # first, the ticket list newest first).
        kept = {
            name: value
            for name, value in values.items()
            if name != "path" and value != "" and not (name == "page" and value == 1)
        }
        return self.path + (f"?{urlencode(kept)}" if kept else "")


SORT_LABELS = {
    "age": "oldest first",
    "newest": "newest first",
    "total": "largest total first",
    "ticket": "ticket id",
    "customer": "customer",
}
MAX_AGE_DAYS = 3650


def queue_query(default_sort: str) -> Callable[..., QueueQuery]:
    """The query parameters every queue page takes (search, sort, page, total range, customer,
    technician, close days, age), bounded, as a route dependency; ``default_sort`` is the
    page's own order. Dates and the age arrive as text: ``_queue_filter`` reads them, so a bad
    one is a message on the page naming its field."""

    def read(
        q: str = Query("", max_length=200),
        sort: str = Query(default_sort, max_length=20),
        page: int = Query(1, ge=1, le=1_000_000),
        min_total: str = Query("", max_length=40),
        max_total: str = Query("", max_length=40),
        customer: str = Query("", max_length=100),
        technician: str = Query("", max_length=100),
        closed_from: str = Query("", max_length=20),
        closed_to: str = Query("", max_length=20),
        age: str = Query("", max_length=10),
    ) -> QueueQuery:
        return QueueQuery(
            q=q.strip(),
            sort=sort,
            page=page,
            min_total=min_total.strip(),
            max_total=max_total.strip(),
            customer=customer.strip(),
            technician=technician.strip(),
            closed_from=closed_from.strip(),
            closed_to=closed_to.strip(),
            age=age.strip(),
        )

    return read


# ---- billing review queue ----------------------------------------------------------------------


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, query: QueueQuery = Depends(queue_query("age"))) -> Response:
    """The billing review queue, 50 tickets a page, filtered, searched and sorted like the
    exception queue."""
    session = read_session(request)
    if session is None:
        return _to_login()
    if session.principal.role not in REVIEW_ROLES:
        return _error(request, session, "The billing review queue is for finance and admin.", 403)
    query = dataclasses.replace(query, path="/review")
    book = _book(request)
    found = _queue_page(request, query, book, (BillingStatus.IN_REVIEW.value,))
    if isinstance(found, str):
        return _error(request, session, found, 422)
    now = context_of(request).now()
    items = [_review_item(record, now, book) for record in found.records]
    return _render(
        request,
        "review.html",
        session,
        items=items,
        bulk_matching=dataclasses.replace(query, path="/review/bulk-approve-matching").link(),
        bulk_limit=BULK_LIMIT,
        **_queue_values(query, found, book),
    )


def _review_item(record: TicketRecord, now: datetime, book: BillingBook | None) -> dict[str, Any]:
    view = _stored_view(record)
    rated = view is not None and view.rating is not None
    total = _approvable_total(record, view)
    return {
        "ticket_id": record.ticket_id,
        "customer_id": record.customer_id or "",
        "customer": _customer_label(book, record.customer_id),
        "age": age_text(now - as_utc(record.status_since)),
        "lines": _lines(view),
        "rated": rated,
        "total": _money(total),  # plain: the forms send it back as the amount approved
        "shown": for_people(total, _currency(book)),  # for people: 1,200.00 USD
    }


def _approvable_total(record: TicketRecord, view: TicketBillingView | None) -> Decimal:
    """The total a ticket in review is approved at: its recorded rating's. The workflow refuses
    an approval at any other total, so a ticket re-rated since the page was drawn is not
    approved at a total nobody saw."""
    return view.rating.chargeable_total if view and view.rating else chargeable_total(record)


@router.post("/review/{ticket_id}/approve")
async def review_approve(
    ticket_id: str, request: Request, csrf: str = Form(""), expected_total: str = Form("")
) -> Response:
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    fields = {"action": "approve", "expected_total": expected_total or None}
    return await _review_decision(request, session, ticket_id, fields)


@router.post("/review/{ticket_id}/edit")
async def review_edit(
    ticket_id: str,
    request: Request,
    csrf: str = Form(""),
    source_id: str = Form(""),
    quantity: str = Form(""),
    unit_price: str = Form(""),
    reason: str = Form(""),
) -> Response:
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    if not quantity.strip() and not unit_price.strip():
        refusal = flash(FlashTemplate.NO_EDIT_VALUE, False, ticket=ticket_id)
        return _back(request, session, "/review", refusal, await _queue_view_posted(request))
    edit = {
        "source_id": source_id,
        "quantity": quantity.strip() or None,
        "unit_price": unit_price.strip() or None,
    }
    fields = {"action": "edit", "reason": reason.strip(), "line_edits": [edit]}
    return await _review_decision(request, session, ticket_id, fields)


@router.post("/review/{ticket_id}/hold")
async def review_hold(
    ticket_id: str, request: Request, csrf: str = Form(""), reason: str = Form("")
) -> Response:
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    fields = {"action": "hold", "reason": reason.strip()}
    return await _review_decision(request, session, ticket_id, fields)


async def _review_decision(
    request: Request, session: Session, ticket_id: str, fields: dict[str, Any]
) -> Response:
    outcome = await _send(request, session, ticket_id, "review", fields)
    return _back(request, session, "/review", outcome, await _queue_view_posted(request))


async def _queue_view_posted(request: Request) -> str:
    """The ``back`` field of the posted form (Starlette keeps the parsed form: no second read)."""
    return str((await request.form()).get("back", ""))


BULK_LIMIT = 500
# At most this many decisions in flight at once: each is a decision request written to the
# store, a signal to a ticket's workflow and a wait for its recorded outcome. Gathering 500 at
# once would open 500 store writes and Temporal calls together (SQLite serializes the writes;
# Temporal rate-limits a namespace), so the last ones would time out waiting; 16 keep the
# pipeline full without a stampede.
BULK_CONCURRENCY = 16
# How many matching exceptions "rerate all matching" reads to find those that wait for a
# rerate: more than this, and the filter is too wide to act on at once.
RERATE_SCAN_LIMIT = 5_000


@dataclass(frozen=True, slots=True)
class BulkAction:
    """One decision sent to many tickets of a queue, in two steps: a confirmation that states
    how many tickets and what total (nothing is sent), then each ticket's outcome and the
    status it is in now."""

    verb: str  # Approve, Rerate
    done: str  # Approved, Rerated
    confirm_path: str  # where the confirmation's form posts
    queue_path: str
    queue_name: str
    decision: str  # the API's decision (api/tickets.DECISIONS)
    roles: frozenset[Role]
    note: str  # under the confirmation's question: what each ticket gets

    def fields(self, total: str, reason: str) -> dict[str, Any]:
        """The decision's body for one ticket: an approval at the total shown, or a rerate."""
        if self.decision == "review":
            return {"action": "approve", "expected_total": total or None}
        return {"reason": reason} if reason else {}


APPROVE_IN_REVIEW = BulkAction(
    "Approve",
    "Approved",
    "/review/bulk-approve",
    "/review",
    "the review queue",
    "review",
    REVIEW_ROLES,
    "Each at the total shown; a ticket re-rated since is refused, not approved at another total.",
)
RERATE_HELD = BulkAction(
    "Rerate",
    "Rerated",
    "/exceptions/bulk-rerate",
    "/exceptions",
    "the exception queue",
    "rerate",
    ALLOWED[Action.RERATE],
    "Each is rated again with the book and the systems as they are now: a ticket whose cause "
    "is fixed moves on, one still held shows the reason found now.",
)


@router.post("/review/bulk-approve")
async def review_bulk_approve(request: Request) -> Response:
    """Approve each ticket ticked, at the total shown next to it, after a confirmation."""
    return await _bulk(request, APPROVE_IN_REVIEW)


@router.post("/exceptions/bulk-rerate")
async def exceptions_bulk_rerate(request: Request) -> Response:
    """Rerate each held ticket ticked (after the book, the billing system or the customer
    directory was fixed), after a confirmation."""
    return await _bulk(request, RERATE_HELD)


async def _bulk(request: Request, action: BulkAction) -> Response:
    """A bulk action's two steps on the tickets a form carries (ticked, or confirmed)."""
    # Two fields a ticket (its id and total) for up to BULK_LIMIT tickets, and a few more:
    # Starlette's default of 1,000 fields would refuse a confirmed batch of 500.
    form = await request.form(max_fields=2 * BULK_LIMIT + 10)
    session = _guard(request, str(form.get("csrf", "")))
    if isinstance(session, Response):
        return session
    if session.principal.role not in action.roles:
        return _error(request, session, _bulk_refusal(action), 403)
    chosen = list(dict.fromkeys(str(ticket_id) for ticket_id in form.getlist("ticket")))
    if not chosen:
        return _back(
            request, session, action.queue_path, flash(FlashTemplate.NOTHING_SELECTED, False)
        )
    if len(chosen) > BULK_LIMIT:
        return _error(request, session, _too_many_at_once(action, len(chosen)), 422)
    totals = {ticket_id: str(form.get(f"total.{ticket_id}") or "") for ticket_id in chosen}
    book = _book(request)
    engine = context_of(request).engine
    if form.get("confirmed") != "yes":
        records = {ticket_id: ticket_record(engine, ticket_id) for ticket_id in chosen}
        return _bulk_confirm(request, session, action, book, records, totals)
    reason = str(form.get("reason", "")).strip()
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def decide(ticket_id: str) -> Flash:
        async with gate:
            fields = action.fields(totals[ticket_id], reason)
            return await _send(request, session, ticket_id, action.decision, fields)

    answers = await asyncio.gather(*(decide(ticket_id) for ticket_id in chosen))
    currency = _currency(book)
    results = []
    for ticket_id, answer in zip(chosen, answers, strict=True):
        record = ticket_record(engine, ticket_id)
        results.append(
            {
                "ticket_id": ticket_id,
                "customer": _customer_label(book, record.customer_id if record else None),
                # An approval's total is the one approved; a rerate's, the one rated now.
                "total": _shown_total(totals[ticket_id], currency)
                if action.decision == "review" or record is None
                else for_people(chargeable_total(record), currency),
                "ok": answer.ok,
                # The outcome without the status the API saw at once (it may have moved on).
                "outcome": f"{answer.values['outcome']}: {answer.values['detail']}"
                if answer.template is FlashTemplate.DECISION
                else answer.text,
                # Read after the decisions: the status each ticket is in now, not before.
                "status": record.status.replace("_", " ") if record else "unknown",
            }
        )
    return _render(
        request,
        "bulk_result.html",
        session,
        action=action,
        results=results,
        approved=sum(answer.ok for answer in answers),
        count=len(answers),
        approved_total=_shown_total(
            str(_sum_totals(totals[t] for t, a in zip(chosen, answers, strict=True) if a.ok)),
            currency,
        ),
    )


@router.post("/review/bulk-approve-matching")
async def review_bulk_approve_matching(
    request: Request,
    csrf: str = Form(""),
    query: QueueQuery = Depends(queue_query("age")),
) -> Response:
    """Approve everything the review queue's filter matches (the filter in the query string,
    as the queue's own links carry it): the server finds the matching tickets, at most
    ``BULK_LIMIT``, and shows the same confirmation as a selection, whose form carries exactly
    those tickets and the totals shown; nothing is sent until it is confirmed, and a ticket
    whose total changed in between is refused, not approved at another total."""
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    if session.principal.role not in REVIEW_ROLES:
        return _error(request, session, _bulk_refusal(APPROVE_IN_REVIEW), 403)
    query = dataclasses.replace(query, path="/review")
    book = _book(request)
    wanted = _queue_filter(request, query, book, (BillingStatus.IN_REVIEW.value,))
    if isinstance(wanted, str):
        return _error(request, session, wanted, 422)
    engine = context_of(request).engine
    found = matching_records(engine, wanted, sort=query.sort, limit=BULK_LIMIT + 1)
    if not found:
        return _error(request, session, "No ticket in review matches this filter.", 422)
    if len(found) > BULK_LIMIT:
        return _error(
            request, session, _too_many_at_once(APPROVE_IN_REVIEW, len(found), more=True), 422
        )
    # The total each ticket's card shows (and its own Approve button sends).
    totals = {
        record.ticket_id: _money(_approvable_total(record, _stored_view(record)))
        for record in found
    }
    records: dict[str, TicketRecord | None] = {record.ticket_id: record for record in found}
    return _bulk_confirm(
        request, session, APPROVE_IN_REVIEW, book, records, totals, back=query.link()
    )


@router.post("/exceptions/bulk-rerate-matching")
async def exceptions_bulk_rerate_matching(
    request: Request,
    csrf: str = Form(""),
    owner: str = Query("", max_length=20),
    query: QueueQuery = Depends(queue_query("age")),
) -> Response:
    """Rerate every held ticket the exception queue's filter matches whose next step is a
    rerate (a missing rate or customer, a billing refusal: fixed elsewhere, then rated again);
    the rest the filter matches (disputes, approvals…) are left out and counted. The same
    confirmation as a selection first."""
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    if session.principal.role not in RERATE_HELD.roles:
        return _error(request, session, _bulk_refusal(RERATE_HELD), 403)
    query = dataclasses.replace(query, path="/exceptions", owner=owner)
    book = _book(request)
    owner = owner if owner in OWNERS else ""
    wanted = _queue_filter(request, query, book, tuple(EXCEPTION_STATUSES), owner)
    if isinstance(wanted, str):
        return _error(request, session, wanted, 422)
    engine = context_of(request).engine
    # Read past the cap: only the held tickets whose next step is a rerate count towards it.
    found = matching_records(engine, wanted, sort=query.sort, limit=RERATE_SCAN_LIMIT)
    held = [record for record in found if RERATE in remedies(record)]
    if not held:
        why = "No ticket the filter matches waits for a rerate."
        return _error(request, session, why, 422)
    if len(held) > BULK_LIMIT or len(found) == RERATE_SCAN_LIMIT:
        return _error(request, session, _too_many_at_once(RERATE_HELD, len(held), more=True), 422)
    totals = {record.ticket_id: _money(chargeable_total(record)) for record in held}
    records: dict[str, TicketRecord | None] = {record.ticket_id: record for record in held}
    return _bulk_confirm(
        request,
        session,
        RERATE_HELD,
        book,
        records,
        totals,
        back=query.link(),
        left_out=len(found) - len(held),
    )


def _bulk_refusal(action: BulkAction) -> str:
    roles = ", ".join(sorted(action.roles))
    return f"{action.verb} in bulk from {action.queue_name} is for {roles}."


def _too_many_at_once(action: BulkAction, count: int, more: bool = False) -> str:
    return (
        f"{'More than ' + str(BULK_LIMIT) if more else count} tickets: at most {BULK_LIMIT} "
        f"can be {action.done.lower()} at once. Narrow the filter (a customer, a close date, a "
        f"total range) and {action.verb.lower()} them in parts."
    )


def _bulk_confirm(
    request: Request,
    session: Session,
    action: BulkAction,
    book: BillingBook | None,
    records: dict[str, TicketRecord | None],
    totals: dict[str, str],
    back: str = "",
    left_out: int = 0,
) -> HTMLResponse:
    """The page that asks before a bulk action: how many tickets, the grand total, and each
    ticket with its customer and total; its form carries exactly these tickets and totals.
    ``left_out``: tickets the filter matched that this action does not apply to."""
    currency = _currency(book)
    tickets = [
        {
            "ticket_id": ticket_id,
            "total": total,  # as sent back: the plain decimal the ticket is approved at
            "shown": _shown_total(total, currency),
            "customer": _customer_label(book, record.customer_id) if record else "",
        }
        for ticket_id, total in totals.items()
        for record in [records.get(ticket_id)]
    ]
    return _render(
        request,
        "bulk_confirm.html",
        session,
        action=action,
        tickets=tickets,
        count=len(tickets),
        grand_total=_shown_total(str(_sum_totals(totals.values())), currency),
        back=back or action.queue_path,
        left_out=left_out,
    )


def _shown_total(text: str, currency: str) -> str:
    """A total from a form as people read it (``1,200.00 USD``); text that is not an amount
    as it came (the ticket refuses it)."""
    try:
        return _amount(integer_cents(exact_decimal(text)), currency)
    except ValueError:
        return text


def _sum_totals(totals: Iterable[str]) -> Decimal:
    """The total of the amounts shown (each a decimal string the page wrote; anything else, a
    form changed by hand, counts as nothing here and is refused by the ticket)."""
    total = Decimal(0)
    for text in totals:
        try:
            value = Decimal(text)
        except ArithmeticError:
            continue
        if value.is_finite():
            total += value
    return total


def _form_fields(form: Any, name: str) -> dict[str, str]:
    """The filled-in fields of a posted form that decision ``name``'s body takes."""
    model: type[BaseModel] = api_tickets.DECISIONS[name][1]
    return {
        field: str(form[field]).strip()
        for field in model.model_fields
        if field in form and str(form[field]).strip()
    }


async def _send(
    request: Request, session: Session, ticket_id: str, name: str, fields: dict[str, Any]
) -> Flash:
    """Send decision ``name`` as the session's person; the outcome in words, and whether it
    was accepted. A form the decision's model refuses is reported, not sent."""
    try:
        body = api_tickets.DECISIONS[name][1].model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{key_path(problem['loc'])}: {describe(problem)}" for problem in error.errors()
        )
        return flash(FlashTemplate.NOT_SENT, False, ticket=ticket_id, problems=problems)
    engine = context_of(request).engine
    before = _recorded_sequence(engine, ticket_id)
    response = await api_tickets.decide(request, ticket_id, name, body, session.principal)
    if response.status_code == 200:
        await _store_caught_up(engine, ticket_id, before)
    return _outcome(ticket_id, response)


def _recorded_sequence(engine: Engine, ticket_id: str) -> int:
    record = ticket_record(engine, ticket_id)
    return record.sequence if record is not None else -1


async def _store_caught_up(engine: Engine, ticket_id: str, before: int) -> None:
    """Wait (briefly) until the review store has the ticket's state after the decision: the
    queues read the store, and the page we redirect to should show what the person just did.
    The workflow records its outcome first and writes the store a moment later."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STORE_WAIT_SECONDS
    while _recorded_sequence(engine, ticket_id) <= before and loop.time() < deadline:
        await asyncio.sleep(0.05)


# ---- exception queue ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Remedy:
    """The one-click action most likely to clear a ticket's reason for waiting: ``form``
    names the form the page draws and the decision it sends."""

    form: str
    label: str
    next_step: str
    allowed: frozenset[Role]
    reason_required: bool = False


RESOLVE_DISPUTE = Remedy(
    "resolve-dispute",
    "Resolve dispute",
    "a manager resolves the dispute (uphold, adjust or write off)",
    ALLOWED[Action.RESOLVE_DISPUTE],
)
MARK_NON_BILLABLE = Remedy(
    "mark-non-billable",
    "Mark non-billable",
    "support logs the missing time, or marks the ticket non-billable",
    ALLOWED[Action.MARK_NON_BILLABLE],
)
APPROVE = Remedy(
    "approve", "Approve", "a manager approves the total (or rejects it)", ALLOWED[Action.APPROVE]
)
REVIEW_APPROVE = Remedy(
    "review", "Approve in review", "finance approves the held review", ALLOWED[Action.REVIEW]
)
CONFIRM_CUSTOMER_CHANGE = Remedy(
    "review",
    "Confirm customer change",
    "finance confirms the move (the old customer is credited, the new one charged), or the "
    "customer is changed back in the help desk",
    ALLOWED[Action.REVIEW],
    reason_required=True,
)
APPROVE_LOCKED_ADJUSTMENT = Remedy(
    "review",
    "Approve adjustment",
    "finance approves raising the finalized invoice (posted on the next open invoice, naming "
    "it), or the ticket is corrected in the help desk",
    ALLOWED[Action.REVIEW],
    reason_required=True,
)
APPROVE_REJECTED = Remedy(
    "approve",
    "Approve anyway",
    "a manager approves the rejected total, or support corrects the time entries in the help "
    "desk (the new total is rated again)",
    ALLOWED[Action.APPROVE],
)
RERATE = Remedy(
    "rerate", "Rerate", "fix the cause named in the reason, then rerate", ALLOWED[Action.RERATE]
)
# Not a decision: only a corrected event from the help desk clears it (rerating the same text
# finds it again), so the page says so and links to the help desk's ticket.
FIX_IN_HELPDESK = Remedy(
    "helpdesk",
    "Correct it in the help desk",
    "support edits the note in the help desk, and the corrected event arrives by itself "
    "(a rerate cannot clear it)",
    ALLOWED[Action.MARK_NON_BILLABLE],
)
SIGNOFF_LINK = Remedy(
    "signoff-link",
    "Send signoff link",
    "the customer signs off through a one-time link",
    api_tickets.SIGNOFF_LINK_ROLES,
)
# The decisions the exception queue's forms may send (a signoff link has its own handler).
EXCEPTION_DECISIONS = frozenset(
    remedy.form for remedy in (RESOLVE_DISPUTE, MARK_NON_BILLABLE, APPROVE, REVIEW_APPROVE, RERATE)
)


def remedies(record: TicketRecord) -> list[Remedy]:
    code = record.hold_code
    if code == ExceptionCode.DISPUTED:
        return [RESOLVE_DISPUTE]
    if code == ExceptionCode.NO_TIME_ENTRY:
        return [MARK_NON_BILLABLE]
    if code == FINANCE_HOLD:
        return [REVIEW_APPROVE]
    if code == CUSTOMER_CHANGED:
        return [CONFIRM_CUSTOMER_CHANGE]
    if code == LOCKED_PERIOD_ADJUSTMENT:
        return [APPROVE_LOCKED_ADJUSTMENT]
    if code == REJECTED:
        return [APPROVE_REJECTED]
    if code == ExceptionCode.SENSITIVE_TEXT:
        return [FIX_IN_HELPDESK]
    if code:
        # A missing book, a billing refusal, an unknown customer: fixed in the book or the
        # billing system, then re-rated.
        return [RERATE]
    if record.status != BillingStatus.AWAITING_APPROVAL:
        return []
    if record.next_actor == NextActor.MANAGER:
        return [APPROVE]
    if record.next_actor == NextActor.CUSTOMER:
        return [SIGNOFF_LINK]
    return []


@router.get("/exceptions", response_class=HTMLResponse)
def exceptions_page(
    request: Request,
    owner: str = "",
    query: QueueQuery = Depends(queue_query("age")),
) -> Response:
    session = read_session(request)
    if session is None:
        return _to_login()
    return _exceptions(request, session, dataclasses.replace(query, owner=owner))


def _exceptions(
    request: Request,
    session: Session,
    query: QueueQuery,
    signoff_url: str = "",
    signoff_emailed: bool = False,
) -> HTMLResponse:
    """One page of the exception queue (50 rows), filtered and sorted by the database, with
    the count and total of what matches and of the whole queue."""
    owner = query.owner if query.owner in OWNERS else ""
    book = _book(request)
    found = _queue_page(request, query, book, tuple(EXCEPTION_STATUSES), owner)
    if isinstance(found, str):
        return _error(request, session, found, 422)
    context = context_of(request)
    now = context.now()
    currency = _currency(book)
    rows = [
        _exception_row(record, now, session.principal.role, context.settings)
        | {
            "customer": _customer_label(book, record.customer_id),
            "shown": for_people(chargeable_total(record), currency),
            "reratable": RERATE in remedies(record),
        }
        for record in found.records
    ]
    return _render(
        request,
        "exceptions.html",
        session,
        rows=rows,
        owner=owner,
        owners=OWNERS,
        signoff_url=signoff_url,
        signoff_emailed=signoff_emailed,
        # Ticked rows (those whose next step is a rerate) go in one bulk rerate.
        bulk_rerate=session.principal.role in RERATE_HELD.roles,
        rerate_matching=dataclasses.replace(
            query, path="/exceptions/bulk-rerate-matching", owner=owner
        ).link(),
        **_queue_values(query, found, book),
    )


def _queue_page(
    request: Request,
    query: QueueQuery,
    book: BillingBook | None,
    statuses: tuple[str, ...],
    owner: str = "",
) -> QueuePage | str:
    """The page of a queue its query asks for; the problems in words (for a 422) when the
    query cannot be read."""
    wanted = _queue_filter(request, query, book, statuses, owner)
    if isinstance(wanted, str):
        return wanted
    return queue_page(context_of(request).engine, wanted, sort=query.sort, page=query.page)


def _queue_filter(
    request: Request,
    query: QueueQuery,
    book: BillingBook | None,
    statuses: tuple[str, ...],
    owner: str = "",
) -> QueueFilter | str:
    """The store's filter for a queue's query; the problems in words, each naming its field,
    when the query's sort, totals, days or age cannot be read."""
    problems = []
    if query.sort not in SORTS:
        problems.append(f"sort: must be one of {', '.join(SORTS)}, not {query.sort!r}")
    bounds: dict[str, int | None] = {}
    for name in ("min_total", "max_total"):
        text = getattr(query, name)
        try:
            bounds[name] = integer_cents(exact_decimal(text)) if text else None
        except ValueError as problem:
            problems.append(f"{name}: {problem}")
    days: dict[str, date | None] = {}
    for name in ("closed_from", "closed_to"):
        text = getattr(query, name)
        days[name] = _day(text)
        if text and days[name] is None:
            problems.append(
                f"{name}: {text!r} is not a day from {EARLIEST_DAY} to {LATEST_DAY}; give it "
                "as YYYY-MM-DD"
            )
    first, last = days["closed_from"], days["closed_to"]
    if first and last and first > last:
        problems.append(f"closed_from: {first} is after closed_to {last}")
    age = _age_days(query.age)
    if query.age and age is None:
        problems.append(
            f"age: {query.age!r} is not a number of days; give a whole number from 0 to "
            f"{MAX_AGE_DAYS}"
        )
    if problems:
        return "Cannot filter the queue: " + "; ".join(problems)
    context = context_of(request)
    # Close days are the book's days, as the reports and pilot count them.
    zone = ZoneInfo(book.book.timezone if book is not None else "UTC")
    return QueueFilter(
        statuses,
        owner=owner or None,
        search=query.q or None,
        customer_ids=_customers_named(book, query.q),
        min_cents=bounds["min_total"],
        max_cents=bounds["max_total"],
        customer_id=query.customer or None,
        technician=query.technician or None,
        closed_from=_day_start(first, zone) if first else None,
        closed_before=_day_start(last + timedelta(days=1), zone) if last else None,
        waiting_since=context.now() - timedelta(days=age) if age is not None else None,
    )


def _day(text: str) -> date | None:
    """A YYYY-MM-DD day (and only that form) a period may name, or None."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, re.ASCII):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if EARLIEST_DAY <= day <= LATEST_DAY else None


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _age_days(text: str) -> int | None:
    """A whole number of days from 0 to ``MAX_AGE_DAYS``, or None."""
    if not re.fullmatch(r"\d{1,4}", text, re.ASCII):
        return None
    days = int(text)
    return days if days <= MAX_AGE_DAYS else None


def _queue_values(query: QueueQuery, found: QueuePage, book: BillingBook | None) -> dict[str, Any]:
    """What a queue's template shows around its rows: the filter (with the book's customers to
    choose from), the counts and totals, and the links to the other pages."""
    currency = _currency(book)
    return {
        "query": query,
        "sorts": SORT_LABELS,
        "customers": sorted(
            ((c.helpdesk_id, c.name) for c in (book.customers if book is not None else [])),
            key=lambda customer: customer[1].lower(),
        ),
        "max_age": MAX_AGE_DAYS,
        "page": found.page,
        "pages": found.pages,
        "matched": found.matched,
        "matched_total": _amount(found.matched_cents, currency),
        "queue": found.queue,
        "queue_total": _amount(found.queue_cents, currency),
        "previous_link": query.link(page=found.page - 1) if found.page > 1 else "",
        "next_link": query.link(page=found.page + 1) if found.page < found.pages else "",
    }


def _customers_named(book: BillingBook | None, text: str) -> tuple[str, ...]:
    """The help desk ids of the book's customers whose name contains ``text``."""
    if book is None or not text:
        return ()
    wanted = text.lower()
    return tuple(c.helpdesk_id for c in book.customers if wanted in c.name.lower())


def _amount(cents: int, currency: str) -> str:
    """Money in cents for people: ``1,200.00 USD`` (billing.money.for_people)."""
    return for_people(Decimal(cents).scaleb(-2), currency)


def _exception_row(
    record: TicketRecord, now: datetime, role: Role, settings: Settings
) -> dict[str, Any]:
    found = remedies(record)
    view = _stored_view(record) if RESOLVE_DISPUTE in found else None
    return {
        "helpdesk_url": helpdesk_ticket_url(settings, record.ticket_id),
        # The lines a dispute's "adjust" may change: the ticket's charged lines.
        "lines": [
            {"source_id": line.source_id, "description": line.description}
            for line in (view.rating.lines if view and view.rating else ())
            if line.is_charged
        ],
        "ticket_id": record.ticket_id,
        "customer_id": record.customer_id or "",
        "status": record.status.replace("_", " "),
        "reason": waiting_reason(record),
        "owner": queue_owner(record),
        "age": age_text(now - as_utc(record.status_since)),
        "total": _money(chargeable_total(record)),
        "next_step": " and ".join(remedy.next_step for remedy in found) or "see the ticket",
        "remedies": [
            {
                "form": remedy.form,
                "label": remedy.label,
                "may": role in remedy.allowed,
                "who": ", ".join(sorted(remedy.allowed)),
                "reason_required": remedy.reason_required,
            }
            for remedy in found
        ],
    }


@router.post("/exceptions/{ticket_id}/signoff-link", response_class=HTMLResponse)
async def exception_signoff_link(
    ticket_id: str, request: Request, csrf: str = Form(""), owner: str = Form("")
) -> Response:
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    try:
        link = await api_tickets.signoff_link(ticket_id, request, session.principal)
    except HTTPException as refused:
        refusal = flash(
            FlashTemplate.SIGNOFF_LINK_REFUSED, False, ticket=ticket_id, detail=refused.detail
        )
        back = await _queue_view_posted(request)
        return _back(request, session, "/exceptions", refusal, back, owner=owner)
    # Shown on this response, not through a redirect: the link is the customer's credential
    # and must not travel in a URL (browser history, access logs).
    return _exceptions(
        request,
        session,
        QueueQuery(owner=owner),
        signoff_url=link.url,
        signoff_emailed=link.emailed,
    )


@router.post("/exceptions/{ticket_id}/{decision}")
async def exception_decision(ticket_id: str, decision: str, request: Request) -> Response:
    form = await request.form()
    session = _guard(request, str(form.get("csrf", "")))
    if isinstance(session, Response):
        return session
    owner = str(form.get("owner", ""))
    if decision not in EXCEPTION_DECISIONS:
        return _error(request, session, f"There is no action {decision!r} here.", 404)
    fields: dict[str, Any] = _form_fields(form, decision)
    if decision == RESOLVE_DISPUTE.form and fields.get("outcome") == "adjust":
        # One line adjusted from the queue: its source and its new quantity and/or price (the
        # API names a missing or bad one, as for any edit).
        edit = {
            name: str(form[name]).strip()
            for name in ("source_id", "quantity", "unit_price")
            if str(form.get(name, "")).strip()
        }
        fields["line_edits"] = [edit] if edit else []
    outcome = await _send(request, session, ticket_id, decision, fields)
    return _back(request, session, "/exceptions", outcome, str(form.get("back", "")), owner=owner)


# ---- every ticket ------------------------------------------------------------------------------

ALL_STATUSES = tuple(status.value for status in BillingStatus)


@router.get("/tickets", response_class=HTMLResponse)
def tickets_page(
    request: Request,
    status: str = "",
    query: QueueQuery = Depends(queue_query("newest")),
) -> Response:
    """Every ticket the review store holds, whatever its status, 50 a page: found by ticket id
    or customer, filtered by status and total, newest change first by default."""
    session = read_session(request)
    if session is None:
        return _to_login()
    if status and status not in ALL_STATUSES:
        why = f"Cannot filter the tickets: status: must be one of {', '.join(ALL_STATUSES)}"
        return _error(request, session, why, 422)
    query = dataclasses.replace(query, path="/tickets", status=status)
    book = _book(request)
    found = _queue_page(request, query, book, (status,) if status else ALL_STATUSES)
    if isinstance(found, str):
        return _error(request, session, found, 422)
    now = context_of(request).now()
    currency = _currency(book)
    rows = [
        {
            "ticket_id": record.ticket_id,
            "customer": _customer_label(book, record.customer_id),
            "status": record.status.replace("_", " "),
            "reason": waiting_reason(record),
            "total": for_people(chargeable_total(record), currency),
            "posted": for_people(Decimal(record.posted_cents).scaleb(-2), currency),
            "since": age_text(now - as_utc(record.status_since)),
        }
        for record in found.records
    ]
    return _render(
        request,
        "tickets.html",
        session,
        rows=rows,
        statuses=ALL_STATUSES,
        **_queue_values(query, found, book),
    )


# ---- one ticket --------------------------------------------------------------------------------


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket_page(ticket_id: str, request: Request) -> Response:
    session = read_session(request)
    if session is None:
        return _to_login()
    try:
        view, note = await api_tickets.load_ticket(request, ticket_id)
    except HTTPException as missing:
        return _error(request, session, str(missing.detail), missing.status_code)
    trail = audit_trail(context_of(request).engine, ticket_id)
    book = _book(request)
    currency = _currency(book)
    return _render(
        request,
        "ticket.html",
        session,
        ticket_id=ticket_id,
        view=view,
        customer=_customer_label(book, view.customer_id),
        note=note,
        status_text=view.status.value.replace("_", " "),
        lines=_lines(view),
        total=for_people(view.rating.chargeable_total, currency) if view.rating else "",
        posted_total=for_people(view.posted_total, currency),
        approvals=_approvals(view.approvals, currency),
        edits=[
            {
                "source_id": edit.source_id,
                "quantity": _money(edit.quantity),
                "unit_price": _money(edit.unit_price),
                "by": edit.decision.by(),
            }
            for edit in view.decisions.line_edits
        ],
        zeroed=_zeroed(view),
        audit=[
            {
                "at": _when(entry.at),
                "actor": entry.actor,
                "role": entry.role,
                "action": entry.action,
                "outcome": entry.outcome,
                "reason": entry.reason,
                "detail": entry.detail,
            }
            for entry in trail
        ],
        temporal_ui=api_tickets.temporal_ui_link(request, ticket_id),
    )


def _approvals(approvals: Approvals, currency: str) -> list[dict[str, str]]:
    """Each approval, signoff, rejection or hold given, with the total it was given for."""
    given: list[tuple[str, Decision | None, Decimal | None]] = [
        ("Manager approval", approvals.manager, approvals.manager_total),
        ("Customer signoff", approvals.customer, approvals.customer_total),
        ("Customer declined", approvals.customer_declined, approvals.customer_declined_total),
        ("Finance review", approvals.finance, approvals.finance_total),
        ("Finance hold", approvals.finance_hold, None),
        ("Rejection", approvals.rejection, approvals.rejected_total),
    ]
    return [
        {
            "label": label,
            "by": decision.by(),
            "total": for_people(total, currency) if total is not None else "",
        }
        for label, decision, total in given
        if decision is not None
    ]


def _zeroed(view: TicketBillingView) -> str:
    zeroed = view.decisions.zeroed_by
    if zeroed is None:
        return ""
    how, decision = zeroed
    return f"{how} by {decision.by()}"
