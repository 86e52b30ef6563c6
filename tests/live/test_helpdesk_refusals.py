"""A help desk that refuses the write-back for good (``HelpdeskRejected``: the ticket is gone, a
permission is missing) is asked once, not retried forever; the refusal shows in the ticket's
history and audit log, and billing goes on."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.helpdesk import HelpdeskRejected
from store.models import AuditEntry
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import running_stack


class RefusingHelpdesk(EmbeddedHelpdesk):
    """A help desk whose ticket was deleted: every status write-back is refused."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.calls = 0

    def set_billing_status(self, ticket_id: str, status: str, hold_reason: str | None) -> None:
        self.calls += 1
        raise HelpdeskRejected(f"404: ticket {ticket_id} does not exist")


async def test_a_refused_write_back_is_not_retried_and_shows_in_the_history(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    desks: list[RefusingHelpdesk] = []

    def refusing(engine: Engine) -> RefusingHelpdesk:
        desks.append(RefusingHelpdesk(engine))
        return desks[-1]

    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(time_env.client, tmp_path, book, helpdesk=refusing) as stack:
        ticket = stack.ticket("gone")
        await stack.send(
            opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket), closed(ticket_id=ticket)
        )
        view = await stack.settled(ticket)

    # Billing went on: the ticket posted although the help desk never showed it.
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("95.00")
    refusals = [
        item
        for item in view.history
        if item.action == "update_helpdesk" and item.outcome == "refused"
    ]
    assert refusals, view.history
    assert all(f"ticket {ticket} does not exist" in item.detail for item in refusals)
    # One call per status to show, never a retry.
    assert desks[0].calls == len(refusals)
    with Session(stack.engine) as session:
        audited = session.exec(
            select(AuditEntry).where(
                AuditEntry.ticket_id == ticket, AuditEntry.action == "update_helpdesk"
            )
        ).all()
    assert [entry.outcome for entry in audited] == ["refused"] * len(refusals)
