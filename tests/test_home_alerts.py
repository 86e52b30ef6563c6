"""The home page lists the recent alerts the banner draws from (sync, security and
reconciliation), newest first with their times, beyond the banner's day; and links the customer
ledgers for the roles that may open them. Over HTTP on a real uvicorn and the example store;
the alerts are dated from the app's fixed clock, so no test depends on the day it runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session

from billing.roles import Role
from billing.sync_alerts import AlertKind, SyncAlert
from store.models import ReconciliationRun
from store.sync_health import save_alerts
from tests.live.api_server import ServedStore, served_examples
from tests.rated_store import EXAMPLES_NOW
from tests.test_report_pages import logged_in


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStore]:
    with served_examples(tmp_path_factory.mktemp("home-site")) as served:
        # Twelve billing alerts over twelve days (the banner shows only today's), a lockout,
        # and a reconciliation that found differences.
        for days in range(12):
            alert = SyncAlert(
                "billing", AlertKind.FAILURE_RATE, f"billing failing, {days} days ago"
            )
            save_alerts(served.engine, EXAMPLES_NOW - timedelta(days=days, hours=1), [alert])
        lockout = SyncAlert("web", AlertKind.LOCKOUT, "log-ins locked out for 10.0.0.9")
        save_alerts(served.engine, EXAMPLES_NOW - timedelta(minutes=30), [lockout])
        with Session(served.engine) as session:
            session.add(
                ReconciliationRun(
                    run_id="recon-1",
                    period_start=EXAMPLES_NOW - timedelta(days=30),
                    period_end=EXAMPLES_NOW,
                    checked_at=EXAMPLES_NOW - timedelta(minutes=10),
                    tickets=12,
                    findings=3,
                    summary_json="{}",
                )
            )
            session.commit()
        yield served


def test_the_home_page_lists_the_ten_latest_alerts_with_their_times(site: ServedStore) -> None:
    with logged_in(site, Role.SUPPORT) as http:
        page = http.get("/")
    assert page.status_code == 200, page.text
    table = page.text[page.text.index('id="recent-alerts"') :]
    table = table[: table.index("</table>")]
    sources = re.findall(r'data-alert-source="([^"]+)"', table)
    assert sources == ["reconciliation", "web", *["billing"] * 8]  # newest first, ten in all
    assert "2026-11-30 17:50 UTC" in table and "found 3 differences (run recon-1)" in table
    assert "log-ins locked out for 10.0.0.9" in table
    assert "billing failing, 7 days ago" in table and "8 days ago" not in table


def test_the_customer_ledgers_are_linked_for_those_who_may_open_them(site: ServedStore) -> None:
    with logged_in(site, Role.FINANCE) as http:
        assert 'href="/customers"' in http.get("/").text
    with logged_in(site, Role.SUPPORT) as http:
        assert 'href="/customers"' not in http.get("/").text
