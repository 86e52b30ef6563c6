"""The notifier's rounds against a real SMTP server (aiosmtpd on loopback) and a real store:
batches per owner queue, the customer's signoff e-mail with a link that works, reminders and
final notices, digests at their hour, at most once per cause, and what is never sent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from billing.notices import WITHHELD
from store.notifications import (
    NOTIFIER,
    OutboxQuery,
    claim,
    outbox,
)
from store.signing import Unauthorized, unsign
from store.signoff_links import read_signoff_link
from store.sync_health import calls_since
from tests.mail_fixtures import StartMailServer
from tests.notifications.round_helpers import MONDAY, SIGNING_KEY, notifier, record, signoff_url

MINUTE = timedelta(minutes=1)


def test_fifty_holds_within_a_minute_make_one_email_listing_all_of_them(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(tmp_path, server)
    for i in range(50):
        record(notify.engine, f"T-{i:03}", MONDAY + i * timedelta(seconds=1))
    # Still gathering: the oldest notice is not an interval (5 minutes) old.
    assert notify.run(MONDAY + 2 * MINUTE).sent == 0
    assert server.messages() == []
    result = notify.run(MONDAY + 5 * MINUTE)
    assert (result.planned, result.sent, result.failed) == (1, 1, 0)
    [mail] = server.wait_for(1)
    assert set(mail.rcpt_tos) == {"billing@msp.example", "billing-list@msp.example"}
    body = mail.message.get_content()
    for i in range(50):
        assert f"T-{i:03} · Acme Dental" in body
        assert f"https://billing.example/tickets/T-{i:03}" in body
    assert "50 tickets waiting for billing (6,025.00 USD)" in mail.message["Subject"]
    assert "no contract covers this customer" in body
    assert "Printer down" not in body  # never the subject (nor a note)
    # Later rounds send nothing more: each notice went out once.
    notify.run(MONDAY + 10 * MINUTE)
    notify.run(MONDAY + 20 * MINUTE)
    assert len(server.messages()) == 1


def test_each_owner_queue_gets_its_own_message(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(tmp_path, server)
    record(notify.engine, "T-1", MONDAY, next_actor="support", hold_code="no_time_entry")
    record(notify.engine, "T-2", MONDAY, next_actor="billing")
    record(
        notify.engine,
        "T-3",
        MONDAY,
        status="awaiting_approval",
        next_actor="manager",
        waiting_for="manager approval: over the threshold",
    )
    notify.run(MONDAY + 5 * MINUTE)
    mails = server.wait_for(3)
    by_recipient = {mail.rcpt_tos[0]: mail.message.get_content() for mail in mails}
    assert "T-1" in by_recipient["support@msp.example"]
    assert "T-2" in by_recipient["billing@msp.example"]
    assert "T-3 · Acme Dental · 120.50 USD · needs approval" in by_recipient["manager@msp.example"]


def test_a_hold_released_before_the_batch_is_not_told(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(tmp_path, server)
    record(notify.engine, "T-gone", MONDAY)
    record(notify.engine, "T-stays", MONDAY)
    record(notify.engine, "T-gone", MONDAY + MINUTE, status="ready", next_actor=None)
    notify.run(MONDAY + 5 * MINUTE)
    [mail] = server.wait_for(1)
    assert "T-stays" in mail.message.get_content()
    assert "T-gone" not in mail.message.get_content()


def test_a_reason_holding_a_secret_is_withheld(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(tmp_path, server)
    record(
        notify.engine,
        "T-1",
        MONDAY,
        hold_code="sensitive_text",
        next_actor="support",
        hold_message="note says password: Hunter2Hunter2! for the NAS",
    )
    notify.run(MONDAY + 5 * MINUTE)
    body = server.wait_for(1)[0].message.get_content()
    assert WITHHELD in body
    assert "Hunter2" not in body and "[redacted]" not in body


def test_the_signoff_email_reaches_the_contact_and_its_link_works(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(tmp_path, server)
    record(notify.engine, "T-7", MONDAY, status="awaiting_approval", next_actor="customer")
    # Not batched: it goes at the next round.
    notify.run(MONDAY + MINUTE)
    [mail] = server.wait_for(1)
    assert mail.rcpt_tos == ("ann@acme.example",)
    assert mail.message["Subject"] == "Please review and sign off ticket T-7"
    url = signoff_url(mail.message.get_content())
    grant = read_signoff_link(
        notify.engine, SIGNING_KEY, url.rsplit("/", 1)[1], now=MONDAY + 2 * MINUTE
    )
    assert (grant.ticket_id, grant.used, grant.issued_by) == ("T-7", False, NOTIFIER)
    # The outbox keeps the message without the link: it is the customer's credential.
    [stored] = outbox(notify.engine, OutboxQuery(ticket_id="T-7"))[0]
    assert "{signoff_link}" in stored.body and "/signoff/" not in stored.body


def test_reminder_then_final_notice_with_the_same_link_and_nothing_after_a_decision(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(
        tmp_path,
        server,
        signoff_reminder_after=timedelta(days=3),
        signoff_final_notice_before=timedelta(days=2),
        signoff_link_ttl=timedelta(days=14),
        digest_hour=23,  # no digest in the way
    )
    record(notify.engine, "T-7", MONDAY, status="awaiting_approval", next_actor="customer")
    notify.run(MONDAY + MINUTE)
    first = signoff_url(server.wait_for(1)[0].message.get_content())
    notify.run(MONDAY + timedelta(days=2, hours=23))
    assert len(server.messages()) == 1
    notify.run(MONDAY + timedelta(days=3, minutes=2))
    reminder = server.wait_for(2)[1]
    assert reminder.message["Subject"] == "Reminder: ticket T-7 waits for your signoff"
    assert signoff_url(reminder.message.get_content()) == first
    notify.run(MONDAY + timedelta(days=5))
    assert len(server.messages()) == 2
    notify.run(MONDAY + timedelta(days=12, minutes=2))
    final = server.wait_for(3)[2]
    assert final.message["Subject"].startswith("Last reminder: sign off ticket T-7 by ")
    assert signoff_url(final.message.get_content()) == first
    # It still works the day before it expires; not after (the link's own clock).
    token = first.rsplit("/", 1)[1]
    assert unsign(SIGNING_KEY, token, now=MONDAY + timedelta(days=13))["ticket"] == "T-7"
    with pytest.raises(Unauthorized):
        unsign(SIGNING_KEY, token, now=MONDAY + timedelta(days=14, minutes=2))
    # The customer declines: the manager is told, the customer gets nothing more.
    record(
        notify.engine,
        "T-7",
        MONDAY + timedelta(days=13),
        next_actor="manager",
        hold_code="customer_declined",
        hold_message="the customer declined to sign off: customer (link abc)",
    )
    notify.run(MONDAY + timedelta(days=13, minutes=6))
    to_manager = server.wait_for(4)[3]
    assert to_manager.rcpt_tos == ("manager@msp.example",)
    assert "T-7 · Acme Dental · 120.50 USD · declined by the customer" in (
        to_manager.message.get_content()
    )
    notify.run(MONDAY + timedelta(days=14))
    assert len(server.messages()) == 4


def test_no_billing_contact_tells_the_manager_to_send_a_link_by_hand(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(tmp_path, server, contact=False)
    record(notify.engine, "T-7", MONDAY, status="awaiting_approval", next_actor="customer")
    notify.run(MONDAY + MINUTE)
    assert server.messages() == []
    notify.run(MONDAY + 7 * MINUTE)
    [mail] = server.wait_for(1)
    assert mail.rcpt_tos == ("manager@msp.example",)
    body = mail.message.get_content()
    assert "awaits a signoff nobody was sent: Acme Dental has no billing contact" in body
    assert "send the customer a signoff link by hand" in body


def test_the_digest_comes_once_a_day_from_the_digest_hour(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(
        tmp_path,
        server,
        digest_hour=8,
        digest_aged_after=timedelta(days=3),
        finance_summary_weekday="sun",  # Monday: the finance summary is not in the way
    )
    record(notify.engine, "T-old", MONDAY - timedelta(days=4))
    record(notify.engine, "T-new", MONDAY - timedelta(hours=1))
    server_before = len(server.messages())
    # 07:59 in New York: no digest yet (the batch of the two holds goes, though).
    notify.run(MONDAY + timedelta(minutes=59))
    batch = server.wait_for(server_before + 1)
    assert all("digest" not in mail.message["Subject"] for mail in batch)
    count = len(batch)
    notify.run(MONDAY + timedelta(hours=1, minutes=1))  # 08:01
    [digest] = server.wait_for(count + 1)[count:]
    assert digest.message["Subject"] == (
        "[helpdesk-billing] billing digest 2026-03-02: 2 tickets waiting, 1 over 3 days"
    )
    body = digest.message.get_content()
    assert body.index("T-old") < body.index("T-new")
    notify.run(MONDAY + timedelta(hours=5))
    assert len(server.messages()) == count + 1
    notify.run(MONDAY + timedelta(days=1, hours=1, minutes=1))
    assert "2026-03-03" in server.wait_for(count + 2)[-1].message["Subject"]


def test_a_message_cut_off_mid_send_is_marked_uncertain_and_never_resent(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(tmp_path, server)
    record(notify.engine, "T-1", MONDAY)
    record(notify.engine, "T-2", MONDAY, next_actor="support", hold_code="no_time_entry")
    # A round plans both messages but its worker dies after claiming the first.
    notify.activities._deliver = lambda now: (0, 0)  # type: ignore[method-assign]
    notify.run(MONDAY + 5 * MINUTE)
    del notify.activities._deliver
    planned = outbox(notify.engine, OutboxQuery(channel="email"))[0]
    assert claim(notify.engine, planned[-1].message_key)  # the dead round's claim
    result = notify.run(MONDAY + 6 * MINUTE)
    assert (result.interrupted, result.sent) == (1, 1)
    assert len(server.wait_for(1)) == 1
    states = {m.message_key: m.state for m in outbox(notify.engine, OutboxQuery())[0]}
    assert states[planned[-1].message_key] == "uncertain"
    notify.run(MONDAY + 7 * MINUTE)
    assert len(server.messages()) == 1


def test_without_a_mail_server_or_addresses_messages_are_kept_as_not_sent(
    tmp_path: Path,
) -> None:
    notify = notifier(tmp_path, None)
    record(notify.engine, "T-1", MONDAY)
    notify.run(MONDAY + 5 * MINUTE)
    [message] = outbox(notify.engine, OutboxQuery())[0]
    assert message.state == "not_sent"
    assert message.last_error and "HDB_SMTP_URL" in message.last_error


def test_a_failing_webhook_is_retried_counted_and_never_blocks_the_email(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    answers = iter([httpx.Response(503), httpx.Response(200, text="ok")])
    seen: list[httpx.Request] = []

    def slack(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    notify = notifier(
        tmp_path,
        server,
        transport=httpx.MockTransport(slack),
        slack_webhook_billing="https://hooks.slack.com/services/T000/B000/XXXX",
    )
    record(notify.engine, "T-1", MONDAY)
    first = notify.run(MONDAY + 5 * MINUTE)
    assert (first.sent, first.failed) == (1, 1)  # the e-mail went; the post failed
    assert len(server.wait_for(1)) == 1
    second = notify.run(MONDAY + 6 * MINUTE)
    assert (second.sent, second.failed) == (1, 0)
    assert len(seen) == 2 and "T-1" in seen[1].content.decode()
    notify.counter.flush()
    counted = calls_since(notify.engine, MONDAY - timedelta(hours=1), MONDAY + timedelta(hours=1))
    assert counted == {("notifications", "failed"): 1, ("notifications", "ok"): 2}


def test_the_weekly_finance_summary_goes_to_finance_on_its_day(
    tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    notify = notifier(tmp_path, server, digest_hour=8, finance_summary_weekday="mon")
    record(notify.engine, "T-1", MONDAY - timedelta(days=3), total="100.00")
    record(notify.engine, "T-2", MONDAY - timedelta(days=10), total="40.00")  # the week before
    notify.run(MONDAY + timedelta(hours=1, minutes=1))  # Monday 08:01 in New York
    mails = server.wait_for(3)  # the hold batch, billing's digest, the summary
    [summary] = [mail for mail in mails if mail.rcpt_tos == ("finance@msp.example",)]
    assert summary.message["Subject"] == (
        "[helpdesk-billing] weekly finance summary, 2026-02-23 to 2026-03-01"
    )
    body = summary.message.get_content()
    assert "Closed: 1 ticket" in body
    assert "Held now: 2 tickets, 140.00 USD" in body
    notify.run(MONDAY + timedelta(hours=3))
    notify.run(MONDAY + timedelta(days=1, hours=3))  # Tuesday: not its day
    assert [m.rcpt_tos for m in server.messages()].count(("finance@msp.example",)) == 1
