"""Rerating held tickets in bulk from the exception queue (issue 15), on a real uvicorn, worker
and dev server: a rate broken in the book holds three tickets for billing; once the book is
fixed, finance rerates "all matching that wait for a rerate" through a confirmation that lists
exactly those three and says a dispute the filter also matches is left out; each is posted, the
dispute is untouched, and support may not do it."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from billing.roles import Role
from devtools.dev_server import DevServer
from store.ticket_records import audit_trail, ticket_record
from tests.billing.builders import book_text, closed, disputed, logged, opened
from tests.live.api_server import hidden, post_login, served_stack

BROKEN_BOOK = book_text().replace('technician = "95.00"', 'technician = "-1"')


async def test_finance_rerates_every_ticket_held_by_a_broken_book_once_it_is_fixed(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    async with served_stack(dev_server, dev_client, tmp_path, book_text()) as served:
        stack = served.stack
        dispute = stack.ticket("dispute")
        await stack.send(
            opened(ticket_id=dispute),
            logged("te-1", 60, ticket_id=dispute),
            disputed(ticket_id=dispute),
            closed(dispute),
        )
        assert (await stack.settled(dispute)).status == "held"
        (tmp_path / "book.toml").write_text(BROKEN_BOOK)  # a bad rate saved in the book
        held = [stack.ticket(f"rate-{n}") for n in range(3)]
        for ticket in held:
            await stack.send(
                opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket), closed(ticket)
            )
        for ticket in held:
            view = await stack.settled(ticket)
            assert view.hold is not None and view.hold.code == "book_unavailable"
        (tmp_path / "book.toml").write_text(book_text())  # the rate fixed

        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            assert (await post_login(http, served.token(Role.SUPPORT))).status_code == 303
            page = (await http.get("/exceptions")).text
            assert 'id="rerate-matching"' not in page  # support may not rerate
            refused = await http.post(
                "/exceptions/bulk-rerate", data={"csrf": hidden(page, "csrf"), "ticket": held}
            )
            assert refused.status_code == 403
            assert "Rerate in bulk from the exception queue is for" in refused.text

        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            assert (await post_login(http, served.token(Role.FINANCE))).status_code == 303
            page = (await http.get("/exceptions", params={"owner": "billing"})).text
            # Each held row has a box for "Rerate selected"; the dispute row has none.
            boxes = re.findall(r'name="ticket" value="([^"]+)" form="bulk"', page)
            assert sorted(boxes) == sorted(held)
            csrf = hidden(page, "csrf")
            # Everything the (unfiltered) queue matches: the dispute is counted, not rerated.
            everything = (await http.get("/exceptions")).text
            action = re.search(r'action="([^"]*)" class="inline" id="rerate-matching"', everything)
            assert action is not None
            confirm = await http.post(unescape(action.group(1)), data={"csrf": csrf})
            assert confirm.status_code == 200, confirm.text
            assert "Rerate 3 tickets now totalling 0.00 USD?" in confirm.text
            assert "1 other ticket the filter matches waits for another step" in confirm.text
            carried = re.findall(r'name="ticket" value="([^"]+)"', confirm.text)
            assert sorted(carried) == sorted(held)
            form: dict[str, Any] = {"csrf": csrf, "confirmed": "yes", "ticket": carried}
            form |= {f"total.{t}": hidden(confirm.text, f"total\\.{t}") for t in carried}
            form["reason"] = "technician rate fixed in the book"
            result = await http.post("/exceptions/bulk-rerate", data=form)
            assert result.status_code == 200, result.text
            assert '<h1 id="bulk-summary">Rerated 3 of 3</h1>' in result.text
            rows = re.findall(r'<tr data-ticket="([^"]+)" class="ok">', result.text)
            assert sorted(rows) == sorted(held)

        for ticket in held:
            assert (await stack.settled(ticket)).status == "posted"
            assert stack.ledger_total(ticket) == Decimal("95.00")
            reasons = [entry.reason for entry in audit_trail(stack.engine, ticket)]
            assert "technician rate fixed in the book" in reasons
        record = ticket_record(stack.engine, dispute)
        assert record is not None and record.status == "held"
        assert stack.ledger_total(dispute) == Decimal("0")
