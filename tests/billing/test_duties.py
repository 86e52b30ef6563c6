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


def test_a_link_issued_by_the_approving_manager_does_not_count() -> None:
    approvals = Approvals(manager=by("maria", "manager"))
    assert "issued by maria, who approved the ticket" in (
        signoff_conflict("maria", approvals) or ""
    )
    assert signoff_conflict("omar", approvals) is None
    assert signoff_conflict(None, approvals) is None
    assert signoff_conflict("maria", Approvals()) is None
