"""What the service tells people, and in what words (docs/notifications.md): which change of a
ticket is a cause to tell its owner queue, and the text of every message (a batch of notices, a
daily digest, the weekly finance summary, the customer's signoff e-mails). Pure: the store picks
what to list, the activities send; nothing here reads a clock or a file.

Messages carry what a person needs to act (the ticket, the customer's name, the reason, the
total, the next step, a link) and nothing else: never a note, never a subject, never text that
redaction would have changed (a reason holding something that looks like a secret is withheld,
not shown redacted)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from billing.money import ZERO, for_people
from billing.sensitive import redact

# The most tickets one message lists; the rest are counted and linked ("and 312 more").
LISTED_AT_MOST = 200
REASON_MAX_CHARS = 300
# Where the customer's signoff link goes in a stored message: the link is the customer's
# credential, so the outbox keeps this and the sender puts the link in.
SIGNOFF_LINK = "{signoff_link}"
WITHHELD = "(the reason is withheld here: it holds text that looks private; see the ticket)"


class NoticeKind(StrEnum):
    HELD = "held"
    APPROVAL = "approval"  # a manager's approval is missing
    REVIEW = "review"  # finance's review (review mode)
    SIGNOFF = "signoff"  # the customer's signoff: an e-mail to the billing contact
    SIGNOFF_DECLINED = "signoff_declined"
    NO_CONTACT = "no_contact"  # a signoff with no billing contact to send it to


# The owner queues whose people are told (the ticket's next actor); "customer" is the signoff.
OWNER_QUEUES = ("support", "billing", "manager")
NEXT_STEP = {
    NoticeKind.HELD: "clear the hold (the ticket page lists the remedies)",
    NoticeKind.APPROVAL: "approve or reject",
    NoticeKind.REVIEW: "review and approve for posting",
    NoticeKind.SIGNOFF_DECLINED: "talk to the customer, then correct, rerate or resolve",
    NoticeKind.NO_CONTACT: (
        "send the customer a signoff link by hand, and add a billing_contact to the book"
    ),
}
KIND_LABEL = {
    NoticeKind.HELD: "held",
    NoticeKind.APPROVAL: "needs approval",
    NoticeKind.REVIEW: "ready for review",
    NoticeKind.SIGNOFF_DECLINED: "declined by the customer",
    NoticeKind.NO_CONTACT: "awaits a signoff nobody was sent",
}


@dataclass(frozen=True, slots=True)
class Cause:
    """A ticket's change worth telling someone about: what, to which queue, why."""

    kind: NoticeKind
    owner: str
    reason: str


# The hold a customer's decline puts a ticket in (workflows/assessment.py): its manager is told
# in words that say so. A customer's question on a line holds it as ``line_disputed``, also the
# manager's: told as a hold, with the lines named.
CUSTOMER_DECLINED = "customer_declined"


def cause_of(
    status: str,
    next_actor: str | None,
    hold_code: str | None,
    hold_message: str | None,
    waiting_for: str | None,
) -> Cause | None:
    """The cause a ticket's new standing gives, or None (it is open, posted, ...)."""
    if status == "held" and hold_code == CUSTOMER_DECLINED and next_actor in OWNER_QUEUES:
        reason = safe_reason(hold_message or "")
        return Cause(NoticeKind.SIGNOFF_DECLINED, str(next_actor), reason)
    if status == "held" and next_actor in OWNER_QUEUES:
        return Cause(NoticeKind.HELD, str(next_actor), safe_reason(hold_message or ""))
    if status == "awaiting_approval" and next_actor == "customer":
        return Cause(NoticeKind.SIGNOFF, "customer", "awaits the customer's signoff")
    if status == "awaiting_approval" and next_actor in OWNER_QUEUES:
        return Cause(NoticeKind.APPROVAL, str(next_actor), safe_reason(waiting_for or ""))
    if status == "in_review" and next_actor in OWNER_QUEUES:
        return Cause(NoticeKind.REVIEW, str(next_actor), safe_reason(waiting_for or ""))
    return None


