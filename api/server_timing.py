"""The server's time for each response, in a ``Server-Timing`` header (``app;dur=12.3``,
milliseconds): browsers show it in their developer tools next to the network time, so an
operator can tell a slow page from a slow network, and the browser tests read it to hold the
queue pages to their bar (under a second at a month's volume).

Measured from the request's arrival to the start of the response: a page is rendered whole
before it is sent, so that is its server time. A monotonic clock, never the wall clock."""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - started) * 1000
                MutableHeaders(scope=message)["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
            await send(message)

        await self.app(scope, receive, send_with_timing)
