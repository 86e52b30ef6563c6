"""Reaching a contract's prepaid balance entity from an activity: update-with-start.

Workflows cannot send updates to other workflows, so the rating activity does it through the
client. The entity (``PrepaidBalanceWorkflow``) is started on first use and reused after, and
its validated Update is the only way a balance changes. It is named, not imported: activities
sit below the workflows (messages/prepaid.py has the names).
"""

from __future__ import annotations

from decimal import Decimal

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from messages.prepaid import (
    DRAW_UPDATE,
    DRAWS_QUERY,
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

    async def drawing_tickets(self, contract_id: str, period: str) -> list[str]:
        """The tickets holding hours of the period now; none before its first draw."""
        handle = self._client.get_workflow_handle(prepaid_workflow_id(contract_id, period))
        try:
            draws = await handle.query(DRAWS_QUERY, result_type=dict[str, Decimal])
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return []
            raise
        return sorted(ticket for ticket, minutes in draws.items() if minutes > 0)
