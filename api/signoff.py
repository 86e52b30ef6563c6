"""``/signoff/<token>``: the customer sees the ticket's customer-safe lines, may question single
lines, and accepts or declines the rest, without an account. The token names one ticket
(signed), its accept or decline works once (recorded in the store), and it expires; it can never
act on another ticket, nor on a line that is not one of its ticket's charged lines, whatever the
URL or form says. Attempts with links that are not valid are throttled per client address and
link (api/throttle.py): past the limit, the page answers 429 with Retry-After.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api import throttle
from api.context import TemporalUnavailable, context_of
from api.pages import read_session
from api.security import (
    Principal,
    SignoffGrant,
    Unauthorized,
    read_signoff_link,
    release_signoff_link,
    same_secret,
    use_signoff_link,
)
from api.templating import templates
from api.tickets import audit_refusal
from billing.decisions import LineHoldKind
from billing.money import ZERO, format_decimal
from billing.numbers import exact_decimal
from billing.roles import Action, Role
from messages.ticket import LineInput, SignoffInput
from messages.views import TicketBillingView
from usecases import tickets
from workflows.ticket_billing import TicketBillingWorkflow

router = APIRouter(tags=["customer signoff"])
SIGNOFF_WAIT_SECONDS = 10.0
QUESTION_LINE = "question_line"
# A question's reason, like any decision's reason through the API (``ReasonBody``).
REASON_MAX_CHARS = 2000
# The API's bound on a source id (``LineBody``): anything longer is no line of any ticket.
SOURCE_ID_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class SignoffLine:
    """One charged line as the customer may see it: its public description and numbers, and
    whether it is off the invoice for now. Who held a line and why is staff's, so only the
    customer's own question is shown with its words."""

    source_id: str
    description: str
    quantity: str
    unit_price: str
    amount: str
    questioned: str | None  # the reason the customer gave (through a signoff link)
    under_review: bool  # kept off the invoice by someone on staff (a hold, or their dispute)
    can_question: bool


def _form_token(key: str, grant: SignoffGrant) -> str:
    """Ties the form to its link, so another site cannot post a decision on the customer's
    behalf (the link itself is the credential; this is its CSRF check)."""
    return hmac.new(key.encode(), f"signoff:{grant.link_id}".encode(), hashlib.sha256).hexdigest()


def _actor(grant: SignoffGrant) -> str:
    """The customer as the ticket's history names them: by the link they acted through, and
    who issued it, so the audit shows both people behind a signoff."""
    issued = f", issued by {grant.issued_by}" if grant.issued_by else ""
    return f"customer (link {grant.link_id[:6]}{issued})"


def _author(grant: SignoffGrant) -> tickets.DecisionAuthor:
    return tickets.DecisionAuthor(
        _actor(grant), Role.CUSTOMER.value, link_id=grant.link_id, issued_by=grant.issued_by
    )


def _questionable(view: TicketBillingView | None) -> set[str]:
    """The source ids the ticket's ``dispute_line`` accepts: its charged lines with an amount."""
    if view is None or view.rating is None:
        return set()
    return {line.source_id for line in view.rating.lines if line.is_charged and line.amount}


def _lines(view: TicketBillingView) -> list[SignoffLine]:
    assert view.rating is not None
    # The holds as decided, not the rating's ``held`` marks: a line questioned a moment ago is
    # shown questioned while the ticket is still re-rating.
    holds = {hold.source_id: hold for hold in view.decisions.open_line_holds()}
    questionable = _questionable(view)
    lines = []
    for line in view.rating.lines:
        if not line.is_charged:
            continue
        hold = holds.get(line.source_id)
        by_customer = (
            hold is not None
            and hold.kind is LineHoldKind.DISPUTE
            and hold.decision.role == Role.CUSTOMER.value
        )
        lines.append(
            SignoffLine(
                source_id=line.source_id,
                description=line.description,
                quantity=format_decimal(line.quantity),
                unit_price=format_decimal(line.unit_price),
                amount=format_decimal(line.amount),
                questioned=hold.decision.reason if hold is not None and by_customer else None,
                under_review=hold is not None and not by_customer,
                can_question=hold is None and line.source_id in questionable,
            )
        )
    return lines


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
    lines: list[SignoffLine] = []
    total = off_invoice = None
    if view is not None and view.rating is not None:
        total = format_decimal(view.rating.chargeable_total)
        lines = _lines(view)
        waiting = sum(
            (Decimal(line.amount) for line in lines if line.questioned or line.under_review), ZERO
        )
        off_invoice = format_decimal(waiting) if waiting else None
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
            "off_invoice": off_invoice,
            "questioned": any(line.questioned for line in lines),
            "message": message,
            "ok": ok,
            "can_decide": can_decide,
            "reason_max": REASON_MAX_CHARS,
            "form_token": _form_token(context.signing_key, grant) if grant else "",
        },
        status_code=status,
    )


