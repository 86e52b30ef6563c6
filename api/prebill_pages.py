"""The pre-bill pages: ``/prebill`` (every customer's period with its total and state) and
``/prebill/{customer}?month=YYYY-MM`` (every line of its next invoice, by ticket), where
finance holds, releases, disputes and resolves single lines, approves the pre-bill and
finalizes the period. Line actions are the tickets' decisions, sent through the API's own
``decide`` (``api.pages._send``), so the page refuses, audits and reports exactly what the API
would; approving and finalizing go through the same use case as ``/api/prebill``.
``POST /prebill/{customer}/whatif`` ("what if this book") re-rates the customer's tickets of
the month under an uploaded candidate book and shows what would change (usecases/whatif.py)."""

from __future__ import annotations

import asyncio
from calendar import monthrange
from datetime import date
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from api.context import context_of
from api.flashes import FlashTemplate, flash
from api.pages import (
    Session,
    _back,
    _error,
    _form_fields,
    _guard,
    _render,
    _send,
    _to_login,
    read_session,
)
from api.prebill import PrebillSources, prebill_sources, read_prebill, refuse_role
from billing.book import BookError, parse_book
from billing.customer_names import customer_label
from billing.decisions import LINE_DISPUTE_REASON_CODES
from billing.invoice_run import next_period, parse_period
from billing.money import for_people, format_decimal
from billing.numbers import exact_decimal
from billing.roles import ALLOWED, Action
from billing.whatif import NOT_RERATED_REASON
from connectors.billing import BillingRejected, BillingUnavailable
from intake.webhook_http import BodyTooLarge, read_body
from usecases.prebill import (
    PREBILL_DECIDERS,
    Prebill,
    PrebillLine,
    PrebillProblem,
    approve_prebill,
    default_period,
    finalize_prebill,
    prebill_summaries,
)
from usecases.whatif import UnknownCustomer, what_if

router = APIRouter(tags=["pages"], include_in_schema=False)

# The ticket decisions a pre-bill line may send, with the action the role matrix names.
LINE_ACTIONS = {
    "hold-line": Action.HOLD_LINE,
    "release-line": Action.RELEASE_LINE,
    "dispute-line": Action.DISPUTE_LINE,
    "resolve-line-dispute": Action.RESOLVE_LINE_DISPUTE,
}


def _sources(request: Request, session: Session) -> PrebillSources | Response:
    try:
        return prebill_sources(request)
    except HTTPException as problem:
        return _error(request, session, str(problem.detail), problem.status_code)


def _month(request: Request, session: Session, text: str | None) -> str | Response:
    if not text:
        return default_period(context_of(request).now())
    try:
        parse_period(text)
    except ValueError as problem:
        return _error(request, session, f"month: {problem}", 400)
    return text


@router.get("/prebill", response_class=HTMLResponse)
def prebill_list_page(request: Request, month: str | None = None) -> Response:
    session = read_session(request)
    if session is None:
        return _to_login()
    period = _month(request, session, month)
    if isinstance(period, Response):
        return period
    sources = _sources(request, session)
    if isinstance(sources, Response):
        return sources
    try:
        rows = prebill_summaries(
            sources.book, sources.billing, sources.engine, period, **sources.reading
        )
    except BillingUnavailable as error:
        return _error(request, session, f"The billing system cannot answer now: {error}", 503)
    return _render(request, "prebill_list.html", session, period=period, rows=rows)


@router.get("/prebill/{customer}", response_class=HTMLResponse)
def prebill_page(customer: str, request: Request, month: str | None = None) -> Response:
    session = read_session(request)
    if session is None:
        return _to_login()
    period = _month(request, session, month)
    if isinstance(period, Response):
        return period
    sources = _sources(request, session)
    if isinstance(sources, Response):
        return sources
    try:
        prebill = read_prebill(sources, customer, period)
    except HTTPException as problem:
        return _error(request, session, str(problem.detail), problem.status_code)
    role = session.principal.role
    return _render(
        request,
        "prebill.html",
        session,
        prebill=prebill,
        groups=[_group(prebill, group) for group in prebill.groups],
        money=format_decimal,
        may_decide=role in PREBILL_DECIDERS,
        may={name: role in ALLOWED[action] for name, action in LINE_ACTIONS.items()},
        reason_codes=LINE_DISPUTE_REASON_CODES,
        next_period=next_period(period),
    )


