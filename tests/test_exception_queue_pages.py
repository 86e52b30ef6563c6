"""The exception queue at volume (issue 15), over HTTP on a real uvicorn and the example store:
50 rows a page with links to the others, the count and total of what matches and of the whole
queue, search by ticket id or customer name, a total range, and sorting; a bad filter is a 422
naming its field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from billing.roles import Role
from store.models import TicketRecord
from tests.live.api_server import ServedStore, hidden, served_examples

APP_NOW = datetime(2026, 12, 10, 15, tzinfo=UTC)
HELD = 120
IN_REVIEW = 60


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ServedStore]:
    with served_examples(tmp_path, now=lambda: APP_NOW) as served:
        with Session(served.engine) as session:
            for n in range(HELD):
                since = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=n)
                session.add(
                    TicketRecord(
                        ticket_id=f"Q-{n:04d}",
                        customer_id="org-300" if n % 4 == 0 else "org-100",
                        status="held",
                        hold_code="no_time_entry",
                        hold_owner="support",
                        next_actor="support",
                        chargeable_cents=100 * n,
                        status_since=since,
                        updated_at=since,
                    )
                )
            for n in range(IN_REVIEW):
                since = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(hours=n)
                session.add(
                    TicketRecord(
                        ticket_id=f"R-{n:04d}",
                        customer_id="org-200",
                        status="in_review",
                        next_actor="billing",
                        chargeable_cents=9500,
                        status_since=since,
                        updated_at=since,
                    )
                )
            session.commit()
        yield served


@pytest.fixture
def http(site: ServedStore) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        form = client.get("/login")
        login = {"token": site.token(Role.SUPPORT), "login_csrf": hidden(form.text, "login_csrf")}
        assert client.post("/login", data=login).status_code == 303
        yield client


def tickets_on(page: str) -> list[str]:
    return re.findall(r'<tr data-ticket="(Q-\d{4})"', page)


def test_the_queue_is_paged_with_counts_and_totals(http: httpx.Client) -> None:
    first = http.get("/exceptions", params={"owner": "support"}).text
    assert len(tickets_on(first)) == 50 and tickets_on(first)[0] == "Q-0000"  # oldest first
    summary = re.search(r'<p class="muted" id="queue-summary">(.*?)</p>', first, re.S)
    assert summary is not None
    assert f"{HELD} matching, 7,140.00 USD (page 1 of 3, 50 shown)" in summary.group(1)
    assert 'href="/exceptions?owner=support&amp;sort=age&amp;page=2" rel="next"' in first
    last = http.get("/exceptions", params={"owner": "support", "page": 3}).text
    assert len(tickets_on(last)) == 20 and 'rel="prev"' in last and 'rel="next"' not in last


def test_search_by_customer_name_or_ticket_and_a_total_range(http: httpx.Client) -> None:
    cedar = http.get("/exceptions", params={"q": "cedar"}).text
    assert set(tickets_on(cedar)) == {f"Q-{n:04d}" for n in range(0, HELD, 4)}
    assert "Cedar Clinic (org-300)" in cedar
    one = http.get("/exceptions", params={"q": "q-0042"}).text
    assert tickets_on(one) == ["Q-0042"]
    ranged = http.get("/exceptions", params={"min_total": "1.00", "max_total": "5.00"}).text
    assert tickets_on(ranged) == ["Q-0001", "Q-0002", "Q-0003", "Q-0004", "Q-0005"]
    biggest = http.get("/exceptions", params={"q": "Q-", "sort": "total"}).text
    assert tickets_on(biggest)[:2] == ["Q-0119", "Q-0118"]
    nothing = http.get("/exceptions", params={"q": "no such customer"}).text
    assert "Nothing waits that matches." in nothing


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"sort": "price"}, "sort: must be one of age, newest, total, ticket, customer"),
        ({"min_total": "ten"}, "min_total:"),
        ({"max_total": "1E+20"}, "max_total:"),
    ],
)
def test_a_bad_filter_is_refused_naming_its_field(
    http: httpx.Client, params: dict[str, str], says: str
) -> None:
    response = http.get("/exceptions", params=params)
    assert response.status_code == 422 and says in response.text


def test_the_review_queue_is_paged_and_searched_too(site: ServedStore) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as finance:
        form = finance.get("/login")
        login = {"token": site.token(Role.FINANCE), "login_csrf": hidden(form.text, "login_csrf")}
        assert finance.post("/login", data=login).status_code == 303
        first = finance.get("/review").text
        cards = re.findall(r'<li class="row" data-ticket="(R-\d{4})"', first)
        assert len(cards) == 50 and cards[0] == "R-0000"
        assert "(page 1 of 2, 50 shown)" in first
        assert 'href="/review?sort=age&amp;page=2" rel="next"' in first
        birch = finance.get("/review", params={"q": "birch", "sort": "newest"}).text
        cards = re.findall(r'<li class="row" data-ticket="(R-\d{4})"', birch)
        assert cards[0] == "R-0059" and "Birch Legal (org-200)" in birch


def test_every_ticket_is_listed_found_and_filtered_by_status(
    site: ServedStore, http: httpx.Client
) -> None:
    """`/tickets`: every ticket in the store, whatever its status, newest change first."""
    with site.engine.connect() as connection:
        everything = connection.exec_driver_sql("SELECT count(*) FROM ticket").scalar_one()
    listed = http.get("/tickets").text
    assert f"{everything} matching" in listed and "(page 1 of 4, 50 shown)" in listed
    rows = re.findall(r'<tr data-ticket="([^"]+)"', listed)
    assert rows.index("Q-0119") < rows.index("Q-0118")  # newest change first
    with site.engine.connect() as connection:
        posted_ids = set(
            connection.exec_driver_sql("SELECT ticket_id FROM ticket WHERE status = 'posted'")
            .scalars()
            .all()
        )
    posted = http.get("/tickets", params={"status": "posted"}).text
    assert posted_ids and set(re.findall(r'<tr data-ticket="([^"]+)"', posted)) == posted_ids
    oldest = http.get("/tickets", params={"q": "cedar", "sort": "age"}).text
    assert 'href="/tickets?q=cedar&amp;sort=age&amp;page=2" rel="next"' not in oldest
    assert "Cedar Clinic (org-300)" in oldest
    bad = http.get("/tickets", params={"status": "lost"})
    assert bad.status_code == 422 and "status: must be one of open, grace, held" in bad.text
