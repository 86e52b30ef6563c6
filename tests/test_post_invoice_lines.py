"""The posting activity against the real embedded ledger (SQLite): a ticket that moved to
another customer credits its old customer there and charges the new one, one posting key per
customer, and posting again (a retry, a crash, a replay) sends nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import ActivityEnvironment

from activities.prepaid_gateway import PrepaidGateway
from activities.ticket_activities import TicketActivities
from billing.posting import BillableLine
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from messages.ticket_activities import PostInput, PostResult
from store.book_source import BookSource
from store.database import open_store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # the ledger's clock
CLOSED = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # when T-1001 closed
D = Decimal
CHARGE = BillableLine(
    "te-1",
    "labor",
    "LAB-REMOTE",
    "Restarted print spooler",
    D("0.50"),
    D("95.00"),
    D("47.50"),
    False,
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
def ledger(engine: Engine) -> EmbeddedLedger:
    return EmbeddedLedger(engine, now=lambda: NOW)


@pytest.fixture
def post(engine: Engine, ledger: EmbeddedLedger) -> Callable[..., PostResult]:
    """Run ``post_invoice_lines`` for T-1001 as the worker does, on the real ledger."""
    activities = TicketActivities(
        book=BookSource(Path("unused.toml")),
        billing=ledger,
        helpdesk=EmbeddedHelpdesk(engine),
        prepaid=PrepaidGateway(None, "unused"),  # type: ignore[arg-type]  # posting draws nothing
        engine=engine,
        instance_id="test",
    )

    def run(customer: str, revision: int, lines: list[BillableLine]) -> PostResult:
        # Closed in November: the lines belong to the 2026-11 period.
        request = PostInput("T-1001", customer, revision, lines, CLOSED)
        return ActivityEnvironment().run(activities.post_invoice_lines, request)

    return run


def by_customer(ledger: EmbeddedLedger) -> dict[str, list[tuple[str, str, Decimal, str]]]:
    held: dict[str, list[tuple[str, str, Decimal, str]]] = {}
    for posted in ledger.ticket_lines("T-1001"):
        held.setdefault(posted.billing_customer_id, []).append(
            (posted.invoice_id, posted.line.line_type.value, posted.line.amount, posted.posting_key)
        )
    return held


def test_a_moved_ticket_is_credited_on_the_old_customers_invoice_and_charged_to_the_new(
    ledger: EmbeddedLedger, post: Callable[..., PostResult]
) -> None:
    first = post("CUST-9001", 1, [CHARGE])
    assert (first.invoice_id, first.ledger_total) == ("INV-CUST-9001-0001", D("47.50"))

    moved = post("CUST-9003", 2, [CHARGE])

    assert (moved.posted_lines, moved.posted_amount, moved.ledger_total) == (
        2,
        D("0.00"),
        D("47.50"),
    )
    assert moved.invoice_id == "INV-CUST-9003-0001"
    assert by_customer(ledger) == {
        "CUST-9001": [
            ("INV-CUST-9001-0001", "charge", D("47.50"), "test:T-1001:r1"),
            # the reversing credit sits on the invoice that holds the charge, under its own key
            ("INV-CUST-9001-0001", "credit", D("-47.50"), "test:T-1001:r2:credit:CUST-9001"),
        ],
        "CUST-9003": [("INV-CUST-9003-0001", "charge", D("47.50"), "test:T-1001:r2")],
    }


def test_posting_the_same_revision_again_sends_nothing(
    ledger: EmbeddedLedger, post: Callable[..., PostResult]
) -> None:
    post("CUST-9001", 1, [CHARGE])
    post("CUST-9003", 2, [CHARGE])
    before = by_customer(ledger)

    again = post("CUST-9003", 2, [CHARGE])

    assert (again.posted_lines, again.ledger_total) == (0, D("47.50"))
    assert by_customer(ledger) == before


def test_a_move_to_a_covering_contract_only_credits_the_old_customer(
    ledger: EmbeddedLedger, post: Callable[..., PostResult]
) -> None:
    post("CUST-9001", 1, [CHARGE])

    moved = post("CUST-9003", 2, [])

    assert (moved.posted_lines, moved.ledger_total) == (1, D("0.00"))
    assert list(by_customer(ledger)) == ["CUST-9001"]  # nothing on the new customer's invoice
