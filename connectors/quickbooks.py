"""QuickBooks Online as the billing system, built to its public contract (Accounting API v3).

One QuickBooks invoice per posting key. Idempotency has two layers: the ``requestid`` query
parameter (derived from the posting key, so a retried create returns the original invoice
while Intuit still remembers it) and a deterministic ``DocNumber`` looked up before every create
(which never expires). The invoice's ``PrivateNote`` (internal, never shown to the customer)
carries a small manifest — posting key, ticket id and each line's source id, kind, service
code and charge/credit — so the lines read back are exactly the lines we posted.

Money is ``Decimal`` end to end: request bodies are written with exact JSON numbers and
responses are parsed with ``parse_float=Decimal``. OAuth 2 tokens come from a secrets file (or
the environment) and the refresh token Intuit rotates is written back to that file.

QuickBooks has no drafts: an invoice is final when created, and once sent (``EmailStatus``
``EmailSent``) or paid it is immutable there, so it reads back as ``FINALIZED`` (its lines are
locked, as a finalized invoice elsewhere). A later posting for the ticket is, as always, a new
document (an invoice, or a credit memo when it credits more than it charges) whose lines name
the original: ``Adjustment to 130 (late time entry): …``.

For the pre-bill, the manifest also records each document's billing period, so
``period_invoices`` finds a customer's documents of a period with one query per document type;
``tax_for`` reads the rates of the configured sales tax code (``TaxCode`` → ``TaxRate``).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import httpx

from billing.book import BillingBook
from billing.invoice_run import FEE_KIND, parse_period
from billing.money import CENT, ZERO
from billing.posting import BillableLine, LineType
from billing.reconciliation import LedgerFacts
from connectors.billing import (
    FINALIZED,
    BillingCustomer,
    BillingRejected,
    BillingUnavailable,
    DraftInvoice,
    PeriodInvoice,
    PostedLine,
    PostReceipt,
    PostRequest,
    adjustment_description,
    tickets_in_lines,
    totals_from_lines,
)

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://quickbooks.api.intuit.com"
SANDBOX_URL = "https://sandbox-quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
MANIFEST_PREFIX = "helpdesk-billing posting "
PRIVATE_NOTE_MAX = 4000
DESCRIPTION_MAX = 4000
QUERY_PAGE = 1000
PER_TICKET_QUERIES = 20  # more tickets than this are read with one scan instead
# Tax rates change a few times a year: one read serves a whole pre-bill list (every customer)
# and the next few page loads, yet a rate an admin corrects shows within minutes.
TAX_RATE_TTL = timedelta(minutes=10)
TOKEN_MARGIN = timedelta(seconds=60)  # refresh a little before Intuit's expiry
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


# ---- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuickBooksItems:
    """How our service codes become QuickBooks products/services and tax codes.

    ``items`` maps a service code (``LAB-REMOTE``, a part SKU, ``FEE-<contract>``) to a QuickBooks
    Item ``Id``; ``default_item`` catches the rest (None: an unmapped code is refused). US
    companies use the tax codes ``TAX`` and ``NON``; others use their TaxCode ids.

    ``sales_tax_code``: the TaxCode whose rates tax the invoice, in a US company with manual
    sales tax (``TAX`` is a pseudo-code without rates there): sent as the invoice's
    ``TxnTaxDetail.TxnTaxCodeRef``. Elsewhere the taxable line's own code carries the rates.
    ``automated_sales_tax``: QuickBooks picks the rate by address (AST), so nobody here can
    tell it ahead of the invoice.
    """

    items: Mapping[str, str] = field(default_factory=dict)
    default_item: str | None = None
    taxable_tax_code: str = "TAX"
    non_taxable_tax_code: str = "NON"
    sales_tax_code: str | None = None
    automated_sales_tax: bool = False

    def item_for(self, service_code: str) -> str:
        item = self.items.get(service_code, self.default_item)
        if item is None:
            raise BillingRejected(
                f"service code {service_code!r} has no QuickBooks item: add it to the QuickBooks "
                "item map (service code → Item Id)"
            )
        return item


@dataclass(frozen=True, slots=True)
class QuickBooksConfig:
    realm_id: str  # the company id
    items: QuickBooksItems
    base_url: str = PRODUCTION_URL
    token_url: str = TOKEN_URL
    minor_version: int = 75
    # Distinguishes this service's invoices by ticket (ticket ids repeat across help desks).
    reference_prefix: str = "hdb"


# ---- OAuth 2 tokens -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuickBooksCredentials:
    client_id: str
    client_secret: str
    refresh_token: str
    access_token: str | None = None
    access_token_expires_at: datetime | None = None

    def __repr__(self) -> str:  # never log a secret
        return f"QuickBooksCredentials(client_id={self.client_id!r}, ...)"

    def usable(self, now: datetime) -> bool:
        return bool(self.access_token) and (
            self.access_token_expires_at is None
            or self.access_token_expires_at - TOKEN_MARGIN > now
        )


class TokenStore(Protocol):
    def load(self) -> QuickBooksCredentials: ...

    def save(self, credentials: QuickBooksCredentials) -> None: ...

    def locked(self) -> Any:
        """A context manager held while refreshing, so two workers never spend the same
        refresh token (Intuit invalidates the old one once it rotates)."""
        ...


_FILE_KEYS = ("client_id", "client_secret", "refresh_token")


class SecretsFileTokens:
    """Credentials in a JSON file readable by its owner only::

        {"client_id": "…", "client_secret": "…", "refresh_token": "…",
         "access_token": "…", "access_token_expires_at": "2026-11-25T12:00:00+00:00"}

    The rotated refresh token is written back atomically after every refresh.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> QuickBooksCredentials:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise BillingUnavailable(
                f"QuickBooks secrets file {self.path} does not exist: create it with client_id, "
                "client_secret and refresh_token"
            ) from None
        except ValueError as error:
            raise BillingUnavailable(
                f"QuickBooks secrets file {self.path} is not JSON: {error}"
            ) from None
        missing = [key for key in _FILE_KEYS if not isinstance(data.get(key), str) or not data[key]]
        if missing:
            raise BillingUnavailable(
                f"QuickBooks secrets file {self.path}: {', '.join(missing)} required, but missing"
            )
        expires = data.get("access_token_expires_at")
        return QuickBooksCredentials(
            client_id=data["client_id"],
            client_secret=data["client_secret"],
            refresh_token=data["refresh_token"],
            access_token=data.get("access_token") or None,
            access_token_expires_at=datetime.fromisoformat(expires) if expires else None,
        )

    def save(self, credentials: QuickBooksCredentials) -> None:
        data = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "refresh_token": credentials.refresh_token,
            "access_token": credentials.access_token,
            "access_token_expires_at": (
                credentials.access_token_expires_at.isoformat()
                if credentials.access_token_expires_at
                else None
            ),
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)


