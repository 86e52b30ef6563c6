"""The outbox page: ``/notifications`` lists every message the notifier sent or means to send,
newest first, 50 a page, filtered by state, channel, owner queue and ticket, with the counts per
state on top; admin sends a message that did not (surely) arrive again with
``POST /notifications/{key}/resend``. For admin and operators: it shows who was told what.

A body is shown as plain text with the customer's signoff link in words
(usecases/outbox_view.py): the link is the customer's credential and never leaves the sender.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.context import context_of
from api.flashes import FlashTemplate, flash
from api.pages import (
    OUTBOX_ROLES,
    Session,
    _back,
    _book,
    _error,
    _guard,
    _render,
    signed_in_as,
)
from billing.roles import Role
from store.notifications import STATES, OutboxQuery, Outgoing, outbox, outbox_message, resend
from store.outbox_counts import outbox_counts
from usecases.outbox_view import (
    CHANNELS,
    OWNERS,
    RESENDABLE,
    STATE_LABELS,
    STATE_ORDER,
    choice_problem,
    local_time,
    recipients_text,
    refused_resend,
    shown_body,
)

router = APIRouter(tags=["pages"], include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 1_000_000
# Sending again changes what goes out to people: admin only (operators read).
RESEND_ROLES = frozenset({Role.ADMIN})
# A ticket id is short; a longer filter value is refused, not looked up.
MAX_TICKET = 200


@dataclass(frozen=True, slots=True)
class OutboxFilter:
    """The page's filter as its links and forms carry it (text as typed: checked by
    ``_problems``, so a bad value is a message naming its field)."""

    state: str = ""
    channel: str = ""
    owner: str = ""
    ticket: str = ""
    page: str = ""

    def link(self, **changes: str) -> str:
        """``/notifications`` with this filter and ``changes``; empty values and page 1 left
        out."""
        values = {**asdict(self), **changes}
        kept = {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}
        return "/notifications" + (f"?{urlencode(kept)}" if kept else "")

    @property
    def view(self) -> str:
        """This view's query string: the resend form carries it back (``_view_posted``)."""
        return self.link().partition("?")[2]

    @property
    def page_number(self) -> int:
        return int(self.page) if self.page else 1


def _problems(wanted: OutboxFilter) -> list[str]:
    problems = [
        problem
        for problem in (
            choice_problem("state", wanted.state, STATES),
            choice_problem("channel", wanted.channel, CHANNELS),
            choice_problem("owner", wanted.owner, OWNERS),
        )
        if problem
    ]
    if wanted.page and not (
        re.fullmatch(r"\d{1,7}", wanted.page, re.ASCII) and 1 <= int(wanted.page) <= MAX_PAGE
    ):
        problems.append(f"page: {wanted.page!r} is not a page number from 1 to {MAX_PAGE:,}")
    if len(wanted.ticket) > MAX_TICKET:
        problems.append(f"ticket: at most {MAX_TICKET} characters")
    return problems


def _allowed(request: Request) -> Session | Response:
    return signed_in_as(request, OUTBOX_ROLES, "The outbox is for operators and admin.")


@router.get("/notifications", response_class=HTMLResponse)
def outbox_page(
    request: Request,
    state: str = Query("", max_length=40),
    channel: str = Query("", max_length=40),
    owner: str = Query("", max_length=40),
    ticket: str = Query("", max_length=400),
    page: str = Query("", max_length=20),
) -> Response:
    session = _allowed(request)
    if isinstance(session, Response):
        return session
    wanted = OutboxFilter(state.strip(), channel.strip(), owner.strip(), ticket.strip(), page)
    problems = _problems(wanted)
    if problems:
        return _error(request, session, "Cannot filter the outbox: " + "; ".join(problems), 422)
    engine = context_of(request).engine
    number = wanted.page_number
    messages, matched = outbox(
        engine,
        OutboxQuery(
            state=wanted.state or None,
            channel=wanted.channel or None,
            owner=wanted.owner or None,
            ticket_id=wanted.ticket or None,
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        ),
    )
    book = _book(request)
    zone = book.book.timezone if book is not None else "UTC"
    counts = outbox_counts(engine)
    pages = max(1, math.ceil(matched / PAGE_SIZE))
    return _render(
        request,
        "notifications.html",
        session,
        rows=[_row(message, zone) for message in messages],
        wanted=wanted,
        zone=zone,
        counts=[
            {"state": s, "count": f"{counts[s]:,}", "link": OutboxFilter(state=s).link()}
            for s in STATE_ORDER
            if counts.get(s)
        ],
        states=STATE_ORDER,
        channels=CHANNELS,
        owners=OWNERS,
        matched=matched,
        filtered=any((wanted.state, wanted.channel, wanted.owner, wanted.ticket)),
        may_resend=session.principal.role in RESEND_ROLES,
        page=number,
        pages=pages,
        previous_link=wanted.link(page=str(number - 1)) if number > 1 else "",
        next_link=wanted.link(page=str(number + 1)) if number < pages else "",
    )


def _row(message: Outgoing, zone: str) -> dict[str, Any]:
    return {
        "key": message.message_key,
        "when": local_time(message.created_at, zone),
        "kind": message.kind.replace("_", " "),
        "owner": message.owner,
        "channel": message.channel,
        "recipients": recipients_text(message),
        "subject": message.subject,
        "ticket_id": message.ticket_id or "",
        "tickets_listed": message.items,
        "state": message.state,
        "state_label": STATE_LABELS.get(message.state, message.state),
        "last_error": message.last_error or "",
        "attempts": message.attempts,
        "sent_at": local_time(message.sent_at, zone),
        "body": shown_body(message.body),
        "resendable": message.state in RESENDABLE,
    }


# The query parameters a resend form's ``back`` may carry: only these, each bounded, so a form
# cannot steer the redirect anywhere but the outbox.
VIEW_KEYS = ("state", "channel", "owner", "ticket", "page")


def _view_posted(text: str) -> OutboxFilter:
    kept = {k: v[:MAX_TICKET] for k, v in parse_qsl(text[:2000]) if k in VIEW_KEYS and v}
    return replace(OutboxFilter(), **kept)


@router.post("/notifications/{message_key:path}/resend")
def outbox_resend(
    message_key: str,
    request: Request,
    csrf: str = Form(""),
    back: str = Form(""),
) -> Response:
    """Send a message again that did not (surely) arrive: it is pending once more and the
    notifier's next round sends it. Refused, with the reason, for any other state."""
    session = _guard(request, csrf)
    if isinstance(session, Response):
        return session
    if session.principal.role not in RESEND_ROLES:
        return _error(request, session, "Only admin may send an outbox message again.", 403)
    engine = context_of(request).engine
    found = outbox_message(engine, message_key)
    if found is None:
        return _error(
            request,
            session,
            f"No outbox message {message_key!r}. See the outbox at /notifications.",
            404,
        )
    view = _view_posted(back)
    if found.state not in RESENDABLE or not resend(engine, message_key):
        # Read again: another person or the notifier may have moved it since the page was drawn.
        now = outbox_message(engine, message_key) or found
        refusal = flash(FlashTemplate.OUTBOX_NOT_RESENT, False, detail=refused_resend(now))
        return _back(request, session, "/notifications", refusal, **_query(view))
    done = flash(FlashTemplate.OUTBOX_RESENT, True, message=message_key, state=found.state)
    return _back(request, session, "/notifications", done, **_query(view))


def _query(view: OutboxFilter) -> dict[str, str]:
    return {k: v for k, v in asdict(view).items() if v}
