"""``ledger``: what the embedded billing system holds, by customer and invoice, with totals.

Credits carry negative amounts, so every total here is charges net of credits: what the
customer is actually billed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from billing.book import BillingBook
from billing.money import ZERO, format_decimal
from cli.live import open_review_store, run_command
from cli.people import book_or_none, money
from cli.people import customer as customer_label
from cli.tables import render_table
from connectors.billing import PostedLine
from connectors.embedded_ledger import EmbeddedLedger
from settings import Settings


@dataclass
class InvoiceLines:
    invoice_id: str
    status: str
    lines: list[PostedLine] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((posted.line.amount for posted in self.lines), ZERO)


@dataclass
class CustomerInvoices:
    billing_customer_id: str
    invoices: dict[str, InvoiceLines] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((invoice.total for invoice in self.invoices.values()), ZERO)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ledger",
        help="list posted invoice lines by customer and invoice, with totals",
        description="List every line posted to the embedded billing system, grouped by "
        "billing customer and invoice, with invoice and customer totals (charges net of "
        "credits). Read from the store in HDB_DATABASE_URL.",
    )
    parser.add_argument("--customer", metavar="ID", help="only this billing customer id")
    parser.add_argument("--json", action="store_true", help="print the ledger as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_command(lambda settings: show_ledger(settings, args))


def show_ledger(settings: Settings, args: argparse.Namespace) -> int:
    posted = EmbeddedLedger(open_review_store(settings)).posted_lines()
    if args.customer:
        posted = [line for line in posted if line.billing_customer_id == args.customer]
    customers = group_by_customer(posted)
    if args.json:
        print(json.dumps(ledger_document(customers), indent=2, ensure_ascii=False))
    else:
        print(render_ledger(customers, book_or_none(settings)))
    return 0


def group_by_customer(posted: Iterable[PostedLine]) -> list[CustomerInvoices]:
    """Customers by id; each one's invoices and lines in the order they were posted."""
    customers: dict[str, CustomerInvoices] = {}
    for line in posted:
        customer = customers.setdefault(
            line.billing_customer_id, CustomerInvoices(line.billing_customer_id)
        )
        invoice = customer.invoices.setdefault(
            line.invoice_id, InvoiceLines(line.invoice_id, line.invoice_status)
        )
        invoice.lines.append(line)
    return [customers[key] for key in sorted(customers)]


def _line_document(posted: PostedLine) -> dict[str, object]:
    line = posted.line
    return {
        "ticket_id": posted.ticket_id,
        "source_id": line.source_id,
        "kind": line.kind,
        "service_code": line.service_code,
        "description": line.description,
        "quantity": format_decimal(line.quantity),
        "unit_price": format_decimal(line.unit_price),
        "amount": format_decimal(line.amount),
        "taxable": line.taxable,
        "line_type": line.line_type.value,
        "posted_at": posted.posted_at.isoformat(),
    }


def ledger_document(customers: list[CustomerInvoices]) -> dict[str, object]:
    """Money as strings, never floats: a JSON reader must not round a cent away."""
    return {
        "customers": [
            {
                "billing_customer_id": customer.billing_customer_id,
                "total": format_decimal(customer.total),
                "invoices": [
                    {
                        "invoice_id": invoice.invoice_id,
                        "status": invoice.status,
                        "total": format_decimal(invoice.total),
                        "lines": [_line_document(line) for line in invoice.lines],
                    }
                    for invoice in customer.invoices.values()
                ],
            }
            for customer in customers
        ],
        "total": format_decimal(sum((customer.total for customer in customers), ZERO)),
    }


def _invoice_table(invoice: InvoiceLines, book: BillingBook | None) -> str:
    rows = [
        [
            posted.ticket_id,
            posted.line.source_id,
            posted.line.service_code,
            format_decimal(posted.line.quantity),
            money(posted.line.unit_price, book),
            money(posted.line.amount, book),
            posted.line.line_type.value,
            posted.line.description,
        ]
        for posted in invoice.lines
    ]
    headers = ["TICKET", "SOURCE", "SERVICE", "QTY", "UNIT PRICE", "AMOUNT", "TYPE", "DESCRIPTION"]
    return render_table(headers, rows, right_aligned=[3, 4, 5])


def render_ledger(customers: list[CustomerInvoices], book: BillingBook | None = None) -> str:
    """For people: each customer by the book's name, money as ``1,200.00 USD``."""
    if not customers:
        return "nothing posted yet"
    blocks = []
    for customer in customers:
        parts = [customer_label(book, customer.billing_customer_id)]
        for invoice in customer.invoices.values():
            table = "\n".join(f"    {row}" for row in _invoice_table(invoice, book).split("\n"))
            parts += [
                f"  invoice {invoice.invoice_id} ({invoice.status})",
                table,
                f"  invoice total {money(invoice.total, book)}",
            ]
        parts.append(f"customer total {money(customer.total, book)}")
        blocks.append("\n".join(parts))
    invoices = sum(len(customer.invoices) for customer in customers)
    grand_total = sum((customer.total for customer in customers), ZERO)
    summary = (
        f"{len(customers)} customers, {invoices} invoices, total billed {money(grand_total, book)}"
    )
    return "\n\n".join([*blocks, summary])
