"""One ticket at a time: ``show`` its billing, and the decisions people make on it.

A decision is made as the owner of an API token (HDB_API_TOKEN or --token-file), never as a
name typed on the command line: the command records it in the store as that person's, signals
the ticket's workflow (which counts it only once it finds that record, and alone decides whether
it is allowed: role, reason, current total), and reports the outcome the workflow writes back:
accepted, or refused and why.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from billing.book import BillingBook
from billing.decisions import LINE_DISPUTE_REASON_CODES
from billing.money import format_decimal
from billing.numbers import not_negative_problem
from billing.ticket_ids import safe_ticket_id
from cli.live import (
    EXIT_FAILED,
    CommandFailed,
    connect_client,
    open_review_store,
    run_async_command,
)
from cli.people import book_or_none, money
from cli.people import customer as customer_label
from cli.tables import render_table
from messages.ticket import (
    ActorInput,
    ApproveInput,
    BillingStatus,
    DisputeInput,
    LineEditInput,
    LineInput,
    MarkNonBillableInput,
    RejectInput,
    RerateInput,
    ResolveDisputeInput,
    ResolveLineDisputeInput,
    ReviewInput,
    SignoffInput,
)
from messages.views import TicketBillingView
from settings import Settings
from store.decision_requests import DecisionOutcome
from store.ticket_records import ticket_records
from store.tokens import token_owner
from usecases import tickets
from workflows.ticket_billing import TicketBillingWorkflow

EXIT_REFUSED = 3
DEFAULT_WAIT_SECONDS = 10.0
LABEL_WIDTH = 14

_VIEW = tickets.VIEW
_EDIT_FIELDS = ("quantity", "unit_price")


# ---- argument types: bad values are argparse errors (exit 2), never a refused signal ----------


def _decimal(text: str, example: str, max_places: int | None) -> Decimal:
    """A number within the book's limits (``billing.numbers``), not negative."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number like {example}") from None
    problem = not_negative_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    exponent = value.as_tuple().exponent
    if max_places is not None and isinstance(exponent, int) and exponent < -max_places:
        raise argparse.ArgumentTypeError(
            f"{text!r} has more than {max_places} decimals (a number like {example})"
        )
    return value


def money_argument(text: str) -> Decimal:
    return _decimal(text, "1045.00", max_places=2)


def quantity_argument(text: str) -> Decimal:
    return _decimal(text, "1.25", max_places=None)


def price_argument(text: str) -> Decimal:
    return _decimal(text, "80.00", max_places=None)


def line_edit_argument(text: str) -> LineEditInput:
    """``SOURCE_ID[:quantity=Q][:unit_price=P]``; fields are read from the right, so a source
    id may itself contain a colon."""
    parts = text.split(":")
    changes: dict[str, Decimal] = {}
    while len(parts) > 1 and "=" in parts[-1]:
        name, _, value = parts.pop().partition("=")
        if name not in _EDIT_FIELDS:
            raise argparse.ArgumentTypeError(
                f"{text!r}: unknown field {name!r}; use quantity=Q and/or unit_price=P"
            )
        read = price_argument if name == "unit_price" else quantity_argument
        try:
            changes[name] = read(value)
        except argparse.ArgumentTypeError as problem:
            raise argparse.ArgumentTypeError(f"{text!r}: {name}: {problem}") from None
    source_id = ":".join(parts)
    if not source_id or not changes:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not SOURCE_ID:quantity=Q, SOURCE_ID:unit_price=P or both, "
            "e.g. te-1:quantity=1.5"
        )
    return LineEditInput(source_id, changes.get("quantity"), changes.get("unit_price"))


