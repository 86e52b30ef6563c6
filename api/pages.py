"""The pages people work from: log in with an API token, the billing review queue (finance),
the exception queue (whoever clears holds and approvals), and one ticket in full.

Server-rendered, no JavaScript needed. A session is a signed cookie holding the token's id,
name and role and a CSRF value; it needs no session table, and each page checks that its token
is not revoked, so revoking a token ends its sessions at once. A session expires after
``SESSION_TTL``. Every form carries the CSRF value and every
POST checks it. Decisions go through the API's own ``decide``, so a page refuses, audits and
reports exactly what the API would.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine

from api import tickets as api_tickets
from api.context import context_of
from api.security import SESSION_TTL, Principal, Unauthorized, authenticate, sign, unsign
from api.templating import templates
from billing.decisions import Decision
from billing.holds import ExceptionCode
from billing.money import format_decimal
from billing.period_lock import LOCKED_PERIOD_ADJUSTMENT
from billing.problems import describe, key_path
from billing.roles import ALLOWED, Action, Role
from messages.ticket import Approvals, BillingStatus, NextActor
from messages.views import TicketBillingView
from store.database import as_utc
from store.models import TicketRecord
from store.reconciliation_records import latest_alert
from store.sync_health import alerts_since
from store.ticket_records import audit_trail, ticket_record, ticket_records
from store.tokens import STAFF_ROLES, token_active
from usecases.queues import age_text, chargeable_total, queue_owner, waiting_reason
from usecases.tickets import VIEW
from workflows.assessment import CUSTOMER_CHANGED, FINANCE_HOLD

router = APIRouter(tags=["pages"], include_in_schema=False)

SESSION_COOKIE = "hdb_session"
REVIEW_ROLES = frozenset({Role.FINANCE, Role.ADMIN})
# The reports page (api/report_pages.py) shows money: not for support.
REPORT_ROLES = frozenset({Role.FINANCE, Role.MANAGER, Role.OPERATOR, Role.ADMIN})
OWNERS = ("support", "manager", "billing", "customer")
EXCEPTION_STATUSES = [BillingStatus.HELD.value, BillingStatus.AWAITING_APPROVAL.value]
# A flash rides in the redirect's URL: short-lived, and cut so the URL stays well under the
# limits of browsers and proxies even after a bulk approval of many tickets.
FLASH_TTL_SECONDS = 300
MAX_FLASH = 1500
STORE_WAIT_SECONDS = 3.0
LOGIN_COOKIE = "hdb_login"
LOGIN_FORM_SECONDS = 600


# ---- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    csrf: str


def read_session(request: Request) -> Session | None:
    """The signed-in person, or None (no cookie, a forged or expired one)."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    try:
        payload = unsign(context_of(request).signing_key, value)
    except Unauthorized:
        return None
    name, role, csrf = payload.get("name"), payload.get("role"), payload.get("csrf")
    token_id = payload.get("tid")
    # The same key signs signoff links and flashes: only a value signed as a session counts.
    if payload.get("kind") != "session" or role not in STAFF_ROLES:
        return None
    if not isinstance(name, str) or not isinstance(csrf, str) or not csrf:
        return None
    # A revoked token's sessions end with it (one primary-key read per page).
    if not isinstance(token_id, int) or not token_active(context_of(request).engine, token_id):
        return None
    return Session(Principal(name, Role(str(role)), token_id), csrf)


def _session_cookie(request: Request, principal: Principal) -> str:
    expires = int(datetime.now(UTC).timestamp() + SESSION_TTL.total_seconds())
    payload: dict[str, object] = {
        "kind": "session",
        "name": principal.name,
        "role": principal.role.value,
        "tid": principal.token_id,
        "csrf": secrets.token_hex(16),
        "exp": expires,
    }
    return sign(context_of(request).signing_key, payload)


def _guard(request: Request, csrf: str | None) -> Session | Response:
    """The session of a form post, or the response that ends it: the login page without a
    session, 403 when the form's CSRF value is not the session's."""
    session = read_session(request)
    if session is None:
        return _to_login()
    if not hmac.compare_digest((csrf or "").encode(), session.csrf.encode()):
        return _error(request, session, "The form has expired or did not come from us.", 403)
    return session


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def _home(role: Role) -> str:
    return "/review" if role in REVIEW_ROLES else "/exceptions"


# ---- flash messages ----------------------------------------------------------------------------


