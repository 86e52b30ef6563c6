"""`starter.py report NAME` over a store seeded through the same writes the workflows make:
each report's figures, and the table, JSON and CSV forms."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.posting import BillableLine, LineType
from cli import reconcile_command, report_command
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from messages.ticket import EditItem
from messages.ticket_activities import RecordInput
from messages.views import AuditItem, TicketProjection
from store.database import open_store
from store.ticket_records import record_ticket

# The command's and the ledger's clock: no test depends on the day it runs.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
YESTERDAY = NOW - timedelta(days=1)


def projection(
    ticket_id: str,
    status: str,
    chargeable: str,
    closed_at: datetime,
    hold: tuple[str, str] | None = None,
    since: datetime | None = None,
) -> TicketProjection:
    return TicketProjection(
        ticket_id=ticket_id,
        customer_id="org-1",
        billing_customer_id="CUST-1",
        status=status,
        mode="auto",
        hold_code=hold[0] if hold else None,
        hold_owner=hold[1] if hold else None,
        hold_message="why" if hold else None,
        waiting_for="",
        chargeable_total=Decimal(chargeable),
        posted_total=Decimal("0.00"),
        revision=1,
        closed_at=closed_at,
        changed_at=since or closed_at,
        sequence=1,
        detail_json="{}",
    )


def line(source: str, amount: str, line_type: LineType = LineType.CHARGE) -> BillableLine:
    value = Decimal(amount)
    return BillableLine(
        source, "labor", "LAB-REMOTE", "work", Decimal("1"), value, value, False, line_type
    )


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = store_url
    monkeypatch.setenv("HDB_DATABASE_URL", url)
    engine = open_store(url)
    record_ticket(engine, RecordInput(projection("T-1", "posted", "95.00", YESTERDAY), [], []))
    record_ticket(engine, RecordInput(projection("T-2", "posted", "47.50", YESTERDAY), [], []))
    held_since = NOW - timedelta(days=4)
    record_ticket(
        engine,
        RecordInput(
            projection("T-3", "held", "30.00", held_since, ("disputed", "manager"), held_since),
            [],
            [
                EditItem(
                    "T-3:1:te-1:quantity",
                    "T-3",
                    "te-1",
                    "quantity",
                    "1",
                    "0.5",
                    "fin",
                    "finance",
                    "too long",
                    NOW,
                )
            ],
        ),
    )
    record_ticket(engine, RecordInput(projection("T-4", "no_charge", "0.00", YESTERDAY), [], []))
    ledger = EmbeddedLedger(engine, now=lambda: NOW)
    ledger.post_lines(PostRequest("k1", "T-1", "CUST-1", [line("te-1", "95.00")], "2026-11"))
    ledger.post_lines(
        PostRequest(
            "k2",
            "T-2",
            "CUST-1",
            [line("te-2", "47.50"), line("te-3", "-10.00", LineType.CREDIT)],
            "2026-11",
        )
    )
    return engine


def report(*argv: str, now: datetime = NOW) -> int:
    """``starter.py report`` with its clock at ``now``."""
    parser = argparse.ArgumentParser(prog="starter.py")
    report_command.add_parser(parser.add_subparsers(required=True), now=lambda: now)
    args = parser.parse_args(["report", *argv])
    return args.run(args)


def test_closed_by_day_counts_billable_tickets_only(store, capsys) -> None:  # type: ignore[no-untyped-def]
    assert report("closed-by-day", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows == [
        {"day": (NOW - timedelta(days=4)).date().isoformat(), "tickets": 1, "chargeable": "30.00"},
        {"day": YESTERDAY.date().isoformat(), "tickets": 2, "chargeable": "142.50"},
    ]


def test_held_by_reason_owner_and_age(store, capsys) -> None:  # type: ignore[no-untyped-def]
    assert report("held", "--format", "csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [
        ["reason", "owner", "age", "tickets", "total"],
        ["disputed", "manager", "3-7 days", "1", "30.00"],
    ]


def test_invoice_lines_split_charges_and_credits(store, capsys) -> None:  # type: ignore[no-untyped-def]
    assert report("invoice-lines", "--format", "json") == 0
    [row] = json.loads(capsys.readouterr().out)["rows"]
    assert (row["lines"], row["tickets"], row["charged"], row["credited"]) == (
        3,
        2,
        "142.50",
        "-10.00",
    )


def test_close_to_invoice_and_edits_and_credits(store, capsys) -> None:  # type: ignore[no-untyped-def]
    assert report("close-to-invoice", "--format", "json") == 0
    [row] = json.loads(capsys.readouterr().out)["rows"]
    assert row["tickets"] == 2 and 23 < row["average h"] < 25
    assert report("manual-edits", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["rows"] == [
        {"role": "finance", "person": "fin", "field": "quantity", "edits": 1, "tickets": 1}
    ]
    assert report("credits") == 0
    table = capsys.readouterr().out
    assert "Credits and write-offs" in table and "-10.00" in table


def test_the_default_period_and_the_ages_follow_the_commands_clock(store, capsys) -> None:  # type: ignore[no-untyped-def]
    later = NOW + timedelta(days=200)  # in 2027
    assert report("closed-by-day", "--format", "json", now=later) == 0
    shown = json.loads(capsys.readouterr().out)
    # The previous calendar month and the current one to date (not a rolling 30 days).
    assert shown["period"] == ["2027-05-01", "2027-06-13"] and shown["rows"] == []
    assert report("held", "--format", "csv", now=NOW - timedelta(days=3, hours=12)) == 0
    assert "disputed,manager,under 1 day,1,30.00" in capsys.readouterr().out


def test_an_empty_period_says_so(store, capsys) -> None:  # type: ignore[no-untyped-def]
    assert report("closed-by-day", "--from", "2020-01-01", "--to", "2020-01-31") == 0
    assert "nothing in this period" in capsys.readouterr().out


def test_the_default_period_covers_all_of_last_month(store, capsys) -> None:  # type: ignore[no-untyped-def]
    """Early in December the default still shows November's tickets (the examples' month)."""
    assert report("closed-by-day", "--format", "json", now=datetime(2026, 12, 5, tzinfo=UTC)) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["period"] == ["2026-11-01", "2026-12-04"]
    assert sum(row["tickets"] for row in shown["rows"]) == 3


def test_a_monthly_fee_is_a_line_not_a_ticket(store, capsys) -> None:  # type: ignore[no-untyped-def]
    EmbeddedLedger(store, now=lambda: NOW).post_lines(
        PostRequest("fee-k", "fee:C-1:2026-11", "CUST-1", [line("fee", "200.00")], "2026-11")
    )
    assert report("invoice-lines", "--format", "json") == 0
    [row] = json.loads(capsys.readouterr().out)["rows"]
    assert (row["lines"], row["tickets"], row["charged"]) == (4, 2, "342.50")


@pytest.mark.parametrize("name", ["closed-by-day", "invoice-lines"])
def test_reversed_dates_are_an_error_naming_both(store, capsys, name: str) -> None:  # type: ignore[no-untyped-def]
    assert report(name, "--from", "2026-11-30", "--to", "2026-11-01") == 2
    captured = capsys.readouterr()
    assert "--from 2026-11-30 is after --to 2026-11-01" in captured.err
    assert "nothing in this period" not in captured.out


@pytest.mark.parametrize(
    ("days", "says"),
    [
        (("--from", "0001-01-01"), "--from 0001-01-01 is out of range"),
        (("--to", "0001-01-01"), "--to 0001-01-01 is out of range"),
        (("--from", "2026-11-01", "--to", "9999-12-31"), "--to 9999-12-31 is out of range"),
    ],
)
def test_days_without_utc_bounds_are_an_error_not_a_traceback(store, capsys, days, says) -> None:  # type: ignore[no-untyped-def]
    assert report("invoice-lines", *days) == 2
    assert says in capsys.readouterr().err


def _status_change(ticket: str, n: int, at: datetime, detail: str) -> AuditItem:
    item = AuditItem(f"{ticket}-s{n}", ticket, at, "system", "system", "status", "system")
    item.detail = detail
    return item


def test_held_in_a_past_period_comes_from_the_audit_log(store, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``held --from --to`` shows each hold open at any time in the period (January 2020, the
    book's New York days and times), with its owner, reason and release; not today's holds
    (T-3)."""
    monkeypatch.setenv("HDB_BOOK_PATH", "examples/book.toml")
    day = lambda d: datetime.fromisoformat(d).replace(tzinfo=UTC)  # noqa: E731
    held = "in_review → held: manager to act: the customer disputes te-1"
    changes = {
        # Held inside January, released inside it.
        "T-20": [(day("2020-01-05T10:00"), held), (day("2020-01-10T09:30"), "held → in_review: x")],
        # Held from December, released in February.
        "T-21": [
            (day("2019-12-20T08:00"), "ready → held: support to act: no time logged"),
            (day("2020-02-03T12:00"), "held → posted: nothing"),
        ],
        # Held and released before January; held after it.
        "T-22": [(day("2019-11-01T08:00"), held), (day("2019-12-01T08:00"), "held → ready: y")],
        "T-23": [(day("2020-02-05T08:00"), held)],
    }
    for ticket, entries in changes.items():
        view = projection(ticket, "posted", "10.00", day("2019-10-01T00:00"))
        audit = [_status_change(ticket, n, at, detail) for n, (at, detail) in enumerate(entries)]
        record_ticket(store, RecordInput(view, audit, []))
    assert report("held", "--from", "2020-01-01", "--to", "2020-01-31", "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["report"] == "held-during"
    assert shown["rows"] == [
        {
            "ticket": "T-20",
            "customer": "org-1",
            "held at": "2020-01-05 05:00",
            "owner": "manager",
            "reason": "the customer disputes te-1",
            "released at": "2020-01-10 04:30",
            "released to": "in_review",
        },
        {
            "ticket": "T-21",
            "customer": "org-1",
            "held at": "2019-12-20 03:00",
            "owner": "support",
            "reason": "no time logged",
            "released at": "2020-02-03 07:00",
            "released to": "posted",
        },
    ]
    # Without a period: the holds open now, as before.
    assert report("held") == 0
    table = capsys.readouterr().out
    assert "Held now" in table and "disputed" in table and "T-20" not in table


def test_days_are_the_books_days(store, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """03:00 UTC on the 25th is 22:00 on the 24th in the book's New York: pilot's day too."""
    late = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    record_ticket(store, RecordInput(projection("T-5", "posted", "5.00", late), [], []))
    monkeypatch.setenv("HDB_BOOK_PATH", "examples/book.toml")
    assert (
        report("closed-by-day", "--format", "json", "--from", "2026-11-24", "--to", "2026-11-24")
        == 0
    )
    [row] = json.loads(capsys.readouterr().out)["rows"]
    assert row == {"day": "2026-11-24", "tickets": 3, "chargeable": "147.50"}
    monkeypatch.setenv("HDB_BOOK_PATH", "no-such-book.toml")
    assert (
        report("closed-by-day", "--format", "json", "--from", "2026-11-24", "--to", "2026-11-24")
        == 0
    )
    [row] = json.loads(capsys.readouterr().out)["rows"]
    assert row["tickets"] == 2  # without the book: UTC days, T-5 is on the 25th


def _rated(amount: str) -> str:
    """A billing view with one labor line of list value 80.00 billing ``amount``."""
    return json.dumps(
        {
            "revision": 2,
            "rating": {
                "lines": [
                    {
                        "kind": "labor",
                        "source_id": "te-9",
                        "service_code": "LAB-REMOTE",
                        "coverage": None,
                        "explanation": [],
                        "quantity": "1",
                        "unit_price": "80.00",
                        "amount": amount,
                    }
                ]
            },
        }
    )


def test_write_offs_show_the_amount_taken_off(store, capsys) -> None:  # type: ignore[no-untyped-def]
    for ticket, action, detail in (
        ("T-6", "resolve_dispute", "dispute resolved: write_off"),
        ("T-7", "mark_non_billable", "every charge zeroed"),
    ):
        view = projection(ticket, "no_charge", "0.00", YESTERDAY)
        view.detail_json = _rated("0.00")
        decision = AuditItem(f"{ticket}-1", ticket, YESTERDAY, "mgr", "manager", action, "accepted")
        decision.detail = detail
        record_ticket(store, RecordInput(view, [decision], []))
    assert report("credits", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    amounts = {row["customer or outcome"]: row["amount"] for row in rows}
    assert amounts == {
        "CUST-1": "-10.00",
        "dispute resolved: write_off": "-80.00",
        "every charge zeroed": "-80.00",
    }


def _rated_line(quantity: str, unit_price: str, amount: str) -> str:
    """A billing view with one charged labor line ``te-9``."""
    view = json.loads(_rated(amount))
    view["rating"]["lines"][0].update(quantity=quantity, unit_price=unit_price)
    return json.dumps(view)


def test_an_adjusted_dispute_shows_the_amount_taken_off(store, capsys) -> None:  # type: ignore[no-untyped-def]
    """Adjust edits the line (2 h at 80.00 → 0.5 h at 60.00): 160.00 charged, 30.00 now, so
    130.00 credited; an earlier edit by someone else for another reason is not the decision's."""
    view = projection("T-8", "ready", "30.00", YESTERDAY)
    view.detail_json = _rated_line("0.5", "60.00", "30.00")
    decision = AuditItem("T-8-1", "T-8", YESTERDAY, "mgr", "manager", "resolve_dispute", "accepted")
    decision.reason = "agreed with the customer"
    decision.detail = "dispute resolved: adjust"

    def edit(field: str, before: str, after: str, who: str, why: str, at: datetime) -> EditItem:
        return EditItem(
            f"T-8:{who}:{field}", "T-8", "te-9", field, before, after, who, "manager", why, at
        )

    edits = [
        edit("quantity", "3", "2", "fin", "typo", YESTERDAY - timedelta(hours=2)),
        edit("quantity", "2", "0.5", "mgr", "agreed with the customer", YESTERDAY),
        edit("unit_price", "80.00", "60.00", "mgr", "agreed with the customer", YESTERDAY),
    ]
    record_ticket(store, RecordInput(view, [decision], edits))
    assert report("credits", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    amounts = {row["customer or outcome"]: row["amount"] for row in rows}
    assert amounts["dispute resolved: adjust"] == "-130.00"


def test_reconcile_refuses_reversed_dates_in_the_same_words(store, capsys) -> None:  # type: ignore[no-untyped-def]
    """Not swapped: refused before any worker is asked (exit 2, the fields named)."""
    parser = argparse.ArgumentParser(prog="starter.py")
    reconcile_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["reconcile", "--from", "2026-11-30", "--to", "2026-11-01"])
    assert args.run(args) == 2
    assert "--from 2026-11-30 is after --to 2026-11-01" in capsys.readouterr().err


def test_prepaid_months_are_the_books_months(store, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """November in New York ends at 05:00 UTC on 1 December: no December retainer month."""
    monkeypatch.setenv("HDB_BOOK_PATH", "examples/book.toml")
    assert report("prepaid", "--format", "json", "--from", "2026-11-01", "--to", "2026-11-30") == 0
    periods = {row["period"] for row in json.loads(capsys.readouterr().out)["rows"]}
    assert "2026-11" in periods and "2026-12" not in periods


def test_tables_name_customers_and_format_money_csv_and_json_stay_plain(
    store, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HDB_BOOK_PATH", "examples/book.toml")
    EmbeddedLedger(store, now=lambda: NOW).post_lines(
        PostRequest("k9", "T-9", "CUST-9001", [line("te-9", "1200.00")], "2026-11")
    )
    assert report("invoice-lines") == 0
    table = capsys.readouterr().out
    [acme] = [row for row in table.splitlines() if "CUST-9001" in row]
    assert "Acme Dental (CUST-9001)" in acme and "1,200.00 USD" in acme
    assert "142.50 USD" in table and "-10.00 USD" in table  # CUST-1: not in the book, its id
    assert report("invoice-lines", "--format", "csv") == 0
    csv_text = capsys.readouterr().out
    assert ",CUST-9001,1,1,1200.00,0.00" in csv_text and "USD" not in csv_text
    assert report("invoice-lines", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {"billing customer": "CUST-9001", "charged": "1200.00"}.items() <= rows[-1].items()
