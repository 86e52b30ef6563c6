"""The outbox page over HTTP on a real uvicorn, reading a store whose outbox rows were written
the notifier's way (store.notifications add_messages, claim, finish, mark_interrupted): who may
see it and who may send again, the table in the book's timezone with the counts per state, the
filters and their 422s, pagination, a body shown escaped with the signoff link never in it, and
"Send again" for an uncertain message (refused for a sent one). No Temporal server is needed;
every time is fixed, so no test depends on the day it runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest

from billing.notices import SIGNOFF_LINK
from billing.roles import Role
from store.database import write_transaction
from store.notifications import NewMessage, add_messages, claim, finish, mark_interrupted
from store.notifications import outbox_message as stored_message
from tests.live.api_server import ServedStore, hidden, served_examples
from tests.test_report_pages import logged_in
from usecases.outbox_view import LINK_NOT_SHOWN

# Rows are written at these moments (UTC); the examples' book keeps America/New_York (EST).
FIRST = datetime(2026, 11, 30, 14, 5, tzinfo=UTC)
SIGNOFF_KEY = "signoff|T-1003|L-1"
SENT_KEY = "notice|billing|T-1001|2026-11-30T14:05"
FAILED_KEY = "digest|manager|2026-11-30|slack"
REJECTED_KEY = "digest|manager|2026-11-30|teams"
RESEND_KEY = "notice|support/T-1002|2026-11-30"  # a slash: the route takes the key as a path
SUPPORT_ROWS = 55  # more than a page


def message(key: str, **fields: object) -> NewMessage:
    values: dict[str, object] = {
        "kind": "notice",
        "owner": "support",
        "channel": "email",
        "recipients": ("sam@example.com",),
        "subject": f"subject of {key}",
        "body": f"body of {key}\n",
        "items": 1,
        **fields,
    }
    return NewMessage(message_key=key, **values)  # type: ignore[arg-type]


def seed_outbox(site: ServedStore) -> None:
    engine = site.engine
    at = iter(FIRST + timedelta(minutes=minute) for minute in range(1000))
    with write_transaction(engine) as connection:
        for number in range(SUPPORT_ROWS):
            add_messages(connection, [message(f"notice|support|T-9{number:03}")], next(at))
        add_messages(
            connection,
            [
                message(
                    SENT_KEY,
                    owner="billing",
                    recipients=("fran@example.com", "ap@example.com"),
                    subject="T-1001 is held",
                    body="T-1001 <b>held</b>: no time\nsecond line\n",
                    ticket_id="T-1001",
                )
            ],
            next(at),
        )
        add_messages(
            connection,
            [
                message(
                    SIGNOFF_KEY,
                    kind="signoff",
                    owner="customer",
                    recipients=("billing@acme.example",),
                    subject="T-1003 awaits your signoff",
                    body=f"Dear Ann,\n\nAccept or decline: {SIGNOFF_LINK}\n",
                    ticket_id="T-1003",
                    link_id="L-1",
                )
            ],
            next(at),
        )
        add_messages(
            connection,
            [
                message(
                    FAILED_KEY,
                    kind="digest",
                    owner="manager",
                    channel="slack",
                    recipients=(),
                    items=4,
                ),
                message(
                    REJECTED_KEY, kind="digest", owner="manager", channel="teams", recipients=()
                ),
            ],
            next(at),
        )
        add_messages(connection, [message(RESEND_KEY, ticket_id="T-1002")], next(at))
    finish(engine, SENT_KEY, "sent", FIRST + timedelta(hours=1))
    finish(engine, FAILED_KEY, "failed", FIRST, "Slack answered 500: try again later")
    finish(engine, REJECTED_KEY, "rejected", FIRST, "Teams refused the message: 400")
    # Cut off mid-send, as a killed worker leaves them.
    assert claim(engine, SIGNOFF_KEY) and claim(engine, RESEND_KEY)
    assert mark_interrupted(engine) == 2


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStore]:
    with served_examples(tmp_path_factory.mktemp("outbox-site")) as served:
        seed_outbox(served)
        yield served


def row_of(html: str, key: str) -> str:
    start = html.index(f'data-message="{key}"')
    return html[start : html.index("</tr>", start)]


def body_of(html: str, key: str) -> str:
    """The row under a message's that holds its body."""
    start = html.index(f'data-body-of="{key}"')
    return html[start : html.index("</tr>", start)]


