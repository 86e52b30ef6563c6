"""The monthly invoice run (SPEC §6): check the month may be run, add each contract's monthly
fee, report retainer and block usage, finalize the month's draft invoices. Monthly by schedule
(the previous month), or on demand (`starter.py invoice-run --apply`). Running a month again adds
nothing: each fee's posting key is the same, and the billing system returns the first result.

Runs started before the check existed replay without it (``workflow.patched``)."""

from __future__ import annotations

from datetime import UTC, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import billing.invoice_run  # noqa: F401  (types crossing the boundary, see prepaid_balance)
    from activities.invoice_run_activities import INVOICE_RUN_REFUSED, InvoiceRunActivities
    from billing.invoice_run import month_key, month_of, previous_month
    from billing.markdown import escape_markdown
    from messages.runs import InvoiceRunInput, InvoiceRunRequest, InvoiceRunSummary

INVOICE_RUN_WORKFLOW_ID = "invoice-run"

_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))

MONTH_CHECK_PATCH = "invoice-run-month-check"


@workflow.defn
class MonthlyInvoiceRunWorkflow:
    @workflow.run
    async def run(self, request: InvoiceRunRequest) -> InvoiceRunSummary:
        month = (
            month_of(request.month)
            if request.month is not None
            else previous_month(workflow.now().astimezone(UTC).date())
        )
        key = month_key(month)
        run = InvoiceRunInput(f"{workflow.info().workflow_id}:{key}", month)
        if workflow.patched(MONTH_CHECK_PATCH):
            await self._check_month(run, key)
        workflow.set_current_details(f"invoice run for {key}: adding monthly fees")
        fees = await workflow.execute_activity_method(
            InvoiceRunActivities.add_monthly_fees,
            run,
            summary=f"add the monthly fees for {key}",
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=_RETRY,
        )
        added = sum(1 for fee in fees.fees if not fee.already_posted)
        workflow.set_current_details(
            f"invoice run for {key}: {added} fees added, {len(fees.fees) - added} already there; "
            "reading prepaid usage"
        )
        usage = await workflow.execute_activity_method(
            InvoiceRunActivities.prepaid_usage,
            run,
            summary=f"retainer and block usage for {key}",
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=_RETRY,
        )
        finalized = await workflow.execute_activity_method(
            InvoiceRunActivities.finalize_drafts,
            run,
            summary=f"finalize the draft invoices for {key}",
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=_RETRY,
        )
        workflow.set_current_details(
            f"**invoice run for {key}**: {added} fees added, {len(fees.fees) - added} already "
            f"there, {len(fees.skipped)} skipped; {len(usage.contracts)} prepaid contracts "
            f"reported; {len(finalized.invoice_ids)} invoices finalized"
            # The billing system's invoice ids: escaped, the details are Markdown in the UI.
            + (
                f" ({escape_markdown(', '.join(finalized.invoice_ids))})"
                if finalized.invoice_ids
                else ""
            )
        )
        return InvoiceRunSummary(
            run_id=run.run_id,
            month=key,
            fees=fees.fees,
            skipped=fees.skipped,
            usage=usage.contracts,
            finalized=finalized.invoice_ids,
        )

    async def _check_month(self, run: InvoiceRunInput, key: str) -> None:
        """A month that has not ended, or before billing began, fails the run with the reason
        (non-retryable), so neither the schedule nor a direct start can bypass the command's
        refusal."""
        workflow.set_current_details(f"invoice run for {key}: checking the month may be run")
        try:
            await workflow.execute_activity_method(
                InvoiceRunActivities.check_invoice_month,
                run,
                summary=f"check that {key} has ended and billing had begun",
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_RETRY,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == INVOICE_RUN_REFUSED:
                workflow.set_current_details(
                    f"**invoice run for {key} refused**: {escape_markdown(cause.message)}"
                )
                raise ApplicationError(
                    cause.message, type=INVOICE_RUN_REFUSED, non_retryable=True
                ) from None
            raise
