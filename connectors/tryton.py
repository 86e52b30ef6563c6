"""Tryton as the billing system, over its JSON-RPC API: one draft customer invoice per customer
and billing period that lines are added to under their posting key, posted (given its number)
by the invoice run. A posted Tryton invoice is immutable, so it locks its customer's period: a
later posting for that period goes on the draft of the next open period, each line's description
naming the posted invoice ("Adjustment to 12: ...").

Tryton has no idempotency header, so every line carries a note naming its posting key
(``<instance id>:<ticket id>:r<revision>``), and the key is searched before every write: a retry
after a crash between the write and its reply finds the lines and writes nothing. The lines of one
posting are added in one write to their invoice, hence one Tryton transaction: all or none, and
the draft's taxes recomputed with them. Two attempts racing past the search both write; the
later one sees the earlier one's lines and removes its own.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx

from billing.book import BillingBook
from billing.invoice_run import FEE_KIND, next_period, parse_period
from billing.posting import BillableLine, LineType
from billing.reconciliation import LedgerFacts
from connectors.billing import (
    BillingCustomer,
    BillingRejected,
    BillingUnavailable,
    DraftInvoice,
    PostedLine,
    PostReceipt,
    PostRequest,
    adjustment_description,
    tickets_in_lines,
    totals_from_lines,
)

CENTS = Decimal("0.01")
PRICE_PLACES = Decimal("0.0001")
# Starts the note of every line the connector writes (notes are not printed on invoices): the
# lines it owns, and the drafts holding them, are searched by it.
LINE_MARKER = "helpdesk-billing "
# Tryton states as the service names them (the embedded ledger's "draft" and "finalized").
INVOICE_STATUS = {
    "draft": "draft",
    "validated": "draft",
    "posted": "finalized",
    "paid": "finalized",
}
# Warnings the invoice run confirms when posting: a line without the product's taxes is the
# book's decision (labor is taxable only under some contracts), not a mistake.
ACCEPTED_WARNINGS = ("invoice_taxes",)
_LINE_FIELDS = [
    "invoice",
    "product",
    "quantity",
    "unit_price",
    "amount",
    "description",
    "note",
    "taxes",
    "create_date",
]
_SEARCH_CHUNK = 50


class TrytonError(Exception):
    """An error Tryton reported for a call (a user error, warning or server fault)."""

    def __init__(self, kind: str, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.name = name  # a warning's key, to confirm it


def _decode(value: dict[str, Any]) -> Any:
    kind = value.get("__class__")
    if kind == "Decimal":
        return Decimal(value["decimal"])
    if kind == "datetime":
        return datetime(
            value["year"],
            value["month"],
            value["day"],
            value["hour"],
            value["minute"],
            value["second"],
            value["microsecond"],
        )
    if kind == "date":
        return date(value["year"], value["month"], value["day"])
    return value


def _encode(value: object) -> object:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, datetime):
        # Tryton keeps timestamps as naive UTC.
        moment = value.astimezone(UTC) if value.tzinfo else value
        return {
            "__class__": "datetime",
            "year": moment.year,
            "month": moment.month,
            "day": moment.day,
            "hour": moment.hour,
            "minute": moment.minute,
            "second": moment.second,
            "microsecond": moment.microsecond,
        }
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


def dumps(payload: object) -> str:
    return json.dumps(payload, default=_encode)


def loads(text: str) -> Any:
    # parse_float: quantities (Tryton floats) arrive as their exact decimal text.
    return json.loads(text, object_hook=_decode, parse_float=Decimal)


def _money(value: Decimal) -> Decimal:
    """Tryton keeps unit prices to 4 places: 95.0000 reads back as 95.00."""
    cents = value.quantize(CENTS)
    return cents if cents == value else value.normalize()


def _note(
    request: PostRequest, line: BillableLine, attempt: str, period: str, adjusts: int | None
) -> str:
    """``period``: the billing period of the invoice the line is on (drafts are found by it);
    ``of_period``: the period the line belongs to (an earlier one for an adjustment)."""
    return LINE_MARKER + json.dumps(
        {
            "attempt": attempt,
            "period": period,
            "of_period": request.period,
            "adjusts": None if adjusts is None else str(adjusts),
            "posting_key": request.posting_key,
            "ticket_id": request.ticket_id,
            "source_id": line.source_id,
            "kind": line.kind,
            "service_code": line.service_code,
            "line_type": line.line_type.value,
            "taxable": line.taxable,
        },
        sort_keys=True,
    )


def _note_fields(note: str | None) -> dict[str, Any] | None:
    if not note or not note.startswith(LINE_MARKER):
        return None
    try:
        fields = json.loads(note[len(LINE_MARKER) :])
    except ValueError:
        return None
    return fields if isinstance(fields, dict) and "posting_key" in fields else None


def _amount_problem(line: BillableLine, unit_rounding: Decimal) -> str | None:
    """Why Tryton would bill this line a different amount, if it would: it rounds the quantity
    to the unit, the unit price to 4 places and quantity × price half-even to cents, where the
    book rounds half up (0.25 h × 142.50 = 35.625: 35.63 here, 35.62 in Tryton)."""
    if line.quantity % unit_rounding:
        return f"Tryton rounds quantities of this unit to {unit_rounding}, not {line.quantity}"
    if line.unit_price != line.unit_price.quantize(PRICE_PLACES):
        return f"Tryton keeps unit prices to 4 places, not {line.unit_price}"
    tryton_amount = (line.quantity * line.unit_price).quantize(CENTS, rounding=ROUND_HALF_EVEN)
    if tryton_amount != line.amount:
        return (
            f"Tryton would bill {line.quantity} × {line.unit_price} as {tryton_amount}, not "
            f"{line.amount} (it rounds half to even); post it by hand or adjust the price"
        )
    return None


def _line_values(
    line: BillableLine, product: dict[str, Any], company: int, currency: int
) -> dict[str, Any]:
    """The line with our quantity, price and description on Tryton's defaults for its product;
    the product's taxes only where the book says the line is taxable."""
    if problem := _amount_problem(line, product["rounding"]):
        raise BillingRejected(f"line {line.source_id} ({line.description}): {problem}")
    return {
        "type": "line",
        "company": company,
        "currency": currency,
        "product": product["product"],
        "unit": product["unit"],
        "account": product["account"],
        # Tryton stores quantities as floats; hour fractions survive the round trip.
        "quantity": float(line.quantity),
        "unit_price": line.unit_price,
        "description": line.description,
        "taxes": [("add", product["taxes"] if line.taxable else [])],
    }


