"""The ``mail_server`` fixture: start real SMTP servers on loopback (tests/mail_server.py) and
stop them after the test. tests/conftest.py imports it, so every test may ask for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mail_server import MailServer

StartMailServer = Callable[..., MailServer]


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[StartMailServer]:
    """``mail_server(**options)`` starts a ``MailServer`` (options: starttls, tls, auth,
    refuse_rcpt, fail_data) and returns it; every one started is stopped at the end."""
    started: list[MailServer] = []

    def start(**options: Any) -> MailServer:
        server = MailServer(tmp_path / f"mail-server-{len(started)}", **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