def _group(prebill: Prebill, group: Any) -> dict[str, Any]:
    return {
        "ticket_id": group.ticket_id,
        "label": group.label,
        "state": group.state,
        "total": format_decimal(group.total),
        "waiting_total": format_decimal(group.waiting_total),
        "lines": [_line(line) for line in group.lines],
    }


def _line(line: PrebillLine) -> dict[str, Any]:
    # A line may be held or disputed while it is a charge of a ticket nobody holds yet; the
    # credit that reverses a held line is the ledger's, not something to act on.
    actionable = line.ticket_id is not None and line.line_type == "charge" and line.amount > 0
    return {
        "source_id": line.source_id,
        "description": line.description,
        "quantity": format_decimal(line.quantity),
        "unit_price": format_decimal(line.unit_price),
        "amount": format_decimal(line.amount),
        "state": line.state,
        "counted": line.counted,
        "hold": line.hold_note,
        "invoice_id": line.invoice_id or "",
        "explanation": list(line.explanation),
        "can_hold": actionable and line.held_kind is None,
        "can_release": actionable and line.held_kind == "hold",
        "can_resolve": actionable and line.held_kind == "dispute",
    }


def _here(customer: str) -> str:
    """The customer's pre-bill page; ``_back`` adds the month and the flash."""
    return f"/prebill/{customer}"


@router.post("/prebill/{customer}/lines/{ticket_id}/{action}")
async def prebill_line_action(
    customer: str, ticket_id: str, action: str, request: Request
) -> Response:
    """Hold, release, dispute or resolve one line: the ticket's own decision, as the API sends
    it (role refused and audited there, the ticket's outcome reported in the flash)."""
    form = await request.form()
    session = _guard(request, str(form.get("csrf", "")))
    if isinstance(session, Response):
        return session
    month = str(form.get("month", ""))
    if action not in LINE_ACTIONS:
        return _error(request, session, f"There is no line action {action!r}.", 404)
    outcome = await _send(request, session, ticket_id, action, _form_fields(form, action))
    return _back(request, session, _here(customer), outcome, month=month)


@router.post("/prebill/{customer}/approve")
def prebill_approve(
    customer: str,
    request: Request,
    csrf: str = Form(""),
    month: str = Form(""),
    expected_total: str = Form(""),
    reason: str = Form(""),
) -> Response:
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    checked = _decision_inputs(request, session, customer, month, "approve_prebill", reason)
    if isinstance(checked, Response):
        return checked
    sources = checked
    try:
        total = exact_decimal(expected_total)
    except ValueError as problem:
        unreadable = flash(FlashTemplate.PREBILL_TOTAL_UNREADABLE, False, problem=problem)
        return _back(request, session, _here(customer), unreadable, month=month)
    try:
        prebill = approve_prebill(
            sources.book,
            sources.billing,
            sources.engine,
            customer,
            month,
            actor=session.principal.name,
            role=session.principal.role.value,
            reason=reason.strip(),
            expected_total=total,
            **sources.reading,
        )
    except (PrebillProblem, BillingUnavailable) as problem:
        refused = flash(FlashTemplate.PREBILL_NOT_APPROVED, False, problem=problem)
        return _back(request, session, _here(customer), refused, month=month)
    approved = flash(
        FlashTemplate.PREBILL_APPROVED,
        True,
        month=month,
        total=prebill.total,
        currency=prebill.currency,
    )
    return _back(request, session, _here(customer), approved, month=month)


