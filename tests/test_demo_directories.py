"""The demo's first step: an empty embedded help desk or billing directory is filled from the
examples' CSV files, so `customers match` right after `make demo` finds the customers the demo
bills. Against a fresh SQLite store, through `customers match` as a user runs it; no Temporal."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cli import customers_command, demo_command
from store.database import open_store
from store.directory import billing_customers, helpdesk_orgs, upsert_helpdesk_orgs
from tests.conftest import EXAMPLES


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("HDB_DATABASE_URL", url)
    monkeypatch.setenv("HDB_BOOK_PATH", str(EXAMPLES / "book.toml"))
    return url


def match_report(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    parser = argparse.ArgumentParser(prog="starter.py")
    customers_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["customers", "match", "--json"])
    capsys.readouterr()
    args.run(args)
    return json.loads(capsys.readouterr().out)


def test_a_fresh_store_gets_the_example_directories_and_match_finds_every_billed_customer(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = match_report(capsys)
    assert before["summary"]["conflicts"] == 6  # every book entry "missing": what users saw
    engine = open_store(database_url)
    assert demo_command.seed_example_directories(engine) == [
        "help desk organizations: 4 imported from helpdesk_orgs.csv",
        "billing customers: 4 imported from billing_customers.csv",
    ]
    report = match_report(capsys)
    assert [(m["helpdesk_id"], m["billing_id"]) for m in report["matched"]] == [
        ("org-100", "CUST-9001"),
        ("org-200", "CUST-9002"),
        ("org-300", "CUST-9003"),
    ]
    # Left: the one conflict the examples keep on purpose (a billing customer named like
    # org-100 under another ID), nothing about the customers the demo bills.
    assert [c["kind"] for c in report["conflicts"]] == ["same_name_different_ids"]
    assert report["conflicts"][0]["billing_ids"] == ["CUST-9011"]


def test_a_directory_someone_filled_is_left_alone(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = open_store(database_url)
    upsert_helpdesk_orgs(engine, [("org-100", "Acme Dental Group")])
    assert demo_command.seed_example_directories(engine) == [
        "billing customers: 4 imported from billing_customers.csv",
    ]
    assert helpdesk_orgs(engine) == [("org-100", "Acme Dental Group")]
    assert len(billing_customers(engine)) == 4
    assert demo_command.seed_example_directories(engine) == []  # a second demo does nothing
