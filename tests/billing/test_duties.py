"""Separation of duties as pure rules (billing/duties.py): the editor of a ticket's lines may not
approve it, and the approving manager's own signoff link does not count."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.decisions import Decision, LineEdit, TicketDecisions
from billing.duties import approval_conflict, signoff_conflict
from messages.ticket import Approvals

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def by(actor: str, role: str = "finance") -> Decision:
    return Decision(actor, role, "why", AT)


def test_whoever_edited_a_line_may_not_approve_and_anyone_else_may() -> None:
    decisions = TicketDecisions(
        line_edits=[LineEdit("te-2", by("fran")), LineEdit("te-1", by("fran"))]
    )
    assert approval_conflict("fran", decisions) == (
        "separation of duties: fran edited this ticket's lines (te-1, te-2), so someone else "
        "must approve it"
    )
    assert approval_conflict("fay", decisions) is None
    assert approval_conflict("fran", TicketDecisions()) is None


def test_the_approving_manager_cannot_stand_in_for_the_customer() -> None:
    approvals = Approvals(manager=by("maria", "manager"))
    link = "customer (link 3fA9xk, issued by maria)"
    assert "issued by maria, who approved the ticket" in (
        signoff_conflict(link, "maria", approvals) or ""
    )
    assert "maria approved the ticket as its manager, so someone else must record" in (
        signoff_conflict("maria", None, approvals) or ""
    )
    assert signoff_conflict("customer (link 3fA9xk, issued by omar)", "omar", approvals) is None
    assert signoff_conflict("ada", None, approvals) is None
    assert signoff_conflict(link, "maria", Approvals()) is None
