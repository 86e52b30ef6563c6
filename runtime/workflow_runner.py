"""The worker's workflow runner: Temporal's sandbox, without a trip into it for every payload.

Around each workflow activation the SDK passes every payload sequence through the data
converter's codec, three passes each way, and first asks the workflow instance which
serialization context that payload belongs to (the workflow's, or the activity's for an
activity's input). A sandboxed instance answers by running code inside its sandbox: a compiled
string, with the sandbox's imports and builtins swapped in and out. Measured with py-spy under
bench/live.py, those answers were a sixth of the worker's CPU, more than the workflow code.

The answer only picks which copy of the data converter encodes the payload, and the copies
differ only in a codec or an external storage that takes a context (the payload converter is not
used on that path). Ours take none: the codec is a chain (compression, encryption) that uses no
context, and there is no external storage. For such a data converter this runner answers
"no particular context" itself, which selects the same codec; everything else, the workflow's
own code above all, runs in the sandbox exactly as before. A data converter whose codec or
external storage does take a context gets the sandbox's answers, as the SDK gives them.

It implements the SDK's ``WorkflowInstance`` and names two types from its private modules, as
temporalio 1.35.0 (pinned in pyproject.toml) has them: an SDK upgrade must pass
tests/test_workflow_runner.py and the live suites, which run every workflow through it.
"""

from __future__ import annotations

from collections.abc import Sequence

import temporalio.bridge.proto.workflow_activation
import temporalio.bridge.proto.workflow_completion
import temporalio.workflow
from temporalio.converter import DataConverter, SerializationContext, WithSerializationContext
from temporalio.converter._extstore import StorageDriverStoreContext
from temporalio.worker import (
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner


def codec_needs_context(data_converter: DataConverter) -> bool:
    """Whether the worker-side payload work (codec, external storage) varies by context."""
    return (
        isinstance(data_converter.payload_codec, WithSerializationContext)
        or data_converter.external_storage is not None
    )


def workflow_runner_for(data_converter: DataConverter) -> WorkflowRunner:
    """The sandbox, answering serialization contexts itself when ``data_converter`` ignores
    them; the SDK's plain sandbox when it does not."""
    sandbox = SandboxedWorkflowRunner()
    if codec_needs_context(data_converter):
        return sandbox
    return ContextFreeSandboxedRunner(sandbox)


class ContextFreeSandboxedRunner(WorkflowRunner):
    """Sandboxed instances that answer "no particular context" without entering the sandbox.
    Only for a data converter ``codec_needs_context`` says ignores context."""

    def __init__(self, sandbox: SandboxedWorkflowRunner) -> None:
        self.sandbox = sandbox

    def prepare_workflow(self, defn: temporalio.workflow._Definition) -> None:
        self.sandbox.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFreeInstance(self.sandbox.create_instance(det))

    def set_worker_level_failure_exception_types(
        self, types: Sequence[type[BaseException]]
    ) -> None:
        self.sandbox.set_worker_level_failure_exception_types(types)


class _ContextFreeInstance(WorkflowInstance):
    def __init__(self, sandboxed: WorkflowInstance) -> None:
        self.sandboxed = sandboxed

    def activate(
        self, act: temporalio.bridge.proto.workflow_activation.WorkflowActivation
    ) -> temporalio.bridge.proto.workflow_completion.WorkflowActivationCompletion:
        return self.sandboxed.activate(act)

    def get_serialization_context(
        self, command_info: CommandInfo | None
    ) -> SerializationContext | None:
        return None  # the worker's data converter as it is: its codec takes no context

    def get_external_store_context(
        self, command_info: CommandInfo | None
    ) -> StorageDriverStoreContext:
        return StorageDriverStoreContext(target=None)  # no external storage to tell

    def get_info(self) -> temporalio.workflow.Info:
        return self.sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self.sandboxed.get_thread_id()  # for the SDK's deadlock report
