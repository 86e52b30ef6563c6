"""`starter.py notifications list|show|resend` through cli.main, as a user runs them, over a
store (SQLite and PostgreSQL) whose outbox rows were written the notifier's way: the table in the
book's timezone without bodies, the filters and --limit, the JSON, a body with the signoff link
in words, sending an uncertain message again, and exit 2 naming what is wrong. Every time is
fixed: no test depends on the day it runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from billing.notices import SIGNOFF_LINK
from cli.main import main
from store.database import open_store, write_transaction
from store.notifications import (
    STATES,
    NewMessage,
    add_messages,
    claim,
    finish,
    mark_interrupted,
)
from store.notifications import outbox_message as stored_message
from tests.conftest import EXAMPLES
from usecases.outbox_view import LINK_NOT_SHOWN, RESENDABLE, STATE_LABELS, STATE_ORDER

# 14:05 UTC is 09:05 in the examples' book (America/New_York, EST in November).
AT = datetime(2026, 11, 30, 14, 5, tzinfo=UTC)
NOTICE = "notice|billing|T-1001"
SIGNOFF = "signoff|T-1003|L-1"
DIGEST = "digest|manager|2026-11-30|slack"


@pytest.fixture
def engine(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("HDB_DATABASE_URL", store_url)
    monkeypatch.setenv("HDB_BOOK_PATH", str(EXAMPLES / "book.toml"))
    engine = open_store(store_url)
    with write_transaction(engine) as connection:
        add_messages(
            connection,
            [
                NewMessage(
                    NOTICE,
                    "notice",
                    "billing",
                    "email",
                    ("fran@example.com",),
                    "T-1001 is held",
                    "T-1001 is held: no time\n",
                    ticket_id="T-1001",
                    items=1,
                )
            ],
            AT,
        )
        add_messages(
            connection,
            [
                NewMessage(
                    SIGNOFF,
                    "signoff",
                    "customer",
                    "email",
                    ("billing@acme.example",),
                    "T-1003 awaits your signoff",
                    f"Dear Ann,\n\nAccept or decline: {SIGNOFF_LINK}\n",
                    ticket_id="T-1003",
                    link_id="L-1",
                    items=1,
                ),
                NewMessage(DIGEST, "digest", "manager", "slack", (), "2 wait", "…", items=2),
            ],
            AT + timedelta(hours=1),
        )
    finish(engine, NOTICE, "sent", AT + timedelta(minutes=1))
    finish(engine, DIGEST, "failed", AT, "Slack answered 500: try again later")
    assert claim(engine, SIGNOFF)
    assert mark_interrupted(engine) == 1  # the sender died mid-send
    return engine


def test_list_is_a_table_newest_first_in_the_books_timezone_without_bodies(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notifications", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "KEY",
        "WHEN",
        "KIND",
        "OWNER",
        "CHANNEL",
        "RECIPIENTS",
        "SUBJECT",
        "TICKETS",
        "STATE",
        "ATTEMPTS",
        "SENT",
        "AT",
        "LAST",
        "ERROR",
    ]
    rows = [line for line in lines[2:] if line.strip()][:3]
    # Same moment: by key.
    assert [row.split()[0] for row in rows] == [DIGEST, SIGNOFF, NOTICE]
    notice = rows[2]
    assert "2026-11-30 09:05 EST" in notice and "2026-11-30 09:06 EST" in notice
    assert "fran@example.com" in notice and "sent" in notice
    assert "the manager queue's slack channel" in rows[0]
    assert "Slack answered 500" in rows[0]
    assert "3 of 3 messages, newest first; times in America/New_York" in out
    assert "Dear Ann" not in out and "no time" not in out  # bodies only with `show`


def test_filters_and_limit(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notifications", "list", "--state", "uncertain", "--json"]) == 0
    assert [m["key"] for m in json.loads(capsys.readouterr().out)] == [SIGNOFF]
    assert main(["notifications", "list", "--channel", "slack", "--json"]) == 0
    assert [m["key"] for m in json.loads(capsys.readouterr().out)] == [DIGEST]
    assert main(["notifications", "list", "--owner", "billing", "--json"]) == 0
    assert [m["key"] for m in json.loads(capsys.readouterr().out)] == [NOTICE]
    assert main(["notifications", "list", "--ticket", "T-1003", "--json"]) == 0
    assert [m["key"] for m in json.loads(capsys.readouterr().out)] == [SIGNOFF]
    assert main(["notifications", "list", "--limit", "1"]) == 0
    assert "1 of 3 messages" in capsys.readouterr().out
    assert main(["notifications", "list", "--owner", "finance"]) == 0
    assert capsys.readouterr().out.strip() == "no message in the outbox matches"


def test_json_has_the_tables_keys_with_iso_times(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notifications", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    notice = next(m for m in listed if m["key"] == NOTICE)
    assert notice == {
        "key": NOTICE,
        "when": "2026-11-30T14:05:00+00:00",
        "kind": "notice",
        "owner": "billing",
        "channel": "email",
        "recipients": ["fran@example.com"],
        "subject": "T-1001 is held",
        "tickets": 1,
        "state": "sent",
        "attempts": 0,
        "sent_at": "2026-11-30T14:06:00+00:00",
        "last_error": None,
    }
    digest = next(m for m in listed if m["key"] == DIGEST)
    assert digest["recipients"] == [] and digest["last_error"].startswith("Slack answered 500")
    assert all("body" not in m for m in listed)


def test_show_prints_the_body_with_the_signoff_link_in_words(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notifications", "show", SIGNOFF]) == 0
    out = capsys.readouterr().out
    assert f"Accept or decline: {LINK_NOT_SHOWN}" in out
    assert SIGNOFF_LINK not in out
    assert "uncertain (uncertain: may not have arrived)" in out
    assert "2026-11-30 10:05 EST" in out and "billing@acme.example" in out


def test_resend_makes_an_uncertain_message_pending(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notifications", "resend", SIGNOFF]) == 0
    assert (
        capsys.readouterr().out.strip()
        == f"{SIGNOFF}: was uncertain; now pending: the notifier sends it on its next round"
    )
    again = stored_message(engine, SIGNOFF)
    assert again is not None and again.state == "pending" and again.last_error is None


def test_resend_refuses_a_sent_message_and_an_unknown_key_with_exit_2(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notifications", "resend", NOTICE]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: not sent again: {NOTICE} is sent (sent): only an uncertain")
    assert stored_message(engine, NOTICE).state == "sent"  # type: ignore[union-attr]
    assert main(["notifications", "resend", "no-such-key"]) == 2
    assert "error: no outbox message 'no-such-key'" in capsys.readouterr().err
    assert main(["notifications", "show", "no-such-key"]) == 2
    assert "error: no outbox message 'no-such-key'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--state", "lost"], "argument --state: invalid choice: 'lost'"),
        (["--channel", "fax"], "argument --channel: invalid choice: 'fax'"),
        (["--owner", "ceo"], "argument --owner: invalid choice: 'ceo'"),
        (["--limit", "0"], "argument --limit: '0' is not a whole number from 1 to 1000"),
        (["--limit", "1001"], "argument --limit: '1001' is not a whole number from 1 to 1000"),
        (["--limit", "ten"], "argument --limit: 'ten' is not a whole number"),
    ],
)
def test_a_bad_option_is_exit_2_naming_it(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["notifications", "list", *argv])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_every_state_has_its_words_and_its_place() -> None:
    """A state the store gains must get words on the page and in the command (outbox_view)."""
    assert set(STATE_ORDER) == set(STATES) == set(STATE_LABELS)
    assert set(RESENDABLE) < set(STATES)
