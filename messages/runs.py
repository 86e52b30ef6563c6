"""Inputs and results of the scheduled runs: the daily reconciliation, the monthly invoice run,
the sync health check and the django-helpdesk polling sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from billing.invoice_run import ContractUsage, SkippedFee

# ---- reconciliation ---------------------------------------------------------------------


@dataclass(slots=True)
class ReconcileInput:
    run_id: str
    period_start: datetime
    period_end: datetime
    checked_at: datetime | None = None


@dataclass(slots=True)
class ReconcileSummary:
    run_id: str
    tickets: int
    findings: int
    by_kind: dict[str, int]
    alert: bool


@dataclass(slots=True)
class ReconciliationRequest:
    """A period to reconcile; none means yesterday (UTC), as the daily schedule runs it."""

    period_start: datetime | None = None
    period_end: datetime | None = None


# ---- monthly invoice run ------------------------------------------------------------------


@dataclass(slots=True)
class InvoiceRunRequest:
    """A month to bill (its first day); none means the previous month, as the schedule runs it."""

    month: date | None = None


@dataclass(slots=True)
class InvoiceRunInput:
    run_id: str
    month: date  # the first day of the month


@dataclass(slots=True)
class FeePosted:
    contract_id: str
    billing_customer_id: str
    invoice_id: str
    amount: Decimal
    already_posted: bool  # an earlier run of the month added it: the first result is returned


@dataclass(slots=True)
class FeesResult:
    month: str  # YYYY-MM
    fees: list[FeePosted] = field(default_factory=list)
    skipped: list[SkippedFee] = field(default_factory=list)


@dataclass(slots=True)
class UsageResult:
    month: str
    contracts: list[ContractUsage] = field(default_factory=list)


@dataclass(slots=True)
class FinalizeResult:
    invoice_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class InvoiceRunSummary:
    run_id: str
    month: str
    fees: list[FeePosted]
    skipped: list[SkippedFee]
    usage: list[ContractUsage]
    finalized: list[str]

    @property
    def fees_added(self) -> int:
        return sum(1 for fee in self.fees if not fee.already_posted)


# ---- sync health --------------------------------------------------------------------------------


@dataclass(slots=True)
class SyncHealthInput:
    checked_at: datetime


@dataclass(slots=True)
class SyncHealthSummary:
    calls: dict[str, int]  # "billing:ok" → calls in the recent window
    alerts: list[str]


@dataclass(slots=True)
class HelpdeskSyncResult:
    followups: int  # read after the cursor
    events: int  # delivered (redeliveries are no-ops)
    problems: list[str]  # follow-ups skipped, each with its reason


# ---- notifications (activities/notification_activities.py) --------------------------------


@dataclass(slots=True)
class NotifyInput:
    """One round of the notifier, at the workflow's time (so a retry plans the same messages)."""

    now: datetime


@dataclass(slots=True)
class NotifyResult:
    planned: int  # messages added to the outbox this round
    sent: int
    failed: int  # tried and failed this round (retried at the next ones), or refused for good
    interrupted: int  # found mid-send from a run that died: marked uncertain, not resent
    next_round_seconds: float  # how long to wait before the next round (the settings')


@dataclass(slots=True)
class NotifierInput:
    """The notifier workflow's start (and continue-as-new) input."""

    rounds_done: int = 0
