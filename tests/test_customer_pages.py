"""The customer ledger pages over HTTP on a real uvicorn, reading the example store (no Temporal
needed): the list by the book's names with counts and totals and a search, one customer's
tickets by status and invoice lines (charges and credits) for a period, the CSV download with
plain decimals and formula cells quoted, who may see them, bad input and an unknown customer.
The app's clock is the end of the examples' month: no test depends on the day it runs."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest

from billing.posting import BillableLine, LineType
from billing.roles import Role
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from tests.live.api_server import ServedStore, served_examples
from tests.rated_store import EXAMPLES_NOW
from tests.test_report_pages import logged_in

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStore]:
    with served_examples(tmp_path_factory.mktemp("customer-site")) as served:
        # A credit to Acme (CUST-9001) whose description a spreadsheet would run as a formula.
        credit = Decimal("-1250.00")
        EmbeddedLedger(served.engine, now=lambda: EXAMPLES_NOW).post_lines(
            PostRequest(
                "T-1001:credit",
                "T-1001",
                "CUST-9001",
                [
                    BillableLine(
                        "goodwill",
                        "labor",
                        "LAB-REMOTE",
                        '=HYPERLINK("http://x","goodwill")',
                        Decimal("1"),
                        credit,
                        credit,
                        False,
                        LineType.CREDIT,
                    )
                ],
                period="2026-11",
            )
        )
        yield served


def test_the_list_shows_the_books_customers_by_name_with_totals(site: ServedStore) -> None:
    with logged_in(site, Role.FINANCE) as http:
        page = http.get("/customers")
        found = http.get("/customers", params={"q": "ceda"})
    assert page.status_code == 200, page.text
    names = re.findall(r'data-customer="[^"]+">\s*<td[^>]*><a href="[^"]+">([^<]+)</a>', page.text)
    assert names == ["Acme Dental", "Birch Legal", "Cedar Clinic"]
    acme = page.text[page.text.index('data-customer="org-100"') :]
    acme = acme[: acme.index("</tr>")]
    # Nine tickets, as the store sums them (the held ones at their rated totals).
    assert (
        ">9<" in acme
        and "1,974.25 USD" in acme
        and "328.75 USD" in acme
        and 'href="/customers/org-100"' in acme
    )
    assert found.status_code == 200
    assert "Cedar Clinic" in found.text and "Acme Dental" not in found.text


def test_one_customer_shows_tickets_by_status_and_lines_posted_in_the_period(
    site: ServedStore,
) -> None:
    with logged_in(site, Role.MANAGER) as http:
        page = http.get("/customers/org-100", params=NOVEMBER)
        default = http.get("/customers/org-100")
        march = http.get("/customers/org-100", params={"from": "2027-03-01", "to": "2027-03-31"})
    assert page.status_code == 200, page.text
    html = page.text
    assert "Acme Dental" in html and "billing CUST-9001" in html and "USD" in html
    status = html[html.index('data-status="awaiting approval"') :]
    assert "1,526.75 USD" in status[: status.index("</tr>")]  # 326.75 + 1,200.00
    charges = html[html.index('id="charges"') : html.index('id="credits"')]
    assert "T-1001" in charges and "T-1003" in charges and "2026-11-30" in charges
    credits = html[html.index('id="credits"') :]
    assert "-1,250.00 USD" in credits and "goodwill" in credits
    # 47.50 + 281.25 charged, 1,250.00 credited.
    assert "Charged <strong>328.75 USD</strong>" in html
    assert "credited <strong>-1,250.00 USD</strong>" in html
    assert "net <strong>-921.25 USD</strong>" in html
    # The default period is the previous month and the current one, as the reports'.
    assert "2026-10-01 – 2026-11-30" in default.text
    assert "No charges in this period." in march.text


def test_the_csv_has_plain_decimals_and_quoted_formulas(site: ServedStore) -> None:
    with logged_in(site, Role.ADMIN) as http:
        download = http.get("/customers/org-100.csv", params=NOVEMBER)
        same = http.get("/customers/org-100", params={**NOVEMBER, "format": "csv"})
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    assert "customer_org-100_2026-11-01_2026-11-30.csv" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["invoice", "date", "ticket", "description", "quantity", "amount", "type"]
    amounts = [row[5] for row in rows[1:]]
    assert amounts == ["47.50", "281.25", "-1250.00"]  # no thousands separator, no currency
    credit = next(row for row in rows if row[6] == "credit")
    assert credit[3] == '\'=HYPERLINK("http://x","goodwill")'
    assert same.text == download.text


def test_the_header_links_the_ledgers_for_those_who_may_see_them(site: ServedStore) -> None:
    link = '<a href="/customers">Customers</a>'
    for role, shown in ((Role.FINANCE, True), (Role.MANAGER, True), (Role.SUPPORT, False)):
        with logged_in(site, role) as http:
            header = http.get("/tickets").text.split("</header>")[0]
        assert (link in header) is shown, role


def test_support_may_not_see_ledgers(site: ServedStore) -> None:
    with logged_in(site, Role.SUPPORT) as http:
        assert http.get("/customers").status_code == 403
        assert http.get("/customers/org-100").status_code == 403
        assert http.get("/customers/org-100.csv").status_code == 403


def test_an_unknown_customer_and_bad_input_are_named(site: ServedStore) -> None:
    with logged_in(site, Role.FINANCE) as http:
        unknown = http.get("/customers/org-999")
        reversed_days = http.get(
            "/customers/org-100", params={"from": "2026-11-30", "to": "2026-11-01"}
        )
        not_a_day = http.get("/customers/org-100", params={"from": "yesterday"})
        too_long = http.get("/customers", params={"q": "x" * 201})
        bad_format = http.get("/customers/org-100", params={"format": "xlsx"})
    assert unknown.status_code == 404
    assert "No customer &#39;org-999&#39;" in unknown.text and "/customers" in unknown.text
    assert reversed_days.status_code == 422
    assert "--from 2026-11-30 is after --to 2026-11-01" in reversed_days.text
    assert not_a_day.status_code == 422 and "--from" in not_a_day.text
    assert too_long.status_code == 422 and "q" in too_long.text
    assert bad_format.status_code == 422 and "format" in bad_format.text
