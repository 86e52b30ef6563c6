"""The help desk as the service needs it: show a ticket's billing status, add an internal note."""

from __future__ import annotations

from typing import Protocol


class HelpdeskAdapter(Protocol):
    def set_billing_status(self, ticket_id: str, status: str, hold_reason: str | None) -> None:
        """Idempotent: setting the same status twice changes nothing."""

    def add_internal_note(self, ticket_id: str, note_key: str, text: str) -> None:
        """Idempotent per ``note_key``: a retried call adds the note once."""
