"""The ticket API: list and filter (from the review store), one ticket in full (from its
workflow), and one endpoint per decision. The caller's token names the actor and the role.

A role that may not take an action is refused here with 403 and the refusal is audited; every
other decision goes to the ticket's workflow, which has the last word (a missing reason, a total
that changed since the caller looked) and records the outcome we report.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema
from temporalio.service import RPCError

from api.context import RETRY_AFTER_SECONDS, TemporalUnavailable, caller, context_of
from api.security import Principal, issue_signoff_link
from billing.decisions import LINE_DISPUTE_REASON_CODES
from billing.numbers import NonNegativeDecimal
from billing.roles import Action, Role, may, refusal
from billing.ticket_ids import ALPHABET, MAX_TICKET_ID_LENGTH, safe_ticket_id
from messages.ticket import (
    ActorInput,
    ApproveInput,
    DisputeInput,
    LineEditInput,
    LineInput,
    MarkNonBillableInput,
    NextActor,
    RejectInput,
    RerateInput,
    ResolveDisputeInput,
    ResolveLineDisputeInput,
    ReviewInput,
    SignoffInput,
)
from messages.views import AuditItem, TicketBillingView
from store.database import as_utc
from store.notifications import NOTIFIER
from store.signoff_links import open_link_issued_by
from store.ticket_records import append_audit, audit_trail, ticket_records
from usecases import tickets
from usecases.queues import chargeable_total, queue_owner, waiting_reason
from workflows.ticket_billing import TicketBillingWorkflow

router = APIRouter(prefix="/api", tags=["tickets"])
DECISION_WAIT_SECONDS = 10.0
Money = Decimal
# The ticket in the path keeps the ticket-id alphabet (billing/ticket_ids.py): any other is a 422
# naming path.ticket_id, before it reaches a workflow id, the store or a link.
TicketIdPath = Annotated[
    str,
    Path(
        description=f"the help desk ticket id: {ALPHABET}, NFKC-normalized, "
        f"at most {MAX_TICKET_ID_LENGTH} characters",
        examples=["T-1001"],
    ),
    AfterValidator(safe_ticket_id),
]


# ---- reading -----------------------------------------------------------------------------------


class TicketSummary(BaseModel):
    ticket_id: str
    customer_id: str | None
    status: str
    owner: str
    reason: str
    chargeable_total: Money
    posted_total: Money
    status_since: datetime
    age_hours: float


class AuditEntryOut(BaseModel):
    at: datetime
    actor: str
    role: str
    action: str
    outcome: str
    reason: str
    detail: str


class TicketDetail(BaseModel):
    view: TicketBillingView
    note: str | None = None
    audit: list[AuditEntryOut]
    temporal_ui: str


MAX_AGE_HOURS = 100 * 366 * 24


@router.get("/tickets", response_model=list[TicketSummary], summary="List and filter tickets")
def list_tickets(
    request: Request,
    principal: Principal = Depends(caller),
    status: list[str] | None = Query(default=None, description="billing status (repeatable)"),
    owner: str | None = Query(default=None, description="who must act: support, manager…"),
    customer: str | None = Query(default=None, description="help desk customer id"),
    # Finite and at most a century: inf, nan or 1e308 hours is no age (and overflows a timedelta).
    min_age_hours: float | None = Query(
        default=None, ge=0, le=MAX_AGE_HOURS, allow_inf_nan=False, description="waiting at least"
    ),
) -> list[TicketSummary]:
    context = context_of(request)
    records = ticket_records(context.engine, statuses=status, customer_id=customer)
    now = context.now()
    out = []
    for record in records:
        age = now - as_utc(record.status_since)
        if owner and queue_owner(record) != owner:
            continue
        if min_age_hours is not None and age < timedelta(hours=min_age_hours):
            continue
        out.append(
            TicketSummary(
                ticket_id=record.ticket_id,
                customer_id=record.customer_id,
                status=record.status,
                owner=queue_owner(record),
                reason=waiting_reason(record),
                chargeable_total=chargeable_total(record),
                posted_total=Decimal(record.posted_cents).scaleb(-2),
                status_since=as_utc(record.status_since),
                age_hours=round(age.total_seconds() / 3600, 2),
            )
        )
    return out


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketDetail,
    summary="One ticket: lines and why",
    responses={
        404: {"description": "no billing workflow and no record of the ticket"},
        503: {
            "description": "its workflow cannot answer now (worker down, workflow task "
            "failing, query timed out) and the review store has no copy; try again later"
        },
    },
)
async def ticket_detail(
    ticket_id: TicketIdPath, request: Request, principal: Principal = Depends(caller)
) -> TicketDetail:
    context = context_of(request)
    view, note = await load_ticket(request, ticket_id)
    trail = [
        AuditEntryOut(
            at=as_utc(entry.at),
            actor=entry.actor,
            role=entry.role,
            action=entry.action,
            outcome=entry.outcome,
            reason=entry.reason,
            detail=entry.detail,
        )
        for entry in audit_trail(context.engine, ticket_id)
    ]
    return TicketDetail(
        view=view, note=note, audit=trail, temporal_ui=temporal_ui_link(request, ticket_id)
    )


async def load_ticket(request: Request, ticket_id: str) -> tuple[TicketBillingView, str | None]:
    """The ticket's view and a note; 404 for a ticket nobody knows, 503 (with Retry-After)
    when its workflow cannot answer now and the review store has no copy: a worker down, a
    workflow task failing, a query timing out are never a 500."""
    context = context_of(request)
    try:
        try:
            client = await context.temporal()
        except TemporalUnavailable as error:
            try:
                return tickets.stored_view(context.engine, ticket_id, "cannot be reached now")
            except tickets.TicketUnknown:
                raise tickets.TicketUnavailable(
                    f"Temporal cannot be reached now ({error}), and the review store has no "
                    f"copy of ticket {ticket_id}; try again shortly"
                ) from None
        return await tickets.load_view(client, context.engine, ticket_id)
    except tickets.TicketUnknown as problem:
        raise HTTPException(404, str(problem)) from None
    except tickets.TicketUnavailable as problem:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        raise HTTPException(503, str(problem), headers=headers) from None


def temporal_ui_link(request: Request, ticket_id: str) -> str:
    settings = context_of(request).settings
    return (
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
        f"/workflows/ticket-{ticket_id}"
    )


# ---- decisions ---------------------------------------------------------------------------------


# People's numbers keep the book's limits (billing/numbers.py): a decimal string (or a whole
# number), finite, at most 12 digits before the point and 6 after; not negative.
# JSON numbers with a fraction are refused (a float cannot hold money exactly), so the schema
# says string or integer.
PeopleNumber = Annotated[
    NonNegativeDecimal,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d{1,12}(\.\d{1,6})?\s*$"},
                {"type": "integer", "minimum": 0, "maximum": 999999999999},
            ],
            "description": "a decimal string, at most 12 digits before the point and 6 after",
        }
    ),
]


class LineEditBody(BaseModel):
    source_id: str = Field(min_length=1, max_length=200)
    quantity: PeopleNumber | None = Field(default=None, description='e.g. "1.5" (hours)')
    unit_price: PeopleNumber | None = Field(default=None, description='e.g. "80.00"')


class ReasonBody(BaseModel):
    reason: str = Field(default="", max_length=2000)


class ApproveBody(ReasonBody):
    expected_total: PeopleNumber | None = Field(
        default=None, description="the total you approved; refused if the ticket changed since"
    )


class SignoffBody(ReasonBody):
    accepted: bool = True
    expected_total: PeopleNumber | None = None


class ResolveDisputeBody(ReasonBody):
    outcome: Literal["uphold", "adjust", "write_off"]
    line_edits: list[LineEditBody] = Field(default=[], max_length=1000)


class ReviewBody(ReasonBody):
    action: Literal["approve", "edit", "hold"]
    line_edits: list[LineEditBody] = Field(default=[], max_length=1000)
    expected_total: PeopleNumber | None = None


class LineBody(ReasonBody):
    source_id: str = Field(
        min_length=1, max_length=200, description="the charged line's source, e.g. te-3"
    )


class ResolveLineDisputeBody(LineBody):
    outcome: Literal["uphold", "adjust", "write_off"]
    reason_code: Literal[LINE_DISPUTE_REASON_CODES]  # type: ignore[valid-type]
    quantity: PeopleNumber | None = Field(default=None, description="adjust: the new quantity")
    unit_price: PeopleNumber | None = Field(default=None, description="adjust: the new unit price")


class DecisionOut(BaseModel):
    outcome: str  # accepted | refused
    detail: str
    status: str | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    signal: Any
    build: Callable[[Any, dict[str, Any]], ActorInput]


def _edits(body: Any) -> list[LineEditInput]:
    return [LineEditInput(e.source_id, e.quantity, e.unit_price) for e in body.line_edits]


DECISIONS: dict[str, tuple[Decision, type[BaseModel]]] = {
    "approve": (
        Decision(
            Action.APPROVE,
            TicketBillingWorkflow.approve,
            lambda b, who: ApproveInput(**who, expected_total=b.expected_total),
        ),
        ApproveBody,
    ),
    "reject": (
        Decision(Action.REJECT, TicketBillingWorkflow.reject, lambda b, who: RejectInput(**who)),
        ReasonBody,
    ),
    "signoff": (
        Decision(
            Action.CUSTOMER_SIGNOFF,
            TicketBillingWorkflow.customer_signoff,
            lambda b, who: SignoffInput(
                **who, accepted=b.accepted, expected_total=b.expected_total
            ),
        ),
        SignoffBody,
    ),
    "dispute": (
        Decision(Action.DISPUTE, TicketBillingWorkflow.dispute, lambda b, who: DisputeInput(**who)),
        ReasonBody,
    ),
    "resolve-dispute": (
        Decision(
            Action.RESOLVE_DISPUTE,
            TicketBillingWorkflow.resolve_dispute,
            lambda b, who: ResolveDisputeInput(**who, outcome=b.outcome, line_edits=_edits(b)),
        ),
        ResolveDisputeBody,
    ),
    "mark-non-billable": (
        Decision(
            Action.MARK_NON_BILLABLE,
            TicketBillingWorkflow.mark_non_billable,
            lambda b, who: MarkNonBillableInput(**who),
        ),
        ReasonBody,
    ),
    "review": (
        Decision(
            Action.REVIEW,
            TicketBillingWorkflow.review,
            lambda b, who: ReviewInput(
                **who, action=b.action, line_edits=_edits(b), expected_total=b.expected_total
            ),
        ),
        ReviewBody,
    ),
    "rerate": (
        Decision(Action.RERATE, TicketBillingWorkflow.rerate, lambda b, who: RerateInput(**who)),
        ReasonBody,
    ),
    "hold-line": (
        Decision(
            Action.HOLD_LINE,
            TicketBillingWorkflow.hold_line,
            lambda b, who: LineInput(**who, source_id=b.source_id),
        ),
        LineBody,
    ),
    "release-line": (
        Decision(
            Action.RELEASE_LINE,
            TicketBillingWorkflow.release_line,
            lambda b, who: LineInput(**who, source_id=b.source_id),
        ),
        LineBody,
    ),
    "dispute-line": (
        Decision(
            Action.DISPUTE_LINE,
            TicketBillingWorkflow.dispute_line,
            lambda b, who: LineInput(**who, source_id=b.source_id),
        ),
        LineBody,
    ),
    "resolve-line-dispute": (
        Decision(
            Action.RESOLVE_LINE_DISPUTE,
            TicketBillingWorkflow.resolve_line_dispute,
            lambda b, who: ResolveLineDisputeInput(
                **who,
                source_id=b.source_id,
                outcome=b.outcome,
                reason_code=b.reason_code,
                quantity=b.quantity,
                unit_price=b.unit_price,
            ),
        ),
        ResolveLineDisputeBody,
    ),
}


async def decide(
    request: Request, ticket_id: str, name: str, body: BaseModel, principal: Principal
) -> JSONResponse:
    """Refuse (403, audited) a role that may not; otherwise the workflow's own answer."""
    decision, _ = DECISIONS[name]
    context = context_of(request)
    reason = getattr(body, "reason", "")
    if not may(principal.role, decision.action):
        why = refusal(principal.role, decision.action)
        audit_refusal(context.engine, ticket_id, principal, decision.action.value, reason, why)
        return _decision_response(403, DecisionOut(outcome="refused", detail=why))
    who = {
        "actor": principal.name,
        "role": principal.role.value,
        "reason": reason,
        "requested_at": datetime.now(UTC),
        "request_id": uuid.uuid4().hex,
    }
    try:
        client = await context.temporal()
        outcome = await tickets.send_decision(
            client,
            context.engine,
            ticket_id,
            decision.signal,
            decision.build(body, who),
            tickets.DecisionAuthor(principal.name, principal.role.value, principal.token_id),
            DECISION_WAIT_SECONDS,
        )
    except (TemporalUnavailable, RPCError) as error:
        return _decision_response(
            503, DecisionOut(outcome="not sent", detail=f"send again: {error}"), retry=True
        )
    except tickets.TicketNotRunning as problem:
        return _decision_response(404, DecisionOut(outcome="not sent", detail=str(problem)))
    except tickets.NoOutcome as problem:
        return _decision_response(202, DecisionOut(outcome="pending", detail=str(problem)))
    try:
        view, _ = await tickets.load_view(client, context.engine, ticket_id)
    except tickets.TicketProblem:
        status = None  # the outcome is known; the status it left the ticket in can wait
    else:
        status = view.status
    result = DecisionOut(outcome=outcome.outcome, detail=outcome.detail, status=status)
    return _decision_response(200 if outcome.outcome == "accepted" else 409, result)