def ticket_argument(text: str) -> str:
    """A ticket id in the ticket-id alphabet (billing/ticket_ids.py), NFKC-normalized."""
    try:
        return safe_ticket_id(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def wait_argument(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 3600")
    return seconds


# ---- show -----------------------------------------------------------------------------------


def add_show_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "show",
        help="show a ticket's billing: status, hold, lines and why, approvals, history",
        description="Show where TICKET's billing stands: status, what it waits for, any hold "
        "and its owner, the rated lines with the rules that priced each, approvals, and the "
        "history of decisions. A settled ticket is shown from the review store.",
    )
    parser.add_argument(
        "ticket", metavar="TICKET", type=ticket_argument, help="help desk ticket id, e.g. T-1001"
    )
    parser.add_argument("--json", action="store_true", help="print the full state as JSON")
    parser.set_defaults(run=run_show)


def run_show(args: argparse.Namespace) -> int:
    return run_async_command(lambda settings: show(settings, args))


async def show(settings: Settings, args: argparse.Namespace) -> int:
    client = await connect_client(settings)
    view, note = await load_view(client, settings, args.ticket)
    if note:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(_VIEW.dump_json(view, indent=2).decode())
    else:
        print(render_view(view, book_or_none(settings)))
    return 0


async def load_view(
    client: Client, settings: Settings, ticket_id: str
) -> tuple[TicketBillingView, str | None]:
    """The workflow's own view; for a ticket whose workflow is gone, the review store's copy."""
    try:
        return await tickets.load_view(client, open_review_store(settings), ticket_id)
    except tickets.TicketProblem as problem:
        raise CommandFailed(str(problem)) from None


def render_view(view: TicketBillingView, book: BillingBook | None = None) -> str:
    """For people: the customer by the book's name, money as ``1,200.00 USD`` (``--json`` keeps
    ids and plain decimals)."""
    sections = [
        _summary_section(view, book),
        _lines_section(view, book),
        _approvals_section(view, book),
        _history_section(view),
        _notices_section(view),
    ]
    return "\n\n".join(section for section in sections if section)


def _summary_section(view: TicketBillingView, book: BillingBook | None) -> str:
    rating = view.rating
    customer = (
        f"customer {customer_label(book, view.customer_id)}"
        if view.customer_id
        else "customer unknown"
    )
    if rating is not None and rating.billing_customer_id:
        customer += f", billed to {rating.billing_customer_id}"
    since = f" since {_utc(view.status_since):%Y-%m-%d %H:%M} UTC" if view.status_since else ""
    hold = (
        f"{view.hold.code} ({view.hold.owner.value} to act): {view.hold.message}"
        if view.hold
        else "none"
    )
    total = (
        f"{money(rating.chargeable_total, book)} "
        f"(rating revision {view.revision}, mode {rating.mode.value})"
        if rating is not None
        else "not rated yet"
    )
    rows = [
        ("ticket", f"{view.ticket_id} ({customer})"),
        ("status", f"{view.status.value}{since}"),
        ("waiting for", view.waiting_for),
        ("hold", hold),
        ("total", total),
        ("posted total", money(view.posted_total, book)),
        ("invoices", ", ".join(view.invoice_ids) or "none"),
    ]
    return "\n".join(f"{label.ljust(LABEL_WIDTH)}{value}" for label, value in rows)


def _lines_section(view: TicketBillingView, book: BillingBook | None) -> str:
    if view.rating is None or not view.rating.lines:
        return ""
    lines = view.rating.lines
    rows = [
        [
            line.source_id,
            line.service_code,
            format_decimal(line.quantity),
            money(line.unit_price, book),
            money(line.amount, book),
            line.coverage.value if line.coverage else "-",
            line.description,
        ]
        for line in lines
    ]
    headers = ["SOURCE", "SERVICE", "QTY", "UNIT PRICE", "AMOUNT", "COVERAGE", "DESCRIPTION"]
    header, rule, *row_texts = render_table(headers, rows, right_aligned=[2, 3, 4]).split("\n")
    out = ["lines", header, rule]
    for line, row_text in zip(lines, row_texts, strict=True):
        out.append(row_text)
        out.extend(f"    {step}" for step in line.explanation)
    return "\n".join(out)


def _approvals_section(view: TicketBillingView, book: BillingBook | None) -> str:
    approvals, decisions = view.approvals, view.decisions
    required = view.rating.approvals_required if view.rating is not None else ()
    needed = [f"required from {a.role.value}: {a.reason}" for a in required]
    given = [
        ("manager approval", approvals.manager, approvals.manager_total),
        ("manager rejection", approvals.rejection, approvals.rejected_total),
        ("customer signoff", approvals.customer, approvals.customer_total),
        ("customer declined", approvals.customer_declined, approvals.customer_declined_total),
        ("finance approval", approvals.finance, approvals.finance_total),
        ("finance hold", approvals.finance_hold, None),
        ("non-billable", decisions.non_billable, None),
        ("written off", decisions.written_off, None),
    ]
    items = needed + [
        f"{what}: {decision.by()}" + (f" (total {money(total, book)})" if total is not None else "")
        for what, decision, total in given
        if decision is not None
    ]
    items += [
        f"line edit {edit.source_id}: {_edit_text(edit.quantity, edit.unit_price)} "
        f"by {edit.decision.by()}"
        for edit in decisions.line_edits
    ]
    return "\n".join(["approvals and decisions", *(f"  {item}" for item in items)]) if items else ""


def _edit_text(quantity: Decimal | None, unit_price: Decimal | None) -> str:
    changes = [
        f"{name} {format_decimal(value)}"
        for name, value in (("quantity", quantity), ("unit price", unit_price))
        if value is not None
    ]
    return ", ".join(changes)


def _history_section(view: TicketBillingView) -> str:
    if not view.history:
        return ""
    rows = [
        [
            f"{_utc(item.at):%Y-%m-%d %H:%M:%S}",
            item.actor,
            item.role,
            item.action,
            item.outcome,
            item.reason,
            item.detail,
        ]
        for item in view.history
    ]
    headers = ["AT (UTC)", "ACTOR", "ROLE", "ACTION", "OUTCOME", "REASON", "DETAIL"]
    earlier = (
        f"({view.earlier_history} earlier entries are in the audit log: the ticket's page, "
        f"or GET /api/tickets/{view.ticket_id})\n"
        if view.earlier_history
        else ""
    )
    return "history\n" + earlier + render_table(headers, rows)


def _notices_section(view: TicketBillingView) -> str:
    return "\n".join(["notices", *(f"  - {n}" for n in view.notices)]) if view.notices else ""


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; everything the service stores is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionCommand:
    """A command that sends one decision signal: its name, help, extra options and input."""

    name: str
    help: str
    signal: Callable[..., Any]  # the workflow's signal method: names the signal, types the input
    add_options: Callable[[argparse.ArgumentParser], None]
    build: Callable[[argparse.Namespace, dict[str, Any]], ActorInput]


def _ticket_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ticket", metavar="TICKET", type=ticket_argument, help="help desk ticket id, e.g. T-1001"
    )


