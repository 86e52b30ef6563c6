"""The outbox as people read it, on the page (api/notification_pages.py) and in
``starter.py notifications``: what each state means, which filter values exist, the body with
the customer's signoff link kept out, and a message's times in the book's timezone.

One place for both, so the page and the command never disagree on a state's words or on what
a body may show."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from billing.notices import SIGNOFF_LINK
from store.notifications import Outgoing

CHANNELS = ("email", "slack", "teams")
# The owner queues, finance (the weekly summary) and the customer (signoff e-mails).
OWNERS = ("support", "billing", "manager", "finance", "customer")
# The states a person may send again: those where the message did not (surely) arrive. As
# store.notifications.resend accepts them.
RESENDABLE = ("uncertain", "failed", "rejected", "not_sent")
# Most urgent first: the order the counts at the top of the page and the command list them.
STATE_ORDER = ("uncertain", "failed", "rejected", "not_sent", "sending", "pending", "sent")
# Short, for a table cell: the row's last error says the rest (docs/notifications-outbox.md).
STATE_LABELS = {
    "pending": "waiting to be sent",
    "sending": "being sent",
    "sent": "sent",
    "failed": "failed: retried while attempts last",
    "rejected": "rejected: not retried",
    "uncertain": "uncertain: may not have arrived",
    "not_sent": "not sent",
}
# The link is the customer's credential: whoever reads the outbox sees these words instead.
LINK_NOT_SHOWN = "[the customer's signoff link — not shown here]"


def shown_body(body: str) -> str:
    """The body as people may read it: the signoff-link placeholder in words."""
    return body.replace(SIGNOFF_LINK, LINK_NOT_SHOWN)


def local_time(moment: datetime | None, zone: str) -> str:
    """``2026-11-30 09:15 EST``: a moment in the book's timezone (empty for none)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def recipients_text(message: Outgoing) -> str:
    """The addresses; a chat message's webhook is a secret, so it is named by its queue."""
    if message.recipients:
        return ", ".join(message.recipients)
    return f"the {message.owner} queue's {message.channel} channel"


def choice_problem(field: str, value: str, allowed: tuple[str, ...]) -> str | None:
    """``state: must be one of …, not 'x'`` for a filter value that is not one of ``allowed``
    (None when it is, or when no value was given)."""
    if not value or value in allowed:
        return None
    return f"{field}: must be one of {', '.join(allowed)}, not {value!r}"


def refused_resend(message: Outgoing) -> str:
    """Why a message in this state cannot be sent again."""
    return (
        f"{message.message_key} is {message.state} ({STATE_LABELS[message.state]}): only an "
        f"{', '.join(RESENDABLE[:-1])} or {RESENDABLE[-1]} message can be sent again"
    )
