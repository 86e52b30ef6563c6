"""Scale-out (bench/scale_out.py, smaller): two workers and two API processes as deployed against
one dev server. The examples and 200 generated tickets, sent through both APIs' signed webhook,
all reach the state the preview gives, the ledger holds exactly the preview's lines, and both
workers did a share of the activities."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.temporal  # starts its own Temporal server

TICKETS = 200


def bench_scale_out() -> ModuleType:
    sys.path.insert(0, str(REPO / "bench"))
    spec = importlib.util.spec_from_file_location(
        "bench_scale_out", REPO / "bench" / "scale_out.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale_out"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


async def test_two_workers_and_two_apis_bill_the_examples_and_more_exactly_once(
    tmp_path: Path,
) -> None:
    scale_out = bench_scale_out()
    options = scale_out.Options(tickets=TICKETS, examples=True, timeout=600, work=tmp_path)
    started = time.monotonic()
    try:
        result = await scale_out.run_scale_out(options)
    finally:
        for process in list(scale_out._started):
            scale_out.stop_process_group(process, timeout=5)
    print(scale_out.render(result), f"\n(whole test {time.monotonic() - started:.0f}s)")

    assert result.problems == [], result.problems
    assert result.tickets > TICKETS  # the examples' tickets too
    assert result.lines_posted == result.lines_expected > 0
    assert result.duplicates == result.missing == result.wrong_status == 0
    # Both APIs took events, both workers ran activities, and no one else did.
    assert set(result.events_per_api) == {"api-1", "api-2"}
    assert min(result.events_per_api.values()) > 0
    total = sum(result.activities_per_worker.values())
    assert len(result.activities_per_worker) == 2
    assert all(count >= 0.2 * total for count in result.activities_per_worker.values())
    assert result.unknown_identities == {}
