"""The workflows as a worker with Worker Versioning on registers them: the same types, each with
its versioning behaviour (docs/worker-versioning.md).

Long-lived workflows (a ticket lives until its settle period ends, a prepaid balance for its
period) are AUTO_UPGRADE: they move to each new current build, so any change to their code still
goes behind ``workflow.patched()``. Short runs (reconciliation, invoice run, sync health, help
desk sync) are PINNED: each ends on the build it started on.

Why twins rather than ``versioning_behavior`` on the classes themselves: Temporal refuses a
workflow task completed with a versioning behaviour by a worker that is not versioned ("versioning
behavior cannot be specified without deployment options being set with versioned mode", Server
1.32), so an unversioned worker, today's default, must register classes that declare none. Each
twin only adds the behaviour: its run calls the class's own, which the SDK requires on the
registered class itself. Inside the sandbox a workflow's class is imported again by module and
name, so the twins live here, in a module of their own, not built at run time.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

from workflows.helpdesk_sync import HelpdeskSyncWorkflow
from workflows.invoice_run import MonthlyInvoiceRunWorkflow
from workflows.notifications import NotifierWorkflow
from workflows.prepaid_balance import PrepaidBalanceWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.sync_health import SyncHealthWorkflow
from workflows.ticket_billing import TicketBillingWorkflow

with workflow.unsafe.imports_passed_through():
    from messages.prepaid import PrepaidAccountInput
    from messages.runs import (
        HelpdeskSyncResult,
        InvoiceRunRequest,
        InvoiceRunSummary,
        NotifierInput,
        ReconcileSummary,
        ReconciliationRequest,
        SyncHealthSummary,
    )
    from messages.ticket import TicketWorkflowInput

AUTO_UPGRADE = VersioningBehavior.AUTO_UPGRADE
PINNED = VersioningBehavior.PINNED


@workflow.defn(name="TicketBillingWorkflow", versioning_behavior=AUTO_UPGRADE)
class VersionedTicketBillingWorkflow(TicketBillingWorkflow):
    @workflow.run
    async def run(self, start: TicketWorkflowInput) -> str:
        return await super().run(start)


@workflow.defn(name="PrepaidBalanceWorkflow", versioning_behavior=AUTO_UPGRADE)
class VersionedPrepaidBalanceWorkflow(PrepaidBalanceWorkflow):
    @workflow.run
    async def run(self, start: PrepaidAccountInput) -> None:
        await super().run(start)


@workflow.defn(name="ReconciliationWorkflow", versioning_behavior=PINNED)
class VersionedReconciliationWorkflow(ReconciliationWorkflow):
    @workflow.run
    async def run(self, request: ReconciliationRequest) -> ReconcileSummary:
        return await super().run(request)


@workflow.defn(name="MonthlyInvoiceRunWorkflow", versioning_behavior=PINNED)
class VersionedMonthlyInvoiceRunWorkflow(MonthlyInvoiceRunWorkflow):
    @workflow.run
    async def run(self, request: InvoiceRunRequest) -> InvoiceRunSummary:
        return await super().run(request)


@workflow.defn(name="SyncHealthWorkflow", versioning_behavior=PINNED)
class VersionedSyncHealthWorkflow(SyncHealthWorkflow):
    @workflow.run
    async def run(self) -> SyncHealthSummary:
        return await super().run()


@workflow.defn(name="HelpdeskSyncWorkflow", versioning_behavior=PINNED)
class VersionedHelpdeskSyncWorkflow(HelpdeskSyncWorkflow):
    @workflow.run
    async def run(self) -> HelpdeskSyncResult:
        return await super().run()


# Long-lived: it moves to each new build, so its code changes go behind workflow.patched() too.
@workflow.defn(name="NotifierWorkflow", versioning_behavior=AUTO_UPGRADE)
class VersionedNotifierWorkflow(NotifierWorkflow):
    @workflow.run
    async def run(self, start: NotifierInput) -> None:
        await super().run(start)


VERSIONED_WORKFLOWS = [
    VersionedTicketBillingWorkflow,
    VersionedPrepaidBalanceWorkflow,
    VersionedReconciliationWorkflow,
    VersionedMonthlyInvoiceRunWorkflow,
    VersionedSyncHealthWorkflow,
    VersionedHelpdeskSyncWorkflow,
    VersionedNotifierWorkflow,
]
