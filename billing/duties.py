"""Separation of duties (issue 14): one person may not satisfy two controls on one ticket.
Pure rules over a ticket's decisions; the ticket's workflow applies them to authenticated
decisions when the worker's ``separation_of_duties`` setting is on (the default)."""

from __future__ import annotations

from typing import Protocol

from billing.decisions import Decision, TicketDecisions


class _Approvals(Protocol):
    manager: Decision | None


def approval_conflict(actor: str, decisions: TicketDecisions) -> str | None:
    """Whoever edited a ticket's lines may not approve it, as a manager or in finance's review:
    the approval is the check on the edit."""
    edited = sorted(edit.source_id for edit in decisions.line_edits if edit.decision.actor == actor)
    if not edited:
        return None
    return (
        f"separation of duties: {actor} edited this ticket's lines ({', '.join(edited)}), so "
        "someone else must approve it"
    )


def signoff_conflict(actor: str, issued_by: str | None, approvals: _Approvals) -> str | None:
    """The manager who approved a ticket may not also stand in for its customer: neither a
    signoff through a link that manager issued, nor one that manager records (an admin
    entering a signoff given on paper) counts."""
    manager = approvals.manager
    if manager is None:
        return None
    if issued_by is not None and manager.actor == issued_by:
        return (
            f"separation of duties: the signoff link was issued by {issued_by}, who approved the "
            "ticket as its manager; another person must issue the customer's link"
        )
    if manager.actor == actor:
        return (
            f"separation of duties: {actor} approved the ticket as its manager, so someone else "
            "must record the customer's signoff"
        )
    return None