def audit_refusal(
    engine: Any, ticket_id: str, principal: Principal, action: str, reason: str, why: str
) -> None:
    append_audit(
        engine,
        [
            AuditItem(
                entry_key=f"api:{uuid.uuid4().hex}",
                ticket_id=ticket_id,
                at=datetime.now(UTC),
                actor=principal.name,
                role=principal.role.value,
                action=action,
                outcome="refused",
                reason=reason,
                detail=f"{why} (refused by the API)",
            )
        ],
    )


def _decision_response(status: int, body: DecisionOut, retry: bool = False) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


_DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": DecisionOut, "description": "your role may not take this action (audited)"},
    404: {"model": DecisionOut, "description": "no running billing workflow for the ticket"},
    409: {"model": DecisionOut, "description": "the ticket refused it; detail says why"},
    503: {"model": DecisionOut, "description": "Temporal unreachable; send again later"},
}


def _register(name: str, body_model: type[BaseModel]) -> None:
    async def endpoint(
        ticket_id: TicketIdPath,
        body: body_model,  # type: ignore[valid-type]
        request: Request,
        principal: Principal = Depends(caller),
    ) -> JSONResponse:
        return await decide(request, ticket_id, name, body, principal)

    endpoint.__name__ = f"decide_{name.replace('-', '_')}"
    # Annotations are strings in this module; FastAPI must see the body's real model.
    endpoint.__annotations__["body"] = body_model
    router.add_api_route(
        f"/tickets/{{ticket_id}}/{name}",
        endpoint,
        methods=["POST"],
        response_model=DecisionOut,
        responses=_DECISION_RESPONSES,
        summary=f"{name.replace('-', ' ').capitalize()} (as the token's role)",
    )