def _attempt_of(line: dict[str, Any]) -> str | None:
    fields = _note_fields(line["note"])
    return fields.get("attempt") if fields else None


def _like(text: str) -> str:
    """``text`` for a LIKE pattern; matches are checked exactly afterwards anyway."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _key_pattern(field: str, value: str, *, prefix: bool = False) -> str:
    """A LIKE pattern for notes holding ``"field": "value"`` (or a value starting so)."""
    text = json.dumps({field: value})[1:-1]
    return f"%{_like(text[:-1] if prefix else text)}%"


class TrytonBilling:
    """The BillingAdapter for a Tryton 8.2 server with ``account_invoice`` activated.

    ``url`` is the server (``http://host:8000``), ``database`` the database name, ``login`` and
    ``password`` the integration user's (docs/connector-tryton.md lists the access it needs).
    ``instance_id``, when given, limits reads to lines this help desk instance posted: ticket ids
    repeat across instances, posting keys do not.
    """

    def __init__(
        self,
        url: str,
        database: str,
        login: str,
        password: str,
        *,
        instance_id: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._rpc_url = f"{url.rstrip('/')}/{database}/rpc/"
        self._login = login
        self._password = password
        self._instance_id = instance_id
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._authorization: str | None = None
        self._context: dict[str, Any] = {}

    def close(self) -> None:
        self._http.close()

    # -- JSON-RPC -----------------------------------------------------------------------------

    def _post(self, method: str, params: list[Any], authorization: str | None) -> httpx.Response:
        body = {"id": next(self._ids), "method": method, "params": params}
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        try:
            response = self._http.post(self._rpc_url, content=dumps(body), headers=headers)
        except httpx.TimeoutException as error:
            raise BillingUnavailable(f"Tryton did not answer {method} in time: {error}") from error
        except httpx.HTTPError as error:
            raise BillingUnavailable(f"cannot reach Tryton at {self._rpc_url}: {error}") from error
        if response.status_code == 429 or response.status_code >= 500:
            raise BillingUnavailable(
                f"Tryton answered {method} with HTTP {response.status_code}; retrying later"
            )
        return response

    def _log_in(self) -> None:
        response = self._post(
            "common.db.login", [self._login, {"password": self._password}, "en"], None
        )
        if response.status_code in (401, 403):
            # Not a rejection of the posting: once the credentials are fixed, retries succeed.
            raise BillingUnavailable(
                f"Tryton refused the login {self._login!r}: check HDB_TRYTON_LOGIN and "
                "HDB_TRYTON_PASSWORD"
            )
        if response.status_code == 404:
            raise BillingUnavailable(f"Tryton has no database at {self._rpc_url}")
        payload = self._payload("common.db.login", response)
        user_id, session = payload[0], payload[1]
        token = base64.b64encode(f"{self._login}:{user_id}:{session}".encode()).decode()
        authorization = f"Session {token}"
        response = self._post("model.res.user.get_preferences", [True, {}], authorization)
        self._context = self._payload("model.res.user.get_preferences", response)
        self._authorization = authorization

    def _payload(self, method: str, response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise BillingRejected(
                f"Tryton refused {method} (HTTP {response.status_code}): "
                f"{response.text[:200].strip()}"
            )
        try:
            data = loads(response.text)
        except ValueError as error:
            raise BillingUnavailable(f"Tryton sent an unreadable answer to {method}") from error
        if "error" in data:
            raise self._error(method, data["error"])
        return data["result"]

    @staticmethod
    def _error(method: str, error: Any) -> TrytonError:
        kind, details = (error[0], error[1]) if isinstance(error, list) and error else (error, "")
        if kind == "UserError":
            message, description = details[0], details[1]
            return TrytonError(kind, f"{message} {description}".strip())
        if kind == "UserWarning":
            name, message, description = details
            return TrytonError(kind, f"{message} {description}".strip(), name=name)
        if kind == "ConcurrencyException":
            return TrytonError(kind, str(details))
        return TrytonError("ServerError", f"{method} failed in Tryton: {kind}")

    def _call(self, method: str, *params: Any) -> Any:
        """Call ``method`` with the user's context; a lapsed session is renewed once."""
        for attempt in (1, 2):
            with self._lock:
                if self._authorization is None:
                    self._log_in()
                authorization = self._authorization
            response = self._post(method, [*params, self._context], authorization)
            if response.status_code == 401 and attempt == 1:
                with self._lock:
                    if self._authorization == authorization:
                        self._authorization = None
                continue
            try:
                return self._payload(method, response)
            except TrytonError as error:
                if error.kind in ("ConcurrencyException", "ServerError"):
                    raise BillingUnavailable(error.message) from error
                raise
        raise BillingUnavailable(f"Tryton keeps refusing the session of {self._login!r}")

    def _rejecting(self, method: str, *params: Any) -> Any:
        """``_call`` where a Tryton user error means the request can never succeed."""
        try:
            return self._call(method, *params)
        except TrytonError as error:
            raise BillingRejected(f"Tryton refused {method}: {error.message}") from error

    def _search_read(
        self, model: str, domain: list[Any], fields: list[str], order: list[Any] | None = None
    ) -> list[dict[str, Any]]:
        return self._rejecting(f"model.{model}.search_read", domain, 0, None, order, fields)

    # -- customers ----------------------------------------------------------------------------

    def _party(self, billing_customer_id: str) -> dict[str, Any] | None:
        parties = self._search_read(
            "party.party", [("code", "=", billing_customer_id)], ["code", "name"]
        )
        return parties[0] if parties else None

    def customer_exists(self, billing_customer_id: str) -> bool:
        return self._party(billing_customer_id) is not None

    def list_customers(self) -> list[BillingCustomer]:
        companies = self._search_read("company.company", [], ["party"])
        own = [company["party"] for company in companies]
        parties = self._search_read(
            "party.party", [("id", "not in", own)], ["code", "name"], [("code", "ASC")]
        )
        return [BillingCustomer(party["code"], party["name"]) for party in parties]

    # -- posting ------------------------------------------------------------------------------

    def post_lines(self, request: PostRequest) -> PostReceipt:
        try:
            parse_period(request.period)
        except ValueError as error:
            raise BillingRejected(f"posting {request.posting_key!r}: {error}") from None
        earlier = self._lines_with_key(request.posting_key)
        if earlier:
            return self._receipt(request.posting_key, earlier, already_posted=True)
        party = self._party(request.billing_customer_id)
        if party is None:
            raise BillingRejected(
                f"billing customer {request.billing_customer_id!r} does not exist in Tryton: "
                "create a party with that code, or fix the customer's billing_id in the book"
            )
        if not request.lines:
            return PostReceipt(request.posting_key, "", 0, Decimal("0.00"), already_posted=False)
        attempt = self._create_lines(request, party)
        # Two attempts racing past the search both write; the one holding the lowest line id
        # keeps its lines, the other removes its own (a draft's lines can be deleted).
        lines = self._lines_with_key(request.posting_key)
        if _attempt_of(lines[0]) != attempt:
            ours = [line for line in lines if _attempt_of(line) == attempt]
            self._write_lines(ours[0]["invoice"], [("delete", [line["id"] for line in ours])])
            lines = self._lines_with_key(request.posting_key)
            return self._receipt(request.posting_key, lines, already_posted=True)
        return self._receipt(request.posting_key, lines, already_posted=False)

    @staticmethod
    def _receipt(
        posting_key: str, lines: list[dict[str, Any]], already_posted: bool
    ) -> PostReceipt:
        fields = _note_fields(lines[0]["note"]) or {}
        return PostReceipt(
            posting_key,
            str(lines[0]["invoice"]),
            len(lines),
            sum((line["amount"] for line in lines), Decimal("0.00")),
            already_posted=already_posted,
            period=fields.get("period"),
            adjusts_invoice_id=fields.get("adjusts"),
        )

    def _lines_with_key(self, posting_key: str) -> list[dict[str, Any]]:
        domain = [("note", "like", _key_pattern("posting_key", posting_key))]
        lines = self._search_read(
            "account.invoice.line", domain, ["invoice", "amount", "note"], [("id", "ASC")]
        )
        return [
            line
            for line in lines
            if (fields := _note_fields(line["note"])) and fields["posting_key"] == posting_key
        ]

    def _create_lines(self, request: PostRequest, party: dict[str, Any]) -> str:
        """The write itself: every line of the posting in one call on the customer's draft, so
        one Tryton transaction adds them and recomputes the draft's taxes. Returns the attempt
        id the notes carry. Retried once if the draft was posted in between (the invoice run
        finalizing it)."""
        attempt = uuid.uuid4().hex
        company, currency = self._company_currency()
        products: dict[str, dict[str, Any]] = {}
        rows = []
        adjusts = self._posted_invoice(party, request.period)
        period = request.period
        while self._posted_invoice(party, period) is not None:
            period = next_period(period)
        # The customer knows a posted invoice by the number Tryton gave it, not by its id.
        adjusts_name = self._invoice_number(adjusts) if adjusts is not None else ""
        for line in request.lines:
            if adjusts is not None:
                line = dataclasses.replace(
                    line,
                    description=adjustment_description(
                        adjusts_name, line.description, request.reason
                    ),
                )
            if line.service_code not in products:
                products[line.service_code] = self._product_defaults(
                    line.service_code, party, company, currency
                )
            rows.append(
                {
                    **_line_values(line, products[line.service_code], company, currency),
                    "note": _note(request, line, attempt, period, adjusts),
                }
            )
        for retry in (False, True):
            invoice_id = self._draft_invoice(party, period)
            if invoice_id is None:
                self._create_invoice(party, rows)
                return attempt
            try:
                self._write_lines(invoice_id, [("create", rows)])
                return attempt
            except BillingRejected:
                still_draft = self._search_read(
                    "account.invoice", [("id", "=", invoice_id), ("state", "=", "draft")], []
                )
                if still_draft or retry:
                    raise
        raise AssertionError("unreachable")

    def _write_lines(self, invoice_id: int, actions: list[tuple[str, list[Any]]]) -> None:
        """Change lines through their invoice: Tryton then updates the draft's tax lines."""
        self._rejecting("model.account.invoice.write", [invoice_id], {"lines": actions})

    def _product_defaults(
        self, code: str, party: dict[str, Any], company: int, currency: int
    ) -> dict[str, Any]:
        """What Tryton's own product on-change fills in for a customer line of ``code`` (account,
        unit, taxes), and the unit's rounding."""
        products = self._search_read("product.product", [("code", "=", code)], ["code"])
        if not products:
            raise BillingRejected(
                f"Tryton has no product with code {code!r}: create it (a service product for "
                "labor, goods for parts) with an accounting category"
            )
        changes = self._rejecting(
            "model.account.invoice.line.on_change",
            {
                "product": products[0]["id"],
                "type": "line",
                "invoice_type": "out",
                "party": party["id"],
                "company": company,
                "currency": currency,
                "quantity": 1.0,
                "unit": None,
                "account": None,
                "taxes": [],
                "description": None,
                "unit_price": None,
                "taxes_date": None,
                "invoice": None,
            },
            ["product"],
        )
        if not changes.get("account"):
            raise BillingRejected(
                f"product {code!r} has no revenue account in Tryton: give it an accounting "
                "category with one"
            )
        (unit,) = self._search_read("product.uom", [("id", "=", changes["unit"])], ["rounding"])
        return {
            "product": products[0]["id"],
            "unit": changes["unit"],
            "account": changes["account"],
            "taxes": [added[1]["id"] for added in changes.get("taxes", {}).get("add", [])],
            "rounding": Decimal(str(unit["rounding"])),
        }

    def _company_currency(self) -> tuple[int, int]:
        company = self._context.get("company")
        if not company:
            raise BillingRejected(
                f"the Tryton user {self._login!r} has no current company: set one in its "
                "preferences"
            )
        companies = self._search_read("company.company", [("id", "=", company)], ["currency"])
        return int(company), int(companies[0]["currency"])

    def _draft_invoice(self, party: dict[str, Any], period: str) -> int | None:
        """The customer's draft of ``period`` holding lines the service wrote, the oldest if
        several."""
        drafts = self._search_read(
            "account.invoice",
            [
                ("type", "=", "out"),
                ("party", "=", party["id"]),
                ("state", "=", "draft"),
                ("lines.note", "like", _key_pattern("period", period)),
            ],
            [],
            [("id", "ASC")],
        )
        return int(drafts[0]["id"]) if drafts else None

    def _posted_invoice(self, party: dict[str, Any], period: str) -> int | None:
        """The customer's posted (immutable) invoice of ``period``, the latest: it locks it."""
        posted = self._search_read(
            "account.invoice",
            [
                ("type", "=", "out"),
                ("party", "=", party["id"]),
                ("state", "in", ["posted", "paid"]),
                ("lines.note", "like", _key_pattern("period", period)),
            ],
            [],
            [("id", "DESC")],
        )
        return int(posted[0]["id"]) if posted else None

    def _invoice_number(self, invoice_id: int) -> str:
        """A posted invoice's number (its id if Tryton gave it none)."""
        found = self._search_read("account.invoice", [("id", "=", invoice_id)], ["number"])
        return str(found[0]["number"] or invoice_id) if found else str(invoice_id)

    def _create_invoice(self, party: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """A new draft for the customer, created with its first lines in one call: a draft the
        service made always holds its lines (that is how it is recognised; a comment would be
        printed on the invoice)."""
        company, currency = self._company_currency()
        values: dict[str, Any] = {
            "type": "out",
            "party": party["id"],
            "company": company,
            "currency": currency,
            "journal": None,
            "account": None,
            "invoice_address": None,
            "payment_term": None,
            "lines": [],
            "taxes": [],
            "invoice_date": None,
            "accounting_date": None,
        }
        # On-change does not run for records created over RPC: ask Tryton for what its client
        # would fill in (receivable account, invoice address, payment term), then set them.
        changes = self._rejecting("model.account.invoice.on_change", values, ["party"])
        journals = self._search_read("account.journal", [("type", "=", "revenue")], [])
        if not journals:
            raise BillingRejected("Tryton has no revenue journal for customer invoices")
        if not changes.get("account") or not changes.get("invoice_address"):
            raise BillingRejected(
                f"Tryton party {party['code']!r} lacks a receivable account or an invoice address"
            )
        invoice = {
            "type": "out",
            "party": party["id"],
            "company": company,
            "currency": currency,
            "journal": journals[0]["id"],
            "account": changes["account"],
            "invoice_address": changes["invoice_address"],
            "payment_term": changes.get("payment_term"),
            "lines": [("create", rows)],
        }
        self._rejecting("model.account.invoice.create", [invoice])

    # -- reading back -------------------------------------------------------------------------

    def ticket_lines(self, ticket_id: str) -> list[PostedLine]:
        return self.posted_lines(ticket_ids=[ticket_id])

    def posted_lines(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ticket_ids: list[str] | None = None,
    ) -> list[PostedLine]:
        # A cancelled invoice bills nothing: its lines are not the customer's (as QuickBooks'
        # voided invoices are not); reconciliation then reports the ticket as not in billing.
        domain: list[Any] = [
            ("note", "like", f"{_like(LINE_MARKER)}%"),
            ("invoice.state", "!=", "cancelled"),
        ]
        if self._instance_id is not None:
            domain.append(
                ("note", "like", _key_pattern("posting_key", f"{self._instance_id}:", prefix=True))
            )
        if since is not None:
            domain.append(("create_date", ">=", since))
        if until is not None:
            domain.append(("create_date", "<", until))
        if ticket_ids is None:
            rows = self._search_read("account.invoice.line", domain, _LINE_FIELDS, [("id", "ASC")])
        elif not ticket_ids:
            rows = []
        else:
            rows = []
            for chunk in _chunks(sorted(set(ticket_ids)), _SEARCH_CHUNK):
                either = ["OR", *(("note", "like", _key_pattern("ticket_id", t)) for t in chunk)]
                rows += self._search_read(
                    "account.invoice.line", [*domain, either], _LINE_FIELDS, [("id", "ASC")]
                )
        return self._posted(rows, None if ticket_ids is None else set(ticket_ids))

    def _posted(self, rows: list[dict[str, Any]], ticket_ids: set[str] | None) -> list[PostedLine]:
        lines = []
        for row in rows:
            fields = _note_fields(row["note"])
            if fields is None or (ticket_ids is not None and fields["ticket_id"] not in ticket_ids):
                continue
            if self._instance_id and not fields["posting_key"].startswith(f"{self._instance_id}:"):
                continue
            lines.append((row, fields))
        invoices = self._invoices({row["invoice"] for row, _ in lines})
        posted = []
        for row, fields in sorted(lines, key=lambda pair: pair[0]["id"]):
            invoice = invoices[row["invoice"]]
            posted.append(
                PostedLine(
                    BillableLine(
                        source_id=fields["source_id"],
                        kind=fields["kind"],
                        service_code=fields["service_code"],
                        description=row["description"] or "",
                        quantity=row["quantity"],
                        unit_price=_money(row["unit_price"]),
                        amount=row["amount"],
                        taxable=bool(row["taxes"]),
                        line_type=LineType(fields["line_type"]),
                    ),
                    fields["ticket_id"],
                    invoice["party_code"],
                    str(row["invoice"]),
                    INVOICE_STATUS.get(invoice["state"], invoice["state"]),
                    fields["posting_key"],
                    row["create_date"].replace(tzinfo=UTC),
                )
            )
        return posted

    def _invoices(self, invoice_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        ids = sorted(invoice_ids)
        if not ids:
            return {}
        invoices = self._search_read("account.invoice", [("id", "in", ids)], ["state", "party"])
        parties = self._search_read(
            "party.party", [("id", "in", sorted({i["party"] for i in invoices}))], ["code"]
        )
        codes = {party["id"]: party["code"] for party in parties}
        return {
            invoice["id"]: {"state": invoice["state"], "party_code": codes[invoice["party"]]}
            for invoice in invoices
        }

    def tickets_posted(self, *, since: datetime, until: datetime) -> set[str]:
        return tickets_in_lines(self.posted_lines(since=since, until=until))

    def ticket_totals(self, ticket_ids: list[str]) -> list[LedgerFacts]:
        # Tryton's search cannot group lines by a value inside their note: sum them here.
        return totals_from_lines(self.posted_lines(ticket_ids=ticket_ids))

    # -- locked periods, for prepaid balances ------------------------------------------------

    def locked_invoice(self, billing_customer_id: str, period: str) -> str | None:
        """The posted invoice that locked the customer's period (its id, as ``invoice_id``
        everywhere in this connector), or None."""
        party = self._party(billing_customer_id)
        if party is None:
            return None
        posted = self._posted_invoice(party, period)
        return None if posted is None else str(posted)

    # -- taxes, for the pre-bill -------------------------------------------------------------

    def tax_for(
        self, billing_customer_id: str, lines: list[BillableLine], book: BillingBook
    ) -> Decimal | None:
        """The tax Tryton puts on these lines for this customer: each taxable line's product
        taxes as Tryton's own line on-change picks them (the party's and product's tax rules),
        percentage taxes on the amount and fixed ones per unit, summed per tax and rounded once,
        as on one invoice. None when Tryton cannot tell (an unknown customer or product, a tax
        of another kind): the pre-bill then says "not known", never a guessed 0.00."""
        party = self._party(billing_customer_id)
        if party is None:
            return None
        company, currency = self._company_currency()
        products: dict[str, dict[str, Any]] = {}
        amounts: dict[int, Decimal] = {}
        quantities: dict[int, Decimal] = {}
        try:
            for line in lines:
                if not line.taxable:
                    continue
                if line.service_code not in products:
                    products[line.service_code] = self._product_defaults(
                        line.service_code, party, company, currency
                    )
                for tax_id in products[line.service_code]["taxes"]:
                    amounts[tax_id] = amounts.get(tax_id, Decimal(0)) + line.amount
                    quantities[tax_id] = quantities.get(tax_id, Decimal(0)) + line.quantity
        except BillingRejected:
            return None
        if not amounts:
            return Decimal("0.00")
        taxes = self._search_read(
            "account.tax", [("id", "in", sorted(amounts))], ["type", "rate", "amount"]
        )
        total = Decimal(0)
        for tax in taxes:
            if tax["type"] == "percentage" and tax["rate"] is not None:
                total += amounts[tax["id"]] * Decimal(str(tax["rate"]))
            elif tax["type"] == "fixed" and tax["amount"] is not None:
                total += quantities[tax["id"]] * Decimal(str(tax["amount"]))
            else:
                return None
        # Tryton rounds a currency amount half to even (Currency.round).
        return total.quantize(CENTS, rounding=ROUND_HALF_EVEN)

    # -- the invoice run ----------------------------------------------------------------------

    def draft_invoices(self, billing_customer_ids: list[str], period: str) -> list[DraftInvoice]:
        if not billing_customer_ids:
            return []
        drafts = self._search_read(
            "account.invoice",
            [
                ("type", "=", "out"),
                ("state", "=", "draft"),
                ("party.code", "in", sorted(set(billing_customer_ids))),
                ("lines.note", "like", _key_pattern("period", period)),
            ],
            [],
            [("id", "ASC")],
        )
        ids = [int(invoice["id"]) for invoice in drafts]
        invoices = self._invoices(ids)
        lines = self._search_read(
            "account.invoice.line", [("invoice", "in", ids)], ["invoice", "amount"]
        )
        return [
            DraftInvoice(
                str(invoice_id),
                invoices[invoice_id]["party_code"],
                period,
                sum(1 for line in lines if line["invoice"] == invoice_id),
                sum(
                    (line["amount"] for line in lines if line["invoice"] == invoice_id),
                    Decimal("0.00"),
                ),
            )
            for invoice_id in ids
        ]

    def first_periods(self, billing_customer_ids: list[str]) -> dict[str, str]:
        """From the notes of the lines the service wrote (``of_period``; a line written before
        periods existed counts by the month it was created, UTC)."""
        if not billing_customer_ids:
            return {}
        lines = self._search_read(
            "account.invoice.line",
            [
                ("note", "like", f"{_like(LINE_MARKER)}%"),
                ("invoice.party.code", "in", sorted(set(billing_customer_ids))),
            ],
            ["note", "create_date", "invoice"],
        )
        invoices = self._invoices({line["invoice"] for line in lines})
        first: dict[str, str] = {}
        for line in lines:
            fields = _note_fields(line["note"])
            if fields is None or fields.get("kind") == FEE_KIND:
                continue
            customer = str(invoices[line["invoice"]]["party_code"])
            created = line["create_date"]
            period = str(fields.get("of_period") or f"{created:%Y-%m}")
            if period < first.get(customer, "9999-99"):
                first[customer] = period
        return first

    def finalize_invoice(self, invoice_id: str) -> None:
        """Post the invoice: Tryton numbers it from the fiscal year's strict sequence and it
        becomes immutable. Posting an invoice already posted changes nothing."""
        if not invoice_id.isdigit():
            raise BillingRejected(f"invoice {invoice_id!r} is not a Tryton invoice id")
        found = self._search_read("account.invoice", [("id", "=", int(invoice_id))], ["state"])
        if not found:
            raise BillingRejected(f"invoice {invoice_id!r} does not exist in Tryton")
        if found[0]["state"] in ("posted", "paid"):
            return
        confirmed: set[str] = set()
        while True:
            try:
                self._call("model.account.invoice.post", [int(invoice_id)])
                return
            except TrytonError as error:
                if (
                    error.kind == "UserWarning"
                    and error.name
                    and error.name not in confirmed
                    and error.name.rpartition(".")[2] in ACCEPTED_WARNINGS
                ):
                    self._confirm_warning(error.name)
                    confirmed.add(error.name)
                    continue
                raise BillingRejected(
                    f"Tryton refused to post invoice {invoice_id}: {error.message}"
                ) from error

    def _confirm_warning(self, name: str) -> None:
        """What Tryton's client does when a user answers "yes" to a warning: skip it once."""
        self._rejecting("model.res.user.warning.skip", name, False)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
