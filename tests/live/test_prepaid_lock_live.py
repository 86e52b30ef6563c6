"""The month-end repro: a retainer ticket closed earlier but delivered after the month was
finalized used to take the hours of a ticket already on the finalized invoice, which was then
re-rated and billed the difference on the next invoice. Now the finalized hours stay put: the
late ticket draws what is left and its explanation names the invoice that kept them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from billing.posting import BillableLine
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import running_stack


def retainer_book(directory: Path) -> tuple[str, Path]:
    """A book with one customer on a one-hour retainer; the contract's id is unique per test,
    as prepaid balances are workflows named by contract and tests share one server."""
    contract = f"ret-{uuid.uuid4().hex[:8]}"
    book = directory / "book.toml"
    book.write_text(
        book_text(
            contracts=(
                f'[[contracts]]\nid = "{contract}"\ntype = "retainer"\nhours_per_month = "1"\n'
            ),
            customers=(
                '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\n'
                f'contract = "{contract}"\n'
            ),
        )
    )
    return contract, book


def closed_on(day: str, ticket_id: str) -> dict:  # type: ignore[type-arg]
    return {**closed(ticket_id=ticket_id), "occurred_at": f"{day}T12:00:00Z"}


async def test_a_late_earlier_ticket_cannot_take_hours_from_a_finalized_invoice(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    contract, book = retainer_book(tmp_path)
    async with running_stack(time_env.client, tmp_path, book) as stack:
        later, earlier = stack.ticket("later"), stack.ticket("earlier")
        await stack.send(
            opened(ticket_id=later),
            logged("te-later", 90, "2026-11-24T10:00:00-05:00", ticket_id=later),
            closed_on("2026-11-25", later),
        )
        posted = await stack.settled(later)
        assert (posted.status, posted.posted_total) == ("posted", Decimal("47.50"))
        [invoice] = posted.invoice_ids
        EmbeddedLedger(stack.engine).finalize_invoice(invoice)
        lines_before = [(ln.invoice_id, ln.amount_cents) for ln in stack.ledger_lines(later)]

        # Closed on the 20th, delivered only now: in closing order it would come first.
        await stack.send(
            opened(ticket_id=earlier),
            logged("te-earlier", 60, "2026-11-19T10:00:00-05:00", ticket_id=earlier),
            closed_on("2026-11-20", earlier),
        )
        late = await stack.settled(earlier)
        assert (late.status, late.posted_total) == ("posted", Decimal("95.00"))
        [charged] = [line for line in late.rating.lines if line.amount]
        assert any(
            f"retainer {contract} 2026-11 was finalized on {invoice}: 0.00 h left" in note
            for note in charged.explanation
        ), charged.explanation

        kept = await stack.settled(later)
        assert kept.revision == posted.revision  # never re-rated
        assert kept.posted_total == Decimal("47.50")
        assert [(ln.invoice_id, ln.amount_cents) for ln in stack.ledger_lines(later)] == (
            lines_before
        )
        assert not any(item.action == "prepaid_changed" for item in kept.history)


async def test_hours_a_finalized_month_covered_whole_stay_with_their_ticket(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A ticket the retainer covered whole posts no line, so no invoice holds it; its month's
    finalized invoice (here, the monthly fee's) still closes it: a ticket closed earlier but
    delivered later draws only what is left, and the covered ticket is not rated again."""
    contract, book = retainer_book(tmp_path)
    async with running_stack(time_env.client, tmp_path, book) as stack:
        covered, earlier = stack.ticket("covered"), stack.ticket("earlier")
        await stack.send(
            opened(ticket_id=covered),
            logged("te-covered", 60, "2026-11-24T10:00:00-05:00", ticket_id=covered),
            closed_on("2026-11-25", covered),
        )
        before = await stack.settled(covered)
        assert (before.status, before.invoice_ids) == ("no_charge", [])
        ledger = EmbeddedLedger(stack.engine)
        fee = BillableLine(
            f"fee-{contract}-2026-11",
            "fee",
            f"FEE-{contract}",
            "Retainer fee, November 2026",
            Decimal(1),
            Decimal("500.00"),
            Decimal("500.00"),
            False,
        )
        receipt = ledger.post_lines(
            PostRequest(
                f"fee:{contract}:2026-11", f"fee:{contract}:2026-11", "CUST-1", [fee], "2026-11"
            )
        )
        ledger.finalize_invoice(receipt.invoice_id)

        await stack.send(
            opened(ticket_id=earlier),
            logged("te-earlier", 60, "2026-11-19T10:00:00-05:00", ticket_id=earlier),
            closed_on("2026-11-20", earlier),
        )
        late = await stack.settled(earlier)
        assert late.posted_total == Decimal("95.00")
        [charged] = [line for line in late.rating.lines if line.amount]
        assert any(
            f"was finalized on {receipt.invoice_id}: 0.00 h left" in note
            for note in charged.explanation
        ), charged.explanation
        after = await stack.settled(covered)
        assert (after.status, after.revision) == ("no_charge", before.revision)
