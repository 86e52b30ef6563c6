"""The queues' filters over HTTP (issue 15), on a real uvicorn and the example store: customer
(chosen by name), technician (a whole name), close days (the book's days), a minimum wait (the
app's clock) and search by subject, on /review, /exceptions and /tickets alike; each rides along
in the page links; a bad value is a 422 naming its field. And approving everything a filter
matches asks first, listing exactly the matching tickets and their total."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from billing.roles import Role
from store.models import TicketRecord
from store.queue_pages import technicians_cell
from tests.live.api_server import ServedStore, hidden, served_examples

APP_NOW = datetime(2026, 12, 10, 15, tzinfo=UTC)
# ticket → customer, technicians, closed (UTC), in its status since, subject, total in cents.
# F-01 closed at 03:00 UTC on Dec 1: still Nov 30 in New York, the book's timezone.
TICKETS = {
    "01": ("org-100", ("Alice", "Bob"), datetime(2026, 12, 1, 3, tzinfo=UTC),
           datetime(2026, 11, 20, tzinfo=UTC), "Printer jammed", 10_000),
    "02": ("org-200", ("Bobby",), datetime(2026, 12, 1, 15, tzinfo=UTC),
           datetime(2026, 12, 8, 12, tzinfo=UTC), "VPN down", 25_000),
    "03": ("org-300", ("Jo Bob",), datetime(2026, 12, 5, 15, tzinfo=UTC),
           datetime(2026, 12, 9, 16, tzinfo=UTC), "printer toner", 4_000),
}  # fmt: skip
CAROLS = 55  # more than a page: the filter must ride along in the page links
PAGES = {"/review": "F", "/exceptions": "H", "/tickets": "FH"}


def add(session: Session, ticket_id: str, status: str, row: tuple) -> None:  # type: ignore[type-arg]
    customer, technicians, closed, since, subject, cents = row
    session.add(
        TicketRecord(
            ticket_id=ticket_id,
            customer_id=customer,
            status=status,
            hold_code="no_time_entry" if status == "held" else None,
            hold_owner="support" if status == "held" else None,
            next_actor="support" if status == "held" else "billing",
            chargeable_cents=cents,
            closed_at=closed,
            status_since=since,
            updated_at=since,
            subject=subject,
            technicians=technicians_cell(technicians),
        )
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ServedStore]:
    with served_examples(tmp_path, now=lambda: APP_NOW) as served:
        with Session(served.engine) as session:
            for n, row in TICKETS.items():
                add(session, f"F-{n}", "in_review", row)
                add(session, f"H-{n}", "held", row)
            for n in range(CAROLS):
                # Newer than the F and H tickets, so those lead every page sorted by age.
                since = datetime(2026, 12, 10, tzinfo=UTC) + timedelta(minutes=n)
                row = (
                    "org-200",
                    ("Carol",),
                    datetime(2026, 12, 2, tzinfo=UTC),
                    since,
                    "Backup",
                    9_500,
                )
                add(session, f"C-{n:03d}", "in_review", row)
            session.commit()
        yield served


@contextmanager
def logged_in(site: ServedStore, role: Role = Role.FINANCE) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        form = client.get("/login")
        login = {"token": site.token(role), "login_csrf": hidden(form.text, "login_csrf")}
        assert client.post("/login", data=login).status_code == 303
        yield client


@pytest.fixture
def http(site: ServedStore) -> Iterator[httpx.Client]:
    with logged_in(site) as client:
        yield client


def found(http: httpx.Client, path: str, **params: str) -> set[str]:
    """The F- and H- tickets ``path`` lists with ``params`` (the example tickets aside)."""
    response = http.get(path, params={"sort": "age", **params})
    assert response.status_code == 200, response.text
    listed = set(re.findall(r'data-ticket="([FH]-\d\d)"', response.text))
    return {ticket[2:] for ticket in listed if ticket[0] in PAGES[path]}


@pytest.mark.parametrize("path", PAGES)
def test_each_filter_on_each_queue(http: httpx.Client, path: str) -> None:
    assert found(http, path) == {"01", "02", "03"}
    assert found(http, path, customer="org-200") == {"02"}
    assert found(http, path, technician="bob") == {"01"}  # not Bobby, not Jo Bob
    assert found(http, path, technician="Jo Bob") == {"03"}
    # Days in the book's timezone (America/New_York): F-01 closed on Nov 30 there.
    assert found(http, path, closed_from="2026-12-01") == {"02", "03"}
    assert found(http, path, closed_to="2026-11-30") == {"01"}
    assert found(http, path, closed_from="2026-12-01", closed_to="2026-12-01") == {"02"}
    # The app's clock is Dec 10 15:00 UTC: F-02 waits since Dec 8 12:00, F-03 since Dec 9.
    assert found(http, path, age="2") == {"01", "02"}
    assert found(http, path, age="0") == {"01", "02", "03"}
    assert found(http, path, q="PRINTER") == {"01", "03"}  # the subject, any case
    assert found(http, path, q="printer", customer="org-300", age="1") == set()
    assert found(http, path, q="printer", customer="org-300") == {"03"}


def test_the_customer_is_chosen_by_name_and_the_filter_is_kept_in_the_form(
    http: httpx.Client,
) -> None:
    page = http.get(
        "/review",
        params={"customer": "org-200", "technician": "Carol", "closed_from": "2026-12-01"},
    ).text
    assert '<option value="org-200" selected>Birch Legal</option>' in page
    assert '<option value="org-100">Acme Dental</option>' in page
    assert 'name="technician" value="Carol"' in page
    assert 'name="closed_from" value="2026-12-01"' in page


def test_the_filter_rides_along_in_the_page_links(http: httpx.Client) -> None:
    first = http.get("/review", params={"technician": "carol", "closed_to": "2026-12-02"}).text
    assert f"{CAROLS} matching, 5,225.00 USD (page 1 of 2, 50 shown)" in first
    link = re.search(r'href="([^"]*)" rel="next"', first)
    assert link is not None
    assert (
        unescape(link.group(1)) == "/review?sort=age&page=2&technician=carol&closed_to=2026-12-02"
    )
    second = http.get(unescape(link.group(1))).text
    assert f"{CAROLS} matching" in second and "(page 2 of 2, 5 shown)" in second


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"closed_from": "2026-13-40"}, "closed_from: '2026-13-40' is not a day"),
        ({"closed_to": "12/01/2026"}, "closed_to: '12/01/2026' is not a day from 1970-01-01"),
        # The days that have no UTC bounds (the day after 9999-12-31) are refused, not a 500.
        ({"closed_to": "9999-12-31"}, "closed_to: '9999-12-31' is not a day from 1970-01-01"),
        ({"closed_from": "0001-01-01"}, "closed_from: '0001-01-01' is not a day from 1970"),
        (
            {"closed_from": "2026-12-10", "closed_to": "2026-12-01"},
            "closed_from: 2026-12-10 is after closed_to 2026-12-01",
        ),
        ({"age": "-1"}, "age: '-1' is not a number of days; give a whole number from 0 to 3650"),
        ({"age": "3651"}, "age: '3651' is not a number of days"),
        ({"age": "two"}, "age: 'two' is not a number of days"),
    ],
)
def test_a_bad_filter_is_a_422_on_the_page_naming_its_field(
    http: httpx.Client, path: str, params: dict[str, str], says: str
) -> None:
    response = http.get(path, params=params)
    assert response.status_code == 422
    assert says in unescape(response.text)


@pytest.mark.parametrize("field", ["technician", "customer", "closed_from", "closed_to", "age"])
def test_an_overlong_filter_value_is_refused_naming_its_field(
    http: httpx.Client, field: str
) -> None:
    response = http.get("/review", params={field: "x" * 101})
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == f"query.{field}"


def test_approving_all_matching_asks_first_with_the_count_and_the_total(
    http: httpx.Client,
) -> None:
    page = http.get("/review", params={"technician": "carol"}).text
    form = re.search(
        r'<form method="post" action="([^"]*)" class="inline" id="approve-matching">', page
    )
    assert form is not None
    action = unescape(form.group(1))
    assert action == "/review/bulk-approve-matching?sort=age&technician=carol"
    assert f"Approve all {CAROLS} matching (5,225.00 USD)" in page
    confirm = http.post(action, data={"csrf": hidden(page, "csrf")})
    assert confirm.status_code == 200
    assert f"Approve {CAROLS} tickets for 5,225.00 USD?" in confirm.text
    # Its form carries exactly the matching tickets, each at the total shown.
    carried = re.findall(r'name="ticket" value="([^"]+)"', confirm.text)
    assert carried == [f"C-{n:03d}" for n in range(CAROLS)]
    assert len(re.findall(r'name="total\.C-\d{3}" value="95\.00"', confirm.text)) == CAROLS
    row = confirm.text[confirm.text.index('<tr data-ticket="C-000"') :]
    row = row[: row.index("</tr>")]
    assert "Birch Legal (org-200)" in row and "95.00 USD" in row
    assert 'action="/review/bulk-approve"' in confirm.text  # the selection's confirmation
    # Nothing was sent: every ticket still waits.
    assert f"{CAROLS} matching" in http.get("/review", params={"technician": "carol"}).text


def test_approving_all_matching_refuses_a_bad_filter_nothing_and_too_many(
    site: ServedStore, http: httpx.Client
) -> None:
    csrf = hidden(http.get("/review").text, "csrf")
    bad = http.post("/review/bulk-approve-matching?age=-1", data={"csrf": csrf})
    assert bad.status_code == 422 and "age: '-1' is not a number of days" in unescape(bad.text)
    none = http.post("/review/bulk-approve-matching?technician=nobody", data={"csrf": csrf})
    assert none.status_code == 422 and "No ticket in review matches this filter." in none.text
    forged = http.post("/review/bulk-approve-matching?technician=carol", data={"csrf": "x" * 32})
    assert forged.status_code == 403
    with Session(site.engine) as session:
        for n in range(501):
            row = ("org-300", ("Dana",), APP_NOW, APP_NOW, "Many", 100)
            add(session, f"D-{n:03d}", "in_review", row)
        session.commit()
    page = http.get("/review", params={"technician": "dana"}).text
    assert "501 match: narrow the filter to at most 500" in page
    assert 'id="approve-matching"' in page and "Approve all" not in page
    many = http.post("/review/bulk-approve-matching?technician=dana", data={"csrf": csrf})
    assert many.status_code == 422
    assert "More than 500 tickets: at most 500 can be approved at once. Narrow the filter" in (
        many.text
    )


def test_only_finance_and_admin_may_approve_all_matching(site: ServedStore) -> None:
    with logged_in(site, Role.SUPPORT) as support:
        csrf = hidden(support.get("/exceptions").text, "csrf")
        response = support.post("/review/bulk-approve-matching", data={"csrf": csrf})
        assert response.status_code == 403
    with logged_in(site) as finance:
        page = finance.get("/exceptions").text
        assert 'id="approve-matching"' not in page  # the review queue's alone


def test_a_rows_back_field_brings_back_only_the_queues_own_view() -> None:
    """After an action the person returns to the list they were working (its filter, sort and
    page), and a forged ``back`` field cannot add anything else to the redirect."""
    from api.pages import _queue_view

    view = "customer=org-2&technician=sam&sort=total&page=3&owner=manager"
    assert _queue_view(view) == {
        "customer": "org-2",
        "technician": "sam",
        "sort": "total",
        "page": "3",
        "owner": "manager",
    }
    forged = "q=x&flash=theirs&next=https://evil.example&" + "age=" + "9" * 500
    assert _queue_view(forged) == {"q": "x", "age": "9" * 200}
    assert _queue_view("") == {}
