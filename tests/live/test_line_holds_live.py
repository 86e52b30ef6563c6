"""Line-level holds and disputes: a customer who questions one line of several blocks only that
line. The rest posts; the ticket stays held (it never settles with a line nobody decided) until
the line is released or its dispute resolved, and each step is in the line's explanation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from messages.ticket import LineInput, ResolveLineDisputeInput, ReviewInput
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack


async def three_lines(stack: BillingStack, name: str) -> str:
    ticket = stack.ticket(name)
    await stack.send(
        opened(ticket_id=ticket),
        logged("te-1", 60, "2026-11-02T10:00:00-05:00", ticket_id=ticket),
        logged("te-2", 30, "2026-11-03T10:00:00-05:00", ticket_id=ticket),
        logged("te-3", 15, "2026-11-04T10:00:00-05:00", ticket_id=ticket),
        closed(ticket_id=ticket),
    )
    return ticket


def amounts(stack: BillingStack, ticket: str) -> dict[str, int]:
    net: dict[str, int] = {}
    for line in stack.ledger_lines(ticket):
        net[line.source_id] = net.get(line.source_id, 0) + line.amount_cents
    return {source: cents for source, cents in net.items() if cents}


async def test_a_held_line_stays_off_the_invoice_while_the_rest_posts(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(book_text(mode='"review"'))
    async with running_stack(time_env.client, tmp_path, book) as stack:
        ticket = await three_lines(stack, "held")
        view = await stack.settled(ticket)
        assert view.status == "in_review"  # finance works it line by line

        def finance(reason: str = "") -> dict[str, str]:
            return {"actor": "fay", "role": "finance", "reason": reason}

        # Support may not hold a line; a line that is not charged cannot be held.
        refused = await stack.signal(
            ticket, "hold_line", LineInput("sam", "support", "x", source_id="te-2")
        )
        assert refused.history[-1].outcome == "refused"
        refused = await stack.signal(
            ticket, "hold_line", LineInput(**finance("why"), source_id="te-9")
        )
        assert "not a charged line" in refused.history[-1].detail

        view = await stack.signal(
            ticket, "hold_line", LineInput(**finance("hours look high"), source_id="te-2")
        )
        assert view.history[-1].outcome == "accepted"
        held = next(line for line in view.rating.lines if line.source_id == "te-2")
        assert held.held is not None and "hours look high" in held.held
        view = await stack.signal(
            ticket,
            "review",
            ReviewInput(**finance(), action="approve", expected_total=view.rating.chargeable_total),
        )
        assert (view.status, view.hold.code) == ("held", "line_held")
        assert "te-2" in view.hold.message and "rest is posted" in view.hold.message
        assert amounts(stack, ticket) == {"te-1": 9500, "te-3": 2375}

        view = await stack.signal(ticket, "release_line", LineInput(**finance(), source_id="te-2"))
        assert view.status == "posted"
        assert amounts(stack, ticket) == {"te-1": 9500, "te-2": 4750, "te-3": 2375}
        released = next(line for line in view.rating.lines if line.source_id == "te-2")
        assert released.held is None
        assert any("released by fay (finance)" in note for note in released.explanation)


async def test_a_disputed_line_blocks_only_itself_and_each_outcome_bills_as_decided(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(time_env.client, tmp_path, book) as stack:
        ticket = await three_lines(stack, "disputed")
        assert (await stack.settled(ticket)).status == "posted"
        assert amounts(stack, ticket) == {"te-1": 9500, "te-2": 4750, "te-3": 2375}

        for line in ("te-1", "te-2", "te-3"):
            view = await stack.signal(
                ticket,
                "dispute_line",
                LineInput("cara", "customer", "we did not ask for this", source_id=line),
            )
        # Disputed after posting: each line is credited on the draft, the ticket held.
        assert (view.status, view.hold.code, view.hold.owner) == (
            "held",
            "line_disputed",
            "manager",
        )
        assert amounts(stack, ticket) == {}

        def manager(outcome: str, line: str, **extra: object) -> ResolveLineDisputeInput:
            return ResolveLineDisputeInput(
                "max", "manager", "checked the notes", source_id=line, outcome=outcome, **extra
            )

        bad = await stack.signal(
            ticket, "resolve_line_dispute", manager("uphold", "te-1", reason_code="because")
        )
        assert "reason_code must be one of" in bad.history[-1].detail
        await stack.signal(
            ticket, "resolve_line_dispute", manager("uphold", "te-1", reason_code="work_confirmed")
        )
        await stack.signal(
            ticket,
            "resolve_line_dispute",
            manager("adjust", "te-2", reason_code="billing_error", quantity=Decimal("0.25")),
        )
        assert (await stack.state(ticket)).status == "held"  # te-3 is still disputed
        assert amounts(stack, ticket) == {"te-1": 9500, "te-2": 2375}
        view = await stack.signal(
            ticket, "resolve_line_dispute", manager("write_off", "te-3", reason_code="goodwill")
        )
        assert view.status == "posted"
        assert amounts(stack, ticket) == {"te-1": 9500, "te-2": 2375}
        written_off = next(line for line in view.rating.lines if line.source_id == "te-3")
        assert written_off.amount == 0
        assert any("write off, goodwill by max (manager)" in n for n in written_off.explanation)
