"""The worker's parts, built from settings: store, adapters, book, activities, workflows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.book_source import BookSource
from activities.invoice_run_activities import InvoiceRunActivities
from activities.prepaid_gateway import PrepaidGateway
from activities.reconciliation_activities import ReconciliationActivities
from activities.ticket_activities import TicketActivities
from billing.reconciliation import Limits
from connectors.billing import BillingAdapter
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from settings import Settings
from store.database import open_store
from workflows.invoice_run import MonthlyInvoiceRunWorkflow
from workflows.prepaid_balance import PrepaidBalanceWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.ticket_billing import TicketBillingWorkflow

WORKFLOWS = [
    TicketBillingWorkflow,
    PrepaidBalanceWorkflow,
    ReconciliationWorkflow,
    MonthlyInvoiceRunWorkflow,
]


@dataclass(frozen=True)
class WorkerParts:
    engine: Engine
    activities: TicketActivities
    reconciliation: ReconciliationActivities
    invoice_run: InvoiceRunActivities

    def all_activities(self) -> list:  # type: ignore[type-arg]
        return [*self.activities.all(), *self.reconciliation.all(), *self.invoice_run.all()]


def build_parts(
    client: Client,
    settings: Settings,
    billing: Callable[[Engine], BillingAdapter] = EmbeddedLedger,
) -> WorkerParts:
    """``billing`` builds the billing adapter from the store's engine (the embedded ledger)."""
    engine = open_store(settings.database_url)
    billing_adapter = billing(engine)
    book = BookSource(settings.book_path)
    activities = TicketActivities(
        book=book,
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
    invoice_run = InvoiceRunActivities(
        book=book,
        billing=billing_adapter,
        engine=engine,
        instance_id=settings.instance_id,
        mode_override=settings.mode_override,
    )
    return WorkerParts(engine, activities, reconciliation, invoice_run)