def _back(request: Request, path: str, message: str, ok: bool, **query: str) -> RedirectResponse:
    """Redirect (303) to ``path`` with a flash. The flash is signed so a link from elsewhere
    cannot put its own words on our pages."""
    expires = int(datetime.now(UTC).timestamp()) + FLASH_TTL_SECONDS
    flash = sign(
        context_of(request).signing_key,
        {"kind": "flash", "msg": message[:MAX_FLASH], "ok": ok, "exp": expires},
    )
    kept = {key: value for key, value in query.items() if value}
    return RedirectResponse(f"{path}?{urlencode({**kept, 'flash': flash})}", status_code=303)


def _read_flash(request: Request) -> dict[str, Any] | None:
    value = request.query_params.get("flash")
    if not value:
        return None
    try:
        payload = unsign(context_of(request).signing_key, value)
    except Unauthorized:
        return None
    if payload.get("kind") != "flash":
        return None
    return {"message": str(payload.get("msg", "")), "ok": bool(payload.get("ok"))}


def _outcome(ticket_id: str, response: JSONResponse) -> tuple[str, bool]:
    """What ``decide`` answered, in words: ``T-1: accepted: approved total 95.00 (now ready)``."""
    answer = json.loads(bytes(response.body))
    status = f" (now {answer['status'].replace('_', ' ')})" if answer.get("status") else ""
    message = f"{ticket_id}: {answer['outcome']}: {answer['detail']}{status}"
    return message, response.status_code == 200


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
        "flash": _read_flash(request),
        # The banner: the last reconciliation found what finance must look at.
        "alert": latest_alert(
            context_of(request).engine,
            context_of(request).settings.reconciliation_alert_findings,
        )
        if session is not None
        else None,
        # Sync alerts of the last day: calls to the help desk or billing failing, or odd volume.
        "sync_alerts": alerts_since(
            context_of(request).engine, context_of(request).now() - timedelta(days=1)
        )
        if session is not None
        else [],
        **values,
    }
    return templates.TemplateResponse(request, template, context, status_code=http_status)


