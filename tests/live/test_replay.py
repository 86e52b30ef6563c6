"""The replay gate: histories recorded from released builds replay against today's workflow code,
so a change that would break tickets in flight fails here, in CI, not in production.

Each set under ``histories/`` was recorded from one released commit (its ``manifest.json`` says
which) by ``tests/live/record_histories.py``, and is never re-recorded: a change that cannot
replay a committed history goes behind ``workflow.patched`` (docs/upgrading.md). The tests below
also check that the sets between them still cover every workflow type and every signal and
update handler, so a new handler cannot ship without a recorded history of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from messages.ticket import TicketWorkflowInput
from runtime.data_converter import data_converter_for
from runtime.worker_parts import WORKFLOWS
from settings import Settings
from usecases.workflow_histories import MANIFEST, HistoryFile, HistorySet, read_history_set
from workflows.prepaid_balance import PrepaidBalanceWorkflow
from workflows.ticket_billing import TicketBillingWorkflow

# What the deployment's workers write: compressed payloads over 32 KiB (runtime/compression.py).
DEPLOYMENT_CONVERTER = data_converter_for(Settings())

HISTORIES = Path(__file__).resolve().parent / "histories"
KEYRING = "replay-only-keyring.json"


@dataclass(frozen=True)
class Recorded:
    """One history of a committed set."""

    history_set: HistorySet
    entry: HistoryFile

    @property
    def file(self) -> Path:
        return self.history_set.directory / self.entry.file

    @property
    def workflow_type(self) -> str:
        return self.entry.workflow_type

    @property
    def encrypted(self) -> bool:
        return self.entry.encrypted

    def history(self) -> WorkflowHistory:
        return self.history_set.load(self.entry)

    def replayer(self) -> Replayer:
        converter = DEPLOYMENT_CONVERTER
        if self.encrypted:
            keys = self.history_set.directory / KEYRING
            converter = data_converter_for(Settings(encryption_keys_file=keys))
        return Replayer(workflows=WORKFLOWS, data_converter=converter)

    def __str__(self) -> str:
        return f"{self.history_set.directory.name}/{self.file.stem}"


def recorded_histories() -> list[Recorded]:
    sets = [read_history_set(path.parent) for path in sorted(HISTORIES.glob(f"*/{MANIFEST}"))]
    return [Recorded(history_set, entry) for history_set in sets for entry in history_set.histories]


RECORDED = recorded_histories()


def events_of(kind: str) -> list[tuple[Recorded, object]]:
    """Every (history, attributes) pair of one event kind across the gate."""
    pairs = []
    for recorded in RECORDED:
        for event in recorded.history().events:
            if event.HasField(kind):
                pairs.append((recorded, getattr(event, kind)))
    return pairs


@pytest.mark.parametrize("recorded", RECORDED, ids=str)
async def test_recorded_history_replays_deterministically(recorded: Recorded) -> None:
    history = recorded.history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.workflow_type.name == recorded.workflow_type
    await recorded.replayer().replay_workflow(history)


def test_every_file_in_a_set_is_in_its_manifest() -> None:
    listed = {recorded.file for recorded in RECORDED}
    on_disk = {path for path in HISTORIES.glob("*/*.json") if path.name not in (MANIFEST, KEYRING)}
    assert on_disk == listed


def test_every_workflow_type_has_a_recorded_history() -> None:
    recorded_types = {recorded.workflow_type for recorded in RECORDED}
    registered = {workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS}
    assert registered - recorded_types == set()


@pytest.mark.parametrize("workflow_class", [TicketBillingWorkflow, PrepaidBalanceWorkflow])
def test_every_signal_and_update_handler_is_in_a_recorded_history(
    workflow_class: type,
) -> None:
    definition = workflow._Definition.must_from_class(workflow_class)
    name = definition.name
    signalled = {
        attributes.signal_name  # type: ignore[attr-defined]
        for recorded, attributes in events_of("workflow_execution_signaled_event_attributes")
        if recorded.workflow_type == name
    }
    updated = {
        attributes.accepted_request.input.name  # type: ignore[attr-defined]
        for recorded, attributes in events_of("workflow_execution_update_accepted_event_attributes")
        if recorded.workflow_type == name
    }
    assert set(definition.signals) - {None} - signalled == set()
    assert set(definition.updates) - {None} - updated == set()


def test_the_gate_has_long_lived_ticket_runs() -> None:
    """A run that continued as new, one that started from carried state, one that settled and
    completed, and one restored from the archive of a completed run."""
    tickets = [r for r in RECORDED if r.workflow_type == "TicketBillingWorkflow"]
    last_events = [r.history().events[-1].event_type for r in tickets]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in last_events
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED in last_events
    carried = [
        r
        for r in tickets
        if r.history()
        .events[0]
        .workflow_execution_started_event_attributes.continued_execution_run_id
    ]
    assert carried
    restored = [r for r in tickets if not r.encrypted and restored_from_archive(r.history())]
    assert restored, "no history of a ticket restored from the archive"


def restored_from_archive(history: WorkflowHistory) -> bool:
    """Whether the run's first activity, the archive lookup, found an earlier run's state."""
    scheduled = {
        event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    }
    for event in history.events:
        if event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            if scheduled[completed.scheduled_event_id] == "load_archived_ticket":
                return completed.result.payloads[0].data != b"null"
    return False


def test_the_encrypted_history_is_sealed() -> None:
    [encrypted, *_] = [r for r in RECORDED if r.encrypted]
    assert "binary/encrypted" in encrypted.file.read_text() or "YmluYXJ5L2VuY3J5cHRlZA" in (
        encrypted.file.read_text()
    )
    assert "Printer offline" not in encrypted.file.read_text()  # the subject is sealed


async def test_an_encrypted_history_fails_without_the_codec() -> None:
    [encrypted, *_] = [r for r in RECORDED if r.encrypted]
    plain = Replayer(workflows=WORKFLOWS, data_converter=DEPLOYMENT_CONVERTER)
    result = await plain.replay_workflow(encrypted.history(), raise_on_replay_failure=False)
    assert result.replay_failure is not None


# ---- the gate catches what it is for ------------------------------------------------------------


@workflow.defn(name="TicketBillingWorkflow", sandboxed=False)
class TicketWorkflowWithAnUnpatchedStep(TicketBillingWorkflow):
    """Today's ticket workflow with one more activity before posting and no ``patched``: the
    deliberately incompatible change the gate must refuse."""

    @workflow.run
    async def run(self, start: TicketWorkflowInput) -> str:
        return await super().run(start)

    async def _post(self) -> None:
        await workflow.execute_activity(
            "check_credit_limit",
            self._state.ticket.ticket_id,
            start_to_close_timeout=timedelta(seconds=10),
        )
        await super()._post()


async def test_an_extra_activity_before_posting_without_a_patch_fails_the_gate() -> None:
    # The released build's history (later sets record the same scenario again).
    [posted] = [
        r
        for r in RECORDED
        if r.file.stem == "ticket-approve" and r.file.parent.name == "2026-12-03-e998291"
    ]
    replayer = Replayer(
        workflows=[TicketWorkflowWithAnUnpatchedStep],
        data_converter=DEPLOYMENT_CONVERTER,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    result = await replayer.replay_workflow(posted.history(), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
    # The same replayer with today's code passes: the failure is the extra step, not the setup.
    today = Replayer(
        workflows=[TicketBillingWorkflow],
        data_converter=DEPLOYMENT_CONVERTER,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    assert (
        await today.replay_workflow(posted.history(), raise_on_replay_failure=False)
    ).replay_failure is None
