"""The notifier's round (docs/notifications.md): gather the notices into one message per owner
queue, add the daily digests, the weekly finance summary and the customer's signoff e-mails
that are due, then send what the outbox holds, each message at most once.

Planning is idempotent: every message's key comes from what it is about and the round's time,
which the workflow passes in (a retried round plans the same keys, and the outbox keeps one row
per key). Sending claims a row before it goes out (store/notifications.py), so a worker killed
mid-send leaves it ``uncertain`` for a person, never sent twice. Nothing here can hold up a
ticket: tickets only write notices; this runs in its own workflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.engine import Engine
from temporalio import activity

from activities.sync_health_activities import SyncCounter
from billing.book import WEEKDAYS, BillingBook
from billing.notices import (
    SIGNOFF_LINK,
    Cause,
    Composed,
    Listed,
    NoticeKind,
    SignoffLetter,
    WeeklyFigures,
    digest,
    notice_batch,
    safe_reason,
    signoff_letter,
    weekly_summary,
)
from billing.sync_alerts import Outcome
from connectors.chat import ChatMessage, ChatRejected, ChatUnavailable, chat_webhooks, post_chat
from connectors.mail import MailConfig, MailRejected, MailUnavailable, OutgoingMail, send_mail
from messages.runs import NotifyInput, NotifyResult
from settings import Settings
from store.book_source import BookSource
from store.database import write_transaction
from store.notifications import (
    NOTIFIER,
    NewMessage,
    Notice,
    Outgoing,
    add_messages,
    add_notice,
    awaits_customer,
    claim,
    closed_and_held,
    due_messages,
    finish,
    mark_interrupted,
    message_present,
    open_notifier_links,
    take_notices,
    ticket_standing,
    unbatched_notices,
    waiting_for,
)
from store.reports import invoice_lines, period_of, revenue_leakage
from store.signoff_links import issue_link, link_state, link_token

log = logging.getLogger("helpdesk_billing.notifications")
OWNERS = ("support", "billing", "manager")
ROUND_AT_LEAST = timedelta(seconds=5)
STATUS_KIND = {
    "held": NoticeKind.HELD,
    "awaiting_approval": NoticeKind.APPROVAL,
    "in_review": NoticeKind.REVIEW,
}
# Notices of a kind the ticket may have left by the time the batch goes: told only if the
# ticket still waits that way (a hold released in a minute is not worth an e-mail).
STILL_WAITING = {
    NoticeKind.HELD: "held",
    NoticeKind.APPROVAL: "awaiting_approval",
    NoticeKind.REVIEW: "in_review",
}


class NotificationActivities:
    def __init__(
        self,
        *,
        engine: Engine,
        book: BookSource,
        settings: Settings,
        mail: MailConfig | None,
        signing_key: str,
        counter: SyncCounter,
        http: httpx.Client | None = None,
        webhooks: Callable[[str], list[tuple[str, str]]] | None = None,
    ) -> None:
        self._engine = engine
        self._book = book
        self._settings = settings
        self._mail = mail
        self._signing_key = signing_key
        self._counter = counter
        self._http = http or httpx.Client(timeout=httpx.Timeout(10.0))
        if webhooks is None:
            # Read once, at the worker's start: a bad webhook setting stops the worker there,
            # naming the variable, instead of failing every round.
            chats = {owner: chat_webhooks(settings, owner) for owner in (*OWNERS, "finance")}
            webhooks = lambda owner: chats.get(owner, [])  # noqa: E731
        self._webhooks = webhooks
        self._base = settings.public_url.rstrip("/")

    @activity.defn(name="send_notifications")
    def send_notifications(self, request: NotifyInput) -> NotifyResult:
        now = request.now
        interrupted = mark_interrupted(self._engine)
        book, problem = self._book.current()
        planned = 0
        if book is None:
            # Without the book there are no recipients nor names: plan nothing, send what is
            # planned already, and say why in the worker's log (the book problem holds tickets
            # and shows on every page anyway).
            log.warning("notifications: nothing planned this round: %s", problem)
        else:
            planned += self._signoff_requests(book, now)
            planned += self._notice_batches(book, now)
            planned += self._signoff_followups(book, now)
            planned += self._digests(book, now)
            planned += self._weekly_summary(book, now)
        sent, failed = self._deliver(now)
        self._counter.flush()
        return NotifyResult(
            planned=planned,
            sent=sent,
            failed=failed,
            interrupted=interrupted,
            next_round_seconds=self._round_seconds(),
        )

    def all(self) -> list:  # type: ignore[type-arg]
        return [self.send_notifications]

    # ---- planning ----------------------------------------------------------------------------

    def _round_seconds(self) -> float:
        """Five rounds per interval (a minute apart by default), at least 5 s apart: a batch
        leaves within a fifth of the interval after its oldest notice is an interval old, and a
        digest as soon after its hour."""
        return max(self._settings.notification_interval / 5, ROUND_AT_LEAST).total_seconds()

    def _listed(self, book: BillingBook, notice: Notice) -> Listed:
        return Listed(
            notice.ticket_id,
            _customer_name(book, notice.customer_id),
            notice.kind,
            notice.reason,
            notice.total,
            notice.created_at,
        )

    def _channels(
        self,
        book: BillingBook,
        owner: str,
        key: str,
        kind: str,
        composed: Composed,
    ) -> list[NewMessage]:
        """The e-mail to the owner queue's addresses in the book and a post to each of its chat
        webhooks."""
        recipients = book.notifications.recipients(owner)
        email = NewMessage(
            f"{key}:email",
            kind,
            owner,
            "email",
            tuple(recipients),
            composed.subject,
            composed.text,
            items=composed.items,
            not_sent=None
            if recipients
            else f"no addresses for the {owner} queue in the book ([notifications] {owner})",
        )
        chats = [
            NewMessage(
                f"{key}:{chat}",
                kind,
                owner,
                chat,
                (),
                composed.subject,
                composed.text,
                items=composed.items,
            )
            for chat, _ in self._webhooks(owner)
        ]
        return [email, *chats]

    def _notice_batches(self, book: BillingBook, now: datetime) -> int:
        """One message per owner queue whose oldest waiting notice is ``interval`` old: every
        notice gathered by then goes in it (200 holds make one e-mail)."""
        interval = self._settings.notification_interval
        planned = 0
        with write_transaction(self._engine) as connection:
            by_owner: dict[str, list[Notice]] = {}
            for notice in unbatched_notices(connection):
                if notice.owner in OWNERS:
                    by_owner.setdefault(notice.owner, []).append(notice)
            for owner, notices in sorted(by_owner.items()):
                if notices[0].created_at > now - interval:
                    continue  # still gathering
                key = f"notice:{owner}:{now:%Y%m%dT%H%M%S}"
                current = {w.ticket_id: w.status for w in waiting_for(connection, owner)}
                told = [n for n in notices if _still_waits(n, current)]
                take_notices(connection, [n.cause_key for n in notices], key)
                if not told:
                    continue
                composed = notice_batch(
                    owner, [self._listed(book, n) for n in told], book.book.currency, self._base
                )
                messages = self._channels(book, owner, key, "notice", composed)
                planned += add_messages(connection, messages, now)
        return planned

    def _signoff_requests(self, book: BillingBook, now: datetime) -> int:
        """A ticket that awaits its customer's signoff: a link e-mailed to the billing contact
        (issued in the transaction that records the e-mail), or, with no contact in the book, a
        notice to the manager queue to send one by hand."""
        planned = 0
        with write_transaction(self._engine) as connection:
            for notice in unbatched_notices(connection):
                if notice.kind is not NoticeKind.SIGNOFF:
                    continue
                if not awaits_customer(connection, notice.ticket_id):
                    take_notices(connection, [notice.cause_key], "moved-on")
                    continue
                customer = book.customer(notice.customer_id)
                contact = customer.billing_contact if customer else None
                if contact is None:
                    add_notice(
                        connection,
                        f"{notice.cause_key}|no-contact",
                        Cause(
                            NoticeKind.NO_CONTACT,
                            "manager",
                            f"{_customer_name(book, notice.customer_id)} has no billing contact",
                        ),
                        ticket_id=notice.ticket_id,
                        customer_id=notice.customer_id,
                        total=notice.total,
                        at=now,
                    )
                    take_notices(connection, [notice.cause_key], "no-contact")
                    continue
                ttl = self._settings.signoff_link_ttl
                link_id = issue_link(connection, notice.ticket_id, NOTIFIER, now, ttl)
                key = f"signoff:{notice.cause_key}:email"
                composed = signoff_letter(
                    SignoffLetter.REQUEST,
                    contact=contact.name,
                    customer=_customer_name(book, notice.customer_id),
                    ticket_id=notice.ticket_id,
                    total=notice.total,
                    currency=book.book.currency,
                    expires=_local_day(now + ttl, book),
                )
                planned += add_messages(
                    connection,
                    [_letter(key, SignoffLetter.REQUEST, contact.email, composed, notice, link_id)],
                    now,
                )
                take_notices(connection, [notice.cause_key], key)
        return planned

    def _signoff_followups(self, book: BillingBook, now: datetime) -> int:
        """A reminder once the link has waited ``signoff_reminder_after``; a final notice once
        it expires within ``signoff_final_notice_before`` (and no reminder after it)."""
        settings = self._settings
        planned = 0
        with write_transaction(self._engine) as connection:
            for link in open_notifier_links(connection, now):
                if not awaits_customer(connection, link.ticket_id):
                    continue
                if now >= link.expires_at - settings.signoff_final_notice_before:
                    letter = SignoffLetter.FINAL
                elif now >= link.issued_at + settings.signoff_reminder_after:
                    letter = SignoffLetter.REMINDER
                else:
                    continue
                key = f"{letter.value}:{link.link_id}:email"
                if message_present(connection, key):
                    continue
                record = ticket_standing(connection, link.ticket_id)
                customer = book.customer(record.customer_id)
                contact = customer.billing_contact if customer else None
                if contact is None:
                    continue
                composed = signoff_letter(
                    letter,
                    contact=contact.name,
                    customer=_customer_name(book, record.customer_id),
                    ticket_id=link.ticket_id,
                    total=record.total,
                    currency=book.book.currency,
                    expires=_local_day(link.expires_at, book),
                )
                planned += add_messages(
                    connection,
                    [_letter(key, letter, contact.email, composed, record, link.link_id)],
                    now,
                )
        return planned

    def _digests(self, book: BillingBook, now: datetime) -> int:
        """Each owner queue's digest, once a day from the digest hour (the book's timezone),
        when something waits in it."""
        local = now.astimezone(ZoneInfo(book.book.timezone))
        if local.hour < self._settings.digest_hour:
            return 0
        day = local.date()
        planned = 0
        with write_transaction(self._engine) as connection:
            for owner in OWNERS:
                key = f"digest:{owner}:{day.isoformat()}"
                if message_present(connection, f"{key}:email"):
                    continue
                waiting = waiting_for(connection, owner)
                if not waiting:
                    continue
                listed = [
                    Listed(
                        w.ticket_id,
                        _customer_name(book, w.customer_id),
                        STATUS_KIND[w.status],
                        safe_reason(w.hold_message or w.waiting_for or ""),
                        w.total,
                        w.since,
                    )
                    for w in waiting
                ]
                composed = digest(
                    owner,
                    listed,
                    day=day,
                    now=now,
                    aged_after=self._settings.digest_aged_after,
                    currency=book.book.currency,
                    base_url=self._base,
                )
                messages = self._channels(book, owner, key, "digest", composed)
                planned += add_messages(connection, messages, now)
        return planned

    def _weekly_summary(self, book: BillingBook, now: datetime) -> int:
        """Finance's summary of the seven days before the summary day, at the digest hour."""
        zone = book.book.timezone
        local = now.astimezone(ZoneInfo(zone))
        weekday = WEEKDAYS[local.weekday()]
        if weekday != self._settings.finance_summary_weekday:
            return 0
        if local.hour < self._settings.digest_hour:
            return 0
        last = local.date() - timedelta(days=1)
        first = last - timedelta(days=6)
        key = f"weekly:{local.date().isoformat()}"
        with self._engine.connect() as connection:
            if message_present(connection, f"{key}:email"):
                return 0
        composed = weekly_summary(self._figures(first, last, zone), book.book.currency, self._base)
        with write_transaction(self._engine) as connection:
            return add_messages(
                connection,
                self._channels(book, "finance", key, "weekly_summary", composed),
                now,
            )

    def _figures(self, first: date, last: date, zone: str) -> WeeklyFigures:
        period = period_of(first, last, zone)
        closed, held, held_total = closed_and_held(self._engine, period.start, period.end)
        lines = invoice_lines(self._engine, period).rows
        billed = sum(int(row[3]) for row in lines)  # type: ignore[call-overload]
        billed_total = sum((Decimal(row[4]) + Decimal(row[5]) for row in lines), Decimal(0))  # type: ignore[arg-type]
        leakage: dict[str, Decimal] = {}
        for row in revenue_leakage(self._engine, period).rows:
            value = Decimal(str(row[4] or 0))
            leakage[str(row[0])] = leakage.get(str(row[0]), Decimal(0)) + value
        return WeeklyFigures(
            start=first,
            end=last,
            closed=closed,
            billed=billed,
            billed_total=billed_total,
            held=held,
            held_total=held_total,
            leakage_total=sum(leakage.values(), Decimal(0)),
            leakage_by_cause=tuple(sorted(leakage.items())),
        )

    # ---- sending -----------------------------------------------------------------------------

    def _deliver(self, now: datetime) -> tuple[int, int]:
        sent = failed = 0
        for message in due_messages(self._engine, self._settings.notification_attempts):
            activity.heartbeat(message.message_key)
            if message.channel == "email" and self._mail is None:
                finish(
                    self._engine,
                    message.message_key,
                    "not_sent",
                    now,
                    "no mail server: set HDB_SMTP_URL (docs/notifications.md)",
                )
                continue
            body = self._body(message, now)
            if body is None:
                finish(
                    self._engine,
                    message.message_key,
                    "not_sent",
                    now,
                    "the signoff link was used or replaced before this e-mail went out",
                )
                continue
            if not claim(self._engine, message.message_key):
                continue
            try:
                self._send(message, body)
            except (MailRejected, ChatRejected) as refused:
                self._counter.record("notifications", Outcome.REJECTED)
                finish(self._engine, message.message_key, "rejected", now, str(refused))
                failed += 1
            except (MailUnavailable, ChatUnavailable) as problem:
                self._counter.record("notifications", Outcome.FAILED)
                finish(self._engine, message.message_key, "failed", now, str(problem))
                failed += 1
            else:
                self._counter.record("notifications", Outcome.OK)
                finish(self._engine, message.message_key, "sent", now)
                sent += 1
        return sent, failed

    def _body(self, message: Outgoing, now: datetime) -> str | None:
        """The text as sent: a signoff e-mail gets its link put in (None when the link no longer
        works: the customer acted, or a newer link replaced it)."""
        if message.link_id is None:
            return message.body
        with self._engine.connect() as connection:
            if link_state(connection, message.link_id, now) != "open":
                return None
            token = link_token(connection, self._signing_key, message.link_id)
        return message.body.replace(SIGNOFF_LINK, f"{self._base}/signoff/{token}")

    def _send(self, message: Outgoing, body: str) -> None:
        if message.channel == "email":
            assert self._mail is not None
            send_mail(
                self._mail,
                OutgoingMail(message.message_key, message.recipients, message.subject, body),
            )
            return
        for kind, url in self._webhooks(message.owner):
            if kind == message.channel:
                lines = tuple(body.splitlines())
                post_chat(
                    self._http,
                    kind,  # type: ignore[arg-type]
                    url,
                    ChatMessage(
                        message.subject, lines, _first_link(lines), "Open in helpdesk-billing"
                    ),
                )
                return
        raise ChatRejected(f"the {message.owner} queue has no {message.channel} webhook any more")


def _still_waits(notice: Notice, current: dict[str, str]) -> bool:
    wanted = STILL_WAITING.get(notice.kind)
    return wanted is None or current.get(notice.ticket_id) == wanted


def _first_link(lines: Sequence[str]) -> str | None:
    for line in reversed(lines):
        _, found, rest = line.partition("http")
        if found:
            return "http" + rest.split()[0]
    return None


def _customer_name(book: BillingBook, customer_id: str | None) -> str:
    customer = book.customer(customer_id)
    return customer.name if customer else customer_id or "(no customer)"


def _local_day(moment: datetime, book: BillingBook) -> date:
    return moment.astimezone(ZoneInfo(book.book.timezone)).date()


def _letter(
    key: str,
    letter: SignoffLetter,
    email: str,
    composed: Composed,
    notice: Notice,
    link_id: str,
) -> NewMessage:
    return NewMessage(
        key,
        letter.value,
        "customer",
        "email",
        (email,),
        composed.subject,
        composed.text,
        ticket_id=notice.ticket_id,
        link_id=link_id,
        items=1,
    )
