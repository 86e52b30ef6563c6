"""The worker's parts, built from settings: store, adapters, book, activities, workflows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.book_source import BookSource
from activities.prepaid_gateway import PrepaidGateway
from activities.ticket_activities import TicketActivities
from connectors.billing import BillingAdapter
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from settings import Settings
from store.database import open_store
from workflows.prepaid_balance import PrepaidBalanceWorkflow
from workflows.ticket_billing import TicketBillingWorkflow

WORKFLOWS = [TicketBillingWorkflow, PrepaidBalanceWorkflow]


@dataclass(frozen=True)
class WorkerParts:
    engine: Engine
    activities: TicketActivities


def build_parts(
    client: Client,
    settings: Settings,
    billing: Callable[[Engine], BillingAdapter] = EmbeddedLedger,
) -> WorkerParts:
    """``billing`` builds the billing adapter from the store's engine (the embedded ledger)."""
    engine = open_store(settings.database_url)
    activities = TicketActivities(
        book=BookSource(settings.book_path),
        billing=billing(engine),
        helpdesk=EmbeddedHelpdesk(engine),
        prepaid=PrepaidGateway(client, settings.task_queue),
        engine=engine,
        instance_id=settings.instance_id,
        mode_override=settings.mode_override,
    )
    return WorkerParts(engine, activities)
