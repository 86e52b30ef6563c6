"""Folding events into a ticket: dedupe, updates, deletes, reopen, and out-of-order arrival."""

from __future__ import annotations

from itertools import permutations

from billing.events import parse_event
from billing.ticket import EventOutcome, Ticket


def event(event_id: str, kind: str, at: str, **fields: object):
    return parse_event(
        {
            "event_id": event_id,
            "type": kind,
            "occurred_at": f"2026-11-02T{at}:00Z",
            "ticket_id": "T-1",
            **fields,
        }
    )


def logged(
    event_id: str, at: str, entry_id: str = "te-1", minutes: int = 30, kind: str = "time.logged"
):
    return event(
        event_id,
        kind,
        at,
        entry_id=entry_id,
        technician="ana",
        role="technician",
        work_type="remote",
        started_at="2026-11-02T09:00:00-05:00",
        minutes=minutes,
    )


def fold(*events) -> Ticket:
    ticket = Ticket("T-1")
    for item in events:
        ticket.apply(item)
    return ticket


def test_opened_sets_the_ticket_fields() -> None:
    ticket = fold(
        event(
            "e-1", "ticket.opened", "10:00", customer_id="org-1", subject="Printer", warranty=True
        )
    )
    assert (ticket.customer_id, ticket.subject, ticket.warranty) == ("org-1", "Printer", True)


def test_a_repeated_event_id_is_a_no_op() -> None:
    ticket = Ticket("T-1")
    assert ticket.apply(logged("e-1", "10:00", minutes=30)) is EventOutcome.APPLIED
    assert ticket.apply(logged("e-1", "10:05", minutes=90)) is EventOutcome.DUPLICATE
    assert ticket.entries["te-1"].minutes == 30


def test_update_replaces_the_entry_and_delete_removes_it() -> None:
    ticket = fold(logged("e-1", "10:00"), logged("e-2", "10:05", minutes=45, kind="time.updated"))
    assert ticket.entries["te-1"].minutes == 45
    ticket.apply(event("e-3", "time.deleted", "10:10", entry_id="te-1"))
    assert ticket.entries == {}


def test_ticket_updated_changes_only_the_fields_it_carries() -> None:
    ticket = fold(
        event("e-1", "ticket.opened", "10:00", customer_id="org-1", subject="Printer"),
        event("e-2", "ticket.updated", "10:05", warranty=True),
    )
    assert (ticket.customer_id, ticket.subject, ticket.warranty) == ("org-1", "Printer", True)


def test_parts_are_added_and_removed() -> None:
    ticket = fold(
        event("e-1", "part.used", "10:00", line_id="p-1", sku="SSD", quantity=2),
        event("e-2", "part.used", "10:01", line_id="p-2", sku="CAB", quantity=1),
        event("e-3", "part.removed", "10:02", line_id="p-1"),
    )
    assert list(ticket.parts) == ["p-2"]


def test_close_reopen_close_keeps_the_last_resolution() -> None:
    ticket = fold(
        event("e-1", "ticket.closed", "10:00", resolution="first"),
        event("e-2", "ticket.reopened", "11:00"),
    )
    assert not ticket.closed
    ticket.apply(event("e-3", "ticket.closed", "12:00", resolution="second"))
    assert ticket.closed and ticket.resolution == "second"
    assert ticket.closed_at.hour == 12


def test_a_late_older_update_does_not_overwrite_a_newer_one() -> None:
    ticket = fold(logged("e-2", "10:05", minutes=45, kind="time.updated"))
    assert ticket.apply(logged("e-1", "10:00", minutes=30)) is EventOutcome.STALE
    assert ticket.entries["te-1"].minutes == 45
    assert any("e-1" in notice and "ignored" in notice for notice in ticket.notices)


def test_a_delete_that_arrives_before_its_entry_keeps_it_deleted() -> None:
    ticket = fold(event("e-2", "time.deleted", "10:05", entry_id="te-1"))
    assert ticket.apply(logged("e-1", "10:00")) is EventOutcome.STALE
    assert ticket.entries == {}
    assert len(ticket.notices) == 2  # the early delete and the stale entry are both visible


def test_an_entry_logged_after_its_deletion_comes_back() -> None:
    ticket = fold(
        logged("e-1", "10:00"),
        event("e-2", "time.deleted", "10:05", entry_id="te-1"),
        logged("e-3", "10:10", minutes=20),
    )
    assert ticket.entries["te-1"].minutes == 20


def test_a_reopen_older_than_the_close_does_not_reopen() -> None:
    ticket = fold(event("e-2", "ticket.closed", "12:00"), event("e-1", "ticket.reopened", "11:00"))
    assert ticket.closed


def test_the_folded_state_does_not_depend_on_arrival_order() -> None:
    events = [
        event("e-1", "ticket.opened", "09:00", customer_id="org-1", subject="Printer"),
        logged("e-2", "10:00", minutes=30),
        logged("e-3", "10:05", minutes=45, kind="time.updated"),
        logged("e-4", "10:06", entry_id="te-2", minutes=15),
        event("e-5", "time.deleted", "10:07", entry_id="te-2"),
        event("e-6", "ticket.updated", "10:08", subject="Printer offline"),
        event("e-7", "ticket.closed", "11:00", resolution="Fixed"),
    ]
    expected = fold(*events)
    for order in permutations(events):
        ticket = fold(*order)
        assert {k: v.minutes for k, v in ticket.entries.items()} == {"te-1": 45}
        assert (ticket.subject, ticket.closed, ticket.resolution) == (
            expected.subject,
            expected.closed,
            expected.resolution,
        )


def test_dispute_is_recorded_and_can_be_resolved() -> None:
    ticket = fold(event("e-1", "dispute.opened", "10:00", reason="Caused by our update"))
    assert ticket.dispute_reason == "Caused by our update"
    ticket.resolve_dispute()
    assert ticket.dispute_reason is None


def test_an_event_for_another_ticket_is_refused() -> None:
    other = parse_event(
        {
            "event_id": "x",
            "type": "ticket.reopened",
            "occurred_at": "2026-11-02T10:00:00Z",
            "ticket_id": "T-2",
        }
    )
    try:
        Ticket("T-1").apply(other)
    except ValueError as error:
        assert "T-2" in str(error)
    else:
        raise AssertionError("applied an event for another ticket")
