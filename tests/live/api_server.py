"""The real app for page tests: uvicorn on a free loopback port in a background thread, in
front of a real worker (``running_stack``) on the session's dev server.

The app gets its own Temporal client (it connects on first use, in uvicorn's event loop) and
shares the stack's store, so a test can look at the ledger and the audit log directly.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.app import create_app
from billing.roles import Role
from devtools.dev_server import DevServer, free_port
from settings import Settings
from store.database import open_store
from store.tokens import issue_token
from tests.live.stack import BillingStack, running_stack
from tests.rated_store import EXAMPLES, EXAMPLES_NOW, seed_examples

START_TIMEOUT_SECONDS = 10


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1:``port`` until the block ends; its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class ServedStack:
    """A worker and the app in front of it; ``token(role)`` is an API token for that role."""

    url: str
    stack: BillingStack
    settings: Settings
    tokens: dict[Role, str] = field(default_factory=dict)

    def token(self, role: Role) -> str:
        if role not in self.tokens:
            self.tokens[role] = issue_token(self.stack.engine, f"{role.value}-person", role)
        return self.tokens[role]


@asynccontextmanager
async def served_stack(
    dev_server: DevServer,
    dev_client: Client,
    directory: Path,
    book: str,
    now: Callable[[], datetime] | None = None,
) -> AsyncIterator[ServedStack]:
    """A worker billing with ``book`` (TOML text) and the app serving pages in front of it;
    ``now`` is the app's clock (default the wall clock)."""
    book_path = directory / "book.toml"
    book_path.write_text(book)
    async with running_stack(dev_client, directory, book_path) as stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = stack.settings.model_copy(
            update={
                "temporal_address": dev_server.address,
                "secrets_dir": directory / "secrets",
                "public_url": url,
            }
        )
        app = (
            create_app(settings, engine=stack.engine)
            if now is None
            else create_app(settings, engine=stack.engine, now=now)
        )
        with serving(app, port):
            yield ServedStack(url, stack, settings)


async def post_login(http: httpx.AsyncClient, token: str) -> httpx.Response:
    """Fill in the login form as a browser does: load it, then post it with its CSRF value."""
    form = await http.get("/login")
    return await http.post(
        "/login", data={"token": token, "login_csrf": hidden(form.text, "login_csrf")}
    )


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"the page has no {name} field"
    return match.group(1)


@dataclass
class ServedStore:
    """The app over a store alone (no worker): pages that only read, such as the reports."""

    url: str
    engine: Engine
    issued: int = 0

    def token(self, role: Role) -> str:
        self.issued += 1
        return issue_token(self.engine, f"{role.value}-{self.issued}", role)


@contextmanager
def served_examples(
    directory: Path, now: Callable[[], datetime] = lambda: EXAMPLES_NOW
) -> Iterator[ServedStore]:
    """The example tickets recorded the worker's way (two posted), served on a free port by an
    app whose "today" is ``now()`` (by default the end of the examples' month)."""
    url = f"sqlite:///{directory / 'store.db'}"
    engine = open_store(url)
    seed_examples(engine)
    settings = Settings(
        database_url=url,
        book_path=EXAMPLES / "book.toml",
        secrets_dir=directory / "secrets",
        otel_exporter="none",
    )
    with serving(create_app(settings, engine=engine, now=now), free_port()) as base:
        yield ServedStore(base, engine)
    engine.dispose()