for _name, (_decision, _body) in DECISIONS.items():
    _register(_name, _body)


# ---- customer signoff links ---------------------------------------------------------------------


class SignoffLinkOut(BaseModel):
    url: str
    expires_in_days: float
    # True: the link the customer was e-mailed (shown to you, audited), not a new one.
    emailed: bool = False


@router.post(
    "/tickets/{ticket_id}/signoff-link",
    response_model=SignoffLinkOut,
    responses={
        403: {"description": "your role, or separation of duties, forbids it (audited)"},
        404: {"description": "no such ticket"},
        409: {"description": "the ticket does not await the customer's signoff"},
        503: {"description": "the ticket cannot be read now; try again"},
    },
    summary="A one-time signoff link for the ticket's customer (revokes earlier links)",
)
async def signoff_link(
    ticket_id: TicketIdPath, request: Request, principal: Principal = Depends(caller)
) -> SignoffLinkOut:
    """Issued only for a ticket that awaits its customer's signoff, never by the manager who
    approved it (separation of duties), and recorded with its issuer, who is named beside the
    customer's decision in the audit. A new link revokes the ticket's earlier ones."""
    context = context_of(request)
    if principal.role not in SIGNOFF_LINK_ROLES:
        why = f"role {principal.role.value!r} may not send signoff links"
        audit_refusal(context.engine, ticket_id, principal, "signoff_link", "", why)
        raise HTTPException(403, why)
    try:
        client = await context.temporal()
        view, _ = await tickets.load_view(client, context.engine, ticket_id)
    except tickets.TicketUnknown as problem:
        raise HTTPException(404, str(problem)) from None
    except (TemporalUnavailable, tickets.TicketUnavailable) as problem:
        raise HTTPException(
            503, f"try again: {problem}", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        ) from None
    if view.next_actor is not NextActor.CUSTOMER:
        raise HTTPException(
            409,
            f"ticket {ticket_id} does not await its customer's signoff (it is "
            f"{view.status.value.replace('_', ' ')}, waiting for {view.waiting_for})",
        )
    approver = view.approvals.manager.actor if view.approvals.manager else None
    if context.settings.separation_of_duties and approver == principal.name:
        why = (
            f"separation of duties: {principal.name} approved this ticket as its manager and may "
            "not also issue its customer's signoff link"
        )
        audit_refusal(context.engine, ticket_id, principal, "signoff_link", "", why)
        raise HTTPException(403, why)
    ttl = context.settings.signoff_link_ttl
    # The link e-mailed to the customer's billing contact is the customer's credential: staff
    # see it only by asking here, and the asking is audited. Shown, not replaced: a new link
    # would revoke the one in the customer's mailbox.
    emailed = open_link_issued_by(context.engine, ticket_id, NOTIFIER, context.signing_key)
    if emailed is not None:
        token, expires = emailed
        detail = "was shown the signoff link e-mailed to the customer's billing contact"
        days = max(0.0, (expires - datetime.now(UTC)).total_seconds() / 86400)
    else:
        token = issue_signoff_link(
            context.engine, context.signing_key, ticket_id, principal.name, ttl
        )
        detail = "issued a signoff link for the customer (earlier links no longer work)"
        days = ttl.total_seconds() / 86400
    append_audit(
        context.engine,
        [
            AuditItem(
                entry_key=f"api:{uuid.uuid4().hex}",
                ticket_id=ticket_id,
                at=datetime.now(UTC),
                actor=principal.name,
                role=principal.role.value,
                action="signoff_link",
                outcome="accepted",
                reason="",
                detail=f"{principal.name} {detail}",
            )
        ],
    )
    url = f"{context.settings.public_url.rstrip('/')}/signoff/{token}"
    return SignoffLinkOut(url=url, expires_in_days=round(days, 2), emailed=emailed is not None)


# Support may not sign off, so it may not hold the customer's credential either (issue 14).
SIGNOFF_LINK_ROLES = frozenset({Role.MANAGER, Role.ADMIN})
