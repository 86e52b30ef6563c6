"""The reports page over HTTP on a real uvicorn, reading a store the worker's way: who may see
it, the charts and tables it shows for a period, each report as CSV, and a bad period named.
The page reads the store only, so no Temporal server is needed here. The app's clock is fixed
(by default at the end of the examples' month): no test depends on the day it runs."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path

import httpx
import pytest

from api.charts import Bar, column_chart, notes_fit, share_chart
from billing.roles import Role
from billing.sync_alerts import AlertKind, SyncAlert
from store.reports import REPORTS
from store.sync_health import save_alerts
from tests.live.api_server import ServedStore, hidden, served_examples
from tests.rated_store import EXAMPLES_NOW

# The examples close in November 2026 and the ledger took the posted ones on its last day.
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
MARCH_2027 = {"from": "2027-03-01", "to": "2027-03-31"}
PEOPLE = count(1)


@contextmanager
def logged_in(site: ServedStore, role: Role) -> Iterator[httpx.Client]:
    """A browser-like client with a session for a new token of ``role``."""
    with httpx.Client(base_url=site.url, timeout=30) as http:
        form = http.get("/login")
        login = {"token": site.token(role), "login_csrf": hidden(form.text, "login_csrf")}
        response = http.post("/login", data=login)
        assert response.status_code == 303, response.text
        yield http


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStore]:
    with served_examples(tmp_path_factory.mktemp("reports-site")) as served:
        yield served


def test_finance_sees_every_report_with_charts_for_the_period(site: ServedStore) -> None:
    with logged_in(site, Role.FINANCE) as http:
        page = http.get("/reports", params=NOVEMBER)
    assert page.status_code == 200, page.text
    html = page.text
    assert "2026-11-01 – 2026-11-30" in html
    assert set(re.findall(r'data-report="([^"]+)"', html)) == set(REPORTS)
    assert html.count('<svg class="chart"') == 5
    # One bar per day of the month in the closed-by-day and invoiced-by-day charts.
    closed_chart = html[html.index('aria-label="Billable tickets closed by day') :]
    assert closed_chart[: closed_chart.index("</svg>")].count('class="bar"') == 30
    # The posted examples are in the invoice lines table with what they charged.
    section = html[html.index('data-report="invoice-lines"') :]
    section = section[: section.index("</section>")]
    # Both posted on the same day: one row for the customer, both tickets in it.
    assert section.count("<tr>") == 2  # the header, and the row
    assert (
        '<td class="num" data-label="tickets">2</td>'
        '<td class="num" data-label="charged">328.75 USD</td>' in section  # 47.50 + 281.25
    )
    assert "Acme Dental (CUST-9001)" in section  # the book's name next to the id
    assert 'href="/reports/invoice-lines.csv?from=2026-11-01&amp;to=2026-11-30"' in section
    # Prepaid hours against what the book grants: cedar's retainer grants 2 h a month.
    assert re.search(r"cedar-ret 2026-11.*?of 2 h", html, re.S)


def test_each_report_downloads_as_csv_with_its_columns(site: ServedStore) -> None:
    with logged_in(site, Role.MANAGER) as http:
        for name in REPORTS:
            response = http.get(f"/reports/{name}.csv", params=NOVEMBER)
            assert response.status_code == 200, (name, response.text)
            assert response.headers["content-type"].startswith("text/csv")
            assert (
                f'filename="{name}_2026-11-01_2026-11-30.csv"'
                in (response.headers["content-disposition"])
            )
            rows = list(csv.reader(io.StringIO(response.text)))
            assert rows and rows[0], name
        leakage = list(
            csv.reader(io.StringIO(http.get("/reports/leakage.csv", params=NOVEMBER).text))
        )
    assert leakage[0] == ["kind", "what", "tickets", "hours", "value"]
    assert [
        "non-billable",
        "non-billable: the entry is marked not billable",
        "1",
        "0.75",
        "71.25",
    ] in (leakage)


def test_a_period_in_2027_is_shown_and_downloaded_with_nothing_in_it(site: ServedStore) -> None:
    with logged_in(site, Role.FINANCE) as http:
        page = http.get("/reports", params=MARCH_2027)
        response = http.get("/reports/invoice-lines.csv", params=MARCH_2027)
    assert page.status_code == 200, page.text
    assert "2027-03-01 – 2027-03-31" in page.text
    closed_chart = page.text[page.text.index('aria-label="Billable tickets closed by day') :]
    assert closed_chart[: closed_chart.index("</svg>")].count('class="bar"') == 31
    assert (
        'filename="invoice-lines_2027-03-01_2027-03-31.csv"'
        in (response.headers["content-disposition"])
    )
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["day", "billing customer", "lines", "tickets", "charged", "credited"]
    ]


def test_the_default_period_and_the_ages_follow_the_apps_clock(tmp_path: Path) -> None:
    """Without from/to the page shows the previous month and this one up to the app's today
    (the book's New York day), and the held report
    ages tickets from the app's now: two days after T-1011 was held, then in 2028."""
    today = [datetime(2026, 11, 20, 12, 0, tzinfo=UTC)]
    with (
        served_examples(tmp_path, now=lambda: today[0]) as later,
        logged_in(later, Role.FINANCE) as http,
    ):
        november = http.get("/reports").text
        held_in_november = list(csv.reader(io.StringIO(http.get("/reports/held.csv").text)))
        today[0] = datetime(2028, 6, 30, 12, 0, tzinfo=UTC)
        june_2028 = http.get("/reports").text
        lines_2028 = http.get("/reports/invoice-lines.csv")
        held_in_2028 = http.get("/reports/held.csv", params=NOVEMBER).text
    assert "2026-10-01 – 2026-11-20 (America/New_York days)" in november
    assert ["sensitive_text", "support", "1-3 days", "1", "47.50"] in held_in_november
    assert ["disputed", "manager", "over 7 days", "1", "71.25"] in held_in_november
    assert "2028-05-01 – 2028-06-30" in june_2028
    assert (
        'filename="invoice-lines_2028-05-01_2028-06-30.csv"'
        in (lines_2028.headers["content-disposition"])
    )
    assert len(list(csv.reader(io.StringIO(lines_2028.text)))) == 1  # the header only
    assert "sensitive_text,support,over 7 days,1,47.50" in held_in_2028


def test_support_may_not_see_revenue_and_a_stranger_is_sent_to_log_in(site: ServedStore) -> None:
    with logged_in(site, Role.SUPPORT) as http:
        assert http.get("/reports").status_code == 403
        assert http.get("/reports/leakage.csv").status_code == 403
        assert 'href="/reports"' not in http.get("/exceptions").text
    with logged_in(site, Role.OPERATOR) as http:
        assert http.get("/reports").status_code == 200
        assert 'href="/reports"' in http.get("/exceptions").text
    with httpx.Client(base_url=site.url) as stranger:
        response = stranger.get("/reports/leakage.csv")
    assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_a_bad_period_is_a_clear_422_naming_the_parameter(site: ServedStore) -> None:
    """In the CLI's words: reversed days are refused, not shown as an empty period."""
    with logged_in(site, Role.FINANCE) as http:
        bad_day = http.get("/reports", params={"from": "2026-13-01"})
        backwards = http.get("/reports", params={"from": "2026-11-30", "to": "2026-11-01"})
        backwards_csv = http.get(
            "/reports/credits.csv", params={"from": "2026-11-30", "to": "2026-11-01"}
        )
        unknown = http.get("/reports/nothing.csv")
    assert bad_day.status_code == 422
    assert "--from &#39;2026-13-01&#39; is not a date" in bad_day.text
    assert backwards.status_code == 422
    assert "--from 2026-11-30 is after --to 2026-11-01" in backwards.text
    assert backwards_csv.status_code == 422
    assert "--from 2026-11-30 is after --to 2026-11-01" in backwards_csv.text
    assert unknown.status_code == 404 and "No report is called" in unknown.text


def test_days_without_utc_bounds_are_a_422_not_a_500(site: ServedStore) -> None:
    """The day after 9999-12-31, or year 1 in the book's timezone, cannot be turned into UTC
    bounds: the pages, the CSVs and the customer ledgers name the field instead of failing."""
    asks = [
        ("/reports", {"from": "9999-12-30", "to": "9999-12-31"}, "--from 9999-12-30"),
        ("/reports", {"from": "0001-01-01", "to": "0001-01-02"}, "--from 0001-01-01"),
        ("/reports", {"to": "0001-01-01"}, "--to 0001-01-01"),
        ("/reports/credits.csv", {"from": "2026-11-01", "to": "9999-12-31"}, "--to 9999-12-31"),
        ("/customers/org-100", {"from": "9999-12-31", "to": "9999-12-31"}, "--from 9999-12-31"),
    ]
    with logged_in(site, Role.FINANCE) as http:
        for path, params, field in asks:
            answer = http.get(path, params=params)
            assert answer.status_code == 422, (path, params, answer.status_code)
            assert f"{field} is out of range: give a day from 1970-01-01" in answer.text, path


def test_charts_escape_labels_and_scale_bars_to_the_largest() -> None:
    chart = str(
        column_chart(
            "Closed <by> day",
            [Bar("2026-11-01", Decimal("50")), Bar("<script>", Decimal("100"), "2")],
        )
    )
    assert "<script>" not in chart and "&lt;script&gt;" in chart
    heights = [float(h) for h in re.findall(r'class="bar"[^>]*height="([\d.]+)"', chart)]
    assert heights == [80.0, 160.0]  # half of the tallest, the tallest fills the area
    empty = str(share_chart("Prepaid", []))
    assert "<svg" not in empty and "nothing to show" in empty
    shares = str(share_chart("Prepaid", [Bar("a", Decimal("1.5"), "1.5 of 2 h")], Decimal(2)))
    widths = [float(w) for w in re.findall(r'class="bar"[^>]*width="([\d.]+)"', shares)]
    assert widths == [pytest.approx(0.75 * (720 - 220 - 80))]


def test_a_column_chart_draws_the_note_it_promises_over_every_bar() -> None:
    """The closed-by-day caption promises the ticket counts above the bars: a month of days
    gets one over each bar (not only over the labelled ones), and the caption promises them
    only when they fit."""
    month = [Bar(f"2026-11-{day:02d}", Decimal(day), "3") for day in range(1, 31)]
    chart = str(column_chart("Closed", month))
    assert chart.count('class="note"') == 30
    assert notes_fit(month)
    year = [Bar(f"day {n}", Decimal(n), "12") for n in range(1, 367)]
    assert not notes_fit(year)
    assert 'class="note"' not in str(column_chart("Closed", year))


def test_a_sync_alert_of_the_last_day_is_a_banner_on_every_page(site: ServedStore) -> None:
    alert = SyncAlert("billing", AlertKind.FAILURE_RATE, "billing: 40% of calls failed <now>")
    save_alerts(site.engine, EXAMPLES_NOW, [alert])  # the site's now
    old = SyncAlert("helpdesk", AlertKind.VOLUME_LOW, "helpdesk: 0 calls, two days ago")
    save_alerts(site.engine, EXAMPLES_NOW - timedelta(days=2), [old])  # too old to show
    with logged_in(site, Role.FINANCE) as http:
        for path in ("/reports", "/exceptions", "/review"):
            html = http.get(path).text
            assert html.count("data-sync-alert") == 1, path
            assert "Sync alert: billing: 40% of calls failed &lt;now&gt;" in html, path
            assert "two days ago" not in html
