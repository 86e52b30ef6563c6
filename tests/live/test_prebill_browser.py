"""The pre-bill in a real browser (Playwright driving Debian's Chromium) against a real uvicorn,
worker and dev server, on the embedded ledger: finance opens the pre-bill of a customer with 300
lines over 40 tickets, holds one line (the ticket's own hold-line decision), approves and
finalizes November; the invoice carries the rest; released, the held line lands on December's
pre-bill as an adjustment to November's invoice.

The app's clock is fixed in December 2026, after November has ended in the book's timezone, so
finalizing is allowed whatever day the test runs. ``HDB_TEST_SCREENSHOTS=docs/screenshots``
refreshes ``docs/screenshots/prebill.png``."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlmodel import Session, select
from temporalio.client import Client

from billing.roles import Role
from devtools.dev_server import DevServer
from store.models import LedgerInvoice, LedgerLine
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.api_server import served_stack
from tests.live.test_pages_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, log_in

APP_NOW = datetime(2026, 12, 10, 15, tzinfo=UTC)
TICKETS = 40
LINES = 300  # 20 tickets of 8 lines and 20 of 7
HOUR = Decimal("95.00")

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing (.ci/run installs it)"
)


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    configured = os.environ.get("HDB_TEST_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


async def text_becomes(page: Page, selector: str, wanted: str, timeout: float = 30) -> None:
    """Reload until ``selector`` reads ``wanted``: the ticket posts its credit or charge a
    moment after it accepted the decision, and the page shows the ledger as it is."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if (await page.locator(selector).inner_text()).strip() == wanted:
            return
        if asyncio.get_running_loop().time() > deadline:
            await expect(page.locator(selector)).to_have_text(wanted)  # fails with the text
        await asyncio.sleep(0.3)
        await page.reload()


async def test_finance_holds_a_line_approves_and_finalizes_a_300_line_prebill(
    dev_server: DevServer, dev_client: Client, tmp_path: Path, chromium: Browser, screenshots: Path
) -> None:
    book = book_text(
        customers=(
            '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme Dental"\n'
            'contract = "tm"\n'
        )
    )
    async with served_stack(dev_server, dev_client, tmp_path, book, now=lambda: APP_NOW) as served:
        stack = served.stack
        tickets = [stack.ticket(f"t{index:02d}") for index in range(TICKETS)]
        for index, ticket in enumerate(tickets):
            entries = 8 if index < LINES - 7 * TICKETS else 7
            await stack.send(
                opened(ticket_id=ticket, subject=f"Workstation {index:02d} rebuilt"),
                *(
                    logged(f"te-{n}", 60, ticket_id=ticket, note=f"Rebuild step {n}")
                    for n in range(1, entries + 1)
                ),
                closed(ticket_id=ticket),
            )
        for ticket in tickets:
            assert (await stack.settled(ticket, timeout=120)).status == "posted"
        full = HOUR * LINES

        context = await chromium.new_context(viewport={"width": 1280, "height": 1400})
        context.set_default_timeout(WAIT_MS)
        page = await context.new_page()
        await log_in(page, served, Role.FINANCE)
        await page.get_by_role("link", name="Pre-bill").click()
        await page.goto(f"{served.url}/prebill?month=2026-11")
        row = page.locator('tr[data-customer="CUST-1"]')
        await expect(row.locator(".total")).to_have_text(f"{full} USD")
        await expect(row.locator(".state")).to_have_text("open")
        await row.get_by_role("link", name="Acme Dental").click()
        await expect(page.locator("h1")).to_contain_text("Acme Dental")
        await expect(page.locator("section.ticket")).to_have_count(TICKETS)
        await expect(page.locator("tr[data-line]")).to_have_count(LINES)
        await expect(page.locator("#total")).to_have_text(str(full))

        # Hold one line: the ticket's hold-line decision, audited with who and why.
        held_ticket = tickets[0]
        line = page.locator(f'section[data-ticket="{held_ticket}"] tr[data-line="te-3"]')
        await line.get_by_label("reason for te-3").fill("Customer asked for the step 3 log")
        await line.get_by_role("button", name="Hold line").click()
        await expect(page.locator("#flash")).to_contain_text(f"{held_ticket}: accepted")
        # The ticket credits the posted line on the open draft: the invoice total drops.
        rest = full - HOUR
        await text_becomes(page, "#total", str(rest))
        section = page.locator(f'section[data-ticket="{held_ticket}"]')
        await expect(section).to_contain_text("line held")
        await expect(section.locator(".hold").first).to_contain_text("finance-person")

        await page.get_by_role("button", name=f"Approve {rest}").click()
        await expect(page.locator("#flash")).to_contain_text(
            f"Approved the pre-bill of 2026-11 at {rest} USD"
        )
        await expect(page.locator("#state")).to_have_text("approved")
        await page.screenshot(path=str(screenshots / "prebill.png"))

        await page.get_by_role("button", name="Finalize 2026-11").click()
        await expect(page.locator("#flash")).to_contain_text("the period is locked")
        await expect(page.locator("#state")).to_have_text("finalized")

        # The finalized invoice carries the rest: every line, the held one charged and credited.
        with Session(stack.engine) as session:
            [invoice] = session.exec(
                select(LedgerInvoice).where(LedgerInvoice.period == "2026-11")
            ).all()
            on_invoice = session.exec(
                select(LedgerLine).where(LedgerLine.invoice_id == invoice.invoice_id)
            ).all()
        assert invoice.status == "finalized"
        assert Decimal(sum(line.amount_cents for line in on_invoice)) / 100 == rest
        assert len(on_invoice) == LINES + 1  # the credit reversing the held line

        # Released, the line is charged again: November is locked, so it lands on December's
        # draft as an adjustment to November's invoice, and on December's pre-bill.
        line = page.locator(
            f'section[data-ticket="{held_ticket}"] tr[data-line="te-3"][data-state="on invoice"]'
        ).first
        await line.get_by_label("reason for te-3").fill("Log sent; bill it")
        await line.get_by_role("button", name="Release line").click()
        await expect(page.locator("#flash")).to_contain_text(f"{held_ticket}: accepted")
        await page.goto(f"{served.url}/prebill/CUST-1?month=2026-12")
        await text_becomes(page, "#total", str(HOUR))
        december = page.locator(f'section[data-ticket="{held_ticket}"] tr[data-line="te-3"]')
        await expect(december).to_contain_text(f"Adjustment to {invoice.invoice_id}")
        await expect(page.locator("#state")).to_have_text("open")
        await context.close()
