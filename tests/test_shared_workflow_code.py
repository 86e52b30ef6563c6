"""The workflow modules' code is compiled once and shared by every sandboxed run
(runtime/shared_workflow_code.py), while each run still gets a module of its own, inside the
sandbox's restrictions. Runs are created by the SDK's own sandbox runner, as the worker does."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest

from devtools.sandboxed_runs import sandboxed_runs
from runtime.shared_workflow_code import SharedWorkflowCode, share_workflow_code
from workflows.prepaid_balance import PrepaidBalanceWorkflow
from workflows.ticket_billing import TicketBillingWorkflow


@pytest.fixture
def isolated_meta_path() -> Iterator[None]:
    """Each test installs its own finder; the process's import path is restored after."""
    saved = list(sys.meta_path)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, SharedWorkflowCode)]
    try:
        yield
    finally:
        sys.meta_path[:] = saved


def sandboxed_class(workflow_class: type) -> type:
    """The workflow class as one sandboxed run sees it: imported afresh inside the sandbox."""
    (instance,) = sandboxed_runs(workflow_class, 1)
    return instance.globals_and_locals["__temporal_workflow_class"]  # type: ignore[attr-defined]


def test_runs_share_the_code_compiled_once(isolated_meta_path: None) -> None:
    shared = share_workflow_code([TicketBillingWorkflow])
    assert shared == ["workflows", "workflows.ticket_billing"]

    first, second = sandboxed_class(TicketBillingWorkflow), sandboxed_class(TicketBillingWorkflow)

    # Without the shared code, each run unmarshals its own copy of every function's code.
    assert first.__init__.__code__ is second.__init__.__code__
    assert first.run.__code__ is second.run.__code__


def test_each_run_still_has_a_module_of_its_own_inside_the_sandbox(
    isolated_meta_path: None,
) -> None:
    share_workflow_code([TicketBillingWorkflow])
    first, second = sandboxed_class(TicketBillingWorkflow), sandboxed_class(TicketBillingWorkflow)

    assert first is not second and first is not TicketBillingWorkflow
    run_globals = first.__init__.__globals__
    assert run_globals is not second.__init__.__globals__
    assert run_globals is not TicketBillingWorkflow.__init__.__globals__
    # The module's stdlib imports are the sandbox's restricted proxies, not the real modules: the
    # determinism checks still apply to the shared code.
    assert run_globals["asyncio"] is not asyncio
    assert first.__module__ == "workflows.ticket_billing"


def test_sharing_adds_modules_to_the_one_finder(isolated_meta_path: None) -> None:
    share_workflow_code([TicketBillingWorkflow])
    shared = share_workflow_code([PrepaidBalanceWorkflow, TicketBillingWorkflow])

    finders = [f for f in sys.meta_path if isinstance(f, SharedWorkflowCode)]
    assert len(finders) == 1 and sys.meta_path[0] is finders[0]
    assert shared == ["workflows", "workflows.prepaid_balance", "workflows.ticket_billing"]


def test_a_module_without_a_source_file_is_left_to_the_usual_import() -> None:
    assert SharedWorkflowCode().register(sys) is False  # built in: nothing to compile
