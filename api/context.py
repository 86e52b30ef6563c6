"""What every request handler needs: settings, the review store, Temporal (connected on first
use, so the API starts and answers 503 while Temporal is down), and the caller."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import Header, Request
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.security import Principal, Unauthorized, authenticate, bearer_token, secret
from runtime.client import ConnectionProblem, connect
from settings import Settings
from store.book_source import BookSource

# How long a request waits on Temporal before answering 503: a help desk retries, a person
# reloads; neither should hang.
TEMPORAL_TIMEOUT = timedelta(seconds=5)
RETRY_AFTER_SECONDS = 5


class TemporalUnavailable(Exception):
    """Temporal cannot be reached now: the caller gets 503 with Retry-After."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiContext:
    settings: Settings
    engine: Engine
    webhook_secret: str
    signing_key: str
    # The book, as the reports page reads it: reloaded only when its file changes.
    book: BookSource
    # The clock the pages read "today" and ages from (tests pass a fixed one).
    now: Callable[[], datetime] = wall_clock
    _client: Client | None = None
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def build(
        cls,
        settings: Settings,
        engine: Engine,
        client: Client | None = None,
        now: Callable[[], datetime] = wall_clock,
    ) -> ApiContext:
        return cls(
            settings=settings,
            engine=engine,
            webhook_secret=secret(settings, "webhook_secret"),
            signing_key=secret(settings, "signing_key"),
            book=BookSource(settings.book_path),
            now=now,
            _client=client,
        )

    async def temporal(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        connect(self.settings), TEMPORAL_TIMEOUT.total_seconds()
                    )
                except (ConnectionProblem, TimeoutError) as error:
                    raise TemporalUnavailable(str(error) or "Temporal did not answer") from None
        return self._client


def context_of(request: Request) -> ApiContext:
    return request.app.state.context  # type: ignore[no-any-return]


def caller(request: Request, authorization: str | None = Header(default=None)) -> Principal:
    """The bearer token's owner (the pages read their own signed session instead)."""
    return authenticate(context_of(request).engine, bearer_token(authorization))


__all__ = ["ApiContext", "TemporalUnavailable", "Unauthorized", "caller", "context_of"]
