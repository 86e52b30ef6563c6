"""Contract-test helpers: recorded fixtures, a capturing ``httpx.MockTransport`` and a small
QuickBooks stand-in that behaves as the public docs say (requestid replay, DocNumber queries,
token rotation). No network is ever used."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.quickbooks import dumps_exact

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture(name: str) -> Any:
    """A recorded JSON fixture, numbers parsed as Decimal (never float)."""
    return json.loads(fixture_text(name), parse_float=Decimal)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=dumps_exact(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content, parse_float=Decimal)


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """A MockTransport whose handler answers in order from ``responses`` (callables or
    ready responses) and keeps every request it saw."""

    responses: list[httpx.Response | Handler] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if not self.responses:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.responses.pop(0)
        return answer(request) if callable(answer) else answer


# ---- QuickBooks stand-in ------------------------------------------------------------------------

TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
API = "https://sandbox-quickbooks.api.intuit.com"
REALM = "9130357992221046"
CREATED_AT = "2026-11-24T13:16:17-08:00"


@dataclass
class FakeQuickBooks:
    """Answers like QuickBooks Online: the token endpoint rotates the refresh token, the query
    endpoint filters customers, invoices and the recorded tax codes and rates, a create with a
    seen ``requestid`` returns the original response. ``failures`` are answered first,
    whatever the request (to script 401, 429, 5xx)."""

    customers: dict[str, str] = field(default_factory=lambda: {"58": "Acme Dental"})
    tax_codes: list[dict[str, Any]] = field(
        default_factory=lambda: [
            *fixture("quickbooks/query_taxcode_tax.json")["QueryResponse"]["TaxCode"],
            *fixture("quickbooks/query_taxcode_california.json")["QueryResponse"]["TaxCode"],
        ]
    )
    tax_rates: list[dict[str, Any]] = field(
        default_factory=lambda: fixture("quickbooks/query_taxrates_california.json")[
            "QueryResponse"
        ]["TaxRate"]
    )
    access_tokens: set[str] = field(default_factory=lambda: {"valid-access-token"})
    refresh_token: str = "refresh-0"
    invoices: list[dict[str, Any]] = field(default_factory=list)
    credit_memos: list[dict[str, Any]] = field(default_factory=list)
    by_request_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[httpx.Response] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    refreshes: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def api_requests(self, method: str | None = None, path: str = "") -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if str(r.url).startswith(API)
            and (method is None or r.method == method)
            and r.url.path.endswith(path)
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.failures:
            return self.failures.pop(0)
        if str(request.url) == TOKEN_URL:
            return self._token(request)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.access_tokens:
            return json_response(401, fixture("quickbooks/fault_401_token_expired.json"))
        path = request.url.path
        if path == f"/v3/company/{REALM}/query":
            return self._query(request.url.params["query"])
        if path == f"/v3/company/{REALM}/invoice" and request.method == "POST":
            return self._create(request)
        if path == f"/v3/company/{REALM}/creditmemo" and request.method == "POST":
            return self._create(request, "CreditMemo")
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        if form.get("refresh_token") != self.refresh_token:
            return json_response(400, {"error": "invalid_grant"})
        self.refreshes += 1
        self.refresh_token = f"refresh-{self.refreshes}"
        access = f"access-{self.refreshes}"
        self.access_tokens = {access}
        body = fixture("quickbooks/token_refresh_response.json")
        body.update(access_token=access, refresh_token=self.refresh_token)
        return json_response(200, body)

    def _query(self, statement: str) -> httpx.Response:
        match = re.fullmatch(
            r"select \* from (\w+)(?: where (.*?))? STARTPOSITION (\d+) MAXRESULTS (\d+)",
            statement,
        )
        assert match, statement
        entity, where = match.group(1), match.group(2)
        if entity == "Customer":
            rows = [
                {"Id": id_, "DisplayName": name, "Taxable": True}
                for id_, name in self.customers.items()
            ]
        elif entity == "TaxCode":
            rows = copy.deepcopy(self.tax_codes)
        elif entity == "TaxRate":
            rows = copy.deepcopy(self.tax_rates)
        elif entity == "CreditMemo":
            rows = copy.deepcopy(self.credit_memos)
        else:
            rows = copy.deepcopy(self.invoices)
        for condition in (where or "").split(" and ") if where else []:
            if in_list := re.fullmatch(r"(\S+) in \((.*)\)", condition):
                name, values = in_list.group(1), re.findall(r"'([^']*)'", in_list.group(2))
                rows = [r for r in rows if str(r.get(name)) in values]
                continue
            name, operator, value = re.fullmatch(r"(\S+) (=|LIKE|>=|<) '(.*)'", condition).groups()
            if name == "MetaData.CreateTime":
                continue  # every fake invoice is created at CREATED_AT
            if name == "CustomerRef":  # a reference filters by its value
                rows = [r for r in rows if (r.get(name) or {}).get("value") == value]
            elif operator == "LIKE":
                rows = [r for r in rows if str(r.get(name, "")).startswith(value.rstrip("%"))]
            elif operator == ">=":  # dates: ISO text sorts as time does
                rows = [r for r in rows if str(r.get(name, "")) >= value]
            else:
                rows = [r for r in rows if str(r.get(name)) == value]
        response = {"QueryResponse": {entity: rows} if rows else {}, "time": CREATED_AT}
        return json_response(200, response)

    def _create(self, request: httpx.Request, entity: str = "Invoice") -> httpx.Response:
        request_id = request.url.params["requestid"]
        if request_id in self.by_request_id:
            return json_response(200, {entity: self.by_request_id[request_id]})
        body = body_of(request)
        lines = []
        for number, line in enumerate(body["Line"], start=1):
            lines.append({"Id": str(number), "LineNum": number, **line})
        subtotal = sum((line["Amount"] for line in body["Line"]), Decimal("0"))
        lines.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail"})
        invoice = {
            **body,
            "Id": str(130 + len(self.invoices) + len(self.credit_memos)),
            "SyncToken": "0",
            "MetaData": {"CreateTime": CREATED_AT, "LastUpdatedTime": CREATED_AT},
            "TxnDate": CREATED_AT[:10],  # QuickBooks dates a document without one today
            "Line": lines,
            "TotalAmt": subtotal,
            "Balance": subtotal,
        }
        if subtotal < 0:  # as QuickBooks does: no negative totals
            return json_response(400, fixture("quickbooks/fault_400_business_validation.json"))
        (self.credit_memos if entity == "CreditMemo" else self.invoices).append(invoice)
        self.by_request_id[request_id] = invoice
        return json_response(200, {entity: invoice, "time": CREATED_AT})


@pytest.fixture
def fake_qbo() -> FakeQuickBooks:
    return FakeQuickBooks()


@pytest.fixture
def fixed_now() -> datetime:
    return datetime(2026, 11, 24, 21, 16, 17, tzinfo=UTC)
