"""``/signoff/<token>``: the customer sees the ticket's customer-safe lines and accepts or
declines, without an account. The token names one ticket (signed), works once (recorded in the
store), and expires; it can never act on another ticket, whatever the URL or form says.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.context import TemporalUnavailable, context_of
from api.security import (
    SignoffGrant,
    Unauthorized,
    read_signoff_link,
    release_signoff_link,
    use_signoff_link,
)
from api.templating import templates
from billing.money import format_decimal
from billing.numbers import exact_decimal
from billing.roles import Role
from messages.ticket import SignoffInput
from messages.views import TicketBillingView
from usecases import tickets
from workflows.ticket_billing import TicketBillingWorkflow

router = APIRouter(tags=["customer signoff"])
SIGNOFF_WAIT_SECONDS = 10.0


def _form_token(key: str, grant: SignoffGrant) -> str:
    """Ties the form to its link, so another site cannot post a decision on the customer's
    behalf (the link itself is the credential; this is its CSRF check)."""
    return hmac.new(key.encode(), f"signoff:{grant.link_id}".encode(), hashlib.sha256).hexdigest()


def _page(
    request: Request,
    grant: SignoffGrant | None,
    view: TicketBillingView | None,
    *,
    message: str = "",
    ok: bool = True,
    status: int = 200,
) -> HTMLResponse:
    context = context_of(request)
    lines, total = [], None
    if view is not None and view.rating is not None:
        total = format_decimal(view.rating.chargeable_total)
        lines = [
            {
                "description": line.description,
                "quantity": format_decimal(line.quantity),
                "unit_price": format_decimal(line.unit_price),
                "amount": format_decimal(line.amount),
            }
            for line in view.rating.lines
            if line.is_charged
        ]
    can_decide = (
        grant is not None and not grant.used and view is not None and view.rating is not None
    )
    return templates.TemplateResponse(
        request,
        "signoff.html",
        {
            "ticket_id": grant.ticket_id if grant else "",
            "lines": lines,
            "total": total,
            "message": message,
            "ok": ok,
            "can_decide": can_decide,
            "form_token": _form_token(context.signing_key, grant) if grant else "",
        },
        status_code=status,
    )


def _grant(request: Request, token: str) -> SignoffGrant:
    context = context_of(request)
    return read_signoff_link(context.engine, context.signing_key, token)


@router.get("/signoff/{token}", response_class=HTMLResponse, summary="A customer's signoff page")
async def signoff_page(token: str, request: Request) -> Response:
    try:
        grant = _grant(request, token)
    except Unauthorized as error:
        return _page(request, None, None, message=str(error), ok=False, status=403)
    view = await _view(request, grant)
    if grant.used:
        return _page(request, grant, view, message="This link has already been used. Thank you.")
    return _page(request, grant, view)


@router.post("/signoff/{token}", response_class=HTMLResponse, summary="Accept or decline")
async def signoff_decide(
    token: str,
    request: Request,
    decision: str = Form(...),
    form_token: str = Form(""),
    reason: str = Form(""),
    expected_total: str = Form(""),
) -> Response:
    context = context_of(request)
    try:
        grant = _grant(request, token)
    except Unauthorized as error:
        return _page(request, None, None, message=str(error), ok=False, status=403)
    if not hmac.compare_digest(form_token, _form_token(context.signing_key, grant)):
        return _page(request, grant, None, message="The form has expired.", ok=False, status=403)
    if grant.used:
        view = await _view(request, grant)
        return _page(request, grant, view, message="This link has already been used.", ok=False)
    if decision not in ("accept", "decline"):
        return _page(
            request, grant, None, message="Choose accept or decline.", ok=False, status=422
        )
    if decision == "decline" and not reason.strip():
        view = await _view(request, grant)
        return _page(
            request, grant, view, message="Please say why you decline.", ok=False, status=422
        )
    try:
        # The total the customer was shown (a hidden field): within the book's limits, or the
        # form was tampered with; refused before the link is used up.
        total = exact_decimal(expected_total) if expected_total else None
    except ValueError:
        view = await _view(request, grant)
        return _page(
            request,
            grant,
            view,
            message="The total on this form is not readable: reload the link and try again.",
            ok=False,
            status=422,
        )
    outcome_name = "accepted" if decision == "accept" else "declined"
    # Claim the link first: of two clicks, exactly one decides.
    if not use_signoff_link(context.engine, grant, outcome_name):
        view = await _view(request, grant)
        used = SignoffGrant(grant.link_id, grant.ticket_id, True)
        return _page(request, used, view, message="This link has already been used.", ok=False)
    signal = SignoffInput(
        actor=f"customer (link {grant.link_id[:6]})",
        role=Role.CUSTOMER.value,
        reason=reason.strip() or "signed off through the link",
        requested_at=datetime.now(UTC),
        request_id=uuid.uuid4().hex,
        accepted=decision == "accept",
        expected_total=total,
    )
    try:
        client = await context.temporal()
        outcome = await tickets.send_decision(
            client,
            grant.ticket_id,
            TicketBillingWorkflow.customer_signoff,
            signal,
            SIGNOFF_WAIT_SECONDS,
        )
    except (TemporalUnavailable, tickets.TicketProblem) as error:
        _release(request, grant)
        return _page(
            request, grant, None, message=f"Please try again later ({error}).", ok=False, status=503
        )
    view = await _view(request, grant)
    used = SignoffGrant(grant.link_id, grant.ticket_id, True)
    if outcome.outcome != "accepted":
        _release(request, grant)
        unused = SignoffGrant(grant.link_id, grant.ticket_id, False)
        return _page(request, unused, view, message=outcome.detail, ok=False, status=409)
    thanks = (
        "Thank you: the charges are accepted."
        if decision == "accept"
        else ("Thank you: we have recorded that you decline, and will be in touch.")
    )
    return _page(request, used, view, message=thanks)


def _release(request: Request, grant: SignoffGrant) -> None:
    """The decision did not land (Temporal down, or the ticket refused it): the link works
    again."""
    release_signoff_link(context_of(request).engine, grant)


async def _view(request: Request, grant: SignoffGrant) -> TicketBillingView | None:
    context = context_of(request)
    try:
        client = await context.temporal()
        view, _ = await tickets.load_view(client, context.engine, grant.ticket_id)
        return view
    except (TemporalUnavailable, tickets.TicketProblem):
        try:
            view, _ = tickets.stored_view(context.engine, grant.ticket_id, "unreachable")
            return view
        except tickets.TicketProblem:
            return None
