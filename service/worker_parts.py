"""The worker's parts, built from settings: store, adapters, book, activities, workflows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.book_source import BookSource
from activities.prepaid_gateway import PrepaidGateway
from activities.reconciliation_activities import ReconciliationActivities
from activities.ticket_activities import TicketActivities
from billing.reconciliation import Limits
from connectors.billing import BillingAdapter
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from settings import Settings
from store.database import open_store
from workflows.prepaid_balance import PrepaidBalanceWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.ticket_billing import TicketBillingWorkflow

WORKFLOWS = [TicketBillingWorkflow, PrepaidBalanceWorkflow, ReconciliationWorkflow]


@dataclass(frozen=True)
class WorkerParts:
    engine: Engine
    activities: TicketActivities
    reconciliation: ReconciliationActivities

    def all_activities(self) -> list:  # type: ignore[type-arg]
        return [*self.activities.all(), *self.reconciliation.all()]


def build_parts(
    client: Client,
    settings: Settings,
    billing: Callable[[Engine], BillingAdapter] = EmbeddedLedger,
) -> WorkerParts:
    """``billing`` builds the billing adapter from the store's engine (the embedded ledger)."""
    engine = open_store(settings.database_url)
    billing_adapter = billing(engine)
    activities = TicketActivities(
        book=BookSource(settings.book_path),
        billing=billing_adapter,
        helpdesk=EmbeddedHelpdesk(engine),
        prepaid=PrepaidGateway(client, settings.task_queue),
        engine=engine,
        instance_id=settings.instance_id,
        mode_override=settings.mode_override,
    )
    reconciliation = ReconciliationActivities(
        engine=engine,
        billing=billing_adapter,
        alert_findings=settings.reconciliation_alert_findings,
        limits=Limits(),
    )
    return WorkerParts(engine, activities, reconciliation)
