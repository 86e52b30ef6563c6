"""A customer questions single lines on the signoff page, for real: uvicorn, a worker and a dev
server. The question is the ticket's ``dispute_line`` as the customer; it does not use up the
link, so the customer then accepts the rest, which posts while the questioned line waits. A
form changed by hand cannot reach another line: it is refused with words and audited.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import httpx
from temporalio.client import Client

from billing.roles import Role
from devtools.dev_server import DevServer
from messages.ticket import LineInput, ResolveLineDisputeInput
from store.ticket_records import audit_trail
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.api_server import ServedStack, hidden, served_stack
from tests.live.stack import BillingStack


async def three_onsite_lines(stack: BillingStack, name: str) -> str:
    """Onsite work needs the customer's signoff: te-1 95.00, te-2 47.50, te-3 23.75."""
    ticket = stack.ticket(name)
    await stack.send(
        opened(ticket_id=ticket, subject="Office move"),
        logged("te-1", 60, "2026-11-02T10:00:00-05:00", ticket_id=ticket, work_type="onsite"),
        logged("te-2", 30, "2026-11-03T10:00:00-05:00", ticket_id=ticket, work_type="onsite"),
        logged("te-3", 15, "2026-11-04T10:00:00-05:00", ticket_id=ticket, work_type="onsite"),
        closed(ticket_id=ticket),
    )
    return ticket


def net_cents(stack: BillingStack, ticket: str) -> dict[str, int]:
    net: dict[str, int] = {}
    for line in stack.ledger_lines(ticket):
        net[line.source_id] = net.get(line.source_id, 0) + line.amount_cents
    return {source: cents for source, cents in net.items() if cents}


def row(html: str, source_id: str) -> str:
    match = re.search(rf'<tr data-line="{source_id}"[^>]*>(.*?)</tr>', html, re.DOTALL)
    assert match, f"the page has no row for {source_id}"
    return match.group(1)


async def signoff_link(served: ServedStack, http: httpx.AsyncClient, ticket: str) -> str:
    response = await http.post(
        f"/api/tickets/{ticket}/signoff-link",
        headers={"Authorization": f"Bearer {served.token(Role.MANAGER)}"},
    )
    assert response.status_code == 200, response.text
    return httpx.URL(response.json()["url"]).path


async def test_a_customer_questions_one_line_of_three_then_accepts_the_rest(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    async with served_stack(dev_server, dev_client, tmp_path, book_text()) as served:
        stack = served.stack
        ticket = await three_onsite_lines(stack, "move")
        view = await stack.settled(ticket)
        assert view.status == "awaiting_approval" and "customer signoff" in view.waiting_for
        assert view.rating is not None and view.rating.chargeable_total == Decimal("166.25")

        async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
            path = await signoff_link(served, http, ticket)
            page = await http.get(path)
            assert page.status_code == 200 and page.text.count("Question this line") == 3
            form_token = hidden(page.text, "form_token")

            def question(source_id: str, reason: str) -> dict[str, str]:
                return {
                    "decision": "question_line",
                    "form_token": form_token,
                    "source_id": source_id,
                    "reason": reason,
                }

            # A reason is required, and bounded.
            empty = await http.post(path, data=question("te-2", "  "))
            assert empty.status_code == 422 and "what is wrong" in empty.text
            long = await http.post(path, data=question("te-2", "x" * 2001))
            assert long.status_code == 422 and "under 2000 characters" in long.text

            asked = await http.post(path, data=question("te-2", "We never asked for a 2nd visit"))
            assert asked.status_code == 200, asked.text
            assert "your question about" in asked.text
            assert "questioned: We never asked for a 2nd visit" in row(asked.text, "te-2")
            assert "Question this line" not in row(asked.text, "te-2")
            assert asked.text.count("Question this line") == 2
            assert "I accept the other charges" in asked.text  # the link is not used up
            assert hidden(asked.text, "expected_total") == "166.25"
            assert '<td class="num" id="off-invoice">47.50</td>' in asked.text

            view = await stack.settled(ticket)
            item = next(i for i in reversed(view.history) if i.action == "dispute_line")
            assert (item.outcome, item.role, item.reason) == (
                "accepted",
                "customer",
                "We never asked for a 2nd visit",
            )
            assert item.actor.startswith("customer (link ")
            assert view.status == "awaiting_approval"  # nothing posts before the customer says

            # Asked twice: the page says so and sends nothing.
            again = await http.post(path, data=question("te-2", "and again"))
            assert again.status_code == 409 and "already questioned it" in again.text

            # A source id changed by hand (another ticket's line, or none at all) is refused
            # in words, never sent to the ticket, and audited.
            before = len((await stack.state(ticket)).history)
            for tampered in ("te-9", "p-1<script>"):
                refused = await http.post(path, data=question(tampered, "sneaky"))
                assert refused.status_code == 422
                assert "not one of this ticket" in refused.text
                assert "<script>" not in refused.text and "Traceback" not in refused.text
            assert len((await stack.state(ticket)).history) == before
            audited = [
                entry
                for entry in audit_trail(stack.engine, ticket)
                if entry.action == "dispute_line" and entry.outcome == "refused"
            ]
            assert len(audited) == 2
            assert audited[0].role == "customer" and audited[0].actor.startswith("customer (link")
            assert "'te-9' is not a charged line" in audited[0].detail

            accepted = await http.post(
                path,
                data={"decision": "accept", "form_token": form_token, "expected_total": "166.25"},
            )
            assert accepted.status_code == 200, accepted.text
            assert "the other charges are accepted" in accepted.text
            view = await stack.settled(ticket)
            assert (view.status, view.hold.code if view.hold else None) == (
                "held",
                "line_disputed",
            )
            assert net_cents(stack, ticket) == {"te-1": 9500, "te-3": 2375}

            # Accept and decline still use the link up; with it, no more questions.
            late = await http.post(path, data=question("te-3", "one more"))
            assert "already been used" in late.text
            assert "questioned: We never asked" in row(late.text, "te-2")
            assert "Question this line" not in late.text

        # What the page promised: a line changed or removed asks the customer again.
        view = await stack.signal(
            ticket,
            "resolve_line_dispute",
            ResolveLineDisputeInput(
                "max",
                "manager",
                "second visit was ours",
                source_id="te-2",
                outcome="write_off",
                reason_code="goodwill",
            ),
        )
        assert view.status == "awaiting_approval" and "customer signoff" in view.waiting_for
        assert view.rating is not None and view.rating.chargeable_total == Decimal("118.75")
        assert net_cents(stack, ticket) == {"te-1": 9500, "te-3": 2375}


async def test_a_line_staff_keep_off_the_invoice_shows_no_who_or_why(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    async with served_stack(dev_server, dev_client, tmp_path, book_text()) as served:
        stack = served.stack
        ticket = await three_onsite_lines(stack, "held")
        await stack.settled(ticket)
        await stack.signal(
            ticket,
            "hold_line",
            LineInput("fay", "finance", "INTERNAL tech padded the hours", source_id="te-3"),
        )
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
            path = await signoff_link(served, http, ticket)
            page = await http.get(path)
            assert "under review: not billed for now" in row(page.text, "te-3")
            assert page.text.count("Question this line") == 2
            asked = await http.post(
                path,
                data={
                    "decision": "question_line",
                    "form_token": hidden(page.text, "form_token"),
                    "source_id": "te-3",
                    "reason": "why is this here?",
                },
            )
            assert asked.status_code == 409 and "we are reviewing it" in asked.text
            for text in (page.text, asked.text):
                assert "INTERNAL" not in text and "fay" not in text and "finance" not in text
