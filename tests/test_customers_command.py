"""`starter.py customers import` and `customers match` as a user runs them, against a temporary
SQLite store: the example directories, the report's sections and exit statuses, and clear
one-line errors for bad files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cli import customers_command
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from connectors.helpdesk import Organization
from store.database import open_store
from tests.conftest import EXAMPLES

BOOK = str(EXAMPLES / "book.toml")
HELPDESK_CSV = str(EXAMPLES / "helpdesk_orgs.csv")
BILLING_CSV = str(EXAMPLES / "billing_customers.csv")


@pytest.fixture
def database_url(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = store_url
    monkeypatch.setenv("HDB_DATABASE_URL", url)
    monkeypatch.setenv("HDB_BOOK_PATH", BOOK)
    return url


def customers(*argv: str) -> int:
    """``starter.py customers ARGV`` through the command's own parser."""
    parser = argparse.ArgumentParser(prog="starter.py")
    customers_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["customers", *argv])
    return args.run(args)


def import_examples() -> None:
    assert customers("import", "--helpdesk", HELPDESK_CSV, "--billing", BILLING_CSV) == 0


def test_import_adds_then_renames_and_is_repeatable(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_examples()
    assert capsys.readouterr().out.splitlines() == [
        f"help desk organizations from {HELPDESK_CSV}: 4 added, 0 renamed, 0 unchanged",
        f"billing customers from {BILLING_CSV}: 4 added, 0 renamed, 0 unchanged",
    ]
    renamed = tmp_path / "orgs.csv"
    renamed.write_text("id,name\norg-100,Acme Dental Group\norg-500,Fir Tree Accounting\n")
    assert customers("import", "--helpdesk", str(renamed)) == 0
    assert "1 added, 1 renamed, 0 unchanged" in capsys.readouterr().out
    organizations = EmbeddedHelpdesk(open_store(database_url)).list_organizations()
    assert organizations[0] == Organization("org-100", "Acme Dental Group")
    assert [org.id for org in organizations] == [
        "org-100",
        "org-200",
        "org-300",
        "org-400",
        "org-500",
    ]


def test_the_example_report_groups_every_section_and_exits_3_on_conflicts(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import_examples()
    capsys.readouterr()
    assert customers("match") == customers_command.EXIT_CONFLICTS
    out = capsys.readouterr().out
    sections = {block.split("\n", 1)[0].split(" (")[0]: block for block in out.split("\n\n")}
    assert "MATCHED (3)" in sections["MATCHED"]
    for helpdesk_id, billing_id in (
        ("org-100", "CUST-9001"),
        ("org-200", "CUST-9002"),
        ("org-300", "CUST-9003"),
    ):
        assert any(
            row.split()[:2] == [helpdesk_id, billing_id] for row in sections["MATCHED"].splitlines()
        )
    assert "org-400  Dogwood Animal Hospital" in sections["UNMATCHED IN THE HELP DESK"]
    assert "CUST-9011  ACME DENTAL" in sections["UNMATCHED IN BILLING"]
    conflict_lines = sections["CONFLICTS"].splitlines()[1:]
    assert len(conflict_lines) == 1
    assert conflict_lines[0].startswith("same_name_different_ids: help desk org-100")
    assert "CUST-9011" in conflict_lines[0] and "To do: " in conflict_lines[0]
    assert out.rstrip().endswith(
        "3 matched, 1 unmatched in the help desk, 1 unmatched in billing, 1 conflict."
    )


def test_json_report(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import_examples()
    capsys.readouterr()
    assert customers("match", "--json", "--book", BOOK) == customers_command.EXIT_CONFLICTS
    report = json.loads(capsys.readouterr().out)
    assert [(m["helpdesk_id"], m["billing_id"]) for m in report["matched"]] == [
        ("org-100", "CUST-9001"),
        ("org-200", "CUST-9002"),
        ("org-300", "CUST-9003"),
    ]
    assert report["unmatched_helpdesk"] == [{"id": "org-400", "name": "Dogwood Animal Hospital"}]
    assert report["unmatched_billing"] == [{"id": "CUST-9011", "name": "ACME DENTAL"}]
    [conflict] = report["conflicts"]
    assert conflict["kind"] == "same_name_different_ids"
    assert (conflict["helpdesk_ids"], conflict["billing_ids"]) == (["org-100"], ["CUST-9011"])
    assert report["summary"] == {
        "matched": 3,
        "unmatched_helpdesk": 1,
        "unmatched_billing": 1,
        "conflicts": 1,
    }


def test_no_conflicts_exits_0(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    billing = tmp_path / "billing.csv"
    billing.write_text("id,name\nCUST-9001,Acme\nCUST-9002,Birch\nCUST-9003,Cedar\nCUST-7,Other\n")
    assert customers("import", "--helpdesk", HELPDESK_CSV, "--billing", str(billing)) == 0
    assert customers("match") == 0
    out = capsys.readouterr().out
    assert "CONFLICTS (0)\n  none" in out
    assert "UNMATCHED IN BILLING (1)" in out  # unmatched alone is not a conflict


def test_an_empty_store_says_what_to_import(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert customers("match") == customers_command.EXIT_CONFLICTS
    captured = capsys.readouterr()
    assert "note: the help desk has no organizations yet" in captured.err
    assert "note: billing has no customers yet" in captured.err
    assert "billing_id_missing" in captured.out and "helpdesk_id_missing" in captured.out


def test_a_missing_csv_is_exit_2_naming_the_file(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert customers("import", "--billing", "no/such.csv") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: billing customers file 'no/such.csv' does not exist\n")
    assert "Traceback" not in err


def test_a_malformed_csv_names_file_and_lines_and_imports_nothing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "orgs.csv"
    bad.write_text(
        "id,name\norg-1,Acme\n\norg-2,\norg-1,Acme again\norg-3,Birch, Legal\n,Nameless\n"
    )
    # The good billing file is not imported either: every file is checked first.
    assert customers("import", "--billing", BILLING_CSV, "--helpdesk", str(bad)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"error: help desk organizations file {str(bad)!r} has 4 problems:",
        "  line 4: name is empty",
        "  line 5: id 'org-1' is already on line 2",
        "  line 6: expected 2 fields (id,name), got 3: quote a name that contains a comma",
        "  line 7: id is empty",
        "nothing was imported: fix the file and run again",
    ]
    engine = open_store(database_url)
    assert EmbeddedHelpdesk(engine).list_organizations() == []
    assert EmbeddedLedger(engine).list_customers() == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "line 1: the file is empty: expected a header line id,name"),
        ("org-1,Acme\n", "line 1: expected a header line naming the columns id,name"),
        ('id,name\norg-1,"Acme\n', "line 2: not valid CSV"),
    ],
)
def test_a_file_that_is_not_a_directory_csv(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    problem: str,
) -> None:
    path = tmp_path / "orgs.csv"
    path.write_text(text)
    assert customers("import", "--helpdesk", str(path)) == 2
    assert f"  {problem}" in capsys.readouterr().err


def test_extra_columns_a_bom_and_quoted_names_are_read(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes('\ufeffName,ID,Phone\r\n"Birch, Legal",org-2,555\r\n'.encode())
    assert customers("import", "--helpdesk", str(path)) == 0
    engine = open_store(database_url)
    assert EmbeddedHelpdesk(engine).list_organizations() == [Organization("org-2", "Birch, Legal")]


def test_import_needs_a_file(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert customers("import") == 2
    assert "give --helpdesk FILE, --billing FILE or both" in capsys.readouterr().err


def test_a_bad_book_is_exit_2(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(Path(BOOK).read_text().replace('billing_id = "CUST-9001"', ""))
    assert customers("match", "--book", str(book)) == 2
    err = capsys.readouterr().err
    assert "customers[0].billing_id" in err and "Traceback" not in err


def test_an_unusable_store_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HDB_DATABASE_URL", "nosuchdb://nowhere")
    assert customers("match", "--book", BOOK) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open the review store") and err.count("\n") == 1


def test_the_embedded_ledger_still_accepts_customers_as_before(database_url: str) -> None:
    engine = open_store(database_url)
    import_examples()
    assert EmbeddedLedger(engine).customer_exists("CUST-NOT-IN-DIRECTORY")
    only_known = EmbeddedLedger(engine, known_customers={"CUST-9001"})
    assert not only_known.customer_exists("CUST-9002")  # the directory does not widen it
    assert [customer.id for customer in only_known.list_customers()] == [
        "CUST-9001",
        "CUST-9002",
        "CUST-9003",
        "CUST-9011",
    ]
