"""A ticket's billable facts, folded from its help desk events.

Webhooks arrive late, twice, and out of order. Folding is therefore idempotent (a repeated
``event_id`` is a no-op) and ordered by each event's ``occurred_at``, not by arrival: an entry,
a part line, each ticket field and the open/closed state keep the version of the newest event
that touched them, and an older event that arrives later cannot overwrite it. Nothing is
dropped silently: every event that could not be applied as sent leaves a notice on the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from operator import attrgetter

from billing.events import (
    DisputeOpened,
    HelpdeskEvent,
    PartRemoved,
    PartUsed,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketUpdated,
    TimeDeleted,
    TimeLogged,
    TimeUpdated,
)


@dataclass(slots=True)
class TimeEntry:
    entry_id: str
    technician: str
    role: str
    work_type: str
    started_at: datetime
    minutes: int
    billable: bool
    note: str
    version: datetime


@dataclass(slots=True)
class PartUse:
    line_id: str
    sku: str
    quantity: int
    serial_number: str | None
    warranty: bool
    version: datetime


_START_THEN_ID = attrgetter("started_at", "entry_id")
_RECORDED_THEN_ID = attrgetter("version", "line_id")


class EventOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"  # older than what the ticket already holds; kept as a notice


@dataclass(slots=True)
class Ticket:
    ticket_id: str
    customer_id: str | None = None
    subject: str = ""
    category: str | None = None
    priority: str | None = None
    warranty: bool = False
    entries: dict[str, TimeEntry] = field(default_factory=dict)
    parts: dict[str, PartUse] = field(default_factory=dict)
    closed: bool = False
    closed_at: datetime | None = None
    resolution: str = ""
    dispute_reason: str | None = None
    notices: list[str] = field(default_factory=list)
    seen_event_ids: set[str] = field(default_factory=set)
    # When each ticket field, entry or part line last changed, and when deleted ones went.
    field_versions: dict[str, datetime] = field(default_factory=dict)
    removed_entries: dict[str, datetime] = field(default_factory=dict)
    removed_parts: dict[str, datetime] = field(default_factory=dict)
    lifecycle_version: datetime | None = None

    def apply(self, event: HelpdeskEvent) -> EventOutcome:
        """Fold one event into the ticket; the same event applied twice changes nothing."""
        if event.ticket_id != self.ticket_id:
            raise ValueError(
                f"event {event.event_id} is for {event.ticket_id}, not {self.ticket_id}"
            )
        if event.event_id in self.seen_event_ids:
            return EventOutcome.DUPLICATE
        self.seen_event_ids.add(event.event_id)
        match event:
            case TicketOpened() | TicketUpdated():
                return self._apply_fields(event)
            case TimeLogged() | TimeUpdated():
                return self._apply_time(event)
            case TimeDeleted():
                return self._remove(
                    event, event.entry_id, self.entries, self.removed_entries, "time entry"
                )
            case PartUsed():
                return self._apply_part(event)
            case PartRemoved():
                return self._remove(
                    event, event.line_id, self.parts, self.removed_parts, "part line"
                )
            case TicketClosed() | TicketReopened():
                return self._apply_lifecycle(event)
            case DisputeOpened():
                self.dispute_reason = event.reason
                return EventOutcome.APPLIED
        raise TypeError(f"unhandled event type {type(event).__name__}")

    def resolve_dispute(self) -> None:
        """A person decided the dispute; rating no longer holds the ticket for it."""
        self.dispute_reason = None

    def _stale(self, event: HelpdeskEvent, what: str, newer: datetime) -> EventOutcome:
        self.notices.append(
            f"{event.event_id} ({event.type}, {event.occurred_at.isoformat()}) ignored: "
            f"{what} already reflects a newer change from {newer.isoformat()}"
        )
        return EventOutcome.STALE

    def _apply_fields(self, event: TicketOpened | TicketUpdated) -> EventOutcome:
        changes = event.model_dump(
            include={"customer_id", "subject", "category", "priority", "warranty"},
            exclude_none=isinstance(event, TicketUpdated),
        )
        applied = False
        for name, value in changes.items():
            version = self.field_versions.get(name)
            if version is not None and event.occurred_at < version:
                continue
            setattr(self, name, value)
            self.field_versions[name] = event.occurred_at
            applied = True
        if changes and not applied:
            return self._stale(
                event, "every field it sets", max(self.field_versions[name] for name in changes)
            )
        return EventOutcome.APPLIED

    def _apply_time(self, event: TimeLogged) -> EventOutcome:
        entry_id = event.entry_id
        current = self.entries.get(entry_id)
        if current is not None and event.occurred_at < current.version:
            return self._stale(event, f"time entry {entry_id}", current.version)
        removed_at = self.removed_entries.get(entry_id)
        if removed_at is not None:
            if event.occurred_at < removed_at:
                return self._stale(event, f"time entry {entry_id} (deleted)", removed_at)
            del self.removed_entries[entry_id]
        if isinstance(event, TimeUpdated) and current is None:
            self.notices.append(
                f"{event.event_id}: time.updated for {entry_id}, which was never logged here; "
                "kept as a new entry"
            )
        self.entries[entry_id] = TimeEntry(
            entry_id=entry_id,
            technician=event.technician,
            role=event.role,
            work_type=event.work_type,
            started_at=event.started_at,
            minutes=event.minutes,
            billable=event.billable,
            note=event.note,
            version=event.occurred_at,
        )
        return EventOutcome.APPLIED

    def _apply_part(self, event: PartUsed) -> EventOutcome:
        line_id = event.line_id
        current = self.parts.get(line_id)
        if current is not None and event.occurred_at < current.version:
            return self._stale(event, f"part line {line_id}", current.version)
        removed_at = self.removed_parts.get(line_id)
        if removed_at is not None:
            if event.occurred_at < removed_at:
                return self._stale(event, f"part line {line_id} (removed)", removed_at)
            del self.removed_parts[line_id]
        self.parts[line_id] = PartUse(
            line_id=line_id,
            sku=event.sku,
            quantity=event.quantity,
            serial_number=event.serial_number,
            warranty=event.warranty,
            version=event.occurred_at,
        )
        return EventOutcome.APPLIED

    def _remove(
        self,
        event: TimeDeleted | PartRemoved,
        key: str,
        live: dict[str, TimeEntry] | dict[str, PartUse],
        removed: dict[str, datetime],
        what: str,
    ) -> EventOutcome:
        current = live.get(key)
        if current is not None and event.occurred_at < current.version:
            return self._stale(event, f"{what} {key}", current.version)
        if current is None:
            self.notices.append(
                f"{event.event_id}: {event.type} for {what} {key}, which is not on the ticket; "
                "remembered, so a late-arriving older copy of it stays removed"
            )
        live.pop(key, None)
        removed[key] = max(event.occurred_at, removed.get(key, event.occurred_at))
        return EventOutcome.APPLIED

    def _apply_lifecycle(self, event: TicketClosed | TicketReopened) -> EventOutcome:
        if self.lifecycle_version is not None and event.occurred_at < self.lifecycle_version:
            return self._stale(event, "the ticket's open/closed state", self.lifecycle_version)
        self.lifecycle_version = event.occurred_at
        if isinstance(event, TicketClosed):
            self.closed = True
            self.closed_at = event.occurred_at
            self.resolution = event.resolution
        else:
            self.closed = False
        return EventOutcome.APPLIED

    def time_entries_in_order(self) -> list[TimeEntry]:
        """Entries by when the work started; ties broken by entry id, so rating is stable."""
        return sorted(self.entries.values(), key=_START_THEN_ID)

    def parts_in_order(self) -> list[PartUse]:
        """Part lines by when they were last recorded, ties by line id.

        Dict order would follow webhook arrival order, and the invoice must not depend on that.
        """
        return sorted(self.parts.values(), key=_RECORDED_THEN_ID)
