"""The help desk as the service needs it: show a ticket's billing status, add an internal note,
list the organizations tickets belong to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class HelpdeskRejected(Exception):
    """The help desk refused the request for good (e.g. the ticket no longer exists); a retry
    cannot change that. Connectors raise it, or a subclass of it."""


@dataclass(frozen=True, slots=True)
class Organization:
    """A help desk organization: its stable ID (what tickets carry as ``customer_id``) and name."""

    id: str
    name: str


class HelpdeskAdapter(Protocol):
    def set_billing_status(self, ticket_id: str, status: str, hold_reason: str | None) -> None:
        """Idempotent: setting the same status twice changes nothing."""

    def add_internal_note(self, ticket_id: str, note_key: str, text: str) -> None:
        """Idempotent per ``note_key``: a retried call adds the note once."""

    def list_organizations(self) -> list[Organization]:
        """Every organization in the help desk, by ID (the customer match report reads them)."""
