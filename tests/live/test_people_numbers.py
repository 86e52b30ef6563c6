"""People's numbers keep the book's limits at every edge, on a real uvicorn, worker and dev
server: the API answers 422 naming the field, a signal sent straight to Temporal is refused and
audited while the ticket's workflow tasks keep completing, and a ticket whose workflow cannot
answer is a 503, never a 500.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker
from temporalio.workflow import NondeterminismError

from billing.roles import Role
from devtools.dev_server import DevServer
from messages.ticket import LineEditInput, ReviewInput, ticket_workflow_id
from store.ticket_records import audit_trail
from tests.billing.builders import book_text
from tests.live.api_server import ServedStack, served_stack
from tests.live.test_pages import browser, hour_of_work, log_in
from workflows.ticket_billing import TicketBillingWorkflow

REVIEW_BOOK = book_text(mode='"review"')
OUT_OF_RANGE = "is out of range: use at most 12 digits before the decimal point and 6 after it"


@pytest.fixture
async def site(dev_server: DevServer, dev_client: Client, tmp_path: Path) -> AsyncIterator[Any]:
    async with served_stack(dev_server, dev_client, tmp_path, REVIEW_BOOK) as served:
        yield served


async def decide(
    http: httpx.AsyncClient, site: ServedStack, ticket: str, endpoint: str, role: Role, **body: Any
) -> httpx.Response:
    return await http.post(
        f"/api/tickets/{ticket}/{endpoint}",
        json=body,
        headers={"Authorization": f"Bearer {site.token(role)}"},
    )


# ---- the API: 422 naming the field -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("1E+20", OUT_OF_RANGE),
        ("1E+999999", OUT_OF_RANGE),
        ("0.0000001", OUT_OF_RANGE),
        ("1000000000000", OUT_OF_RANGE),
        ("NaN", "is not a finite decimal number"),
        ("-Infinity", "is not a finite decimal number"),
        ("-1", "must not be negative"),
        (1.5, "write decimals as quoted strings"),
        ("ten", "is not a decimal number"),
    ],
)
async def test_every_number_a_person_sends_is_422_naming_its_field(
    site: ServedStack, value: object, says: str
) -> None:
    async with browser(site) as http:
        for endpoint, role, body, field in [
            ("review", Role.FINANCE, {"action": "edit"}, "line_edits[0].unit_price"),
            ("review", Role.FINANCE, {"action": "edit"}, "line_edits[0].quantity"),
            ("resolve-dispute", Role.MANAGER, {"outcome": "adjust"}, "line_edits[0].quantity"),
            ("resolve-dispute", Role.MANAGER, {"outcome": "adjust"}, "line_edits[0].unit_price"),
            ("approve", Role.MANAGER, {}, "expected_total"),
            ("review", Role.FINANCE, {"action": "approve"}, "expected_total"),
            ("signoff", Role.ADMIN, {}, "expected_total"),
        ]:
            if field.startswith("line_edits"):
                body = {**body, "line_edits": [{"source_id": "te-1", field[14:]: value}]}
            else:
                body = {**body, field: value}
            response = await decide(http, site, "T-never", endpoint, role, reason="r", **body)
            assert response.status_code == 422, (endpoint, field, response.text)
            [problem] = response.json()["problems"]
            assert problem["field"] == field, (endpoint, problem)
            assert says in problem["message"], (endpoint, problem)


async def test_the_review_page_says_what_is_wrong_with_an_edit_and_sends_nothing(
    site: ServedStack,
) -> None:
    ticket = await hour_of_work(site.stack, "page-edit", "in_review")
    async with browser(site) as http:
        csrf = await log_in(http, site, Role.FINANCE)
        response = await http.post(
            f"/review/{ticket}/edit",
            data={"csrf": csrf, "source_id": "te-1", "unit_price": "1E+20", "reason": "typo"},
            follow_redirects=True,
        )
        assert response.status_code == 200
        assert "not sent: line_edits[0].unit_price: &#39;1E+20&#39; is out of range" in (
            response.text
        )
    assert all(entry.action != "review" for entry in audit_trail(site.stack.engine, ticket))


# ---- straight to Temporal: refused, audited, and the ticket keeps working ----------------------


async def test_an_out_of_range_edit_signalled_straight_to_temporal_is_refused_and_audited(
    site: ServedStack,
) -> None:
    stack = site.stack
    ticket = await hour_of_work(stack, "straight", "in_review")
    finance = {"actor": "fin", "role": "finance", "reason": "typo", "action": "edit"}

    def edit(**values: Decimal) -> ReviewInput:
        return ReviewInput(**finance, line_edits=[LineEditInput("te-1", **values)])

    refusals = [
        (edit(unit_price=Decimal("1E+20")), f"te-1: unit_price '{10**20}' {OUT_OF_RANGE}"),
        (edit(quantity=Decimal("1E+999999")), f"te-1: quantity '1E+999999' {OUT_OF_RANGE}"),
        (edit(unit_price=Decimal("NaN")), "te-1: unit_price 'NaN' is not a finite number"),
        (edit(quantity=Decimal("0.0000001")), f"te-1: quantity '0.0000001' {OUT_OF_RANGE}"),
        (  # each number within the limits, the line's amount not
            edit(quantity=Decimal("2"), unit_price=Decimal("999999999999")),
            "te-1: its amount would be 1999999999998.00, over the limit of 999999999999.99",
        ),
    ]
    for signal, why in refusals:
        view = await stack.signal(ticket, "review", signal)
        assert (view.history[-1].outcome, view.history[-1].detail) == ("refused", why)
        assert view.status == "in_review" and view.rating.chargeable_total == Decimal("95.00")

    # The ticket still takes a good edit, rates it, and shows it everywhere.
    view = await stack.signal(ticket, "review", edit(unit_price=Decimal("80.00")))
    assert view.history[-1].outcome == "accepted"
    assert view.rating.chargeable_total == Decimal("80.00")
    assert (await stack.search_attributes(ticket))["ChargeableCents"] == 8000

    handle = stack.client.get_workflow_handle(ticket_workflow_id(ticket))
    history = await handle.fetch_history()
    failed = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]
    assert failed == []

    audited = [e for e in audit_trail(stack.engine, ticket) if e.action == "review"]
    assert [e.outcome for e in audited] == ["refused"] * len(refusals) + ["accepted"]
    assert "1E+999999" in audited[1].detail

    async with browser(site) as http:
        api = await http.get(
            f"/api/tickets/{ticket}",
            headers={"Authorization": f"Bearer {site.token(Role.FINANCE)}"},
        )
        assert (
            api.status_code == 200 and api.json()["view"]["rating"]["chargeable_total"] == "80.00"
        )
        await log_in(http, site, Role.FINANCE)
        page = await http.get(f"/tickets/{ticket}")
        assert page.status_code == 200 and "80.00" in page.text


EDIT_LIMITS_PATCH = "refuse-edits-beyond-limits"


async def test_a_ticket_that_accepted_such_an_edit_before_the_patch_replays_it_accepted(
    site: ServedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old path: a worker from before the limits accepted an edit with seven decimals (it
    rated fine). Its history must replay accepted, then rated, on today's code; without the
    patch it would not (the gate's NondeterminismError)."""
    stack = site.stack
    patched = workflow.patched
    monkeypatch.setattr(
        workflow, "patched", lambda patch_id: patch_id != EDIT_LIMITS_PATCH and patched(patch_id)
    )
    ticket = await hour_of_work(stack, "before-limits", "in_review")
    seven_decimals = ReviewInput(
        actor="fin",
        role="finance",
        reason="as agreed",
        action="edit",
        line_edits=[LineEditInput("te-1", quantity=Decimal("1.0000001"))],
    )
    view = await stack.signal(ticket, "review", seven_decimals)
    [review] = [item for item in view.history if item.action == "review"]
    assert review.outcome == "accepted"
    # Today's rating does not apply it: the line stays as rated, held for billing, not raised.
    assert view.status == "held" and view.hold is not None
    assert view.hold.code == "edit_out_of_range" and view.hold.owner == "billing"
    assert view.rating.lines[0].quantity == Decimal("1.00")
    history = await stack.client.get_workflow_handle(ticket_workflow_id(ticket)).fetch_history()
    monkeypatch.undo()

    replayer = Replayer(
        workflows=[TicketBillingWorkflow],
        data_converter=stack.client.data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
    # Refusing it unpatched (the new path, taken while replaying) breaks the ticket in flight.
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure


# ---- a query that fails is a 503 -----------------------------------------------------------------


@workflow.defn(name="TicketBillingWorkflow")
class FailingTicket:
    """A ticket whose every workflow task fails (as one did on the overflowing attribute)."""

    @workflow.run
    async def run(self, start: object) -> None:
        raise RuntimeError("this workflow task fails on every attempt")

    @workflow.query
    def billing_state(self) -> None:
        return None


async def test_a_ticket_whose_workflow_cannot_answer_is_a_503_with_the_reason(
    site: ServedStack, dev_client: Client
) -> None:
    failing, unpolled = f"T-fail-{uuid.uuid4().hex[:6]}", f"T-nobody-{uuid.uuid4().hex[:6]}"
    queue = f"failing-{uuid.uuid4().hex[:6]}"
    # Unsandboxed: this module imports the API's client libraries, which the sandbox refuses.
    runner = UnsandboxedWorkflowRunner()
    async with Worker(
        dev_client, task_queue=queue, workflows=[FailingTicket], workflow_runner=runner
    ):
        await dev_client.start_workflow(
            "TicketBillingWorkflow",
            None,
            id=ticket_workflow_id(failing),
            task_queue=queue,
            execution_timeout=timedelta(minutes=5),
        )
        await dev_client.start_workflow(
            "TicketBillingWorkflow",
            None,
            id=ticket_workflow_id(unpolled),
            task_queue=f"{queue}-no-worker",
            execution_timeout=timedelta(minutes=5),
        )
        async with browser(site) as http:
            auth = {"Authorization": f"Bearer {site.token(Role.OPERATOR)}"}
            for ticket in (failing, unpolled):
                response = await http.get(f"/api/tickets/{ticket}", headers=auth)
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"]
                detail = response.json()["detail"]
                assert f"the billing workflow of {ticket} " in detail
                assert "the review store has no copy of the ticket yet; try again" in detail
            await log_in(http, site, Role.OPERATOR)
            page = await http.get(f"/tickets/{failing}")
            assert page.status_code == 503 and "try again shortly" in page.text
