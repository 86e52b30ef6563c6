"""A billing adapter that fails on purpose: the chaos campaign's (bench/chaos.py) stand-in for a
billing system that answers 500, throttles with 429 and ``Retry-After``, times out, and, worst of
all, loses the reply to a post it has carried out.

    HDB_CHAOS_BILLING_FAILURES=0.2   share of the chaotic calls that fail (unset: no chaos)
    HDB_CHAOS_BILLING_SEED=7         the same seed and the same attempts give the same failures
    HDB_CHAOS_BILLING_METHODS        which calls may fail (default post_lines,ticket_lines)
    HDB_CHAOS_BILLING_RETRY_AFTER=1  seconds a throttled call asks the caller to wait
    HDB_CHAOS_BILLING_TIMEOUT=1      seconds a timeout takes before it raises
    HDB_CHAOS_BILLING_HANG=35        seconds a hanging timeout sleeps (past the activity's
                                     start-to-close, so Temporal times the attempt out)
    HDB_CHAOS_BILLING_HANG_SHARE=0   share of the timeouts that hang instead of raising
    HDB_CHAOS_BILLING_LOG=FILE       one JSON line per failure injected (kind, call, attempt)

Whether a call fails, and how, depends only on the seed, the call, what it is about (the
posting key or the ticket) and the attempt: inside an activity, Temporal's attempt number;
elsewhere a count of the wrapper's own calls. So a run is repeatable, every retry is a fresh
draw, and a worker killed and restarted draws the same as the one it replaced.

Kinds (shares of the failures): ``unavailable`` (a 500 before the call), ``throttled`` (a 429:
``Throttled.retry_after``, which the posting activity turns into Temporal's next retry delay),
``timeout`` (before the call: raises after a delay, or hangs past the activity's timeout) and
``lost_reply`` (the wrapped call runs and succeeds, then the caller hears a 500 or a timeout:
the lines are in the billing system, yet the activity is retried; only idempotent posting keeps
them from being posted twice). A call without side effects that "loses its reply" is simply a
500 after the read.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NoReturn, TypeVar

from billing.reconciliation import LedgerFacts
from connectors.billing import (
    BillingAdapter,
    BillingCustomer,
    BillingUnavailable,
    DraftInvoice,
    PostedLine,
    PostReceipt,
    PostRequest,
)
from settings import Settings

ENV = "HDB_CHAOS_BILLING_"
_T = TypeVar("_T")
KINDS = ("unavailable", "throttled", "timeout", "lost_reply")
# How the failures divide between the kinds (the lost reply only where there is a reply to lose).
DEFAULT_SHARES = {"unavailable": 0.3, "throttled": 0.2, "timeout": 0.2, "lost_reply": 0.3}
DEFAULT_METHODS = frozenset({"post_lines", "ticket_lines"})
CHAOTIC_METHODS = frozenset(
    {
        "customer_exists",
        "list_customers",
        "post_lines",
        "ticket_lines",
        "posted_lines",
        "tickets_posted",
        "ticket_totals",
        "draft_invoices",
        "first_periods",
        "finalize_invoice",
    }
)


class Throttled(BillingUnavailable):
    """A 429: the billing system says when to come back."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChaosTimeout(BillingUnavailable):
    """The billing system did not answer in time (the request may or may not have been done)."""


