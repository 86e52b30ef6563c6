"""``customers``: the customer match report (help desk organizations against billing customers
through the book, by stable ID only) and the import that seeds the embedded directories."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence

from billing.book import BillingBook
from billing.customer_match import Conflict, CustomerMatch, UnmatchedEntry, match_customers
from billing.problems import Problem
from cli.input_files import EXIT_BAD_INPUT, InputError, read_book, read_text
from cli.live import open_review_store, run_command
from cli.tables import render_table
from connectors.billing import BillingCustomer
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from connectors.helpdesk import Organization
from settings import Settings
from store.directory import UpsertCounts, upsert_billing_customers, upsert_helpdesk_orgs

EXIT_CONFLICTS = 3
HELPDESK_FILE = "help desk organizations file"
BILLING_FILE = "billing customers file"

# Wrapped by hand: the raw formatter keeps the exit status table's layout.
_MATCH_DESCRIPTION = """\
Compare the help desk's organizations with billing's customers through the billing
book's [[customers]] mapping, by stable ID only:

  MATCHED                     book entries whose help desk ID and billing ID both exist
  UNMATCHED IN THE HELP DESK  organizations the book does not map
  UNMATCHED IN BILLING        billing customers no book entry maps to
  CONFLICTS                   billing_id_missing, helpdesk_id_missing (a book entry names
                              an ID the system does not have), shared_billing_customer
                              (several organizations mapped to one billing customer),
                              same_name_different_ids (an organization and a billing
                              customer with the same name, ignoring case and spaces, that
                              the book does not map to each other)

Names are never used to match. Fill the embedded directories with `customers import`.
"""

_MATCH_EPILOG = """\
exit status:
  0  no conflicts (unmatched organizations or customers alone are not conflicts)
  3  conflicts to resolve (listed under CONFLICTS, each with what to do)
  2  the billing book cannot be read
  1  the settings or the review store cannot be used
"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "customers",
        help="match help desk organizations with billing customers; import their directories",
        description="Compare the help desk's organizations with the billing system's customers "
        "through the billing book's [[customers]] mapping, by stable ID only: names never "
        "match. `import` seeds the embedded help desk and billing directories from CSV files.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    match = actions.add_parser(
        "match",
        help="report matched, unmatched and conflicting customers (exit 3 on conflicts)",
        description=_MATCH_DESCRIPTION,
        epilog=_MATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    match.add_argument(
        "--book",
        metavar="FILE",
        help="the billing book (default: HDB_BOOK_PATH, else examples/book.toml)",
    )
    match.add_argument("--json", action="store_true", help="print the report as JSON")
    match.set_defaults(run=run_match)

    seed = actions.add_parser(
        "import",
        help="add or rename help desk organizations and billing customers from CSV files",
        description="Seed the embedded help desk's organizations (--helpdesk) and the embedded "
        "billing system's customers (--billing) from CSV files with a header line `id,name` "
        "(other columns are ignored; quote a name that contains a comma). New IDs are added, "
        "changed names are updated, and nothing is removed. Every file is checked first: if "
        "any line is bad, nothing is imported (exit status 2).",
    )
    seed.add_argument("--helpdesk", metavar="FILE", help="help desk organizations (CSV: id,name)")
    seed.add_argument("--billing", metavar="FILE", help="billing customers (CSV: id,name)")
    seed.set_defaults(run=run_import)


# --- match ---------------------------------------------------------------------------------


def run_match(args: argparse.Namespace) -> int:
    return run_command(lambda settings: show_match(settings, args))


def show_match(settings: Settings, args: argparse.Namespace) -> int:
    book_path = args.book or str(settings.book_path)
    try:
        book = read_book(book_path)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    engine = open_review_store(settings)
    organizations = EmbeddedHelpdesk(engine).list_organizations()
    customers = EmbeddedLedger(engine).list_customers()
    for note in empty_directory_notes(organizations, customers):
        print(f"note: {note}", file=sys.stderr)
    result = match_customers(organizations, customers, book)
    if args.json:
        print(json.dumps(match_document(result, book_path), indent=2, ensure_ascii=False))
    else:
        print(render_match(result, book))
    return EXIT_CONFLICTS if result.has_conflicts else 0