def _with_total(parser: argparse.ArgumentParser) -> None:
    _ticket_only(parser)
    parser.add_argument(
        "--total",
        type=money_argument,
        metavar="X",
        help="the total you saw; refused if the ticket was re-rated to another total since",
    )


def _with_line_edits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--line",
        dest="lines",
        action="append",
        default=[],
        type=line_edit_argument,
        metavar="SOURCE_ID[:quantity=Q][:unit_price=P]",
        help="a charged line to change (repeat for several), e.g. te-1:quantity=1.5",
    )


def _signoff_options(parser: argparse.ArgumentParser) -> None:
    _with_total(parser)
    parser.add_argument(
        "--decline", action="store_true", help="the customer declines (a reason is required)"
    )


def _resolve_dispute_options(parser: argparse.ArgumentParser) -> None:
    _ticket_only(parser)
    parser.add_argument(
        "--outcome",
        required=True,
        choices=["uphold", "adjust", "write_off"],
        help="uphold the charges, adjust lines (with --line), or write the ticket off",
    )
    _with_line_edits(parser)


def _review_options(parser: argparse.ArgumentParser) -> None:
    _with_total(parser)
    parser.add_argument(
        "--action",
        required=True,
        choices=["approve", "edit", "hold"],
        help="approve the total, edit lines (with --line), or hold the ticket in review",
    )
    _with_line_edits(parser)


def _line_options(parser: argparse.ArgumentParser) -> None:
    _ticket_only(parser)
    parser.add_argument(
        "--line",
        dest="source_id",
        required=True,
        metavar="SOURCE_ID",
        help="the charged line, by its source (a time entry or part line id, e.g. te-3)",
    )


