"""Reaching a contract's prepaid balance entity from an activity: update-with-start.

Workflows cannot send updates to other workflows, so the rating activity does it through the
client. The entity (``PrepaidBalanceWorkflow``) is started on first use and reused after, and
its validated Update is the only way a balance changes. It is named, not imported: activities
sit below the workflows (messages/prepaid.py has the names).
"""

from __future__ import annotations

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from messages.prepaid import (
    DRAW_UPDATE,
    PREPAID_WORKFLOW_TYPE,
    DrawInput,
    DrawResult,
    PrepaidAccountInput,
    prepaid_workflow_id,
)


class PrepaidGateway:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def draw(self, contract_id: str, period: str, request: DrawInput) -> DrawResult:
        workflow_id = prepaid_workflow_id(contract_id, period)
        start = WithStartWorkflowOperation(
            PREPAID_WORKFLOW_TYPE,
            PrepaidAccountInput(contract_id, period, request.granted_minutes),
            id=workflow_id,
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Prepaid hours of contract {contract_id}, {period}",
        )
        return await self._client.execute_update_with_start_workflow(
            DRAW_UPDATE,
            request,
            start_workflow_operation=start,
            result_type=DrawResult,
        )