@router.post("/prebill/{customer}/finalize")
def prebill_finalize(
    customer: str,
    request: Request,
    csrf: str = Form(""),
    month: str = Form(""),
    reason: str = Form(""),
) -> Response:
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    checked = _decision_inputs(request, session, customer, month, "finalize_prebill", reason)
    if isinstance(checked, Response):
        return checked
    sources = checked
    try:
        done = finalize_prebill(
            sources.book,
            sources.billing,
            sources.engine,
            customer,
            month,
            actor=session.principal.name,
            role=session.principal.role.value,
            reason=reason.strip(),
            **sources.reading,
        )
    except (PrebillProblem, BillingRejected, BillingUnavailable) as problem:
        refused = flash(FlashTemplate.PREBILL_NOT_FINALIZED, False, problem=problem)
        return _back(request, session, _here(customer), refused, month=month)
    finalized = flash(
        FlashTemplate.PREBILL_FINALIZED,
        True,
        invoices=", ".join(done.invoice_ids) or "no draft",
        month=month,
        total=done.total,
    )
    return _back(request, session, _here(customer), finalized, month=month)


def _decision_inputs(
    request: Request, session: Session, customer: str, month: str, action: str, reason: str
) -> PrebillSources | Response:
    """The sources for approving or finalizing, or the page that says why not: a bad month,
    an unknown customer, a role that may not (audited)."""
    try:
        parse_period(month)
    except ValueError as problem:
        return _error(request, session, f"month: {problem}", 400)
    sources = _sources(request, session)
    if isinstance(sources, Response):
        return sources
    try:
        read_prebill(sources, customer, month)
        refuse_role(sources, session.principal, customer, month, action, reason)
    except HTTPException as refused:
        if refused.status_code == 403:
            refusal = flash(FlashTemplate.REFUSED, False, detail=refused.detail)
            return _back(request, session, _here(customer), refusal, month=month)
        return _error(request, session, str(refused.detail), refused.status_code)
    return sources


# A candidate book is a few KiB; the cap keeps an upload from filling the server's memory.
WHATIF_BOOK_MAX_BYTES = 1024 * 1024


@router.post("/prebill/{customer}/whatif", response_class=HTMLResponse)
async def prebill_whatif(customer: str, request: Request) -> Response:
    """What if this book: the customer's tickets closed in the month, re-rated under the
    uploaded book (form file field ``book``), against what they were billed. Touches nothing;
    every role that reads the pre-bill may ask."""
    session = read_session(request)
    if session is None:
        return _to_login()
    try:
        body = await read_body(
            request.headers.get("content-length"), request.stream(), WHATIF_BOOK_MAX_BYTES
        )
    except BodyTooLarge:
        limit = WHATIF_BOOK_MAX_BYTES // 1024
        return _error(request, session, f"book: the upload is over {limit} KiB.", 413)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
    checked = _guard(request, str(form.get("csrf", "")))
    if isinstance(checked, Response):
        return checked
    month = str(form.get("month", ""))
    try:
        first = parse_period(month)
    except ValueError as problem:
        return _error(request, session, f"month: {problem}", 422)
    upload = form.get("book")
    raw = await upload.read() if upload is not None and not isinstance(upload, str) else b""
    if not raw:
        return _error(request, session, "book: choose a billing book (TOML) to upload.", 422)
    name = getattr(upload, "filename", None) or "uploaded book"
    try:
        book = parse_book(raw.decode("utf-8"), source=name)
    except UnicodeDecodeError:
        return _error(request, session, f"book: {name} is not UTF-8 text.", 422)
    except BookError as problem:
        return _render(
            request,
            "prebill_whatif.html",
            session,
            422,
            problem=problem,
            customer=customer,
            month=month,
        )
    last = date(first.year, first.month, monthrange(first.year, first.month)[1])
    try:
        # Reading and re-rating a customer's month is blocking work: on a thread, so the
        # server goes on answering other requests meanwhile.
        engine = context_of(request).engine
        result = await asyncio.to_thread(what_if, engine, book, first, last, customer)
    except UnknownCustomer as problem:
        return _error(request, session, str(problem).replace("--customer", "customer"), 404)
    currency = book.book.currency
    return _render(
        request,
        "prebill_whatif.html",
        session,
        problem=None,
        customer=customer,
        customer_name=customer_label(book, customer),
        month=month,
        book_name=name,
        result=result,
        changed=[t for c in result.customers for t in c.tickets if t.changed],
        money=lambda amount: for_people(amount, currency),
        signed=lambda amount: ("+" if amount > 0 else "") + for_people(amount, currency),
        not_rerated_reason=NOT_RERATED_REASON,
    )