def _resolve_line_dispute_options(parser: argparse.ArgumentParser) -> None:
    _line_options(parser)
    parser.add_argument(
        "--outcome",
        required=True,
        choices=["uphold", "adjust", "write_off"],
        help="uphold the line, adjust it (with --quantity and/or --unit-price), or write it off",
    )
    parser.add_argument(
        "--reason-code", required=True, choices=LINE_DISPUTE_REASON_CODES, help="why, for reports"
    )
    parser.add_argument("--quantity", type=quantity_argument, help="adjust: the new quantity")
    parser.add_argument("--unit-price", type=money_argument, help="adjust: the new unit price")


def _rerate_options(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "ticket", metavar="TICKET", nargs="?", type=ticket_argument, help="help desk ticket id"
    )
    target.add_argument(
        "--held", action="store_true", help="rerate every held ticket in the review store"
    )


DECISIONS = [
    DecisionCommand(
        "approve",
        "approve a ticket's total as a manager (needed above the threshold or after a rejection)",
        TicketBillingWorkflow.approve,
        _with_total,
        lambda args, who: ApproveInput(**who, expected_total=args.total),
    ),
    DecisionCommand(
        "reject",
        "reject a ticket's total as a manager; it is held for support (reason required)",
        TicketBillingWorkflow.reject,
        _ticket_only,
        lambda args, who: RejectInput(**who),
    ),
    DecisionCommand(
        "signoff",
        "record the customer's signoff of a ticket (or --decline)",
        TicketBillingWorkflow.customer_signoff,
        _signoff_options,
        lambda args, who: SignoffInput(**who, accepted=not args.decline, expected_total=args.total),
    ),
    DecisionCommand(
        "dispute",
        "open a dispute on a ticket: it is held for a manager (reason required)",
        TicketBillingWorkflow.dispute,
        _ticket_only,
        lambda args, who: DisputeInput(**who),
    ),
    DecisionCommand(
        "resolve-dispute",
        "resolve a ticket's dispute: uphold, adjust lines or write off (reason required)",
        TicketBillingWorkflow.resolve_dispute,
        _resolve_dispute_options,
        lambda args, who: ResolveDisputeInput(**who, outcome=args.outcome, line_edits=args.lines),
    ),
    DecisionCommand(
        "mark-non-billable",
        "zero every charge of a ticket, e.g. one closed with no time (reason required)",
        TicketBillingWorkflow.mark_non_billable,
        _ticket_only,
        lambda args, who: MarkNonBillableInput(**who),
    ),
    DecisionCommand(
        "review",
        "finance review of a ticket in review mode: approve, edit lines or hold; approve also "
        "confirms the move of a ticket held customer_changed, or releases one held "
        "locked_period_adjustment (reason required)",
        TicketBillingWorkflow.review,
        _review_options,
        lambda args, who: ReviewInput(
            **who, action=args.action, line_edits=args.lines, expected_total=args.total
        ),
    ),
    DecisionCommand(
        "rerate",
        "rate a ticket again against the current book (or every held ticket with --held)",
        TicketBillingWorkflow.rerate,
        _rerate_options,
        lambda args, who: RerateInput(**who),
    ),
    DecisionCommand(
        "hold-line",
        "keep one charged line off the invoice while the rest posts (finance; reason required)",
        TicketBillingWorkflow.hold_line,
        _line_options,
        lambda args, who: LineInput(**who, source_id=args.source_id),
    ),
    DecisionCommand(
        "release-line",
        "release a held line: it is posted to the open invoice (finance)",
        TicketBillingWorkflow.release_line,
        _line_options,
        lambda args, who: LineInput(**who, source_id=args.source_id),
    ),
    DecisionCommand(
        "dispute-line",
        "dispute one line for the customer: only that line is blocked (reason required)",
        TicketBillingWorkflow.dispute_line,
        _line_options,
        lambda args, who: LineInput(**who, source_id=args.source_id),
    ),
    DecisionCommand(
        "resolve-line-dispute",
        "resolve a line's dispute: uphold, adjust or write off, with a reason code",
        TicketBillingWorkflow.resolve_line_dispute,
        _resolve_line_dispute_options,
        lambda args, who: ResolveLineDisputeInput(
            **who,
            source_id=args.source_id,
            outcome=args.outcome,
            reason_code=args.reason_code,
            quantity=args.quantity,
            unit_price=args.unit_price,
        ),
    ),
]


