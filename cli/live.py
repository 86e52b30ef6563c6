"""What every command that touches the live system shares: settings from the environment, a
Temporal client, the review store, and one place that turns failures into ``error: ...`` lines.

A live command never shows a traceback: a problem people can fix (bad settings, Temporal or the
store unreachable, a ticket that cannot take a decision) is one message and exit status 1.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from temporalio.client import Client
from temporalio.exceptions import TemporalError

from runtime.client import ConnectionProblem, connect
from runtime.telemetry import TelemetryError, configure_tracing
from settings import Settings, SettingsError
from store.database import open_store

EXIT_FAILED = 1
CLI_SERVICE_NAME = "helpdesk-billing-cli"


class CommandFailed(Exception):
    """The command could not do its job; the message says what is wrong and what to do."""


async def connect_client(settings: Settings, *, traced: bool = False) -> Client:
    """A Temporal client; ``traced`` carries the caller's spans into the workflows it signals."""
    interceptor = configure_tracing(settings, CLI_SERVICE_NAME) if traced else None
    return await connect(settings, [interceptor] if interceptor else None)


def shown_database_url(database_url: str) -> str:
    """The store URL with any password masked, so it can go into an error message."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def open_review_store(settings: Settings) -> Engine:
    try:
        return open_store(settings.database_url)
    except (SQLAlchemyError, ImportError, OSError) as error:
        raise CommandFailed(
            f"cannot open the review store {shown_database_url(settings.database_url)}: "
            f"{error}. Check HDB_DATABASE_URL"
        ) from None


def run_command(body: Callable[[Settings], int]) -> int:
    """Load settings, run ``body``, and turn every expected failure into one message."""
    try:
        return body(Settings.from_environment())
    except (SettingsError, ConnectionProblem, TelemetryError, CommandFailed) as error:
        return _failed(str(error))
    except TemporalError as error:
        # An RPC failure mid-command (the server went away, a query timed out, ...).
        return _failed(f"Temporal could not complete the request: {error}")
    except SQLAlchemyError as error:
        return _failed(f"the review store could not complete the request: {error}")
    finally:
        # Free any Temporal client now, while the interpreter is whole: left to interpreter
        # shutdown, its Rust threads can abort the process ("Fatal Python error:
        # PyGILState_Release", temporalio/sdk-python#300); about one ingest in four did.
        gc.collect()


def run_async_command(body: Callable[[Settings], Coroutine[Any, Any, int]]) -> int:
    """``run_command`` for a coroutine: the CLI is synchronous, the Temporal client is not."""
    return run_command(lambda settings: asyncio.run(body(settings)))


def _failed(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_FAILED