class EnvironmentTokens:
    """Credentials from ``HDB_QBO_CLIENT_ID``, ``HDB_QBO_CLIENT_SECRET`` and
    ``HDB_QBO_REFRESH_TOKEN``. A rotated refresh token can only be kept in memory here: use a
    secrets file in production, or the next restart starts from a refresh token Intuit retires."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        names = ("HDB_QBO_CLIENT_ID", "HDB_QBO_CLIENT_SECRET", "HDB_QBO_REFRESH_TOKEN")
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise ValueError(f"{', '.join(missing)} required for QuickBooks, but not set")
        self._credentials = QuickBooksCredentials(*(environ[name] for name in names))
        self._lock = threading.Lock()

    def load(self) -> QuickBooksCredentials:
        return self._credentials

    def save(self, credentials: QuickBooksCredentials) -> None:
        if credentials.refresh_token != self._credentials.refresh_token:
            log.warning(
                "QuickBooks rotated the refresh token; it is kept in memory only "
                "(HDB_QBO_REFRESH_TOKEN is now stale): configure a secrets file instead"
            )
        self._credentials = credentials

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield


# ---- errors and exact JSON ----------------------------------------------------------------------


class QuickBooksThrottled(BillingUnavailable):
    """HTTP 429: retry after ``retry_after`` seconds (None when Intuit did not say)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def dumps_exact(value: Any) -> str:
    """JSON with every Decimal written exactly as a number (``71.25``, never ``71.2500001``)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite amount")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(key))}:{dumps_exact(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_exact(item) for item in value) + "]"
    if isinstance(value, float):
        raise TypeError("money must be Decimal, never float")
    return json.dumps(value)


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise BillingUnavailable(f"QuickBooks sent {what} = {value!r}, expected a number")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise BillingUnavailable(f"QuickBooks sent {what} = {value!r}, expected a number") from None


def _fault_text(body: Any) -> str | None:
    """``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type": ...}}`` as one
    sentence (Intuit's JSON keys are capitalized inconsistently; both spellings are read)."""
    fault = (body.get("Fault") or body.get("fault")) if isinstance(body, Mapping) else None
    if not isinstance(fault, Mapping):
        return None
    errors = fault.get("Error") or fault.get("error") or []
    parts = []
    for error in errors if isinstance(errors, list) else [errors]:
        if not isinstance(error, Mapping):
            continue
        message = error.get("Message") or error.get("message") or ""
        detail = error.get("Detail") or error.get("detail") or ""
        code = error.get("code") or error.get("Code")
        element = error.get("element")
        text = f"{message}: {detail}" if message and detail and message not in detail else ""
        extras = ([f"code {code}"] if code else []) + ([f"element {element}"] if element else [])
        parts.append((text or detail or message) + (f" ({', '.join(extras)})" if extras else ""))
    kind = fault.get("type")
    return f"{kind or 'Fault'}: " + "; ".join(parts or ["no detail"])


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "").strip()))
    except ValueError:
        return None