def empty_directory_notes(
    organizations: Sequence[Organization], customers: Sequence[BillingCustomer]
) -> list[str]:
    """An empty directory makes every book entry a conflict: say why, and how to fill it."""
    notes = []
    if not organizations:
        notes.append(
            "the help desk has no organizations yet; import them with "
            "`starter.py customers import --helpdesk FILE`"
        )
    if not customers:
        notes.append(
            "billing has no customers yet; import them with "
            "`starter.py customers import --billing FILE`"
        )
    return notes


def _conflict_document(conflict: Conflict) -> dict[str, object]:
    return {
        "kind": conflict.kind.value,
        "message": conflict.message,
        "action": conflict.action,
        "helpdesk_ids": list(conflict.helpdesk_ids),
        "billing_ids": list(conflict.billing_ids),
    }


def _entries_document(entries: Sequence[UnmatchedEntry]) -> list[dict[str, str]]:
    return [{"id": entry.id, "name": entry.name} for entry in entries]


def match_document(result: CustomerMatch, book_path: str) -> dict[str, object]:
    return {
        "book": book_path,
        "matched": [
            {
                "helpdesk_id": matched.helpdesk_id,
                "billing_id": matched.billing_id,
                "book_name": matched.book_name,
                "helpdesk_name": matched.helpdesk_name,
                "billing_name": matched.billing_name,
                "contract": matched.contract,
            }
            for matched in result.matched
        ],
        "unmatched_helpdesk": _entries_document(result.unmatched_helpdesk),
        "unmatched_billing": _entries_document(result.unmatched_billing),
        "conflicts": [_conflict_document(conflict) for conflict in result.conflicts],
        "summary": {
            "matched": len(result.matched),
            "unmatched_helpdesk": len(result.unmatched_helpdesk),
            "unmatched_billing": len(result.unmatched_billing),
            "conflicts": len(result.conflicts),
        },
    }


def _section(title: str, count: int, hint: str, body: str) -> str:
    heading = f"{title} ({count})" + (f": {hint}" if count and hint else "")
    return f"{heading}\n{body if count else '  none'}"


def _entries_table(entries: Sequence[UnmatchedEntry]) -> str:
    return render_table(["ID", "NAME"], [[entry.id, entry.name] for entry in entries])


def render_match(result: CustomerMatch, book: BillingBook) -> str:
    matched = render_table(
        ["HELP DESK", "BILLING", "BOOK NAME", "HELP DESK NAME", "BILLING NAME", "CONTRACT"],
        [
            [
                m.helpdesk_id,
                m.billing_id,
                m.book_name,
                m.helpdesk_name,
                m.billing_name,
                m.contract or "(none)",
            ]
            for m in result.matched
        ],
    )
    conflicts = "\n".join(
        f"{conflict.kind.value}: {conflict.message}. To do: {conflict.action}."
        for conflict in result.conflicts
    )
    sections = [
        _section("MATCHED", len(result.matched), "", matched),
        _section(
            "UNMATCHED IN THE HELP DESK",
            len(result.unmatched_helpdesk),
            "not in the book, so their tickets are held (unknown_customer); to bill one, "
            "add a [[customers]] entry with its helpdesk_id",
            _entries_table(result.unmatched_helpdesk),
        ),
        _section(
            "UNMATCHED IN BILLING",
            len(result.unmatched_billing),
            "no book entry maps to them; nothing to do unless a help desk organization "
            "should be billed to one",
            _entries_table(result.unmatched_billing),
        ),
        _section(
            "CONFLICTS", len(result.conflicts), "resolve each in the book or a system", conflicts
        ),
    ]
    count = len(result.conflicts)
    summary = (
        f"{len(book.customers)} book entries: {len(result.matched)} matched, "
        f"{len(result.unmatched_helpdesk)} unmatched in the help desk, "
        f"{len(result.unmatched_billing)} unmatched in billing, "
        f"{count} conflict{'s' if count != 1 else ''}."
    )
    return "\n\n".join([*sections, summary])


