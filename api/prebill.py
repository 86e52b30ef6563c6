"""The pre-bill API: every billing customer's period with its total and state, one customer's
pre-bill line by line, and finance approving or finalizing it. Reading is open to every staff
role; approving and finalizing to finance and admin (refusals are audited). Line holds and
disputes are the tickets' own decisions (``POST /api/tickets/{id}/hold-line`` …): the pre-bill
page sends those, this module adds no second path for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.engine import Engine

from api.context import RETRY_AFTER_SECONDS, caller, context_of
from api.security import Principal
from api.tickets import PeopleNumber
from billing.book import BillingBook
from billing.invoice_run import parse_period
from connectors.billing import BillingAdapter, BillingRejected, BillingUnavailable
from connectors.selection import ConnectorSetupError, billing_adapter
from usecases.prebill import (
    PREBILL_DECIDERS,
    Prebill,
    PrebillProblem,
    approve_prebill,
    audit_prebill_refusal,
    build_prebill,
    default_period,
    finalize_prebill,
    prebill_document,
    prebill_summaries,
    summary_document,
)

router = APIRouter(prefix="/api", tags=["prebill"])


def _period(text: str) -> str:
    parse_period(text)  # ValueError naming the text: a 422 naming the field
    return text


Period = Annotated[str, AfterValidator(_period)]
MONTH_QUERY = Query(
    default=None,
    description="the billing period, YYYY-MM (default: the previous month, UTC)",
    pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
)


# ---- what the API answers ------------------------------------------------------------------


class PrebillLineOut(BaseModel):
    source_id: str
    kind: str
    service_code: str
    description: str
    quantity: str
    unit_price: str
    amount: str
    taxable: bool
    line_type: str
    invoice_id: str | None
    state: str = Field(description="on invoice | fee to add | held | disputed | waiting: …")
    counted: bool = Field(description="in the subtotal: the invoice will carry it")
    hold: str = Field(description="who holds or disputes the line, when and why")
    explanation: list[str]


class PrebillTicketOut(BaseModel):
    ticket_id: str | None = Field(description="null for the monthly fees")
    label: str
    state: str
    total: str
    waiting_total: str
    lines: list[PrebillLineOut]


class PrebillInvoiceOut(BaseModel):
    invoice_id: str
    status: str
    lines: int
    total: str


class PrebillApprovalOut(BaseModel):
    actor: str
    role: str
    reason: str
    at: datetime
    total: str


class PrebillUsageOut(BaseModel):
    contract: str
    type: str
    period: str
    granted_hours: str
    used_hours: str
    remaining_hours: str
    tickets: int


class PrebillOut(BaseModel):
    billing_customer_id: str
    customer_name: str
    currency: str
    period: str
    state: str = Field(description="open | approved | finalized")
    state_note: str
    period_ended: bool
    invoices: list[PrebillInvoiceOut]
    tickets: list[PrebillTicketOut]
    subtotal: str
    tax: str | None = Field(description="null: the billing system cannot tell the tax")
    tax_note: str
    total: str
    waiting_total: str
    approval: PrebillApprovalOut | None
    prepaid_usage: list[PrebillUsageOut]


class PrebillSummaryOut(BaseModel):
    billing_customer_id: str
    customer_name: str
    currency: str
    period: str
    lines: int
    tickets: int
    total: str
    waiting_total: str
    state: str
    state_note: str


class PrebillApproveBody(BaseModel):
    month: Period = Field(description="the billing period, YYYY-MM")
    expected_total: PeopleNumber = Field(
        description="the pre-bill total you approve; refused (409) if it changed since"
    )
    reason: str = Field(default="", max_length=2000)


class PrebillFinalizeBody(BaseModel):
    month: Period = Field(description="the billing period, YYYY-MM")
    reason: str = Field(default="", max_length=2000)


class PrebillFinalizedOut(BaseModel):
    billing_customer_id: str
    period: str
    invoice_ids: list[str]
    fees_added: list[str]
    total: str


# ---- reading what the pre-bill needs -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrebillSources:
    book: BillingBook
    billing: BillingAdapter
    engine: Engine
    reading: dict[str, Any]  # now, instance_id, mode_override


def prebill_sources(request: Request) -> PrebillSources:
    """The book, the billing adapter and the store; 503 naming the problem when the book cannot
    be loaded or the billing system is not set up (never a 500)."""
    context = context_of(request)
    book, problem = context.book.current()
    if book is None:
        raise HTTPException(
            503,
            f"the billing book cannot be loaded: {problem}",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    try:
        billing = billing_adapter(context.settings, context.engine)
    except ConnectorSetupError as error:
        raise HTTPException(503, f"the billing system is not set up: {error}") from None
    reading = {
        "now": context.now(),
        "instance_id": context.settings.instance_id,
        "mode_override": context.settings.mode_override,
    }
    return PrebillSources(book, billing, context.engine, reading)


def _unavailable(error: Exception) -> HTTPException:
    return HTTPException(
        503,
        f"the billing system cannot answer now: {error}",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def read_prebill(sources: PrebillSources, customer: str, month: str) -> Prebill:
    try:
        return build_prebill(
            sources.book, sources.billing, sources.engine, customer, month, **sources.reading
        )
    except PrebillProblem as problem:
        raise HTTPException(404, str(problem)) from None
    except BillingUnavailable as error:
        raise _unavailable(error) from None


def refuse_role(
    sources: PrebillSources,
    principal: Principal,
    customer: str,
    month: str,
    action: str,
    reason: str,
) -> None:
    """403 (audited) for a role that may not approve or finalize a pre-bill."""
    if principal.role in PREBILL_DECIDERS:
        return
    why = (
        f"role {principal.role.value!r} may not {action.replace('_', ' ')} "
        f"(allowed: {', '.join(sorted(PREBILL_DECIDERS))})"
    )
    audit_prebill_refusal(
        sources.engine,
        customer,
        month,
        principal.name,
        principal.role.value,
        action,
        reason,
        why,
        sources.reading["now"],
    )
    raise HTTPException(403, why)


# ---- endpoints -----------------------------------------------------------------------------


@router.get(
    "/prebill",
    response_model=list[PrebillSummaryOut],
    summary="Every billing customer's period: total and state",
)
def list_prebills(
    request: Request,
    principal: Principal = Depends(caller),
    month: Period | None = MONTH_QUERY,
) -> list[dict[str, object]]:
    sources = prebill_sources(request)
    period = month or default_period(sources.reading["now"])
    try:
        summaries = prebill_summaries(
            sources.book, sources.billing, sources.engine, period, **sources.reading
        )
    except BillingUnavailable as error:
        raise _unavailable(error) from None
    return [summary_document(summary) for summary in summaries]


@router.get(
    "/prebill/{customer}",
    response_model=PrebillOut,
    summary="One customer's pre-bill: every line of its next invoice, by ticket",
    responses={404: {"description": "the book has no such billing customer"}},
)
def one_prebill(
    customer: str,
    request: Request,
    principal: Principal = Depends(caller),
    month: Period | None = MONTH_QUERY,
) -> dict[str, object]:
    sources = prebill_sources(request)
    period = month or default_period(sources.reading["now"])
    return prebill_document(read_prebill(sources, customer, period))


_DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "only finance and admin approve and finalize (audited)"},
    404: {"description": "the book has no such billing customer"},
    409: {"description": "refused: the detail says why (total changed, period not ended, …)"},
}


@router.post(
    "/prebill/{customer}/approve",
    response_model=PrebillOut,
    summary="Approve a customer's pre-bill at the total you saw (finance, admin)",
    responses=_DECISION_RESPONSES,
)
def approve(
    customer: str,
    body: PrebillApproveBody,
    request: Request,
    principal: Principal = Depends(caller),
) -> dict[str, object]:
    sources = prebill_sources(request)
    read_prebill(sources, customer, body.month)  # 404 for a customer the book lacks
    refuse_role(sources, principal, customer, body.month, "approve_prebill", body.reason)
    try:
        prebill = approve_prebill(
            sources.book,
            sources.billing,
            sources.engine,
            customer,
            body.month,
            actor=principal.name,
            role=principal.role.value,
            reason=body.reason,
            expected_total=body.expected_total,
            **sources.reading,
        )
    except PrebillProblem as problem:
        raise HTTPException(409, str(problem)) from None
    except BillingUnavailable as error:
        raise _unavailable(error) from None
    return prebill_document(prebill)


@router.post(
    "/prebill/{customer}/finalize",
    response_model=PrebillFinalizedOut,
    summary="Finalize a customer's period from its approved pre-bill (finance, admin)",
    responses=_DECISION_RESPONSES,
)
def finalize(
    customer: str,
    body: PrebillFinalizeBody,
    request: Request,
    principal: Principal = Depends(caller),
) -> dict[str, object]:
    sources = prebill_sources(request)
    read_prebill(sources, customer, body.month)
    refuse_role(sources, principal, customer, body.month, "finalize_prebill", body.reason)
    try:
        done = finalize_prebill(
            sources.book,
            sources.billing,
            sources.engine,
            customer,
            body.month,
            actor=principal.name,
            role=principal.role.value,
            reason=body.reason,
            **sources.reading,
        )
    except (PrebillProblem, BillingRejected) as problem:
        raise HTTPException(409, str(problem)) from None
    except BillingUnavailable as error:
        raise _unavailable(error) from None
    return {
        "billing_customer_id": done.billing_customer_id,
        "period": done.period,
        "invoice_ids": done.invoice_ids,
        "fees_added": done.fees_added,
        "total": str(done.total),
    }