def safe_reason(text: str) -> str:
    """One line, at most ``REASON_MAX_CHARS``; withheld whole if redaction would change it."""
    line = " ".join(text.split())
    if redact(line).text != line:
        return WITHHELD
    return line if len(line) <= REASON_MAX_CHARS else line[: REASON_MAX_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class Listed:
    """One ticket as a message lists it."""

    ticket_id: str
    customer: str  # the book's name (the help desk id when the book has none)
    kind: NoticeKind
    reason: str
    total: Decimal
    since: datetime


@dataclass(frozen=True, slots=True)
class Composed:
    """A message ready for every channel: the e-mail's subject and text, and the chat's title,
    lines and link."""

    subject: str
    text: str
    lines: tuple[str, ...]
    link: str
    items: int


def _money(amount: Decimal, currency: str) -> str:
    return for_people(amount, currency)


def _listing(listed: Sequence[Listed], currency: str, base_url: str) -> list[str]:
    lines = []
    for item in listed[:LISTED_AT_MOST]:
        label = KIND_LABEL.get(item.kind, item.kind.value)
        reason = f": {item.reason}" if item.reason else ""
        lines.append(
            f"{item.ticket_id} · {item.customer} · {_money(item.total, currency)} · "
            f"{label}{reason} — {base_url}/tickets/{item.ticket_id}"
        )
    if len(listed) > LISTED_AT_MOST:
        lines.append(f"… and {len(listed) - LISTED_AT_MOST} more: see the queue")
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _queue_link(owner: str, base_url: str) -> str:
    return f"{base_url}/exceptions?owner={owner}"


def notice_batch(owner: str, listed: Sequence[Listed], currency: str, base_url: str) -> Composed:
    """The batch e-mail of one owner queue: every ticket that newly waits for it."""
    total = sum((item.total for item in listed), ZERO)
    kinds = sorted({item.kind for item in listed}, key=list(NoticeKind).index)
    steps = [f"- {KIND_LABEL[kind]}: {NEXT_STEP[kind]}" for kind in kinds if kind in NEXT_STEP]
    subject = (
        f"[helpdesk-billing] {_plural(len(listed), 'ticket')} waiting for {owner} "
        f"({_money(total, currency)})"
    )
    lines = _listing(listed, currency, base_url)
    text = "\n".join(
        [
            f"{_plural(len(listed), 'ticket')} now wait in the {owner} queue, "
            f"{_money(total, currency)} in all.",
            "",
            *lines,
            "",
            "Next steps:",
            *steps,
            "",
            f"Open the queue: {_queue_link(owner, base_url)}",
        ]
    )
    return Composed(subject, text + "\n", tuple(lines), _queue_link(owner, base_url), len(listed))


def digest(
    owner: str,
    listed: Sequence[Listed],
    *,
    day: date,
    now: datetime,
    aged_after: timedelta,
    currency: str,
    base_url: str,
) -> Composed:
    """The daily digest of one owner queue: what waits, oldest first, and what has aged."""
    ordered = sorted(listed, key=lambda item: (item.since, item.ticket_id))
    aged = [item for item in ordered if now - item.since >= aged_after]
    total = sum((item.total for item in ordered), ZERO)
    aged_total = sum((item.total for item in aged), ZERO)
    days = aged_after.total_seconds() / 86400
    threshold = f"{days:g} day{'' if days == 1 else 's'}"
    subject = (
        f"[helpdesk-billing] {owner} digest {day.isoformat()}: "
        f"{_plural(len(ordered), 'ticket')} waiting, {len(aged)} over {threshold}"
    )
    waited = [
        f"{line} (waiting {max(0, (now - item.since).days)} d)"
        for line, item in zip(_listing(ordered, currency, base_url), ordered, strict=False)
    ]
    if len(ordered) > LISTED_AT_MOST:
        waited.append(f"… and {len(ordered) - LISTED_AT_MOST} more: see the queue")
    text = "\n".join(
        [
            f"Waiting in the {owner} queue on {day.isoformat()}: "
            f"{_plural(len(ordered), 'ticket')}, {_money(total, currency)}.",
            f"Waiting longer than {threshold}: {_plural(len(aged), 'ticket')}, "
            f"{_money(aged_total, currency)}.",
            "",
            "Oldest first:",
            *waited,
            "",
            f"Open the queue: {_queue_link(owner, base_url)}",
        ]
    )
    return Composed(subject, text + "\n", tuple(waited), _queue_link(owner, base_url), len(ordered))


@dataclass(frozen=True, slots=True)
class WeeklyFigures:
    """The week finance reads on Monday: what closed, what was billed, what is held, and what
    leaked (work done but not billed: written off, no charge, rejected)."""

    start: date  # the first day of the week, in the book's timezone
    end: date  # the last day
    closed: int
    billed: int
    billed_total: Decimal
    held: int
    held_total: Decimal
    leakage_total: Decimal
    leakage_by_cause: tuple[tuple[str, Decimal], ...]


def weekly_summary(figures: WeeklyFigures, currency: str, base_url: str) -> Composed:
    period = f"{figures.start.isoformat()} to {figures.end.isoformat()}"
    lines = [
        f"Closed: {_plural(figures.closed, 'ticket')}",
        f"Billed: {_plural(figures.billed, 'ticket')}, {_money(figures.billed_total, currency)}",
        f"Held now: {_plural(figures.held, 'ticket')}, {_money(figures.held_total, currency)}",
        f"Leakage: {_money(figures.leakage_total, currency)}",
        *(f"  - {cause}: {_money(amount, currency)}" for cause, amount in figures.leakage_by_cause),
    ]
    link = f"{base_url}/reports"
    text = "\n".join([f"The week {period}:", "", *lines, "", f"The reports: {link}"])
    subject = f"[helpdesk-billing] weekly finance summary, {period}"
    return Composed(subject, text + "\n", tuple(lines), link, figures.closed)


class SignoffLetter(StrEnum):
    REQUEST = "signoff"
    REMINDER = "signoff_reminder"
    FINAL = "signoff_final"


def signoff_letter(
    letter: SignoffLetter,
    *,
    contact: str,
    customer: str,
    ticket_id: str,
    total: Decimal,
    currency: str,
    expires: date,
) -> Composed:
    """The e-mail to the customer's billing contact. The link is ``SIGNOFF_LINK`` here; the
    sender puts the real one in."""
    opening = {
        SignoffLetter.REQUEST: "the work on the ticket below is ready for your signoff.",
        SignoffLetter.REMINDER: "a reminder: the ticket below still waits for your signoff.",
        SignoffLetter.FINAL: (
            f"a last reminder: the link for the ticket below expires on {expires.isoformat()}."
        ),
    }[letter]
    subject = {
        SignoffLetter.REQUEST: f"Please review and sign off ticket {ticket_id}",
        SignoffLetter.REMINDER: f"Reminder: ticket {ticket_id} waits for your signoff",
        SignoffLetter.FINAL: f"Last reminder: sign off ticket {ticket_id} by {expires.isoformat()}",
    }[letter]
    lines = (
        f"Ticket {ticket_id} for {customer}: {_money(total, currency)}",
        f"Review the lines, question any of them, accept or decline: {SIGNOFF_LINK}",
        f"The link works once and expires on {expires.isoformat()}.",
    )
    text = "\n".join([f"Dear {contact},", "", opening, "", *lines, "", "Thank you."])
    return Composed(subject, text + "\n", lines, SIGNOFF_LINK, 1)
