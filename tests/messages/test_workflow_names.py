"""The names that code below the workflow layer starts, signals and updates workflows by
(messages/) agree with the workflows' own definitions: a wrong name would start a workflow no
worker runs, or send a signal nobody handles."""

from __future__ import annotations

from temporalio import workflow

from messages.prepaid import DRAW_UPDATE, DRAWING_AFTER_QUERY, PREPAID_WORKFLOW_TYPE
from messages.ticket import EVENT_SIGNAL, TICKET_WORKFLOW_TYPE
from workflows.prepaid_balance import PrepaidBalanceWorkflow
from workflows.ticket_billing import TicketBillingWorkflow


def test_the_ticket_workflow_is_started_and_signalled_by_its_real_names() -> None:
    definition = workflow._Definition.from_class(TicketBillingWorkflow)
    assert definition is not None
    assert definition.name == TICKET_WORKFLOW_TYPE
    assert EVENT_SIGNAL in definition.signals
    assert definition.signals[EVENT_SIGNAL].fn is TicketBillingWorkflow.event


def test_the_prepaid_balance_is_started_and_updated_by_its_real_names() -> None:
    definition = workflow._Definition.from_class(PrepaidBalanceWorkflow)
    assert definition is not None
    assert definition.name == PREPAID_WORKFLOW_TYPE
    assert DRAW_UPDATE in definition.updates
    assert definition.updates[DRAW_UPDATE].fn is PrepaidBalanceWorkflow.draw
    query = definition.queries[DRAWING_AFTER_QUERY]
    assert query.fn is PrepaidBalanceWorkflow.tickets_drawing_after
