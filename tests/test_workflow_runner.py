"""The worker's workflow runner (runtime/workflow_runner.py): Temporal's sandbox, answering the
serialization context itself only when the data converter's codec ignores it. The workflows
themselves run through it in every test on tests/live/stack.py's worker (compression and
encryption included) and in bench/live.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from runtime.data_converter import data_converter_for
from runtime.encryption import Keyring, write_keyring
from runtime.workflow_runner import ContextFreeSandboxedRunner, workflow_runner_for
from settings import Settings


class _ContextAwareCodec(PayloadCodec, WithSerializationContext):
    """A codec that would encrypt per workflow or activity, say: it must get real contexts."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    def with_context(self, context: SerializationContext) -> _ContextAwareCodec:
        return self


def test_our_converter_is_answered_without_entering_the_sandbox() -> None:
    runner = workflow_runner_for(data_converter_for(Settings()))  # compression on
    assert isinstance(runner, ContextFreeSandboxedRunner)
    assert isinstance(runner.sandbox, SandboxedWorkflowRunner)  # the workflows stay sandboxed


def test_with_encryption_too(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    write_keyring(keys, Keyring("k1", {"k1": bytes(range(32))}))
    converter = data_converter_for(Settings(encryption_keys_file=keys))
    assert isinstance(workflow_runner_for(converter), ContextFreeSandboxedRunner)


def test_a_codec_that_takes_a_context_gets_the_sdks_own_sandbox() -> None:
    converter = dataclasses.replace(
        data_converter_for(Settings()), payload_codec=_ContextAwareCodec()
    )
    runner = workflow_runner_for(converter)
    assert type(runner) is SandboxedWorkflowRunner