def _quoted(value: str) -> str:
    """A value for the query language: single-quoted, quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _digest(text: str, length: int) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:length]


def request_id(posting_key: str) -> str:
    """The ``requestid`` for a posting key: deterministic, 40 characters (Intuit allows 50)."""
    return hashlib.sha256(posting_key.encode()).hexdigest()[:40]


# ---- the adapter --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Manifest:
    posting_key: str
    ticket_id: str
    lines: list[tuple[str, str, str, LineType]]  # source_id, kind, service_code, line type
    # The billing period (YYYY-MM) of the document; None in documents written before periods
    # were recorded (their TxnDate's month stands in: ``_period_of``).
    period: str | None = None

    def text(self) -> str:
        body: dict[str, Any] = {"key": self.posting_key, "ticket": self.ticket_id}
        if self.period is not None:
            body["period"] = self.period
        body["lines"] = [[s, k, c, t.value] for s, k, c, t in self.lines]
        return MANIFEST_PREFIX + json.dumps(body, separators=(",", ":"))

    @classmethod
    def read(cls, note: Any) -> _Manifest | None:
        if not isinstance(note, str) or MANIFEST_PREFIX not in note:
            return None
        try:
            body = json.loads(note[note.index(MANIFEST_PREFIX) + len(MANIFEST_PREFIX) :])
            period = body.get("period")
            return cls(
                str(body["key"]),
                str(body["ticket"]),
                [(str(s), str(k), str(c), LineType(t)) for s, k, c, t in body["lines"]],
                str(period) if period is not None else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _period_of(manifest: _Manifest, record: Mapping[str, Any]) -> str | None:
    """The document's billing period: as recorded, else its ``TxnDate``'s month."""
    if manifest.period is not None:
        return manifest.period
    txn_date = str(record.get("TxnDate") or "")
    try:
        parse_period(txn_date[:7])
    except ValueError:
        return None
    return txn_date[:7]


def _sent_or_settled(record: Mapping[str, Any]) -> bool:
    """The customer has it (emailed) or it is paid/applied: QuickBooks keeps it as it is."""
    balance = record.get("Balance")
    settled = balance is not None and _decimal(balance, "Balance") == 0
    return settled or record.get("EmailStatus") == "EmailSent"


@dataclass(frozen=True, slots=True)
class _Document:
    """An invoice, or a credit memo for a posting that credits more than it charges."""

    entity: str  # as in the query language and the response envelope
    path: str  # the create endpoint
    sign: int  # our amounts = sign × the document's amounts
    prefix: str  # our invoice_id = prefix + the document's Id

    def reference(self, record: Mapping[str, Any]) -> str:
        return f"{self.prefix}{record.get('Id')}"

    def status(self, record: Mapping[str, Any]) -> str:
        if self.sign < 0:
            balance = record.get("Balance")
            settled = balance is not None and _decimal(balance, "Balance") == 0
            return "applied" if settled else "open"
        # Sent to the customer or paid: the customer has it, so it never changes (locked).
        return FINALIZED if _sent_or_settled(record) else "open"


INVOICE = _Document("Invoice", "invoice", 1, "")
CREDIT_MEMO = _Document("CreditMemo", "creditmemo", -1, "CM-")
DOCUMENTS = (INVOICE, CREDIT_MEMO)


class QuickBooksBilling:
    """``BillingAdapter`` over the QuickBooks Online Accounting API (synchronous)."""

    def __init__(
        self,
        config: QuickBooksConfig,
        tokens: TokenStore,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._config = config
        self._tokens = tokens
        self._now = now or (lambda: datetime.now(UTC))
        self._credentials: QuickBooksCredentials | None = None
        self._http = httpx.Client(timeout=DEFAULT_TIMEOUT, transport=transport)
        # Sales tax code → (read until, its summed rate in percent or None: no usable rates).
        self._tax_rates: dict[str, tuple[datetime, Decimal | None]] = {}

    def close(self) -> None:
        self._http.close()

    # -- references --

    def doc_number(self, ticket_id: str, posting_key: str) -> str:
        """21 characters (QuickBooks' limit): ``H`` + 12 from the ticket + ``-`` + 7 from the
        posting key, so one ticket's invoices share a prefix a LIKE query can find."""
        return f"{self._ticket_prefix(ticket_id)}-{_digest(posting_key, 7)}"

    def _ticket_prefix(self, ticket_id: str) -> str:
        return "H" + _digest(f"{self._config.reference_prefix}:{ticket_id}", 12)

    # -- tokens --

    def _access_token(self) -> str:
        if self._credentials is None:
            self._credentials = self._tokens.load()
        if not self._credentials.usable(self._now()):
            self._refresh(rejected=self._credentials.access_token)
        assert self._credentials is not None and self._credentials.access_token
        return self._credentials.access_token

    def _refresh(self, rejected: str | None) -> None:
        with self._tokens.locked():
            current = self._tokens.load()
            # Another worker may have refreshed while we waited for the lock: use its token.
            if current.access_token != rejected and current.usable(self._now()):
                self._credentials = current
                return
            try:
                response = self._http.post(
                    self._config.token_url,
                    data={"grant_type": "refresh_token", "refresh_token": current.refresh_token},
                    auth=httpx.BasicAuth(current.client_id, current.client_secret),
                    headers={"Accept": "application/json"},
                )
            except httpx.HTTPError as error:
                raise BillingUnavailable(
                    f"the Intuit token endpoint did not answer ({error})"
                ) from error
            if response.status_code == 429 or response.status_code >= 500:
                raise QuickBooksThrottled(
                    f"the Intuit token endpoint answered {response.status_code}",
                    _retry_after(response),
                )
            body = _json(response)
            if response.status_code != 200:
                error = body.get("error") if isinstance(body, Mapping) else None
                # No retry fixes these, but they are not one ticket's fault either: tickets wait
                # (retried with backoff) until someone reconnects the app.
                raise BillingUnavailable(
                    f"Intuit refused to refresh the QuickBooks token ({response.status_code} "
                    f"{error or 'error'}): reconnect the app to the company and store the new "
                    "refresh token"
                    + (" (check the client id and secret)" if error == "invalid_client" else "")
                )
            try:
                refreshed = replace(
                    current,
                    access_token=str(body["access_token"]),
                    refresh_token=str(body.get("refresh_token") or current.refresh_token),
                    access_token_expires_at=self._now()
                    + timedelta(seconds=int(body.get("expires_in", 3600))),
                )
            except (KeyError, TypeError, ValueError):
                raise BillingUnavailable("the Intuit token response has no access_token") from None
            self._tokens.save(refreshed)
            self._credentials = refreshed

    # -- HTTP --

    def _api(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        url = f"{self._config.base_url}/v3/company/{self._config.realm_id}/{path}"
        query = {**(params or {}), "minorversion": self._config.minor_version}
        content = dumps_exact(body).encode() if body is not None else None
        for attempt in (1, 2):
            token = self._access_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if content is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = self._http.request(
                    method, url, params=query, content=content, headers=headers
                )
            except httpx.TimeoutException as error:
                raise BillingUnavailable(
                    f"QuickBooks did not answer {method} {path} in time"
                ) from (error)
            except httpx.TransportError as error:
                raise BillingUnavailable(f"QuickBooks is unreachable ({error})") from error
            if response.status_code == 401 and attempt == 1:
                self._refresh(rejected=token)  # expired or revoked early: one refresh, one retry
                continue
            return self._checked(method, path, response)
        raise AssertionError("unreachable")

    def _checked(self, method: str, path: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status == 429:
            delay = _retry_after(response)
            raise QuickBooksThrottled(
                "QuickBooks is throttling requests"
                + (f": retry after {delay:g} s" if delay is not None else ""),
                delay,
            )
        if status >= 500:
            raise BillingUnavailable(f"QuickBooks answered {status} to {method} {path}")
        body = _json(response)
        fault = _fault_text(body)
        if status in (401, 403):
            raise BillingUnavailable(
                f"QuickBooks refused {method} {path} ({status}"
                + (f", {fault}" if fault else "")
                + "): the connected user needs access to invoices and customers; reconnect the app"
            )
        if status >= 400 or fault:
            raise BillingRejected(
                f"QuickBooks rejected {method} {path}: {fault or f'HTTP {status}'}"
            )
        if not isinstance(body, dict):
            raise BillingUnavailable(f"QuickBooks answered {method} {path} with no JSON object")
        return body

    def _query(self, statement: str) -> Iterator[dict[str, Any]]:
        entity = statement.split(" from ", 1)[1].split()[0]
        start = 1
        while True:
            page = self._api(
                "GET",
                "query",
                params={"query": f"{statement} STARTPOSITION {start} MAXRESULTS {QUERY_PAGE}"},
            )
            rows = (page.get("QueryResponse") or {}).get(entity) or []
            yield from rows
            if len(rows) < QUERY_PAGE:
                return
            start += QUERY_PAGE

    # -- setup --

    def check_setup(self) -> list[str]:
        """What stops this company from taking our invoices, in words an admin can act on
        (empty when ready): custom transaction numbers must be on (our DocNumbers are the
        idempotency reference) and every mapped Item must exist."""
        problems = []
        preferences = self._api("GET", "preferences").get("Preferences") or {}
        if not (preferences.get("SalesFormsPrefs") or {}).get("CustomTxnNumbers"):
            problems.append(
                "turn on Custom transaction numbers (Settings → Account and settings → Sales → "
                "Sales form content): invoices are numbered by the connector"
            )
        wanted = {item: code for code, item in self._config.items.items.items()}
        if self._config.items.default_item is not None:
            wanted.setdefault(self._config.items.default_item, "(default item)")
        if wanted:
            ids = ", ".join(_quoted(item) for item in sorted(wanted))
            found = {
                str(row.get("Id")) for row in self._query(f"select * from Item where Id in ({ids})")
            }
            for item in sorted(set(wanted) - found):
                problems.append(
                    f"QuickBooks has no Item {item} (mapped from {wanted[item]}): fix the item map"
                )
        return problems

    # -- BillingAdapter --

    def customer_exists(self, billing_customer_id: str) -> bool:
        if not billing_customer_id.isdigit():
            return False  # QuickBooks ids are numbers; the book's billing_id must be one
        rows = self._query(f"select * from Customer where Id = {_quoted(billing_customer_id)}")
        return any(True for _ in rows)

    def list_customers(self) -> list[BillingCustomer]:
        return [
            BillingCustomer(str(row["Id"]), str(row.get("DisplayName", "")))
            for row in self._query("select * from Customer")
            if "Id" in row
        ]

    def post_lines(self, request: PostRequest) -> PostReceipt:
        if not request.lines:
            raise BillingRejected(f"posting {request.posting_key!r} has no lines to invoice")
        # QuickBooks refuses an invoice whose total is negative: a posting that credits more
        # than it charges (a reopened ticket billed less) becomes a credit memo, its lines
        # with the opposite sign.
        net = sum((line.amount for line in request.lines), Decimal("0.00"))
        document = CREDIT_MEMO if net < 0 else INVOICE
        adjusts = request.locked_invoice_ids[0] if request.locked_invoice_ids else None
        lines = [
            self._sales_line(
                replace(
                    line,
                    description=adjustment_description(adjusts, line.description, request.reason),
                )
                if adjusts is not None
                else line,
                document.sign,
            )
            for line in request.lines
        ]
        manifest = _Manifest(
            request.posting_key,
            request.ticket_id,
            [(ln.source_id, ln.kind, ln.service_code, ln.line_type) for ln in request.lines],
            self._document_period(request.period, adjusts),
        ).text()
        if len(manifest) > PRIVATE_NOTE_MAX:
            raise BillingRejected(
                f"posting {request.posting_key!r} has too many lines for one QuickBooks invoice "
                f"reference ({len(manifest)} > {PRIVATE_NOTE_MAX} characters)"
            )
        doc_number = self.doc_number(request.ticket_id, request.posting_key)
        # requestid dedup is time-limited: the DocNumber lookup is what makes a late retry safe.
        for kind in DOCUMENTS:
            lookup = f"select * from {kind.entity} where DocNumber = {_quoted(doc_number)}"
            for found in self._query(lookup):
                earlier = _Manifest.read(found.get("PrivateNote"))
                if earlier is None or earlier.posting_key != request.posting_key:
                    raise BillingRejected(
                        f"QuickBooks {kind.entity} {found.get('Id')} has DocNumber {doc_number} "
                        f"but was not posted under {request.posting_key!r}: renumber it"
                    )
                return self._receipt(
                    request.posting_key, kind, found, already_posted=True, adjusts=adjusts
                )
        if not self.customer_exists(request.billing_customer_id):
            raise BillingRejected(
                f"billing customer {request.billing_customer_id!r} does not exist in QuickBooks "
                "(the book's billing_id must be the QuickBooks customer Id)"
            )
        body: dict[str, Any] = {
            "CustomerRef": {"value": request.billing_customer_id},
            "DocNumber": doc_number,
            "PrivateNote": manifest,
            "Line": lines,
        }
        sales_tax_code = self._config.items.sales_tax_code
        if sales_tax_code is not None and not self._config.items.automated_sales_tax:
            # The code the pre-bill's tax_for reads is the one QuickBooks taxes the invoice by.
            body["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": sales_tax_code}}
        created = self._api(
            "POST",
            document.path,
            params={"requestid": request_id(request.posting_key)},
            body=body,
        )
        record = created.get(document.entity)
        if not isinstance(record, dict):
            raise BillingUnavailable(
                f"QuickBooks answered the {document.entity} create without a {document.entity}"
            )
        return self._receipt(
            request.posting_key, document, record, already_posted=False, adjusts=adjusts
        )

    def _document_period(self, period: str, adjusts: str | None) -> str:
        """The period a new document belongs to: the request's, or, for an adjustment to a sent
        or paid invoice, the current month (UTC) when later: QuickBooks locks invoices, not
        periods, so the month it is created in is the open period it goes out with."""
        if adjusts is None:
            return period
        return max(period, f"{self._now().astimezone(UTC):%Y-%m}")

    def _sales_line(self, line: BillableLine, sign: int) -> dict[str, Any]:
        product = line.quantity * line.unit_price
        if product.quantize(CENT, rounding=ROUND_HALF_UP) != line.amount:
            raise BillingRejected(
                f"line {line.source_id!r}: amount {line.amount} is not quantity {line.quantity} × "
                f"unit price {line.unit_price} = {product} (QuickBooks requires Amount = Qty × "
                "UnitPrice)"
            )
        items = self._config.items
        return {
            "DetailType": "SalesItemLineDetail",
            "Amount": sign * line.amount,
            "Description": line.description[:DESCRIPTION_MAX],
            "SalesItemLineDetail": {
                "ItemRef": {"value": items.item_for(line.service_code)},
                "Qty": sign * line.quantity,
                "UnitPrice": line.unit_price,
                "TaxCodeRef": {
                    "value": items.taxable_tax_code if line.taxable else items.non_taxable_tax_code
                },
            },
        }

    def _receipt(
        self,
        posting_key: str,
        document: _Document,
        record: Mapping[str, Any],
        *,
        already_posted: bool,
        adjusts: str | None = None,
    ) -> PostReceipt:
        amounts = [
            document.sign * _decimal(line.get("Amount"), "Line.Amount")
            for line in record.get("Line") or []
            if line.get("DetailType") == "SalesItemLineDetail"
        ]
        manifest = _Manifest.read(record.get("PrivateNote"))
        return PostReceipt(
            posting_key,
            document.reference(record),
            len(amounts),
            sum(amounts, Decimal("0.00")),
            already_posted=already_posted,
            period=_period_of(manifest, record) if manifest is not None else None,
            adjusts_invoice_id=adjusts,
        )

    def ticket_lines(self, ticket_id: str) -> list[PostedLine]:
        prefix = _quoted(self._ticket_prefix(ticket_id) + "-%")
        found = []
        for document in DOCUMENTS:
            rows = self._query(f"select * from {document.entity} where DocNumber LIKE {prefix}")
            found.extend(
                (document, row)
                for row in rows
                if (manifest := _Manifest.read(row.get("PrivateNote")))
                and manifest.ticket_id == ticket_id
            )
        return self._lines_of(found)

    def posted_lines(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ticket_ids: list[str] | None = None,
    ) -> list[PostedLine]:
        if ticket_ids is not None and len(ticket_ids) <= PER_TICKET_QUERIES:
            posted = [line for ticket in ticket_ids for line in self.ticket_lines(ticket)]
        elif ticket_ids is not None:
            # Many tickets: one paginated scan beats two queries per ticket (QuickBooks
            # throttles each company to a few hundred requests a minute).
            wanted = set(ticket_ids)
            posted = [line for line in self.posted_lines() if line.ticket_id in wanted]
        else:
            conditions = []
            if since is not None:
                conditions.append(f"MetaData.CreateTime >= {_quoted(_qbo_time(since))}")
            if until is not None:
                conditions.append(f"MetaData.CreateTime < {_quoted(_qbo_time(until))}")
            where = f" where {' and '.join(conditions)}" if conditions else ""
            posted = self._lines_of(
                [
                    (document, row)
                    for document in DOCUMENTS
                    for row in self._query(f"select * from {document.entity}{where}")
                ]
            )
        return [
            line
            for line in posted
            if (since is None or line.posted_at >= since)
            and (until is None or line.posted_at < until)
        ]

    def tickets_posted(self, *, since: datetime, until: datetime) -> set[str]:
        return tickets_in_lines(self.posted_lines(since=since, until=until))

    def ticket_totals(self, ticket_ids: list[str]) -> list[LedgerFacts]:
        # QuickBooks sums nothing per ticket for us: add up the lines read back.
        return totals_from_lines(self.posted_lines(ticket_ids=ticket_ids))

    def _lines_of(self, records: list[tuple[_Document, dict[str, Any]]]) -> list[PostedLine]:
        posted: list[PostedLine] = []
        for document, record in records:
            manifest = _Manifest.read(record.get("PrivateNote"))
            if manifest is None:
                continue  # not ours
            sales = [
                line
                for line in record.get("Line") or []
                if line.get("DetailType") == "SalesItemLineDetail"
            ]
            reference = document.reference(record)
            if sales and all(_decimal(ln.get("Amount"), "Line.Amount") == 0 for ln in sales):
                # Voided in QuickBooks (amounts zeroed; we never post a zero line): it holds
                # nothing, so the ticket's lines are posted again on its next posting.
                continue
            if len(sales) != len(manifest.lines):
                raise BillingUnavailable(
                    f"QuickBooks {document.entity} {record.get('Id')} has {len(sales)} item lines "
                    f"but was posted with {len(manifest.lines)}: it was edited in QuickBooks; "
                    "restore it, or void it and re-post the ticket"
                )
            created = _parse_time(record, "MetaData.CreateTime")
            for line, (source_id, kind, service_code, line_type) in zip(
                sales, manifest.lines, strict=True
            ):
                detail = line.get("SalesItemLineDetail") or {}
                tax_code = (detail.get("TaxCodeRef") or {}).get("value")
                sign = document.sign
                posted.append(
                    PostedLine(
                        BillableLine(
                            source_id=source_id,
                            kind=kind,
                            service_code=service_code,
                            description=str(line.get("Description") or ""),
                            quantity=sign * _decimal(detail.get("Qty"), "Line.Qty"),
                            unit_price=_decimal(detail.get("UnitPrice"), "Line.UnitPrice"),
                            amount=sign * _decimal(line.get("Amount"), "Line.Amount"),
                            taxable=tax_code == self._config.items.taxable_tax_code,
                            line_type=line_type,
                        ),
                        manifest.ticket_id,
                        str((record.get("CustomerRef") or {}).get("value", "")),
                        reference,
                        document.status(record),
                        manifest.posting_key,
                        created,
                    )
                )
        return sorted(posted, key=lambda line: line.posted_at)

    # -- the pre-bill --

    def period_invoices(self, billing_customer_id: str, period: str) -> list[PeriodInvoice]:
        """The customer's invoices and credit memos of ``period`` that this service wrote, with
        their lines: ``FINALIZED`` once sent or paid (applied, for a memo), else ``draft`` (open
        and not sent: it can still change). One query per document type, by customer and
        ``TxnDate`` from the period's start (a day early, for time zones): a document is dated
        when it is created, which is never before its period but may be well after it (a ticket
        held for weeks), so there is no upper bound; the recorded period then picks them."""
        if not billing_customer_id.isdigit():
            return []  # not a QuickBooks customer Id (see customer_exists)
        since = parse_period(period) - timedelta(days=1)
        where = f"CustomerRef = {_quoted(billing_customer_id)} and TxnDate >= {_quoted(str(since))}"
        invoices = []
        for document in DOCUMENTS:
            for record in self._query(f"select * from {document.entity} where {where}"):
                manifest = _Manifest.read(record.get("PrivateNote"))
                if manifest is None or _period_of(manifest, record) != period:
                    continue  # not ours, or another period's
                lines = self._lines_of([(document, record)])
                if not lines:
                    continue  # voided: it holds nothing
                invoices.append(
                    PeriodInvoice(
                        document.reference(record),
                        billing_customer_id,
                        period,
                        FINALIZED if _sent_or_settled(record) else "draft",
                        lines,
                    )
                )
        return sorted(invoices, key=lambda invoice: invoice.lines[0].posted_at)

    def tax_for(
        self, billing_customer_id: str, lines: list[BillableLine], book: BillingBook
    ) -> Decimal | None:
        """The sales tax QuickBooks puts on these lines: the taxable lines' amounts times the
        summed ``RateValue`` (percent) of the sales tax code's ``SalesTaxRateList``, rounded half
        up to cents once, as on one invoice. None when nobody can tell here: automated sales
        tax, a code without rates (the US pseudo-code ``TAX``, unless ``sales_tax_code`` names
        the real one), a rate that is not a plain percentage of the amount, a tax-exempt
        customer, or a failed read. The book's own ``tax_rate`` is not QuickBooks' and is not
        used."""
        items = self._config.items
        code = items.sales_tax_code or items.taxable_tax_code
        if items.automated_sales_tax or not code:
            return None
        taxable = sum((line.amount for line in lines if line.taxable), ZERO)
        if not any(line.taxable for line in lines):
            return ZERO  # every line posts with the non-taxable code: QuickBooks taxes none
        try:
            customers = list(
                self._query(f"select * from Customer where Id = {_quoted(billing_customer_id)}")
            )
        except (BillingUnavailable, BillingRejected) as error:
            log.warning(
                "QuickBooks customer %s not read for its tax: %s", billing_customer_id, error
            )
            return None
        if not customers or customers[0].get("Taxable") is False:
            return None  # unknown, or exempt: QuickBooks decides by its exemption
        rate = self._sales_tax_rate(code)
        if rate is None:
            return None
        return (taxable * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)

    def _sales_tax_rate(self, code: str) -> Decimal | None:
        now = self._now()
        cached = self._tax_rates.get(code)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            rate = self._read_sales_tax_rate(code)
        except (BillingUnavailable, BillingRejected) as error:
            log.warning("QuickBooks tax code %s not read: %s", code, error)
            return None  # not cached: the next pre-bill tries again
        self._tax_rates[code] = (now + TAX_RATE_TTL, rate)
        return rate

    def _read_sales_tax_rate(self, code: str) -> Decimal | None:
        """The summed percent of the code's sales rates; None when it has none we can add."""
        tax_codes = list(self._query(f"select * from TaxCode where Id = {_quoted(code)}"))
        if not tax_codes or tax_codes[0].get("Active") is False:
            return None
        details = (tax_codes[0].get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
        if not details:
            return None  # TAX/NON pseudo-codes carry no rates
        rate_ids = []
        for detail in details:
            # TaxOnTax and the like compound on other taxes: not a sum of percentages.
            if detail.get("TaxTypeApplicable", "TaxOnAmount") != "TaxOnAmount":
                return None
            rate_id = (detail.get("TaxRateRef") or {}).get("value")
            if rate_id is None:
                return None
            rate_ids.append(str(rate_id))
        ids = ", ".join(_quoted(rate_id) for rate_id in sorted(set(rate_ids)))
        rates = {
            str(row.get("Id")): row
            for row in self._query(f"select * from TaxRate where Id in ({ids})")
        }
        total = ZERO
        for rate_id in rate_ids:
            rate = rates.get(rate_id)
            if rate is None or rate.get("Active") is False:
                return None
            total += _decimal(rate.get("RateValue"), "TaxRate.RateValue")
        return total

    def draft_invoices(self, billing_customer_ids: list[str], period: str) -> list[DraftInvoice]:
        return []  # a QuickBooks invoice is final when created: there are no drafts to finalize

    def first_periods(self, billing_customer_ids: list[str]) -> dict[str, str]:
        """By the month (UTC) each customer's first line that is not a fee was posted."""
        first: dict[str, str] = {}
        wanted = set(billing_customer_ids)
        for posted in self.posted_lines():
            if posted.line.kind == FEE_KIND or posted.billing_customer_id not in wanted:
                continue
            period = f"{posted.posted_at.astimezone(UTC):%Y-%m}"
            if period < first.get(posted.billing_customer_id, "9999-99"):
                first[posted.billing_customer_id] = period
        return first

    def finalize_invoice(self, invoice_id: str) -> None:
        return None  # nothing to do (see draft_invoices); sending stays with QuickBooks users


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError:
        return {}


def _qbo_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _parse_time(invoice: Mapping[str, Any], what: str) -> datetime:
    value = (invoice.get("MetaData") or {}).get("CreateTime")
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise BillingUnavailable(f"QuickBooks sent {what} = {value!r}, expected a time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