def _grant(request: Request, token: str) -> SignoffGrant | Response:
    """The link's grant, or the page that refuses it: 429 while this address or link is locked
    out after failed attempts, 403 for a link that is not valid (counted as a failure)."""
    context = context_of(request)
    attempt = throttle.signoff_attempt(request, token)
    wait = throttle.retry_after(request, attempt)
    if wait is not None:
        message = "Too many attempts with links that are not valid: please try again later."
        response = _page(request, None, None, message=message, ok=False, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        return read_signoff_link(context.engine, context.signing_key, token)
    except Unauthorized as error:
        throttle.failed(request, attempt)
        return _page(request, None, None, message=str(error), ok=False, status=403)


@router.get(
    "/signoff/{token}",
    response_class=HTMLResponse,
    summary="A customer's signoff page",
    responses={
        403: {"description": "the link is not valid, or has expired"},
        429: {"description": "too many attempts with links that are not valid; see Retry-After"},
    },
)
async def signoff_page(token: str, request: Request) -> Response:
    grant = _grant(request, token)
    if isinstance(grant, Response):
        return grant
    view = await _view(request, grant)
    if grant.used:
        return _page(request, grant, view, message="This link has already been used. Thank you.")
    return _page(request, grant, view)


@router.post(
    "/signoff/{token}",
    response_class=HTMLResponse,
    summary="Accept or decline, or question one line",
    responses={
        403: {"description": "the link is not valid, or the form did not come from its page"},
        429: {"description": "too many attempts with links that are not valid; see Retry-After"},
    },
)
async def signoff_decide(
    token: str,
    request: Request,
    decision: str = Form(...),
    form_token: str = Form(""),
    reason: str = Form(""),
    expected_total: str = Form(""),
    source_id: str = Form(""),
) -> Response:
    context = context_of(request)
    grant = _grant(request, token)
    if isinstance(grant, Response):
        return grant
    # A wrong form token is not counted as a failed attempt: another site could post one from
    # the customer's browser and lock the customer out.
    if not same_secret(form_token, _form_token(context.signing_key, grant)):
        return _page(request, grant, None, message="The form has expired.", ok=False, status=403)
    if grant.used:
        view = await _view(request, grant)
        return _page(request, grant, view, message="This link has already been used.", ok=False)
    if decision == QUESTION_LINE:
        return await _question_line(request, grant, source_id, reason)
    if decision not in ("accept", "decline"):
        return _page(
            request, grant, None, message="Choose accept or decline.", ok=False, status=422
        )
    if decision == "decline" and not reason.strip():
        view = await _view(request, grant)
        return _page(
            request, grant, view, message="Please say why you decline.", ok=False, status=422
        )
    if len(reason) > REASON_MAX_CHARS:
        view = await _view(request, grant)
        return _page(
            request,
            grant,
            view,
            message=f"Please keep your comment under {REASON_MAX_CHARS} characters.",
            ok=False,
            status=422,
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
    staff = await _staff_standing_in(request, grant)
    if staff is not None:
        audit_refusal(
            context.engine,
            grant.ticket_id,
            Principal(staff, Role.CUSTOMER),
            Action.CUSTOMER_SIGNOFF.value,
            reason,
            f"separation of duties: {staff} issued this signoff link or approved the ticket, "
            "and may not sign off for the customer (signoff link)",
        )
        return _page(
            request,
            grant,
            None,
            message=(
                "You are signed in as staff who issued this link or approved the ticket: only "
                "the customer may accept or decline it."
            ),
            ok=False,
            status=403,
        )
    outcome_name = "accepted" if decision == "accept" else "declined"
    # Claim the link first: of two clicks, exactly one decides.
    if not use_signoff_link(context.engine, grant, outcome_name):
        view = await _view(request, grant)
        used = dataclasses.replace(grant, used=True)
        return _page(request, used, view, message="This link has already been used.", ok=False)
    signal = SignoffInput(
        actor=_actor(grant),
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
            context.engine,
            grant.ticket_id,
            TicketBillingWorkflow.customer_signoff,
            signal,
            _author(grant),
            SIGNOFF_WAIT_SECONDS,
        )
    except (TemporalUnavailable, tickets.TicketProblem) as error:
        _release(request, grant)
        return _page(
            request, grant, None, message=f"Please try again later ({error}).", ok=False, status=503
        )
    view = await _view(request, grant)
    used = dataclasses.replace(grant, used=True)
    if outcome.outcome != "accepted":
        _release(request, grant)
        unused = dataclasses.replace(grant, used=False)
        return _page(request, unused, view, message=outcome.detail, ok=False, status=409)
    if decision == "decline":
        thanks = "Thank you: we have recorded that you decline, and will be in touch."
    elif view is not None and any(line.questioned for line in _lines(view)):
        thanks = (
            "Thank you: the other charges are accepted. A line you questioned is not billed "
            "until we have answered you."
        )
    else:
        thanks = "Thank you: the charges are accepted."
    return _page(request, used, view, message=thanks)


async def _question_line(
    request: Request, grant: SignoffGrant, source_id: str, reason: str
) -> HTMLResponse:
    """The customer questions one charged line: the ticket's ``dispute_line`` as the customer.

    A question does not use up the link. It decides nothing for the ticket as a whole (one
    line stays off the invoice until a manager or finance answers it), and a customer who
    questions two lines should still be able to accept or decline the rest afterwards; accept
    and decline still use the link up, and the link still expires. What a link can do is
    bounded all the same: only its own ticket's charged lines, each questioned at most once
    while its question is open (the ticket refuses a second), with a bounded reason.
    """
    context = context_of(request)
    reason = reason.strip()
    if not reason:
        view = await _view(request, grant)
        return _page(
            request,
            grant,
            view,
            message="Please say what is wrong with the line you question.",
            ok=False,
            status=422,
        )
    if len(reason) > REASON_MAX_CHARS:
        view = await _view(request, grant)
        return _page(
            request,
            grant,
            view,
            message=f"Please keep your question under {REASON_MAX_CHARS} characters.",
            ok=False,
            status=422,
        )
    view = await _view(request, grant)
    if view is None or view.rating is None:
        return _page(
            request,
            grant,
            view,
            message="The charges cannot be shown right now: please try again later.",
            ok=False,
            status=503,
        )
    line = next((line for line in _lines(view) if line.source_id == source_id), None)
    if line is not None and (line.questioned or line.under_review):
        already = "you have already questioned it" if line.questioned else "we are reviewing it"
        return _page(
            request,
            grant,
            view,
            message=f"“{line.description}” is not billed for now: {already}.",
            ok=False,
            status=409,
        )
    if line is None or not line.can_question:
        # Not one of this ticket's charged lines (or one that bills nothing, which the page
        # never offers): a form changed by hand, or a page so old the line is gone. Refused
        # here, never sent, and audited like any refused decision.
        shown = source_id[:SOURCE_ID_MAX_CHARS]
        audit_refusal(
            context.engine,
            grant.ticket_id,
            Principal(_actor(grant), Role.CUSTOMER),
            Action.DISPUTE_LINE.value,
            reason,
            f"{shown!r} is not a charged line of ticket {grant.ticket_id} (signoff link)",
        )
        return _page(
            request,
            grant,
            view,
            message=(
                "That line is not one of this ticket's charges, so it cannot be questioned. "
                "Reload the link to see the charges as they stand."
            ),
            ok=False,
            status=422,
        )
    signal = LineInput(
        actor=_actor(grant),
        role=Role.CUSTOMER.value,
        reason=reason,
        requested_at=datetime.now(UTC),
        request_id=uuid.uuid4().hex,
        source_id=source_id,
    )
    try:
        client = await context.temporal()
        outcome = await tickets.send_decision(
            client,
            context.engine,
            grant.ticket_id,
            TicketBillingWorkflow.dispute_line,
            signal,
            _author(grant),
            SIGNOFF_WAIT_SECONDS,
        )
    except (TemporalUnavailable, tickets.TicketProblem) as error:
        return _page(
            request, grant, None, message=f"Please try again later ({error}).", ok=False, status=503
        )
    view = await _view(request, grant)
    if outcome.outcome != "accepted":
        # The ticket's own words may name staff and their reasons (a line held by finance since
        # the page was loaded): the customer is told what it means for them, the history keeps
        # the rest.
        return _page(
            request,
            grant,
            view,
            message=(
                f"“{line.description}” cannot be questioned right now: it may have changed, or "
                "be under review already. Reload the link to see the charges as they stand."
            ),
            ok=False,
            status=409,
        )
    return _page(
        request,
        grant,
        view,
        message=(
            f"Thank you: your question about “{line.description}” is recorded. That line is "
            "not billed until we have answered you; you can still accept or decline the rest."
        ),
    )


async def _staff_standing_in(request: Request, grant: SignoffGrant) -> str | None:
    """The signed-in staff member opening the link, when they issued it or approved the ticket
    as its manager (and separation of duties is on): they may not also sign off for the
    customer. Anyone else's browser, signed in or not, is taken for the customer's. The ticket
    is read only for a signed-in browser whose person did not issue the link (the customer's
    own click costs no query of its workflow)."""
    if not context_of(request).settings.separation_of_duties:
        return None
    session = read_session(request)
    if session is None:
        return None
    name = session.principal.name
    if name == grant.issued_by:
        return name
    view = await _view(request, grant)
    approver = view.approvals.manager.actor if view and view.approvals.manager else None
    return name if name == approver else None


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
