"""Shared test fixtures: paths to the repository's examples, the loaded example book, and an
empty store on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from billing.book import BillingBook, parse_book
from devtools.local_postgres import LocalPostgres, local_postgres
from tests.mail_fixtures import mail_server  # noqa: F401  (a real SMTP server, for every test)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def example_book() -> BillingBook:
    return parse_book((EXAMPLES / "book.toml").read_text(), source="examples/book.toml")


# ---- the store on both databases ---------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[LocalPostgres]:
    """One throwaway PostgreSQL 15 cluster for the session (about 2 s to start)."""
    with local_postgres() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store's URL, once on SQLite and once on a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    cluster: LocalPostgres = request.getfixturevalue("postgres_cluster")
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield cluster.url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


# ---- which tests start a Temporal server -------------------------------------------------------

# The Temporal servers (the time-skipping test server and `temporal server start-dev`) are Go
# binaries, which libfaketime cannot shift, so `make test-shifted-clocks` runs everything else:
# `pytest -m "not temporal"`. A test is marked when it uses one of these fixtures (directly or
# through another fixture); a module that starts a server itself says so with
# `pytestmark = pytest.mark.temporal`.
TEMPORAL_FIXTURES = frozenset({"time_env", "dev_server", "dev_client"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "temporal: starts a Temporal server (a Go binary: not run under shifted clocks)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TEMPORAL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.temporal)
