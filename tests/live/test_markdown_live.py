"""A help desk's text cannot make a link in the Temporal UI (billing/markdown.py): a ticket whose
subject and dispute reason are Markdown links, run by our worker on the real dev server, has a
summary and current details that a CommonMark renderer (as the UI's) shows as plain text: no
link, no image, and the words as the help desk wrote them."""

from __future__ import annotations

import html
import re
from pathlib import Path

from markdown_it import MarkdownIt
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from messages.ticket import BillingStatus, ticket_workflow_id
from tests.billing.builders import book_text, closed, disputed, logged, opened
from tests.live.stack import running_stack

HOSTILE = "[click](http://evil.example) <http://evil.example> ![x](http://evil.example/p.png)"
RENDER = MarkdownIt("commonmark").enable("table")


def shown(markdown: str) -> str:
    """What the UI shows of ``markdown``: its rendered HTML (asserted free of links and images)
    and the text of it."""
    page = RENDER.render(markdown)
    assert "<a " not in page and "<img" not in page, page
    return html.unescape(re.sub(r"<[^>]+>", "", page))


async def test_summary_and_current_details_show_help_desk_markdown_as_text(
    dev_client: Client, tmp_path: Path
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(dev_client, tmp_path, book) as stack:
        ticket = stack.ticket("markdown")
        await stack.send(
            opened(ticket_id=ticket, subject=HOSTILE),
            logged("te-1", 60, ticket_id=ticket),
            closed(ticket_id=ticket),
            disputed(HOSTILE, ticket_id=ticket),
        )
        view = await stack.settled(ticket)
        assert view.status is BillingStatus.HELD, view.status
        handle = dev_client.get_workflow_handle(ticket_workflow_id(ticket))
        summary = await (await handle.describe()).static_summary()
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert summary is not None
    assert shown(summary).strip() == f"Billing of ticket {ticket} (org-1): {HOSTILE}"
    details = shown(metadata.current_details)
    assert f"Disputed: {HOSTILE}" in details, metadata.current_details
    # Our own wording keeps its Markdown: the status is bold.
    assert RENDER.render(metadata.current_details).startswith("<p><strong>held</strong>")
