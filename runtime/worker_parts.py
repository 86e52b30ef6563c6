"""The worker's parts, built from settings: store, adapters, book, activities, workflows, and
its Worker Deployment Version when Worker Versioning is on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from activities.invoice_run_activities import InvoiceRunActivities
from activities.notification_activities import NotificationActivities
from activities.prepaid_gateway import PrepaidGateway
from activities.reconciliation_activities import ReconciliationActivities
from activities.sync_health_activities import Counted, SyncCounter, SyncHealthActivities
from activities.ticket_activities import TicketActivities
from billing.reconciliation import Limits
from billing.sync_alerts import SyncThresholds
from connectors import selection
from connectors.billing import BillingAdapter
from connectors.helpdesk import HelpdeskAdapter
from connectors.mail import mail_config
from intake.helpdesk_sync import HelpdeskSyncActivities
from settings import Settings
from store.book_source import BookSource
from store.database import open_store
from store.signing import secret
from workflows.helpdesk_sync import HelpdeskSyncWorkflow
from workflows.invoice_run import MonthlyInvoiceRunWorkflow
from workflows.notifications import NotifierWorkflow
from workflows.prepaid_balance import PrepaidBalanceWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.sync_health import SyncHealthWorkflow
from workflows.ticket_billing import TicketBillingWorkflow
from workflows.versioned import VERSIONED_WORKFLOWS

WORKFLOWS = [
    TicketBillingWorkflow,
    PrepaidBalanceWorkflow,
    ReconciliationWorkflow,
    MonthlyInvoiceRunWorkflow,
    SyncHealthWorkflow,
    HelpdeskSyncWorkflow,
    NotifierWorkflow,
]


def worker_deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """The worker's Worker Deployment Version when a build id is set (docs/worker-versioning.md);
    None, an unversioned worker, when it is not.

    No default behaviour: each workflow type registered declares AUTO_UPGRADE or PINNED
    (workflows/versioned.py), and with the default left UNSPECIFIED the SDK refuses to start a
    versioned worker with a workflow type that declares neither."""
    if settings.worker_build_id is None:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(settings.worker_deployment_name, settings.worker_build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.UNSPECIFIED,
    )


def workflows_for(settings: Settings) -> list[type]:
    """The workflow classes to register: with Worker Versioning on, the twins that declare their
    versioning behaviour; off, the plain classes (Temporal refuses a behaviour from an
    unversioned worker)."""
    return VERSIONED_WORKFLOWS if settings.worker_build_id is not None else WORKFLOWS


@dataclass(frozen=True)
class WorkerParts:
    engine: Engine
    activities: TicketActivities
    reconciliation: ReconciliationActivities
    invoice_run: InvoiceRunActivities
    sync_health: SyncHealthActivities
    counter: SyncCounter
    helpdesk_sync: HelpdeskSyncActivities
    notifications: NotificationActivities

    def all_activities(self) -> list:  # type: ignore[type-arg]
        return [
            *self.activities.all(),
            *self.reconciliation.all(),
            *self.invoice_run.all(),
            *self.sync_health.all(),
            *self.helpdesk_sync.all(),
            *self.notifications.all(),
        ]


def build_parts(
    client: Client,
    settings: Settings,
    billing: Callable[[Engine], BillingAdapter] | None = None,
    helpdesk: Callable[[Engine], HelpdeskAdapter] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> WorkerParts:
    """The adapters are the ones the settings choose (connectors/selection.py), unless a test
    passes its own builders (each takes the store's engine). ``clock``: what the invoice run
    checks a month has ended against (default the wall clock; tests pass a fixed one)."""
    engine = open_store(settings.database_url)
    chosen_billing = billing(engine) if billing else selection.billing_adapter(settings, engine)
    chosen_helpdesk = helpdesk(engine) if helpdesk else selection.helpdesk_adapter(settings, engine)
    # Every call to either system is counted, for the sync-health alerts.
    counter = SyncCounter(engine)
    billing_adapter: BillingAdapter = Counted(chosen_billing, counter, "billing")  # type: ignore[assignment]
    helpdesk_adapter: HelpdeskAdapter = Counted(chosen_helpdesk, counter, "helpdesk")  # type: ignore[assignment]
    book = BookSource(settings.book_path)
    activities = TicketActivities(
        book=book,
        billing=billing_adapter,
        helpdesk=helpdesk_adapter,
        prepaid=PrepaidGateway(client, settings.task_queue),
        engine=engine,
        instance_id=settings.instance_id,
        mode_override=settings.mode_override,
        separation_of_duties=settings.separation_of_duties,
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
        **({"now": clock} if clock is not None else {}),
    )
    sync_health = SyncHealthActivities(
        engine=engine,
        counter=counter,
        thresholds=SyncThresholds(
            failure_rate=settings.sync_alert_failure_rate,
            min_calls=settings.sync_alert_min_calls,
            volume_factor=settings.sync_alert_volume_factor,
        ),
    )
    helpdesk_sync = HelpdeskSyncActivities(engine=engine, settings=settings)
    notifications = NotificationActivities(
        engine=engine,
        book=book,
        settings=settings,
        # A bad HDB_SMTP_URL stops the worker at start with the setting named, not at the
        # first e-mail.
        mail=mail_config(settings),
        signing_key=secret(settings, "signing_key"),
        counter=counter,
    )
    return WorkerParts(
        engine,
        activities,
        reconciliation,
        invoice_run,
        sync_health,
        counter,
        helpdesk_sync,
        notifications,
    )
