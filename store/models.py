"""Tables of the review store, every one of them (the migrations compare the schema with
these). Money is stored as integer cents (SQL can sum it exactly); quantities as decimal text.
Every row a retry might write twice has a unique natural key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class TicketRecord(SQLModel, table=True):
    """One row per ticket: where it stands, for queues and reports (the workflow's projection)."""

    __tablename__ = "ticket"

    ticket_id: str = Field(primary_key=True)
    customer_id: str | None = Field(default=None, index=True)
    billing_customer_id: str | None = None
    status: str = Field(index=True)
    mode: str | None = None
    hold_code: str | None = Field(default=None, index=True)
    hold_owner: str | None = Field(default=None, index=True)
    hold_message: str | None = None
    waiting_for: str | None = None
    # Who acts next (support, billing, manager, customer), the queue the ticket sits in.
    next_actor: str | None = Field(default=None, index=True)
    chargeable_cents: int = 0
    posted_cents: int = 0
    revision: int = 0
    closed_at: datetime | None = Field(default=None, index=True)
    # Indexed: the queues sort by it (oldest first) and filter on it ("waiting at least N days").
    status_since: datetime = Field(index=True)
    updated_at: datetime
    # The latest rating and decisions as JSON, so `show` and the queues need no Temporal query.
    detail_json: str = "{}"
    # Orders projection writes: a late, older write never overwrites a newer one.
    sequence: int = 0
    # The help desk subject, for the queues' search.
    subject: str = ""
    # Everyone who logged time on the ticket, each name between bars ("|alice|bob|"; see
    # store/queue_pages.py ``technicians_cell``): the queues' technician filter matches a whole
    # name, never a part of another one.
    technicians: str = ""


class AuditEntry(SQLModel, table=True):
    """Append-only: who did what to which ticket, when and why, accepted or refused."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    entry_key: str = Field(unique=True)  # workflow id + sequence: a retried write is a no-op
    ticket_id: str = Field(index=True)
    at: datetime = Field(index=True)
    actor: str
    role: str
    action: str
    outcome: str  # accepted | refused | system
    reason: str = ""
    detail: str = ""
    # Tamper evidence (store/audit_chain.py): the entry before it in id order's hash, and the
    # SHA-256 of that and this entry's fields. NULL only on rows inserted around the store.
    prev_hash: str | None = None
    entry_hash: str | None = None


class AuditChainAnchor(SQLModel, table=True):
    """Where the audit chain starts after a purge: the hash of the last purged entry (one row)."""

    __tablename__ = "audit_chain_anchor"

    id: int = Field(default=1, primary_key=True)
    anchor_hash: str
    last_purged_id: int  # entries up to this id were purged
    last_purged_at: datetime  # the newest ``at`` among them
    purged_entries: int  # in all purges so far
    updated_at: datetime


class ManualEdit(SQLModel, table=True):
    """A line changed by a person before billing, with the reason they gave."""

    __tablename__ = "manual_edit"

    id: int | None = Field(default=None, primary_key=True)
    edit_key: str = Field(unique=True)
    ticket_id: str = Field(index=True)
    source_id: str
    field: str
    before: str
    after: str
    actor: str
    role: str
    reason: str
    at: datetime


class TicketArchive(SQLModel, table=True):
    """A settled ticket's folded state: an event arriving after settlement bills the difference."""

    __tablename__ = "ticket_archive"

    ticket_id: str = Field(primary_key=True)
    state_json: str
    archived_at: datetime


class TicketFolded(SQLModel, table=True):
    """Each ticket's folded help desk events (``billing.ticket.Ticket`` as JSON) as of its
    latest rating revision: what a what-if re-rates under a candidate book (usecases/whatif.py),
    for tickets not settled yet as much as for archived ones."""

    __tablename__ = "ticket_folded"

    ticket_id: str = Field(primary_key=True)
    revision: int
    ticket_json: str
    recorded_at: datetime


class LedgerInvoice(SQLModel, table=True):
    """Embedded billing: one draft invoice per customer and billing period, finalized by the
    invoice run (which locks the customer's period)."""

    __tablename__ = "ledger_invoice"

    invoice_id: str = Field(primary_key=True)
    billing_customer_id: str = Field(index=True)
    period: str = Field(index=True)  # YYYY-MM
    status: str = Field(index=True)  # draft | finalized
    created_at: datetime
    finalized_at: datetime | None = None


class LedgerPosting(SQLModel, table=True):
    """One idempotent call that added lines; the key makes a repeated call return the first."""

    __tablename__ = "ledger_posting"

    posting_key: str = Field(primary_key=True)
    ticket_id: str = Field(index=True)
    invoice_id: str
    posted_at: datetime


class LedgerLine(SQLModel, table=True):
    __tablename__ = "ledger_line"

    id: int | None = Field(default=None, primary_key=True)
    posting_key: str = Field(index=True)
    invoice_id: str = Field(index=True)
    ticket_id: str = Field(index=True)
    billing_customer_id: str = Field(index=True)
    source_id: str
    kind: str
    service_code: str
    description: str
    quantity: str
    unit_price_cents: int
    amount_cents: int
    taxable: bool
    line_type: str  # charge | credit
    posted_at: datetime = Field(index=True)
    # The period the line belongs to (a ticket's closing month, a fee's month); its invoice's
    # period too, unless that period was locked: then the invoice adjusted is named.
    period: str = Field(index=True)  # YYYY-MM
    adjusts_invoice_id: str | None = None


class HelpdeskStatus(SQLModel, table=True):
    """Embedded help desk: the billing status as the help desk would show it on the ticket."""

    __tablename__ = "helpdesk_status"

    ticket_id: str = Field(primary_key=True)
    billing_status: str
    hold_reason: str | None = None
    updated_at: datetime


class HelpdeskNote(SQLModel, table=True):
    """Embedded help desk: internal notes the service added to tickets."""

    __tablename__ = "helpdesk_note"

    id: int | None = Field(default=None, primary_key=True)
    note_key: str = Field(unique=True)
    ticket_id: str = Field(index=True)
    text: str
    at: datetime


class ApiToken(SQLModel, table=True):
    """A person's or system's bearer token for the HTTP API and pages. Only its SHA-256 is
    kept: tokens are 256 random bits, so a fast hash is as good as a slow one here."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    role: str
    token_hash: str = Field(unique=True)
    created_at: datetime
    revoked_at: datetime | None = None


class SignoffLink(SQLModel, table=True):
    """A customer signoff link: it acts on one ticket only, once, until it expires."""

    __tablename__ = "signoff_link"

    link_id: str = Field(primary_key=True)
    ticket_id: str = Field(index=True)
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    outcome: str | None = None  # accepted | declined
    # A newer link for the same ticket revokes this one (issue 14): only the latest works.
    revoked_at: datetime | None = None


class DecisionRequest(SQLModel, table=True):
    """A person's decision as the API (or the CLI, with an API token) sent it to a ticket: the
    proof the ticket's workflow checks before the decision counts (messages/decisions.py), and
    the outcome the workflow records for the sender to read."""

    __tablename__ = "decision_request"

    request_id: str = Field(primary_key=True)
    ticket_id: str = Field(index=True)
    signal: str  # approve, review, customer_signoff, ...
    fingerprint: str  # SHA-256 of the signal's payload (messages/decisions.py)
    actor: str  # the authenticated person: a token's name, or a customer's signoff link
    role: str
    token_id: int | None = None
    link_id: str | None = None
    issued_by: str | None = None  # who issued the signoff link a customer acted through
    requested_at: datetime
    # Which activity claimed it (workflow/run/activity id): a retry of that activity claims it
    # again, any other delivery of the same request is refused as a replay.
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    outcome: str | None = None  # accepted | refused
    detail: str | None = None
    decided_at: datetime | None = None


class ReconciliationRun(SQLModel, table=True):
    """One reconciliation of a period; running it again for the same id replaces its findings."""

    __tablename__ = "reconciliation_run"

    run_id: str = Field(primary_key=True)
    period_start: datetime = Field(index=True)
    period_end: datetime
    checked_at: datetime
    tickets: int
    findings: int
    summary_json: str  # totals per customer


class ReconciliationFinding(SQLModel, table=True):
    __tablename__ = "reconciliation_finding"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    kind: str = Field(index=True)
    ticket_id: str = Field(index=True)
    customer: str
    message: str
    amount_cents: int


class RatedLine(SQLModel, table=True):
    """One line of a ticket's latest rating, for the leakage and prepaid reports: what was entered,
    what it is worth at list price, and why it is or is not charged. Rewritten when the ticket is
    re-rated; the ticket row says whether it has been invoiced."""

    __tablename__ = "rated_line"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: str = Field(index=True)
    revision: int
    kind: str  # labor | part
    source_id: str
    service_code: str
    coverage: str | None = Field(default=None, index=True)  # None: charged
    coverage_reason: str = ""
    contract_id: str | None = Field(default=None, index=True)
    prepaid_period: str | None = None  # the retainer month or "block" a covered line drew from
    quantity: str  # hours for labor, units for parts, as decimal text
    quantity_milli: int  # the same in thousandths, for SQL sums
    minutes_milli: int = 0  # labor: the minutes this line stands for, in thousandths
    unit_price_cents: int
    amount_cents: int  # what the customer is charged (0 when covered)
    list_cents: int  # quantity × unit price: what it would have cost


# ---- the embedded systems' directories (store/directory.py) ----


class HelpdeskOrgRecord(SQLModel, table=True):
    __tablename__ = "helpdesk_org"

    id: str = Field(primary_key=True)
    name: str


class BillingCustomerRecord(SQLModel, table=True):
    __tablename__ = "billing_customer"

    id: str = Field(primary_key=True)
    name: str


# ---- sync health (store/sync_health.py) ----


class SyncTally(SQLModel, table=True):
    __tablename__ = "sync_tally"
    __table_args__ = (UniqueConstraint("hour", "system", "outcome"),)

    id: int | None = Field(default=None, primary_key=True)
    hour: datetime = Field(index=True)  # the start of the UTC hour
    system: str  # billing | helpdesk
    outcome: str  # ok | failed | rejected
    calls: int


class SyncAlertRecord(SQLModel, table=True):
    __tablename__ = "sync_alert"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    system: str
    kind: str
    message: str


# ---- the django-helpdesk polling sync's cursor (store/helpdesk_sync.py) ----


class HelpdeskSyncCursor(SQLModel, table=True):
    """The last follow-up a sync delivered, per help desk instance (its base URL)."""

    __tablename__ = "helpdesk_sync_cursor"

    source: str = Field(primary_key=True)
    # Follow-up ids only grow, and every change the sync cares about creates a follow-up
    # (a new ticket creates its "Ticket Opened" one): the highest delivered id is the cursor.
    last_followup_id: int = 0
    # How many follow-ups the help desk listed at that point: where the next sync starts
    # paging, so it does not re-read the whole history every time.
    followups_seen: int = 0
    updated_at: datetime


# ---- finance's pre-bill approvals (store/prebill_approvals.py) ----


class PrebillApprovalRecord(SQLModel, table=True):
    """Finance approving a customer's pre-bill of a period for the total it showed. Append-only:
    the latest row of a (customer, period) counts, the earlier ones are its history."""

    __tablename__ = "prebill_approval"

    id: int | None = Field(default=None, primary_key=True)
    billing_customer_id: str = Field(index=True)
    period: str = Field(index=True)  # YYYY-MM
    total_cents: int  # the pre-bill's total (subtotal and tax) the person approved
    actor: str
    role: str
    reason: str = ""
    approved_at: datetime


# ---- the pages' sessions and flashes (store/page_sessions.py) ----


class PageSessionRecord(SQLModel, table=True):
    """A person signed in to the pages. The cookie carries the session's id, signed; the store
    keeps only its SHA-256, so a copy of the store opens no session. Every page reads the row:
    a session logged out (``ended_at``), expired or whose token was revoked is no session."""

    __tablename__ = "page_session"

    session_hash: str = Field(primary_key=True)
    token_id: int = Field(index=True)  # the API token logged in with (api_token.id)
    name: str
    role: str
    csrf: str  # the value every form of this session carries
    created_at: datetime
    expires_at: datetime = Field(index=True)
    ended_at: datetime | None = None


class PageFlashRecord(SQLModel, table=True):
    """The message a form post leaves for the page it redirects to: one of the fixed templates
    (api/flashes.py) and its values, readable only by the session that posted the form."""

    __tablename__ = "page_flash"

    flash_id: str = Field(primary_key=True)
    session_hash: str = Field(index=True)
    template: str
    values_json: str
    ok: bool
    created_at: datetime = Field(index=True)


# ---- failed log-ins and signoff-link attempts (store/auth_failures.py) ----


class AuthFailureRecord(SQLModel, table=True):
    """One failed attempt, counted against a client address and against a token prefix."""

    __tablename__ = "auth_failure"
    __table_args__ = (Index("ix_auth_failure_scope_subject_at", "scope", "subject", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str  # login | signoff
    subject: str  # "address:<client address>" or "prefix:<token prefix>"
    at: datetime = Field(index=True)


# ---- notifications (store/notifications.py, docs/notifications.md) ----


class NoticeRecord(SQLModel, table=True):
    """One cause to tell a queue's people about (a ticket held, waiting for an approval or for
    its customer's signoff, a customer's decline): written once per cause, by the activity that
    records the ticket's change, and gathered into the next batch e-mail of its owner queue."""

    __tablename__ = "notice"

    cause_key: str = Field(primary_key=True)  # the ticket, what it waits for, and since when
    kind: str  # held | approval | review | signoff | signoff_declined | no_contact
    owner: str = Field(index=True)  # support | billing | manager | customer
    ticket_id: str = Field(index=True)
    customer_id: str | None = None
    reason: str  # safe to e-mail: never a note, never text that redaction would change
    total_cents: int = 0
    created_at: datetime = Field(index=True)
    # The outbox message it went out in (None: waiting for the next batch).
    message_key: str | None = Field(default=None, index=True)


class OutboxMessage(SQLModel, table=True):
    """One message to send, on one channel, exactly as it goes out (a signoff link shows as a
    placeholder: it is put in when sending, never stored). Its key is the idempotency key: a
    retry finds the row and never makes a second."""

    __tablename__ = "outbox_message"

    message_key: str = Field(primary_key=True)
    kind: str = Field(index=True)  # notice | digest | weekly_summary | signoff | reminder | ...
    owner: str = Field(index=True)  # the owner queue, finance, or customer
    channel: str  # email | slack | teams
    recipients: str  # comma-separated addresses; "" for chat (its webhook is a secret)
    subject: str
    body: str
    ticket_id: str | None = Field(default=None, index=True)
    link_id: str | None = None  # the signoff link whose token is put in at send time
    items: int = 0  # how many tickets it lists
    # pending | sending | sent | failed (will retry) | rejected | uncertain | not_sent
    state: str = Field(index=True)
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(index=True)
    sent_at: datetime | None = None
