"""Sandboxed workflow runs made outside a worker, the way the SDK's own sandbox runner makes its
trial run: for the tests and benchmarks that look at what each run holds."""

from __future__ import annotations

import asyncio

import temporalio.converter
import temporalio.workflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _fake_info


def instance_details(workflow_class: type) -> WorkflowInstanceDetails:
    """What ``SandboxedWorkflowRunner.prepare_workflow`` builds to validate a workflow."""
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


def sandboxed_runs(workflow_class: type, runs: int) -> list[WorkflowInstance]:
    """``runs`` fresh sandboxed instances of ``workflow_class``, made by the SDK's runner."""
    runner, details = SandboxedWorkflowRunner(), instance_details(workflow_class)

    async def create() -> list[WorkflowInstance]:  # an instance is made on a running loop
        return [runner.create_instance(details) for _ in range(runs)]

    return asyncio.run(create())
