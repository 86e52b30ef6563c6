"""The chaos campaign's short form (bench/chaos.py --short): 150 tickets through a real dev
server while the worker is SIGKILLed twice, the billing adapter fails 20 % of its calls (500s,
429s, timeouts and replies lost after the post was done) and the dev server is restarted once
on its SQLite file. Afterwards every ticket is in the state the preview gives and the ledger
holds exactly the preview's lines: none twice, none missing."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.temporal  # starts its own Temporal server


def bench_chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_chaos", REPO / "bench" / "chaos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_chaos"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


async def test_chaos_short_form_bills_every_ticket_exactly_once(tmp_path: Path) -> None:
    chaos = bench_chaos()
    options = chaos.short_options(work=tmp_path)
    started = time.monotonic()
    try:
        result = await chaos.run_campaign(options)
    finally:
        for process in list(chaos._started):
            chaos.stop_process_group(process, timeout=5)
    print(chaos.render(result, options), f"\n(whole test {time.monotonic() - started:.0f}s)")

    assert result.problems == [], result.problems
    assert result.tickets == 150
    assert result.lines_posted == result.lines_expected > 0
    assert result.duplicates == result.missing == result.wrong_status == 0
    # The chaos really happened, and while there was work to disturb.
    assert result.kills == 2
    assert any(count < result.tickets for count in result.settled_at_kills)
    assert result.server_restarts == 1 and result.worker_survived_restart
    assert result.failures_injected.get("lost_reply", 0) > 0
    assert {"unavailable", "throttled", "timeout"} <= set(result.failures_injected)
