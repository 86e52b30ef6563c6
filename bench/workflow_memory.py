"""Benchmark: what one sandboxed run of a ticket workflow holds before it does anything.

    .venv/bin/python bench/workflow_memory.py [--runs 200]

Temporal's sandbox imports a workflow's module afresh for every run it creates, and a worker
keeps up to HDB_WORKER_MAX_CACHED_WORKFLOWS runs in memory, so this is paid per cached ticket.
It creates ``--runs`` instances of ``TicketBillingWorkflow`` and of bench/live.py's baseline
workflow, as worker.py does (the SDK's sandbox runner, the workflow code compiled once by
runtime/shared_workflow_code.py), and reports the Python heap each run holds (tracemalloc,
after a collection), and how much of ours is the class body: its handlers and methods, defined
again in every run. bench/live.py's peak RSS gap against its baseline is this plus each ticket's
state, plus what Python's and the SDK's own allocators keep (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import temporalio.converter
import temporalio.workflow
from baseline_workflow import BaselineTicketWorkflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _fake_info

from runtime.shared_workflow_code import share_workflow_code
from workflows.ticket_billing import TicketBillingWorkflow


def instance_details(workflow_class: type) -> WorkflowInstanceDetails:
    """What the SDK's own SandboxedWorkflowRunner.prepare_workflow builds for a trial run."""
    converter = temporalio.converter.DataConverter.default
    return WorkflowInstanceDetails(
        payload_converter_factory=converter._new_payload_converter,
        failure_converter_class=converter.failure_converter_class,
        interceptor_classes=[],
        defn=temporalio.workflow._Definition.must_from_class(workflow_class),
        info=_fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )


def created_runs(workflow_class: type, runs: int) -> list[WorkflowInstance]:
    runner, details = SandboxedWorkflowRunner(), instance_details(workflow_class)

    async def create() -> list[WorkflowInstance]:  # instances are made on a running loop
        return [runner.create_instance(details) for _ in range(runs)]

    return asyncio.run(create())


def heap_per_run(workflow_class: type, runs: int) -> tuple[float, float]:
    """KiB of Python heap each run holds, and how much of that its module's ``@workflow.defn``
    and ``class`` statement allocated (the class body: handlers, methods, their definitions)."""
    source = inspect.getsourcefile(workflow_class)
    lines, first = inspect.getsourcelines(workflow_class)  # from the decorator
    class_line = first + next(n for n, line in enumerate(lines) if line.startswith("class"))
    statement = range(first, class_line + 1)
    created_runs(workflow_class, 3)  # first-run imports and caches are not per run
    gc.collect()
    tracemalloc.start(25)
    before = tracemalloc.take_snapshot()
    held = created_runs(workflow_class, runs)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = body = 0
    for difference in after.compare_to(before, "traceback"):
        total += difference.size_diff
        if any(f.filename == source and f.lineno in statement for f in difference.traceback):
            body += difference.size_diff
    del held
    return total / runs / 1024, body / runs / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    share_workflow_code([TicketBillingWorkflow, BaselineTicketWorkflow])  # as worker.py
    for workflow_class in (BaselineTicketWorkflow, TicketBillingWorkflow):
        total, body = heap_per_run(workflow_class, args.runs)
        print(
            f"{workflow_class.__name__:<22} {total:5.1f} KiB of Python heap per sandboxed run, "
            f"{body:5.1f} KiB of it its class body"
        )


if __name__ == "__main__":
    main()
