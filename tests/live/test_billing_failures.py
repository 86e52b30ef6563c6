"""When the billing system or the book fails: transient errors are retried without doubling
anything, refusals become holds for billing, and a fixed cause plus `rerate` moves on."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from connectors.billing import BillingUnavailable, PostReceipt, PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from messages.ticket import RerateInput
from store.models import LedgerPosting
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import running_stack


class FlakyLedger(EmbeddedLedger):
    """The embedded ledger behind a bad network: the first call fails before anything is
    written, the second writes the lines but its response is lost."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.calls = 0

    def post_lines(self, request: PostRequest) -> PostReceipt:
        self.calls += 1
        if self.calls == 1:
            raise BillingUnavailable("503 Service Unavailable")
        receipt = super().post_lines(request)
        if self.calls == 2:
            raise BillingUnavailable("timed out reading the response")
        return receipt


def ticket_events(ticket: str) -> list[dict]:
    return [
        opened(ticket_id=ticket),
        logged("te-1", 60, ticket_id=ticket),
        closed(ticket_id=ticket),
    ]


def write_book(directory: Path, text: str) -> Path:
    path = directory / "book.toml"
    path.write_text(text)
    return path


async def test_lost_responses_and_outages_are_retried_and_post_once(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    ledgers: list[FlakyLedger] = []

    def flaky(engine: Engine) -> FlakyLedger:
        ledgers.append(FlakyLedger(engine))
        return ledgers[-1]

    book = write_book(tmp_path, book_text())
    async with running_stack(time_env.client, tmp_path, book, billing=flaky) as stack:
        ticket = stack.ticket("flaky")
        await stack.send(*ticket_events(ticket))
        view = await stack.settled(ticket)
        # The third attempt finds the lines already in the ledger and posts nothing more.
        assert view.status == "posted" and ledgers[0].calls == 2
        assert stack.ledger_total(ticket) == Decimal("95.00")
        assert len(stack.ledger_lines(ticket)) == 1
        with Session(stack.engine) as session:
            postings = session.exec(select(LedgerPosting).where(LedgerPosting.ticket_id == ticket))
            assert len(list(postings)) == 1


async def test_a_refusal_is_a_billing_hold_until_fixed_and_rerated(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    known: set[str] = set()
    only_known: Callable[[Engine], EmbeddedLedger] = lambda engine: EmbeddedLedger(  # noqa: E731
        engine, known
    )
    book = write_book(tmp_path, book_text())
    async with running_stack(time_env.client, tmp_path, book, billing=only_known) as stack:
        ticket = stack.ticket("refused")
        await stack.send(*ticket_events(ticket))
        view = await stack.settled(ticket)
        assert (view.status, view.hold.code, view.hold.owner) == (
            "held",
            "billing_rejected",
            "billing",
        )
        assert "CUST-1" in view.hold.message
        known.add("CUST-1")  # billing creates the customer in the billing system
        rerate = RerateInput(actor="fin", role="finance", reason="customer created")
        view = await stack.signal(ticket, "rerate", rerate)
        assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("95.00")


async def test_a_broken_book_holds_for_billing_until_fixed(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    book = write_book(tmp_path, book_text().replace('technician = "95.00"', 'technician = "-1"'))
    async with running_stack(time_env.client, tmp_path, book) as stack:
        ticket = stack.ticket("book")
        await stack.send(*ticket_events(ticket))
        view = await stack.settled(ticket)
        assert (view.status, view.hold.code, view.hold.owner) == (
            "held",
            "book_unavailable",
            "billing",
        )
        assert "rates.technician" in view.hold.message
        write_book(tmp_path, book_text())
        rerate = RerateInput(actor="fin", role="finance", reason="book fixed")
        view = await stack.signal(ticket, "rerate", rerate)
        assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("95.00")