def keys(html: str) -> list[str]:
    return [unescape(key) for key in re.findall(r'<tr data-message="([^"]+)"', html)]


def test_admin_sees_the_outbox_newest_first_in_the_books_timezone(site: ServedStore) -> None:
    """First in the file: the counts are the seeded ones (a later test sends one again)."""
    with logged_in(site, Role.ADMIN) as http:
        page = http.get("/notifications")
    assert page.status_code == 200, page.text
    html = page.text
    assert "America/New_York" in html
    # Written at the same moment, the two digests come by key.
    assert keys(html)[:4] == [RESEND_KEY, FAILED_KEY, REJECTED_KEY, SIGNOFF_KEY]
    assert len(keys(html)) == 50
    sent = unescape(row_of(html, SENT_KEY))
    # Written 14:05 + 55 min UTC = 09:00 EST; sent 15:05 UTC = 10:05 EST.
    assert "2026-11-30 10:00 EST" in sent and "2026-11-30 10:05 EST" in sent
    assert "fran@example.com, ap@example.com" in sent and "T-1001 is held" in sent
    assert 'data-label="Tickets">1 <a class="nowrap" href="/tickets/T-1001">T-1001</a>' in row_of(
        html, SENT_KEY
    )
    failed = unescape(row_of(html, FAILED_KEY))
    assert "the manager queue's slack channel" in failed  # a webhook is a secret: never shown
    assert 'data-label="Tickets">4<' in failed  # how many tickets the digest lists
    assert "failed: retried while attempts last" in failed
    assert "Slack answered 500: try again later" in failed
    uncertain = unescape(row_of(html, SIGNOFF_KEY))
    assert "uncertain: may not have arrived" in uncertain
    assert "check with the recipient" in uncertain and "Send again" in uncertain
    assert "Send again" not in row_of(html, SENT_KEY)
    # Counts per state on top, most urgent first, each a link to its filter.
    counts = unescape(html[html.index('id="outbox-counts"') :].split("</p>")[0])
    assert re.sub(r"<[^>]+>", "", counts).endswith(
        "2 uncertain, 1 failed, 1 rejected, 55 pending, 1 sent"
    )
    assert 'href="/notifications?state=uncertain"' in counts
    assert '<a href="/notifications">Outbox</a>' in html


def test_a_body_is_escaped_plain_text_and_never_shows_the_signoff_link(
    site: ServedStore,
) -> None:
    with logged_in(site, Role.OPERATOR) as http:
        html = http.get("/notifications", params={"owner": "customer"}).text
        billing = http.get("/notifications", params={"ticket": "T-1001"}).text
    signoff = body_of(html, SIGNOFF_KEY)
    assert "<details" in signoff and 'class="message-body"' in signoff
    assert LINK_NOT_SHOWN in unescape(signoff)
    assert SIGNOFF_LINK not in html and "/signoff/" not in html
    body = body_of(billing, SENT_KEY)
    assert "T-1001 &lt;b&gt;held&lt;/b&gt;: no time\nsecond line" in body
    assert "<b>held</b>" not in billing


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "failed"}, [FAILED_KEY]),
        ({"state": "uncertain", "owner": "customer"}, [SIGNOFF_KEY]),
        ({"channel": "teams"}, [REJECTED_KEY]),
        ({"owner": "billing"}, [SENT_KEY]),
        ({"ticket": "T-1002"}, [RESEND_KEY]),
        ({"ticket": "T-100"}, []),  # exact, not a prefix
        ({"owner": "finance"}, []),
    ],
)
def test_the_filters(site: ServedStore, params: dict[str, str], expected: list[str]) -> None:
    with logged_in(site, Role.OPERATOR) as http:
        page = http.get("/notifications", params=params)
    assert page.status_code == 200, page.text
    assert keys(page.text) == expected
    if not expected:
        assert "No message matches this filter." in page.text