# --- import --------------------------------------------------------------------------------


def run_import(args: argparse.Namespace) -> int:
    if not args.helpdesk and not args.billing:
        print("error: give --helpdesk FILE, --billing FILE or both", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        # Every file is read and checked before anything is written.
        helpdesk = read_directory_csv(args.helpdesk, HELPDESK_FILE) if args.helpdesk else None
        billing = read_directory_csv(args.billing, BILLING_FILE) if args.billing else None
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        print("nothing was imported: fix the file and run again", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_command(lambda settings: import_directories(settings, args, helpdesk, billing))


def import_directories(
    settings: Settings,
    args: argparse.Namespace,
    helpdesk: list[tuple[str, str]] | None,
    billing: list[tuple[str, str]] | None,
) -> int:
    engine = open_review_store(settings)
    if helpdesk is not None:
        counts = upsert_helpdesk_orgs(engine, helpdesk)
        print(f"help desk organizations from {args.helpdesk}: {_counts_text(counts)}")
    if billing is not None:
        counts = upsert_billing_customers(engine, billing)
        print(f"billing customers from {args.billing}: {_counts_text(counts)}")
    return 0


def _counts_text(counts: UpsertCounts) -> str:
    return f"{counts.added} added, {counts.renamed} renamed, {counts.unchanged} unchanged"


def read_directory_csv(path: str, what: str) -> list[tuple[str, str]]:
    """(ID, name) rows of a directory CSV; ``InputError`` naming the file and every bad line."""
    text = read_text(path, what, encoding="utf-8-sig")  # -sig: spreadsheets write a BOM
    rows, problems = parse_directory_csv(text)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        listing = "\n".join(f"  {problem}" for problem in problems)
        raise InputError(f"{what} {path!r} has {count}:\n{listing}")
    return rows


def parse_directory_csv(text: str) -> tuple[list[tuple[str, str]], list[Problem]]:
    """Rows and problems of CSV text with a header naming ``id`` and ``name`` columns."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[tuple[str, str]] = []
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    line = 1
    try:
        for cells in reader:
            # A quoted name may span lines: a record starts after the previous one ended.
            start, line = line, reader.line_num + 1
            where = f"line {start}"
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip().casefold() for cell in cells]
                missing = [column for column in ("id", "name") if column not in header]
                if missing or len(set(header)) != len(header):
                    problems.append(
                        Problem(
                            where,
                            f"expected a header line naming the columns id,name, got "
                            f"{','.join(cells)!r}",
                        )
                    )
                    return [], problems
                continue
            if len(cells) != len(header):
                problems.append(
                    Problem(
                        where,
                        f"expected {len(header)} fields ({','.join(header)}), got {len(cells)}"
                        + (": quote a name that contains a comma" if len(cells) > 2 else ""),
                    )
                )
                continue
            record = dict(zip(header, (cell.strip() for cell in cells), strict=True))
            id_, name = record["id"], record["name"]
            if not id_:
                problems.append(Problem(where, "id is empty"))
            if not name:
                problems.append(Problem(where, "name is empty"))
            if not id_ or not name:
                continue
            if id_ in first_line:
                problems.append(Problem(where, f"id {id_!r} is already on line {first_line[id_]}"))
                continue
            first_line[id_] = start
            rows.append((id_, name))
    except csv.Error as error:
        # Reported where the bad record starts: an unclosed quote runs to the end of the file.
        problems.append(Problem(f"line {line}", f"not valid CSV ({error}); check its quotes"))
    if header is None and not problems:
        problems.append(Problem("line 1", "the file is empty: expected a header line id,name"))
    return rows, problems
