"""The exception queue offers the way out of a customer_changed hold: finance confirms the
move, with a reason (a rerate could never release it)."""

from __future__ import annotations

from datetime import UTC, datetime

from api.pages import remedies
from billing.roles import Role
from store.models import TicketRecord

AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_customer_changed_hold_is_released_by_finance_confirming_the_move() -> None:
    record = TicketRecord(
        ticket_id="T-1001",
        status="held",
        hold_code="customer_changed",
        hold_owner="billing",
        status_since=AT,
        updated_at=AT,
    )
    [remedy] = remedies(record)
    assert (remedy.form, remedy.label, remedy.reason_required) == (
        "review",
        "Confirm customer change",
        True,
    )
    assert remedy.allowed == {Role.FINANCE, Role.ADMIN}


def test_a_locked_period_adjustment_is_released_by_finance_approving_it() -> None:
    record = TicketRecord(
        ticket_id="T-1001",
        status="held",
        hold_code="locked_period_adjustment",
        hold_owner="billing",
        status_since=AT,
        updated_at=AT,
    )
    [remedy] = remedies(record)
    assert (remedy.form, remedy.label, remedy.reason_required) == (
        "review",
        "Approve adjustment",
        True,
    )
    assert remedy.allowed == {Role.FINANCE, Role.ADMIN}
