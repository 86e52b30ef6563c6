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
import gc
import inspect
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_workflow import BaselineTicketWorkflow

from devtools.sandboxed_runs import sandboxed_runs
from runtime.shared_workflow_code import share_workflow_code
from workflows.ticket_billing import TicketBillingWorkflow


def heap_per_run(workflow_class: type, runs: int) -> tuple[float, float]:
    """KiB of Python heap each run holds, and how much of that its module's ``@workflow.defn``
    and ``class`` statement allocated (the class body: handlers, methods, their definitions)."""
    source = inspect.getsourcefile(workflow_class)
    lines, first = inspect.getsourcelines(workflow_class)  # from the decorator
    class_line = first + next(n for n, line in enumerate(lines) if line.startswith("class"))
    statement = range(first, class_line + 1)
    sandboxed_runs(workflow_class, 3)  # first-run imports and caches are not per run
    gc.collect()
    tracemalloc.start(25)
    before = tracemalloc.take_snapshot()
    held = sandboxed_runs(workflow_class, runs)
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
