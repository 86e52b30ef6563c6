"""Replay recorded ticket histories against today's workflow code: a change that would make
running tickets non-deterministic fails here, in CI, not in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from messages.payloads import data_converter
from messages.ticket import ticket_workflow_id
from runtime.worker_parts import WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def test_there_are_recorded_histories() -> None:
    assert len(HISTORIES) >= 10


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_recorded_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(ticket_workflow_id(path.stem), path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter)
    await replayer.replay_workflow(history)
