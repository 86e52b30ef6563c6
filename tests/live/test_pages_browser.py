"""The pages in a real browser (Playwright driving Debian's Chromium) against a real uvicorn,
worker and dev server: finance approves from the review queue, a manager clears a dispute from
the exception queue, a customer questions a line and signs off the rest through a link; each
ends with the ticket posted.

Each page is screenshotted full-page. Set ``HDB_TEST_SCREENSHOTS=docs/screenshots`` to refresh
the committed ones; otherwise they go to the test's temporary directory, so a test run never
changes the working tree.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from temporalio.client import Client

from billing.roles import Role
from devtools.dev_server import DevServer
from messages.ticket import ResolveLineDisputeInput
from tests.billing.builders import book_text, closed, disputed, logged, opened, part
from tests.live.api_server import ServedStack, ServedStore, served_examples, served_stack
from tests.live.stack import BillingStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# A decision waits for the ticket to record its outcome before the page comes back.
WAIT_MS = 15_000

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


async def new_page(chromium: Browser) -> tuple[BrowserContext, Page]:
    """A fresh browser profile (no cookies): one person at one desk."""
    context = await chromium.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(WAIT_MS)
    return context, await context.new_page()


async def log_in(
    page: Page, served: ServedStack | ServedStore, role: Role, shot: Path | None = None
) -> None:
    await page.goto(f"{served.url}/login")
    await page.get_by_label("Your API token").fill(served.token(role))
    if shot is not None:
        await page.screenshot(path=str(shot), full_page=True)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("header .who")).to_contain_text(role.value)


async def hour_of_work(stack: BillingStack, name: str, **fields: object) -> str:
    ticket = stack.ticket(name)
    await stack.send(
        opened(ticket_id=ticket, subject=str(fields.pop("subject", "Printer offline"))),
        logged("te-1", 60, ticket_id=ticket, **fields),
        closed(ticket_id=ticket),
    )
    return ticket


async def test_finance_approves_from_the_review_queue_and_the_ticket_is_posted(
    dev_server: DevServer, dev_client: Client, tmp_path: Path, chromium: Browser, screenshots: Path
) -> None:
    book = book_text(mode='"review"')
    async with served_stack(dev_server, dev_client, tmp_path, book) as served:
        stack = served.stack
        printer = await hour_of_work(stack, "printer")
        disk = stack.ticket("disk")
        await stack.send(
            opened(ticket_id=disk, subject="Laptop disk replaced"),
            logged("te-1", 50, ticket_id=disk, note="Swapped the SSD and restored the image"),
            part("p-1", "SSD-1TB", ticket_id=disk),
            closed(ticket_id=disk),
        )
        for ticket in (printer, disk):
            assert (await stack.settled(ticket)).status == "in_review"
        context, page = await new_page(chromium)
        await log_in(page, served, Role.FINANCE, screenshots / "login.png")
        await expect(page).to_have_url(f"{served.url}/review")
        await expect(page.locator(f'[data-ticket="{disk}"] .total')).to_have_text("224.00 USD")
        await page.screenshot(path=str(screenshots / "review-queue.png"), full_page=True)

        card = page.locator(f'[data-ticket="{printer}"]')
        await card.get_by_role("button", name="Approve 95.00").click()
        await expect(page.locator("#flash")).to_contain_text(f"{printer}: accepted")
        assert (await stack.settled(printer)).status == "posted"
        assert stack.ledger_total(printer) == Decimal("95.00")
        await expect(page.locator(f'[data-ticket="{printer}"]')).to_have_count(0)

        # What is left goes in one bulk approval, ticked with "select all".
        await page.get_by_label("Select all").check()
        await page.get_by_role("button", name="Approve selected").click()
        # A confirmation first, stating the count and the total; then each ticket's outcome.
        await expect(page.locator("h1")).to_have_text("Approve 1 ticket for 224.00 USD?")
        await page.get_by_role("button", name="Approve 1 ticket").click()
        await expect(page.locator("#bulk-summary")).to_have_text("Approved 1 of 1")
        await expect(page.locator(f'#bulk-results tr[data-ticket="{disk}"]')).to_contain_text(
            "accepted"
        )
        assert (await stack.settled(disk)).status == "posted"
        assert stack.ledger_total(disk) == Decimal("224.00")

        await page.goto(f"{served.url}/tickets/{disk}")
        await expect(page.locator("#status")).to_have_text("posted")
        await expect(page.locator(".why").first).to_be_visible()
        await page.screenshot(path=str(screenshots / "ticket.png"), full_page=True)
        await context.close()


async def test_a_manager_clears_a_dispute_from_the_exception_queue(
    dev_server: DevServer, dev_client: Client, tmp_path: Path, chromium: Browser, screenshots: Path
) -> None:
    async with served_stack(dev_server, dev_client, tmp_path, book_text()) as served:
        stack = served.stack
        dispute = stack.ticket("dispute")
        await stack.send(
            opened(ticket_id=dispute, subject="Email not syncing"),
            logged("te-1", 60, ticket_id=dispute, note="Rebuilt the mail profile"),
            disputed("Customer says it was fixed in 10 minutes", ticket_id=dispute),
            closed(ticket_id=dispute),
        )
        # Other exceptions share the queue, so the screenshot shows each kind of row.
        no_time = stack.ticket("no-time")
        await stack.send(opened(ticket_id=no_time, subject="VPN drops"), closed(ticket_id=no_time))
        big = stack.ticket("migration")
        await stack.send(
            opened(ticket_id=big, subject="Server migration"),
            logged("te-1", 11 * 60, ticket_id=big, note="Migrated file shares"),
            closed(ticket_id=big),
        )
        onsite = await hour_of_work(stack, "onsite", subject="New printer", work_type="onsite")
        for ticket in (dispute, no_time, big, onsite):
            await stack.settled(ticket)

        context, page = await new_page(chromium)
        await log_in(page, served, Role.MANAGER)
        await expect(page).to_have_url(f"{served.url}/exceptions")
        row = page.locator(f'tr[data-ticket="{dispute}"]')
        await expect(row).to_contain_text("disputed")
        await page.screenshot(path=str(screenshots / "exception-queue.png"), full_page=True)

        # The dispute's form opens below its name: the rows stay one line each (issue 15).
        await row.locator("summary", has_text="Resolve dispute").click()
        await row.get_by_label("outcome").select_option("uphold")
        await row.get_by_label("reason").fill("Logs show an hour of work")
        await row.get_by_role("button", name="Resolve dispute").click()
        await expect(page.locator("#flash")).to_contain_text(f"{dispute}: accepted")
        await expect(page.locator(f'tr[data-ticket="{dispute}"]')).to_have_count(0)
        assert (await stack.settled(dispute)).status == "posted"
        assert stack.ledger_total(dispute) == Decimal("95.00")
        await context.close()


async def test_a_customer_questions_a_line_then_signs_off_the_rest_through_the_link(
    dev_server: DevServer, dev_client: Client, tmp_path: Path, chromium: Browser, screenshots: Path
) -> None:
    async with served_stack(dev_server, dev_client, tmp_path, book_text()) as served:
        stack = served.stack
        ticket = stack.ticket("onsite")
        await stack.send(
            opened(ticket_id=ticket, subject="New printer"),
            logged("te-1", 60, ticket_id=ticket, work_type="onsite", note="Installed on site"),
            logged(
                "te-2",
                30,
                "2026-11-03T10:00:00-05:00",
                ticket_id=ticket,
                work_type="onsite",
                note="Came back to set up scanning",
            ),
            closed(ticket_id=ticket),
        )
        view = await stack.settled(ticket)
        assert view.status == "awaiting_approval" and "customer signoff" in view.waiting_for

        context, page = await new_page(chromium)
        await log_in(page, served, Role.MANAGER)  # support may not send signoff links
        row = page.locator(f'tr[data-ticket="{ticket}"]')
        await row.get_by_role("button", name="Send signoff link").click()
        link = await page.locator("#signoff-url").inner_text()
        assert link.startswith(f"{served.url}/signoff/")
        # The long link wraps (issue 15: it overflowed the page), and a button copies it.
        await page.set_viewport_size({"width": 390, "height": 800})
        link_box = await page.locator("#signoff-url").bounding_box()
        assert link_box is not None and link_box["x"] + link_box["width"] <= 390
        await expect(page.get_by_role("button", name="Copy link")).to_be_visible()
        await context.close()

        # The customer: another browser, no session, only the link.
        context, page = await new_page(chromium)
        await page.goto(link)
        await expect(page.locator("#total")).to_have_text("142.50")
        line = page.locator('tr[data-line="te-2"]')
        await line.get_by_text("Question this line").click()
        await line.get_by_label("What is wrong with this line?").fill("Scanning was not asked for")
        await line.get_by_role("button", name="Send my question").click()
        await expect(page.locator(".flash")).to_contain_text("your question about")
        await expect(page.locator('tr[data-line="te-2"]')).to_contain_text(
            "questioned: Scanning was not asked for"
        )
        await expect(page.locator("#off-invoice")).to_have_text("47.50")
        await expect(page.get_by_text("Question this line")).to_have_count(1)  # te-1's
        await page.screenshot(path=str(screenshots / "signoff.png"), full_page=True)

        await page.get_by_role("button", name="I accept the other charges").click()
        await expect(page.locator(".flash")).to_contain_text("the other charges are accepted")
        view = await stack.settled(ticket)
        assert view.status == "held" and view.hold is not None
        assert view.hold.code == "line_disputed"
        assert stack.ledger_total(ticket) == Decimal("95.00")
        await context.close()

        # A manager upholds the line: it was signed off with the rest, so it posts now.
        view = await stack.signal(
            ticket,
            "resolve_line_dispute",
            ResolveLineDisputeInput(
                "max",
                "manager",
                "scanning was on the order",
                source_id="te-2",
                outcome="uphold",
                reason_code="work_confirmed",
            ),
        )
        assert view.status == "posted"
        assert stack.ledger_total(ticket) == Decimal("142.50")


async def test_finance_reads_the_reports_page_with_its_charts(
    tmp_path: Path, chromium: Browser, screenshots: Path
) -> None:
    """The page reads the store only: the example tickets recorded the worker's way, with two
    posted, are enough (no worker needed)."""
    with served_examples(tmp_path) as served:
        context, page = await new_page(chromium)
        await log_in(page, served, Role.FINANCE)
        await page.get_by_role("link", name="Reports").click()
        await page.get_by_label("From", exact=True).fill("2026-11-01")
        await page.get_by_label("To", exact=True).fill("2026-11-30")
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("h1")).to_contain_text("2026-11-01 – 2026-11-30")
        charts = page.locator("svg.chart")
        await expect(charts).to_have_count(5)
        for index in range(5):
            box = await charts.nth(index).bounding_box()
            assert box is not None and box["width"] > 600 and box["height"] > 20, index
        # Bars have height where tickets closed: the first chart is not empty.
        tallest = (
            await page.locator("svg.chart")
            .first.locator("rect.bar")
            .evaluate_all("bars => Math.max(...bars.map(b => b.getBBox().height))")
        )
        assert tallest > 100
        await expect(page.locator('[data-report="leakage"] td').first).to_have_text(
            "no-time closure"
        )
        await page.screenshot(path=str(screenshots / "reports.png"), full_page=True)

        async with page.expect_download() as download_info:
            await page.locator('[data-report="prepaid"] a', has_text="CSV").click()
        download = await download_info.value
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        assert saved.name == "prepaid_2026-11-01_2026-11-30.csv"
        assert saved.read_text().splitlines()[1].startswith("cedar-ret,2026-11,")
        await context.close()
