"""Reaching a contract's prepaid balance entity from an activity: update-with-start.

Workflows cannot send updates to other workflows, so the rating activity does it through the
client. The entity (``PrepaidBalanceWorkflow``) is started on first use and reused after, and
its validated Update is the only way a balance changes. It is named, not imported: activities
sit below the workflows (messages/prepaid.py has the names).
"""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from messages.prepaid import (
    DRAW_UPDATE,
    DRAWING_AFTER_QUERY,
    PREPAID_WORKFLOW_TYPE,
    DrawingAfterInput,
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

    async def tickets_drawing_after(
        self, contract_id: str, period: str, closed_at: datetime
    ) -> list[str]:
        """The tickets holding hours of the period that closed after ``closed_at``; none
        before the period's first draw."""
        handle = self._client.get_workflow_handle(prepaid_workflow_id(contract_id, period))
        try:
            return await handle.query(
                DRAWING_AFTER_QUERY, DrawingAfterInput(closed_at), result_type=list[str]
            )
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return []
            raise