def test_fifty_a_page(site: ServedStore) -> None:
    with logged_in(site, Role.ADMIN) as http:
        first = http.get("/notifications", params={"owner": "support"})
        second = http.get("/notifications", params={"owner": "support", "page": "2"})
    assert len(keys(first.text)) == 50 and "Page 1 of 2" in first.text
    assert 'href="/notifications?owner=support&amp;page=2"' in first.text
    assert "Page 2 of 2" in second.text
    rest = keys(second.text)
    assert len(rest) == 6  # 55 support rows and the one about T-1002
    assert set(rest).isdisjoint(keys(first.text))


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"state": "lost"}, "state: must be one of pending, sending, sent, failed, rejected"),
        ({"channel": "fax"}, "channel: must be one of email, slack, teams, not 'fax'"),
        ({"owner": "ceo"}, "owner: must be one of support, billing, manager, finance, customer"),
        ({"page": "0"}, "page: '0' is not a page number from 1 to 1,000,000"),
        ({"page": "two"}, "page: 'two' is not a page number"),
        ({"page": "-3"}, "page: '-3' is not a page number"),
    ],
)
def test_a_bad_filter_is_a_422_page_naming_its_field(
    site: ServedStore, params: dict[str, str], says: str
) -> None:
    with logged_in(site, Role.ADMIN) as http:
        page = http.get("/notifications", params=params)
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]
    assert says in unescape(page.text)


@pytest.mark.parametrize("role", [Role.FINANCE, Role.SUPPORT, Role.MANAGER])
def test_other_roles_get_the_403_page_and_no_link(site: ServedStore, role: Role) -> None:
    with logged_in(site, role) as http:
        page = http.get("/notifications")
        home = http.get("/")
    assert page.status_code == 403
    assert "The outbox is for operators and admin." in page.text
    assert 'href="/notifications"' not in home.text


def test_without_a_session_it_is_the_login_page(site: ServedStore) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as http:
        page = http.get("/notifications")
        posted = http.post(f"/notifications/{SENT_KEY}/resend", data={"csrf": "x"})
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert posted.status_code == 303 and posted.headers["location"] == "/login"


def test_an_operator_reads_but_cannot_send_again(site: ServedStore) -> None:
    with logged_in(site, Role.OPERATOR) as http:
        page = http.get("/notifications")
        csrf = hidden(page.text, "csrf")
        posted = http.post(f"/notifications/{RESEND_KEY}/resend", data={"csrf": csrf})
    assert page.status_code == 200 and "Send again" not in page.text
    assert '<a href="/notifications">Outbox</a>' in page.text
    assert posted.status_code == 403
    assert "Only admin may send an outbox message again." in posted.text
    assert stored_message(site.engine, RESEND_KEY).state == "uncertain"  # type: ignore[union-attr]


def test_admin_sends_an_uncertain_message_again(site: ServedStore) -> None:
    with logged_in(site, Role.ADMIN) as http:
        page = http.get("/notifications", params={"state": "uncertain"})
        form = row_of(page.text, RESEND_KEY)
        action = unescape(re.search(r'action="([^"]+)"', form).group(1))  # type: ignore[union-attr]
        assert action == "/notifications/notice%7Csupport/T-1002%7C2026-11-30/resend"
        posted = http.post(
            action, data={"csrf": hidden(page.text, "csrf"), "back": hidden(form, "back")}
        )
        assert posted.status_code == 303
        assert posted.headers["location"].startswith("/notifications?state=uncertain&flash=")
        shown = http.get(posted.headers["location"])
    assert f"{RESEND_KEY}: was uncertain; now pending" in unescape(shown.text)
    again = stored_message(site.engine, RESEND_KEY)
    assert again is not None and again.state == "pending" and again.attempts == 0
    assert again.last_error is None


def test_a_sent_message_is_not_sent_again(site: ServedStore) -> None:
    with logged_in(site, Role.ADMIN) as http:
        csrf = hidden(http.get("/notifications").text, "csrf")
        posted = http.post(f"/notifications/{SENT_KEY}/resend", data={"csrf": csrf})
        shown = http.get(posted.headers["location"])
        unknown = http.post("/notifications/no-such-key/resend", data={"csrf": csrf})
        forged = http.post(f"/notifications/{FAILED_KEY}/resend", data={"csrf": "forged"})
    assert posted.status_code == 303
    said = unescape(shown.text)
    assert f"Not sent again: {SENT_KEY} is sent (sent): only an uncertain, failed, rejected" in said
    assert stored_message(site.engine, SENT_KEY).state == "sent"  # type: ignore[union-attr]
    assert unknown.status_code == 404 and "No outbox message 'no-such-key'" in unescape(
        unknown.text
    )
    assert forged.status_code == 403
    assert stored_message(site.engine, FAILED_KEY).state == "failed"  # type: ignore[union-attr]
