"""The replay gate: workflow histories kept as files, and replayed against this build's workflow
code, so a change that would break workflows in flight is found before it is deployed.

An operator exports real histories from the deployment (``starter.py histories export``) and
replays them against a new build (``starter.py histories replay``); CI replays the sets committed
under ``tests/live/histories``. Both use one format: a directory of ``WorkflowHistory`` JSON
files and a ``manifest.json`` naming each file's workflow id, type and run, and whether its
payloads are encrypted. Histories are exported as Temporal keeps them: with payload encryption
on they stay encrypted on disk, and replay decrypts them through the deployment's codec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.message import Message
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from runtime.worker_parts import WORKFLOWS

MANIFEST = "manifest.json"
# An operator's gate runs in minutes, not hours: a larger sample adds little over a varied one.
MAX_EXPORT = 10_000
_UNSAFE_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


class HistorySetProblem(ValueError):
    """A directory that is not a usable history set; the message says what to fix."""


@dataclass(frozen=True)
class HistoryFile:
    """One recorded run of one workflow, as the manifest lists it."""

    file: str
    workflow_id: str
    workflow_type: str
    run_id: str = ""
    encrypted: bool = False
    covers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HistorySet:
    directory: Path
    histories: list[HistoryFile]

    def load(self, entry: HistoryFile) -> WorkflowHistory:
        return WorkflowHistory.from_json(
            entry.workflow_id, (self.directory / entry.file).read_text()
        )


@dataclass(frozen=True)
class ReplayOutcome:
    entry: HistoryFile
    problem: str | None  # None: replayed deterministically


def read_history_set(directory: Path) -> HistorySet:
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise HistorySetProblem(
            f"{directory} has no {MANIFEST}: export histories with `starter.py histories export` "
            "(or record a set with tests/live/record_histories.py)"
        )
    try:
        listed = json.loads(manifest_path.read_text())["histories"]
        entries = [
            HistoryFile(
                file=str(item["file"]),
                workflow_id=str(item["workflow_id"]),
                workflow_type=str(item["workflow_type"]),
                run_id=str(item.get("run_id", "")),
                encrypted=bool(item.get("encrypted", False)),
                covers=[str(text) for text in item.get("covers", [])],
            )
            for item in listed
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise HistorySetProblem(f"{manifest_path} is not a history manifest: {error}") from None
    missing = [entry.file for entry in entries if not (directory / entry.file).is_file()]
    if missing:
        raise HistorySetProblem(f"{manifest_path} lists files that are not there: {missing}")
    return HistorySet(directory, entries)


async def export_histories(
    client: Client,
    query: str,
    out: Path,
    *,
    limit: int,
    encrypted: bool,
    progress: Callable[[HistoryFile], None] = lambda entry: None,
) -> HistorySet:
    """Write the histories of up to ``limit`` workflow runs that match the visibility ``query``
    to a new directory ``out``, with their manifest."""
    if out.exists() and any(out.iterdir()):
        raise HistorySetProblem(f"{out} is not empty: export into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    entries: list[HistoryFile] = []
    async for execution in client.list_workflows(query, limit=limit):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        name = _UNSAFE_IN_FILE_NAMES.sub("_", f"{execution.id}.{execution.run_id[:8]}")
        (out / f"{name}.json").write_text(history.to_json())
        entry = HistoryFile(
            file=f"{name}.json",
            workflow_id=execution.id,
            workflow_type=execution.workflow_type,
            run_id=execution.run_id,
            encrypted=encrypted,
            covers=[f"exported by query: {query}"],
        )
        entries.append(entry)
        progress(entry)
    manifest = {
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "query": query,
        "histories": [asdict(entry) for entry in entries],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return HistorySet(out, entries)


async def replay_history_set(
    history_set: HistorySet,
    data_converter: DataConverter,
    progress: Callable[[ReplayOutcome], None] = lambda outcome: None,
) -> list[ReplayOutcome]:
    """Replay every history of the set against this build's workflows; each outcome says whether
    it replayed deterministically and, if not, why."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter)
    known = {workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS}
    outcomes = []
    for entry in history_set.histories:
        problem: str | None
        try:
            history = history_set.load(entry)
        except (ValueError, KeyError) as error:
            problem = f"not a workflow history: {error}"
        else:
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            failure = result.replay_failure
            problem = None if failure is None else f"{type(failure).__name__}: {failure}"
            if problem and entry.workflow_type not in known:
                problem = f"no workflow of type {entry.workflow_type} in this build ({problem})"
        outcome = ReplayOutcome(entry, problem)
        outcomes.append(outcome)
        progress(outcome)
    return outcomes


async def run_chain(client: Client, workflow_id: str) -> list[str]:
    """The run ids of a workflow's continue-as-new chain, oldest first."""
    chain: list[str] = []
    run_id: str | None = (await client.get_workflow_handle(workflow_id).describe()).run_id
    while run_id:
        chain.append(run_id)
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
    return list(reversed(chain))


SEARCH_ATTRIBUTES = "temporal.api.common.v1.SearchAttributes"


def payloads_in(message: Message, *, search_attributes: bool = False) -> Iterator[Payload]:
    """Every payload in a history event (or any protobuf message), wherever it sits; those of
    search attributes only when asked (Temporal never encodes them: they are indexed)."""
    if isinstance(message, Payload):
        yield message
        return
    if message.DESCRIPTOR.full_name == SEARCH_ATTRIBUTES and not search_attributes:
        return
    for field_descriptor, value in message.ListFields():
        if field_descriptor.type != field_descriptor.TYPE_MESSAGE:
            continue
        if isinstance(value, Message):
            items = [value]
        elif field_descriptor.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Message):
                yield from payloads_in(item, search_attributes=search_attributes)