def _error(request: Request, session: Session | None, message: str, status: int) -> HTMLResponse:
    return _render(request, "error.html", session, status, message=message, status_code=status)


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
        secure=context_of(request).settings.public_url.startswith("https://"),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    session = read_session(request)
    if session is not None:
        return RedirectResponse(_home(session.principal.role), status_code=303)
    return _login_form(request)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: str = Form(""), login_csrf: str = Form("")) -> Response:
    context = context_of(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(login_csrf.encode(), expected.encode()):
        return _login_form(request, 403, "The login form has expired; please log in again.")
    try:
        principal = authenticate(context.engine, token.strip())
    except Unauthorized as error:
        return _login_form(request, 401, str(error))
    response = RedirectResponse(_home(principal.role), status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    response.set_cookie(
        SESSION_COOKIE,
        _session_cookie(request, principal),
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=context.settings.public_url.startswith("https://"),
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- billing review queue ----------------------------------------------------------------------


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request) -> Response:
    session = read_session(request)
    if session is None:
        return _to_login()
    if session.principal.role not in REVIEW_ROLES:
        return _error(request, session, "The billing review queue is for finance and admin.", 403)
    records = ticket_records(context_of(request).engine, statuses=[BillingStatus.IN_REVIEW.value])
    now = context_of(request).now()
    return _render(request, "review.html", session, items=[_review_item(r, now) for r in records])


def _review_item(record: TicketRecord, now: datetime) -> dict[str, Any]:
    view = _stored_view(record)
    rated = view is not None and view.rating is not None
    # The total approved must be the total shown: the workflow refuses it if the ticket changed.
    total = view.rating.chargeable_total if view and view.rating else chargeable_total(record)
    return {
        "ticket_id": record.ticket_id,
        "customer_id": record.customer_id or "",
        "age": age_text(now - as_utc(record.status_since)),
        "lines": _lines(view),
        "rated": rated,
        "total": _money(total),
    }


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
        return _back(request, "/review", f"{ticket_id}: give a new quantity or unit price", False)
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
    message, ok = await _send(request, session, ticket_id, "review", fields)
    return _back(request, "/review", message, ok)


@router.post("/review/bulk-approve")
async def review_bulk_approve(request: Request) -> Response:
    """Approve each ticket ticked, at the total shown next to it; one line of outcome each."""
    form = await request.form()
    session = _guard(request, str(form.get("csrf", "")))
    if isinstance(session, Response):
        return session
    chosen = list(dict.fromkeys(str(ticket_id) for ticket_id in form.getlist("ticket")))
    if not chosen:
        return _back(request, "/review", "Select at least one ticket to approve.", False)
    answers = await asyncio.gather(
        *(
            _send(
                request,
                session,
                ticket_id,
                "review",
                {"action": "approve", "expected_total": form.get(f"total.{ticket_id}") or None},
            )
            for ticket_id in chosen
        )
    )
    approved = sum(ok for _, ok in answers)
    summary = f"Approved {approved} of {len(answers)}. " + " | ".join(m for m, _ in answers)
    return _back(request, "/review", summary, approved == len(answers))


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
) -> tuple[str, bool]:
    """Send decision ``name`` as the session's person; the outcome in words, and whether it
    was accepted. A form the decision's model refuses is reported, not sent."""
    try:
        body = api_tickets.DECISIONS[name][1].model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{key_path(problem['loc'])}: {describe(problem)}" for problem in error.errors()
        )
        return f"{ticket_id}: not sent: {problems}", False
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
RERATE = Remedy(
    "rerate", "Rerate", "fix the cause named in the reason, then rerate", ALLOWED[Action.RERATE]
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
    if code:
        # rejected, sensitive text, a missing book or a billing refusal: fixed at the source
        # (a corrected event arrives by itself), or in the book and then re-rated.
        return [RERATE]
    if record.status != BillingStatus.AWAITING_APPROVAL:
        return []
    if record.next_actor == NextActor.MANAGER:
        return [APPROVE]
    if record.next_actor == NextActor.CUSTOMER:
        return [SIGNOFF_LINK]
    return []


@router.get("/exceptions", response_class=HTMLResponse)
def exceptions_page(request: Request, owner: str = "") -> Response:
    session = read_session(request)
    if session is None:
        return _to_login()
    return _exceptions(request, session, owner)


def _exceptions(
    request: Request, session: Session, owner: str, signoff_url: str = ""
) -> HTMLResponse:
    owner = owner if owner in OWNERS else ""
    records = ticket_records(context_of(request).engine, statuses=EXCEPTION_STATUSES)
    now = context_of(request).now()
    rows = [
        _exception_row(record, now, session.principal.role)
        for record in records
        if not owner or queue_owner(record) == owner
    ]
    return _render(
        request,
        "exceptions.html",
        session,
        rows=rows,
        owner=owner,
        owners=OWNERS,
        signoff_url=signoff_url,
    )


def _exception_row(record: TicketRecord, now: datetime, role: Role) -> dict[str, Any]:
    found = remedies(record)
    return {
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
        return _back(request, "/exceptions", f"{ticket_id}: {refused.detail}", False, owner=owner)
    # Shown on this response, not through a redirect: the link is the customer's credential
    # and must not travel in a URL (browser history, access logs).
    return _exceptions(request, session, owner, signoff_url=link.url)


@router.post("/exceptions/{ticket_id}/{decision}")
async def exception_decision(ticket_id: str, decision: str, request: Request) -> Response:
    form = await request.form()
    session = _guard(request, str(form.get("csrf", "")))
    if isinstance(session, Response):
        return session
    owner = str(form.get("owner", ""))
    if decision not in EXCEPTION_DECISIONS:
        return _error(request, session, f"There is no action {decision!r} here.", 404)
    message, ok = await _send(request, session, ticket_id, decision, _form_fields(form, decision))
    return _back(request, "/exceptions", message, ok, owner=owner)


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
    return _render(
        request,
        "ticket.html",
        session,
        ticket_id=ticket_id,
        view=view,
        note=note,
        status_text=view.status.value.replace("_", " "),
        lines=_lines(view),
        total=_money(view.rating.chargeable_total) if view.rating else "",
        posted_total=_money(view.posted_total),
        approvals=_approvals(view.approvals),
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


def _approvals(approvals: Approvals) -> list[dict[str, str]]:
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
        {"label": label, "by": decision.by(), "total": _money(total)}
        for label, decision, total in given
        if decision is not None
    ]


def _zeroed(view: TicketBillingView) -> str:
    zeroed = view.decisions.zeroed_by
    if zeroed is None:
        return ""
    how, decision = zeroed
    return f"{how} by {decision.by()}"
