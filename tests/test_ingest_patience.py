"""A batch ingest keeps delivering while the server is briefly unavailable (a restart, a
failover), for as long as its patience; anything else, or a longer outage, is reported."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.service import RPCError, RPCStatusCode

from intake.delivery import _patiently


class Flaky:
    def __init__(self, failures: list[RPCStatusCode]) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.failures:
            raise RPCError("server said no", self.failures.pop(0), b"")


async def test_an_unavailable_server_is_waited_for_within_the_patience() -> None:
    send = Flaky([RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED])
    await _patiently(send, timedelta(seconds=30))
    assert send.calls == 3


async def test_without_patience_or_for_other_errors_the_error_is_raised_at_once() -> None:
    send = Flaky([RPCStatusCode.UNAVAILABLE])
    with pytest.raises(RPCError):
        await _patiently(send, timedelta(0))
    assert send.calls == 1
    refused = Flaky([RPCStatusCode.INVALID_ARGUMENT])
    with pytest.raises(RPCError):
        await _patiently(refused, timedelta(seconds=30))
    assert refused.calls == 1
