"""The words of every notification (billing/notices.py): which change is worth telling, and what
a message says and leaves out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing.notices import (
    LISTED_AT_MOST,
    SIGNOFF_LINK,
    WITHHELD,
    Listed,
    NoticeKind,
    SignoffLetter,
    cause_of,
    digest,
    notice_batch,
    safe_reason,
    signoff_letter,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE = "https://billing.example"


def _listed(n: int, **changes: object) -> list[Listed]:
    values: dict[str, object] = {
        "customer": "Acme Dental",
        "kind": NoticeKind.HELD,
        "reason": "no contract",
        "total": Decimal("120.50"),
        "since": AT,
    }
    values.update(changes)
    return [Listed(ticket_id=f"T-{i}", **values) for i in range(n)]  # type: ignore[arg-type]


def test_each_waiting_standing_names_its_queue_and_kind() -> None:
    held = cause_of("held", "billing", "no_contract", "no contract for Acme", None)
    assert held is not None and (held.kind, held.owner) == (NoticeKind.HELD, "billing")
    assert held.reason == "no contract for Acme"
    approval = cause_of("awaiting_approval", "manager", None, None, "manager approval")
    assert approval is not None and (approval.kind, approval.owner) == (
        NoticeKind.APPROVAL,
        "manager",
    )
    review = cause_of("in_review", "billing", None, None, "finance review")
    assert review is not None and review.kind is NoticeKind.REVIEW
    signoff = cause_of("awaiting_approval", "customer", None, None, "customer signoff")
    assert signoff is not None and (signoff.kind, signoff.owner) == (
        NoticeKind.SIGNOFF,
        "customer",
    )
    declined = cause_of("held", "manager", "customer_declined", "declined: too much", None)
    assert declined is not None and declined.kind is NoticeKind.SIGNOFF_DECLINED
    for status in ("open", "grace", "ready", "posted", "no_charge", "shadow"):
        assert cause_of(status, None, None, None, None) is None


def test_a_reason_that_redaction_would_change_is_withheld_not_redacted() -> None:
    secret = "rejected: the admin password: Hunter2Hunter2! is on the ticket"
    assert safe_reason(secret) == WITHHELD
    assert "[redacted]" not in safe_reason(secret)
    assert safe_reason("two\nlines\tand   spaces") == "two lines and spaces"
    assert len(safe_reason("x" * 1000)) == 300


def test_a_batch_lists_every_ticket_with_total_reason_next_step_and_link() -> None:
    composed = notice_batch("billing", _listed(50), "USD", BASE)
    assert composed.items == 50
    assert "50 tickets waiting for billing (6,025.00 USD)" in composed.subject
    for i in range(50):
        assert f"T-{i} · Acme Dental · 120.50 USD · held: no contract — {BASE}/tickets/T-{i}" in (
            composed.text
        )
    assert "clear the hold" in composed.text
    assert f"{BASE}/exceptions?owner=billing" in composed.text


def test_a_batch_over_the_listing_limit_counts_the_rest() -> None:
    composed = notice_batch("billing", _listed(LISTED_AT_MOST + 12), "EUR", BASE)
    assert composed.items == LISTED_AT_MOST + 12
    assert f"T-{LISTED_AT_MOST - 1} ·" in composed.text
    assert f"T-{LISTED_AT_MOST} ·" not in composed.text
    assert "… and 12 more: see the queue" in composed.text


def test_a_digest_is_oldest_first_and_calls_out_what_has_aged() -> None:
    listed = [
        Listed("T-new", "Acme", NoticeKind.HELD, "", Decimal("10"), AT - timedelta(hours=2)),
        Listed("T-old", "Acme", NoticeKind.REVIEW, "", Decimal("30"), AT - timedelta(days=5)),
    ]
    composed = digest(
        "billing",
        listed,
        day=date(2026, 3, 2),
        now=AT,
        aged_after=timedelta(days=3),
        currency="USD",
        base_url=BASE,
    )
    assert composed.text.index("T-old") < composed.text.index("T-new")
    assert "2 tickets waiting, 1 over 3 days" in composed.subject
    assert "Waiting longer than 3 days: 1 ticket, 30.00 USD." in composed.text
    assert "(waiting 5 d)" in composed.text


def test_the_signoff_letter_keeps_a_placeholder_for_the_link() -> None:
    composed = signoff_letter(
        SignoffLetter.REMINDER,
        contact="Ann Lee",
        customer="Acme Dental",
        ticket_id="T-9",
        total=Decimal("1200"),
        currency="USD",
        expires=date(2026, 3, 16),
    )
    assert composed.text.startswith("Dear Ann Lee,")
    assert SIGNOFF_LINK in composed.text
    assert "1,200.00 USD" in composed.text
    assert "expires on 2026-03-16" in composed.text
    assert composed.subject == "Reminder: ticket T-9 waits for your signoff"