def add_decision_parsers(commands: argparse._SubParsersAction) -> None:
    for decision in DECISIONS:
        parser = commands.add_parser(
            decision.name,
            help=decision.help,
            description=f"{decision.help[0].upper()}{decision.help[1:]}. The ticket's workflow "
            "checks the role and reason, records the outcome in its history, and this command "
            f"prints it: 'accepted: ...' (exit 0) or 'refused: ...' (exit {EXIT_REFUSED}).",
        )
        decision.add_options(parser)
        _actor_options(parser)
        parser.set_defaults(run=run_decision, decision=decision)


def _actor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="a file holding your API token (default: the HDB_API_TOKEN environment variable); "
        "the decision is made as that token's name and role",
    )
    parser.add_argument("--reason", default="", metavar="TEXT", help="why (kept in the audit)")
    parser.add_argument(
        "--wait",
        type=wait_argument,
        default=DEFAULT_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait for the ticket's answer (default {DEFAULT_WAIT_SECONDS:g})",
    )


def _author(settings: Settings, args: argparse.Namespace, engine: Engine) -> tickets.DecisionAuthor:
    """Whom the decision is made as: the owner of the API token given, checked against the
    store's hashes like the API's. Access to the worker's host alone makes nobody a manager."""
    if args.token_file is not None:
        try:
            token = args.token_file.read_text().strip()
        except OSError as error:
            problem = f"cannot read --token-file {args.token_file}: {error.strerror}"
            raise CommandFailed(problem) from None
    else:
        token = (settings.api_token or "").strip()
    if not token:
        raise CommandFailed(
            "a decision needs an API token: set HDB_API_TOKEN or pass --token-file FILE "
            "(an admin issues one with `starter.py tokens add NAME --role ROLE`)"
        )
    owner = token_owner(engine, token)
    if owner is None:
        raise CommandFailed("the API token is unknown or revoked: ask an admin for a new one")
    return tickets.DecisionAuthor(owner.name, owner.role.value, owner.token_id)


def run_decision(args: argparse.Namespace) -> int:
    if getattr(args, "held", False):
        return run_async_command(lambda settings: decide_for_held_tickets(settings, args))
    return run_async_command(lambda settings: decide(settings, args))


async def decide(settings: Settings, args: argparse.Namespace) -> int:
    engine = open_review_store(settings)
    author = _author(settings, args, engine)
    client = await connect_client(settings)
    outcome = await send_decision(client, engine, args.ticket, args.decision, args, author)
    print(f"{outcome.outcome}: {outcome.detail}")
    return EXIT_REFUSED if outcome.outcome == "refused" else 0


async def decide_for_held_tickets(settings: Settings, args: argparse.Namespace) -> int:
    """One decision per held ticket, oldest hold first; a failure does not stop the rest."""
    engine = open_review_store(settings)
    author = _author(settings, args, engine)
    held = ticket_records(engine, statuses=[BillingStatus.HELD.value])
    if not held:
        print("no held tickets")
        return 0
    client = await connect_client(settings)
    exit_status = 0
    for record in held:
        try:
            outcome = await send_decision(
                client, engine, record.ticket_id, args.decision, args, author
            )
        except CommandFailed as error:
            print(f"{record.ticket_id}: error: {error}", file=sys.stderr)
            exit_status = EXIT_FAILED
            continue
        print(f"{record.ticket_id}: {outcome.outcome}: {outcome.detail}")
        if outcome.outcome == "refused" and exit_status == 0:
            exit_status = EXIT_REFUSED
    return exit_status


async def send_decision(
    client: Client,
    engine: Engine,
    ticket_id: str,
    decision: DecisionCommand,
    args: argparse.Namespace,
    author: tickets.DecisionAuthor,
) -> DecisionOutcome:
    """Signal the decision as ``author``; the outcome the ticket recorded for it."""
    who = {
        "actor": author.name,
        "role": author.role,
        "reason": args.reason,
        "requested_at": datetime.now(UTC),
        "request_id": uuid.uuid4().hex,
    }
    try:
        return await tickets.send_decision(
            client, engine, ticket_id, decision.signal, decision.build(args, who), author, args.wait
        )
    except tickets.TicketProblem as problem:
        raise CommandFailed(str(problem)) from None