@dataclass(frozen=True)
class ChaosConfig:
    failure_rate: float = 0.2
    seed: int = 0
    methods: frozenset[str] = DEFAULT_METHODS
    shares: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))
    retry_after: float = 1.0
    timeout_delay: float = 1.0
    hang_seconds: float = 35.0
    hang_share: float = 0.0
    log_file: Path | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.failure_rate <= 1:
            raise ValueError(f"{ENV}FAILURES must be between 0 and 1, not {self.failure_rate}")
        if not 0 <= self.hang_share <= 1:
            raise ValueError(f"{ENV}HANG_SHARE must be between 0 and 1, not {self.hang_share}")
        unknown = set(self.methods) - CHAOTIC_METHODS
        if unknown:
            raise ValueError(f"{ENV}METHODS: no such billing call {sorted(unknown)}")
        if set(self.shares) - set(KINDS) or sum(self.shares.values()) <= 0:
            raise ValueError(f"failure shares must be positive and among {KINDS}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ChaosConfig | None:
        """None unless ``HDB_CHAOS_BILLING_FAILURES`` is set; unset values keep the defaults."""
        if settings.chaos_billing_failures is None:
            return None
        defaults = cls()
        methods = settings.chaos_billing_methods
        return cls(
            failure_rate=settings.chaos_billing_failures,
            seed=_or(settings.chaos_billing_seed, defaults.seed),
            methods=(
                frozenset(m.strip() for m in methods.split(",") if m.strip())
                if methods
                else defaults.methods
            ),
            retry_after=_or(settings.chaos_billing_retry_after, defaults.retry_after),
            timeout_delay=_or(settings.chaos_billing_timeout, defaults.timeout_delay),
            hang_seconds=_or(settings.chaos_billing_hang, defaults.hang_seconds),
            hang_share=_or(settings.chaos_billing_hang_share, defaults.hang_share),
            log_file=settings.chaos_billing_log,
        )


def _draw(*parts: object) -> float:
    """A number in [0, 1) that depends only on ``parts``."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _activity_attempt() -> int | None:
    try:
        from temporalio import activity

        return activity.info().attempt
    except (ImportError, RuntimeError):
        return None


class ChaoticBilling:
    """Wraps any ``BillingAdapter``; the calls in ``config.methods`` fail as configured."""

    def __init__(self, inner: BillingAdapter, config: ChaosConfig) -> None:
        self._inner = inner
        self._config = config
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], int] = {}
        total = sum(config.shares.values())
        self._cumulative: list[tuple[float, str]] = []
        running = 0.0
        for kind in KINDS:
            running += config.shares.get(kind, 0.0) / total
            self._cumulative.append((running, kind))

    @property
    def inner(self) -> BillingAdapter:
        return self._inner

    # ---- deciding and failing ------------------------------------------------------------

    def decide(self, method: str, subject: str, attempt: int) -> str | None:
        """The kind of failure for this call, or None: a pure function of the inputs."""
        if method not in self._config.methods:
            return None
        seed = self._config.seed
        if _draw(seed, "fail", method, subject, attempt) >= self._config.failure_rate:
            return None
        pick = _draw(seed, "kind", method, subject, attempt)
        return next((kind for bound, kind in self._cumulative if pick < bound), KINDS[-1])

    def _attempt(self, method: str, subject: str) -> int:
        attempt = _activity_attempt()
        if attempt is not None:
            return attempt
        with self._lock:
            self._calls[(method, subject)] = self._calls.get((method, subject), 0) + 1
            return self._calls[(method, subject)]

    def _log(self, kind: str, method: str, subject: str, attempt: int, detail: str = "") -> None:
        if self._config.log_file is None:
            return
        record = {
            "kind": kind,
            "method": method,
            "subject": subject,
            "attempt": attempt,
            "detail": detail,
            "pid": os.getpid(),
            "at": time.time(),
        }
        line = (json.dumps(record) + "\n").encode()
        # One write on an O_APPEND descriptor: lines from several processes never interleave.
        descriptor = os.open(self._config.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)

    def _before(self, kind: str, method: str, subject: str, attempt: int) -> None:
        """The failures that happen before the billing system sees the request."""
        where = f"chaos: {method} for {subject} (attempt {attempt})"
        if kind == "unavailable":
            self._log(kind, method, subject, attempt)
            raise BillingUnavailable(f"{where}: 500 Internal Server Error")
        if kind == "throttled":
            self._log(kind, method, subject, attempt)
            raise Throttled(f"{where}: 429 Too Many Requests", self._config.retry_after)
        if kind == "timeout":
            hang = _draw(self._config.seed, "hang", method, subject, attempt)
            if hang < self._config.hang_share:
                self._log(kind, method, subject, attempt, f"hang {self._config.hang_seconds}s")
                time.sleep(self._config.hang_seconds)
            else:
                self._log(kind, method, subject, attempt, f"after {self._config.timeout_delay}s")
                time.sleep(self._config.timeout_delay)
            raise ChaosTimeout(f"{where}: timed out")

    def _lose_reply(self, method: str, subject: str, attempt: int) -> NoReturn:
        """The call has been carried out; the caller never hears so."""
        where = f"chaos: {method} for {subject} (attempt {attempt})"
        self._log("lost_reply", method, subject, attempt)
        if _draw(self._config.seed, "lost-as", method, subject, attempt) < 0.5:
            time.sleep(self._config.timeout_delay)
            raise ChaosTimeout(f"{where}: done, but the reply timed out")
        raise BillingUnavailable(f"{where}: done, but the reply was a 502 Bad Gateway")

    def _call(self, method: str, subject: str, call):  # type: ignore[no-untyped-def]
        attempt = self._attempt(method, subject)
        kind = self.decide(method, subject, attempt)
        if kind is None:
            return call()
        if kind != "lost_reply":
            self._before(kind, method, subject, attempt)
        call()
        self._lose_reply(method, subject, attempt)

    # ---- the BillingAdapter protocol -----------------------------------------------------

    def customer_exists(self, billing_customer_id: str) -> bool:
        return self._call(  # type: ignore[no-any-return]
            "customer_exists",
            billing_customer_id,
            lambda: self._inner.customer_exists(billing_customer_id),
        )

    def list_customers(self) -> list[BillingCustomer]:
        return self._call("list_customers", "-", self._inner.list_customers)  # type: ignore[no-any-return]

    def post_lines(self, request: PostRequest) -> PostReceipt:
        return self._call(  # type: ignore[no-any-return]
            "post_lines", request.posting_key, lambda: self._inner.post_lines(request)
        )

    def ticket_lines(self, ticket_id: str) -> list[PostedLine]:
        return self._call(  # type: ignore[no-any-return]
            "ticket_lines", ticket_id, lambda: self._inner.ticket_lines(ticket_id)
        )

    def posted_lines(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ticket_ids: list[str] | None = None,
    ) -> list[PostedLine]:
        return self._call(  # type: ignore[no-any-return]
            "posted_lines",
            f"{since}..{until}",
            lambda: self._inner.posted_lines(since=since, until=until, ticket_ids=ticket_ids),
        )

    def tickets_posted(self, *, since: datetime, until: datetime) -> set[str]:
        return self._call(  # type: ignore[no-any-return]
            "tickets_posted",
            f"{since}..{until}",
            lambda: self._inner.tickets_posted(since=since, until=until),
        )

    def ticket_totals(self, ticket_ids: list[str]) -> list[LedgerFacts]:
        return self._call(  # type: ignore[no-any-return]
            "ticket_totals",
            ",".join(ticket_ids[:3]),
            lambda: self._inner.ticket_totals(ticket_ids),
        )

    def draft_invoices(self, billing_customer_ids: list[str], period: str) -> list[DraftInvoice]:
        return self._call(  # type: ignore[no-any-return]
            "draft_invoices",
            f"{','.join(billing_customer_ids)} {period}",
            lambda: self._inner.draft_invoices(billing_customer_ids, period),
        )

    def first_periods(self, billing_customer_ids: list[str]) -> dict[str, str]:
        return self._call(  # type: ignore[no-any-return]
            "first_periods",
            ",".join(billing_customer_ids),
            lambda: self._inner.first_periods(billing_customer_ids),
        )

    def finalize_invoice(self, invoice_id: str) -> None:
        self._call("finalize_invoice", invoice_id, lambda: self._inner.finalize_invoice(invoice_id))


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def maybe_chaotic(adapter: BillingAdapter, settings: Settings) -> BillingAdapter:
    """``adapter`` wrapped in ``ChaoticBilling`` when ``HDB_CHAOS_BILLING_FAILURES`` is set,
    else ``adapter`` itself."""
    config = ChaosConfig.from_settings(settings)
    return adapter if config is None else ChaoticBilling(adapter, config)  # type: ignore[return-value]


def injected(log_file: Path) -> list[dict[str, object]]:
    """The failures a run injected, from its ``HDB_CHAOS_BILLING_LOG`` file."""
    if not log_file.exists():
        return []
    return [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
