"""The exception queue offers the way out of a customer_changed hold: finance confirms the
move, with a reason (a rerate could never release it)."""

from __future__ import annotations

from datetime import UTC, datetime

from api.pages import EXCEPTION_DECISIONS, remedies
from billing.roles import Role
from connectors.helpdesk_links import helpdesk_ticket_url
from settings import Settings
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


def held(code: str, owner: str = "support") -> TicketRecord:
    return TicketRecord(
        ticket_id="dh-42",
        status="held",
        hold_code=code,
        hold_owner=owner,
        next_actor=owner,
        status_since=AT,
        updated_at=AT,
    )


def test_a_rejected_ticket_offers_the_managers_approval_not_only_a_rerate() -> None:
    """Issue 15: a manager-rejected ticket offered only Rerate, which cannot clear it."""
    [remedy] = remedies(held("rejected"))
    assert (remedy.form, remedy.label) == ("approve", "Approve anyway")
    assert remedy.allowed == {Role.MANAGER, Role.ADMIN}
    assert "support corrects the time entries in the help desk" in remedy.next_step


def test_sensitive_text_is_cleared_in_the_help_desk_with_a_link_there() -> None:
    """Issue 15: sensitive_text offered Rerate, which finds the same text again."""
    [remedy] = remedies(held("sensitive_text"))
    assert remedy.form == "helpdesk" and "a rerate cannot clear it" in remedy.next_step
    assert remedy.form not in EXCEPTION_DECISIONS
    django = Settings(
        helpdesk_adapter="django-helpdesk", django_helpdesk_url="https://desk.example.com/"
    )
    assert helpdesk_ticket_url(django, "dh-42") == "https://desk.example.com/helpdesk/tickets/42/"
    assert helpdesk_ticket_url(django, "T-1010") is None
    zendesk = Settings(helpdesk_adapter="zendesk", zendesk_subdomain="acme")
    assert helpdesk_ticket_url(zendesk, "1234") == "https://acme.zendesk.com/agent/tickets/1234"
    assert helpdesk_ticket_url(Settings(), "T-1010") is None  # the embedded help desk
