"""What proves a person's decision (issue 14): the API or CLI records each decision it sends in
the store under its request id, with the authenticated person and a fingerprint of the signal's
payload; the ticket's workflow asks an activity to claim that record before the decision counts,
and records its outcome there for the sender to read.

The fingerprint is computed the same way on both sides, from the payload as it crosses
Temporal: a payload changed on the way (another total, another line, another actor) does not
match the record, and a decision sent straight to Temporal has no record at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from messages.payloads import type_adapter


def decision_fingerprint(signal: Any) -> str:
    """SHA-256 of the signal's payload as pydantic writes it (the data converter's own form), so
    the sender and the worker agree byte for byte on a payload that round-tripped Temporal."""
    return hashlib.sha256(type_adapter(type(signal)).dump_json(signal)).hexdigest()


@dataclass(slots=True)
class VerifyDecisionInput:
    ticket_id: str
    signal: str  # the signal's name: approve, review, customer_signoff, ...
    request_id: str
    fingerprint: str


@dataclass(slots=True)
class VerifiedDecision:
    """The store's answer: who really decided (never the payload's claim), or why it does not
    count. ``issued_by`` is the staff member who issued the signoff link a customer acted
    through."""

    authenticated: bool
    actor: str = ""
    role: str = ""
    issued_by: str | None = None
    why: str = ""
    # The worker's setting (HDB_SEPARATION_OF_DUTIES), read when the decision is verified, so
    # a workflow learns it deterministically, from its history.
    separation_of_duties: bool = True


@dataclass(slots=True)
class DecisionOutcomeInput:
    request_id: str
    outcome: str  # accepted | refused
    detail: str
