"""SPEC §5 on a real (time-skipping) Temporal server: every path a ticket's billing can take."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack

StackFactory = Callable[..., AbstractAsyncContextManager[BillingStack]]


@pytest.fixture
def make_stack(time_env: WorkflowEnvironment, tmp_path: Path) -> StackFactory:
    def factory(
        book: str | None = None, **settings: Any
    ) -> AbstractAsyncContextManager[BillingStack]:
        path = tmp_path / "book.toml"
        path.write_text(book if book is not None else book_text())
        return running_stack(time_env.client, tmp_path, path, **settings)

    return factory


@pytest.fixture
async def stack(make_stack: StackFactory) -> AsyncIterator[BillingStack]:
    async with make_stack() as running:
        yield running


def simple_ticket(ticket_id: str, minutes: int = 60, **logged_fields: Any) -> list[dict]:
    return [
        opened(ticket_id=ticket_id),
        logged("te-1", minutes, ticket_id=ticket_id, **logged_fields),
        closed(ticket_id=ticket_id),
    ]


async def test_a_ready_ticket_is_posted_and_the_help_desk_is_told(stack: BillingStack) -> None:
    ticket = stack.ticket("ready")
    await stack.send(*simple_ticket(ticket, 60))
    view = await stack.settled(ticket)
    assert view.status == "posted"
    assert view.posted_total == Decimal("95.00")
    assert stack.ledger_total(ticket) == Decimal("95.00")
    status = stack.helpdesk_status(ticket)
    assert status is not None and status.billing_status == "posted"
    [note] = stack.helpdesk_notes(ticket)
    assert "Billed 95.00" in note
