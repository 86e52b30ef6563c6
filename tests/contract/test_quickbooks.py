"""QuickBooks Online contract: OAuth 2 refresh, invoice create with requestid, idempotent
re-posting, throttling, faults, exact Decimal amounts, lines read back; a sent or paid invoice
is locked: a later posting is a new invoice (or a credit memo) naming it. For the pre-bill: each
document's period recorded and read back, a customer's documents of a period, the sales tax from
the recorded TaxCode/TaxRate exchange, and ``build_prebill`` over the QuickBooks stand-in."""

from __future__ import annotations

import base64
import dataclasses
import inspect
import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.ticket_activities import LOCKED_PERIOD_REFUSED, TicketActivities
from billing.book import parse_book
from billing.posting import BillableLine, LineType, lines_to_post
from billing.prebill import PrebillState
from connectors.billing import (
    FINALIZED,
    BillingAdapter,
    BillingCustomer,
    BillingRejected,
    BillingUnavailable,
    PeriodInvoiceReader,
    PostRequest,
    TaxReader,
)
from connectors.quickbooks import (
    EnvironmentTokens,
    QuickBooksBilling,
    QuickBooksConfig,
    QuickBooksItems,
    QuickBooksThrottled,
    SecretsFileTokens,
    dumps_exact,
    request_id,
)
from messages.ticket_activities import PostInput, PostResult
from store.book_source import BookSource
from store.database import open_store
from tests.contract.conftest import (
    API,
    FIXTURES,
    REALM,
    TOKEN_URL,
    FakeQuickBooks,
    body_of,
    fixture,
    json_response,
)
from usecases.prebill import build_prebill

ITEMS = QuickBooksItems({"LAB-REMOTE": "11", "LAB-ONSITE": "12", "SSD-1TB": "21"})
CONFIG = QuickBooksConfig(realm_id=REALM, items=ITEMS, base_url=API, minor_version=75)
NOW = datetime(2026, 11, 24, 21, 16, 17, tzinfo=UTC)

LINES = [
    BillableLine(
        "te-1",
        "labor",
        "LAB-REMOTE",
        "Printer offline in the front office: reinstalled the driver",
        Decimal("0.75"),
        Decimal("95.00"),
        Decimal("71.25"),
        taxable=False,
    ),
    BillableLine(
        "te-2",
        "labor",
        "LAB-ONSITE",
        "Printer offline in the front office: replaced the fuser on site",
        Decimal("0.33"),
        Decimal("95.55"),
        Decimal("31.53"),  # 0.33 × 95.55 = 31.5315, half up to cents
        taxable=False,
    ),
    BillableLine(
        "pu-1",
        "part",
        "SSD-1TB",
        "1 TB SSD",
        Decimal("1"),
        Decimal("129.00"),
        Decimal("129.00"),
        taxable=True,
    ),
]
REQUEST = PostRequest("hdb:35436:r1", "35436", "58", LINES, "2026-11")


def secrets_file(tmp_path: Path, **overrides: object) -> Path:
    path = tmp_path / "quickbooks.json"
    data = {
        "client_id": "ABc123clientid",
        "client_secret": "s3cr3t-client",
        "refresh_token": "refresh-0",
        "access_token": "valid-access-token",
        "access_token_expires_at": (NOW + timedelta(minutes=30)).isoformat(),
        **overrides,
    }
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


def billing(fake: FakeQuickBooks, path: Path, now: datetime = NOW) -> QuickBooksBilling:
    return QuickBooksBilling(
        CONFIG, SecretsFileTokens(path), transport=fake.transport(), now=lambda: now
    )


def test_the_adapter_satisfies_the_protocol(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    for name, method in inspect.getmembers(BillingAdapter, inspect.isfunction):
        if not name.startswith("_"):
            assert inspect.signature(getattr(QuickBooksBilling, name)) == inspect.signature(method)
    adapter = billing(fake_qbo, secrets_file(tmp_path))
    assert adapter.draft_invoices(["58"], "2026-11") == []
    adapter.finalize_invoice("130")
    assert fake_qbo.requests == []  # no drafts in QuickBooks: nothing to ask


# ---- OAuth 2 ------------------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed_and_the_rotated_token_persisted(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path, access_token_expires_at=(NOW - timedelta(minutes=1)).isoformat())
    assert billing(fake_qbo, path).customer_exists("58") is True

    token_call, query = fake_qbo.requests
    assert str(token_call.url) == TOKEN_URL and token_call.method == "POST"
    assert token_call.headers["Authorization"] == (
        "Basic " + base64.b64encode(b"ABc123clientid:s3cr3t-client").decode()
    )
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_call.headers["Accept"] == "application/json"
    assert parse_qs(token_call.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-0"],
    }
    assert query.headers["Authorization"] == "Bearer access-1"

    saved = json.loads(path.read_text())
    assert saved["refresh_token"] == "refresh-1"  # Intuit rotated it: the new one is kept
    assert saved["access_token"] == "access-1"
    assert datetime.fromisoformat(saved["access_token_expires_at"]) == NOW + timedelta(hours=1)
    assert saved["client_secret"] == "s3cr3t-client"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_401_triggers_one_refresh_then_the_call_is_retried(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path, access_token="stale-access-token")  # not expired, but revoked
    assert billing(fake_qbo, path).customer_exists("58") is True
    first, refresh, retry = fake_qbo.requests
    assert first.headers["Authorization"] == "Bearer stale-access-token"
    assert str(refresh.url) == TOKEN_URL
    assert retry.headers["Authorization"] == "Bearer access-1"
    assert retry.url.params["query"] == first.url.params["query"]
    assert fake_qbo.refreshes == 1
    assert json.loads(path.read_text())["refresh_token"] == "refresh-1"


def test_a_second_401_is_not_refreshed_again(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    expired = json_response(401, fixture("quickbooks/fault_401_token_expired.json"))
    refreshed = json_response(200, fixture("quickbooks/token_refresh_response.json"))
    fake_qbo.failures = [expired, refreshed, expired]  # even the fresh token is refused
    path = secrets_file(tmp_path)
    with pytest.raises(BillingUnavailable, match=r"401.*AUTHENTICATION.*reconnect"):
        billing(fake_qbo, path).customer_exists("58")
    assert [str(r.url) == TOKEN_URL for r in fake_qbo.requests] == [False, True, False]
    assert fake_qbo.requests[2].headers["Authorization"] == (
        "Bearer eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..fresh-access-token"
    )


def test_a_refused_refresh_token_says_to_reconnect(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path, refresh_token="revoked", access_token="")
    with pytest.raises(BillingUnavailable, match=r"invalid_grant.*reconnect the app"):
        billing(fake_qbo, path).customer_exists("58")
    assert json.loads(path.read_text())["refresh_token"] == "revoked"  # nothing overwritten


def test_a_token_refreshed_by_another_worker_is_used_instead_of_refreshing_again(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path, access_token="stale-access-token")
    adapter = billing(fake_qbo, path)
    adapter._access_token()  # loaded the stale token
    # Meanwhile another worker refreshed and saved a good token.
    secrets_file(tmp_path, access_token="valid-access-token", refresh_token="refresh-0")
    fake_qbo.access_tokens = {"valid-access-token"}
    adapter._refresh(rejected="stale-access-token")
    assert fake_qbo.refreshes == 0
    assert adapter.customer_exists("58")


def test_missing_secrets_are_named(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    with pytest.raises(BillingUnavailable, match="does not exist"):
        billing(fake_qbo, tmp_path / "absent.json").customer_exists("58")
    path = tmp_path / "partial.json"
    path.write_text('{"client_id": "x"}')
    with pytest.raises(BillingUnavailable, match="client_secret, refresh_token required"):
        billing(fake_qbo, path).customer_exists("58")
    with pytest.raises(ValueError, match="HDB_QBO_REFRESH_TOKEN"):
        EnvironmentTokens({"HDB_QBO_CLIENT_ID": "x", "HDB_QBO_CLIENT_SECRET": "y"})


def test_environment_tokens_keep_the_rotated_token_in_memory(fake_qbo: FakeQuickBooks) -> None:
    tokens = EnvironmentTokens(
        {
            "HDB_QBO_CLIENT_ID": "ABc123clientid",
            "HDB_QBO_CLIENT_SECRET": "s3cr3t-client",
            "HDB_QBO_REFRESH_TOKEN": "refresh-0",
        }
    )
    adapter = QuickBooksBilling(CONFIG, tokens, transport=fake_qbo.transport(), now=lambda: NOW)
    assert adapter.customer_exists("58")
    assert tokens.load().refresh_token == "refresh-1"
    assert "s3cr3t" not in repr(tokens.load())


# ---- posting ------------------------------------------------------------------------------------


def test_create_sends_the_documented_invoice_with_a_deterministic_requestid(
    tmp_path: Path,
) -> None:
    requests: list[httpx.Request] = []

    def recorded(request: httpx.Request) -> httpx.Response:
        request.read()
        requests.append(request)
        if request.url.path.endswith("/query"):
            if "from Customer" in request.url.params["query"]:
                return json_response(200, fixture("quickbooks/query_customer_58.json"))
            return json_response(200, fixture("quickbooks/query_empty.json"))
        return json_response(200, fixture("quickbooks/invoice_create_response.json"))

    adapter = QuickBooksBilling(
        CONFIG,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(recorded),
        now=lambda: NOW,
    )
    receipt = adapter.post_lines(REQUEST)

    lookup, memo_lookup, customer, create = requests
    assert lookup.url.params["query"] == (
        "select * from Invoice where DocNumber = 'H3MHWCGIL54QC-LAALZKM' "
        "STARTPOSITION 1 MAXRESULTS 1000"
    )
    assert memo_lookup.url.params["query"].startswith(
        "select * from CreditMemo where DocNumber = 'H3MHWCGIL54QC-LAALZKM'"
    )
    assert customer.url.params["query"] == (
        "select * from Customer where Id = '58' STARTPOSITION 1 MAXRESULTS 1000"
    )
    assert create.method == "POST"
    assert create.url.path == f"/v3/company/{REALM}/invoice"
    assert create.url.params["requestid"] == request_id("hdb:35436:r1")
    assert create.url.params["requestid"] == "5800bca98fe8c5de3f2134af68b3688f91abb5f7"
    assert len(create.url.params["requestid"]) <= 50
    assert create.url.params["minorversion"] == "75"
    assert create.headers["Authorization"] == "Bearer valid-access-token"
    assert create.headers["Content-Type"] == "application/json"
    assert body_of(create) == fixture("quickbooks/invoice_create_request.json")

    assert receipt.invoice_id == "130"
    assert receipt.line_count == 3
    assert receipt.amount == Decimal("231.78")
    assert receipt.already_posted is False


def test_amounts_are_exact_decimals_and_equal_qty_times_unit_price(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    billing(fake_qbo, secrets_file(tmp_path)).post_lines(REQUEST)
    [create] = fake_qbo.api_requests("POST", "/invoice")
    raw = create.content.decode()
    assert '"Amount":71.25,' in raw and '"Qty":0.75,' in raw and '"UnitPrice":95.00,' in raw
    assert '"Amount":31.53,' in raw and '"Qty":0.33,' in raw and '"UnitPrice":95.55,' in raw
    assert '"Amount":129.00,' in raw and '"Qty":1,' in raw
    for line in body_of(create)["Line"]:
        detail = line["SalesItemLineDetail"]
        assert isinstance(line["Amount"], Decimal)
        assert (detail["Qty"] * detail["UnitPrice"]).quantize(Decimal("0.01")) == line["Amount"]


def test_a_line_whose_amount_is_not_qty_times_unit_price_is_refused_before_sending(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    wrong = BillableLine(
        "te-9",
        "labor",
        "LAB-REMOTE",
        "x",
        Decimal("0.75"),
        Decimal("95.00"),
        Decimal("71.20"),
        taxable=False,
    )
    with pytest.raises(BillingRejected, match=r"'te-9'.*71\.20.*0\.75 × unit price 95\.00"):
        billing(fake_qbo, secrets_file(tmp_path)).post_lines(
            PostRequest("hdb:1:r1", "1", "58", [wrong], "2026-11")
        )
    assert fake_qbo.requests == []


def test_floats_never_reach_a_request_body() -> None:
    assert dumps_exact({"Amount": Decimal("0.10"), "Qty": Decimal("-1.50")}) == (
        '{"Amount":0.10,"Qty":-1.50}'
    )
    with pytest.raises(TypeError, match="never float"):
        dumps_exact({"Amount": 0.1})


def test_a_repeated_post_returns_the_first_invoice_without_a_second_create(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    first = billing(fake_qbo, path).post_lines(REQUEST)
    again = billing(fake_qbo, path).post_lines(REQUEST)  # e.g. a worker retried after a crash
    assert len(fake_qbo.api_requests("POST", "/invoice")) == 1
    assert len(fake_qbo.invoices) == 1
    assert again.invoice_id == first.invoice_id == "130"
    assert again.already_posted is True
    assert (again.line_count, again.amount) == (3, Decimal("231.78"))


def test_a_retried_create_reuses_the_requestid(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    path = secrets_file(tmp_path)
    # The first create times out after QuickBooks saved it ...
    fake_qbo.failures = [json_response(200, fixture("quickbooks/query_empty.json"))]
    adapter = billing(fake_qbo, path)
    real_create = fake_qbo._create

    def create_then_time_out(request: httpx.Request) -> httpx.Response:
        real_create(request)
        raise httpx.ReadTimeout("timed out", request=request)

    fake_qbo._create = create_then_time_out  # type: ignore[method-assign]
    with pytest.raises(BillingUnavailable, match="in time"):
        adapter.post_lines(REQUEST)
    fake_qbo._create = real_create  # type: ignore[method-assign]
    # ... and the retry finds it by DocNumber: no second create.
    receipt = adapter.post_lines(REQUEST)
    assert receipt.already_posted is True and len(fake_qbo.invoices) == 1
    creates = fake_qbo.api_requests("POST", "/invoice")
    assert len(creates) == 1


def test_different_posting_keys_get_different_requestids_and_docnumbers(tmp_path: Path) -> None:
    adapter = QuickBooksBilling(CONFIG, SecretsFileTokens(secrets_file(tmp_path)))
    assert request_id("hdb:35436:r1") != request_id("hdb:35436:r2")
    first = adapter.doc_number("35436", "hdb:35436:r1")
    second = adapter.doc_number("35436", "hdb:35436:r2")
    assert first != second and first[:13] == second[:13]  # same ticket prefix
    assert len(first) == 21


def test_an_unknown_customer_is_rejected_without_creating(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    with pytest.raises(BillingRejected, match="'77' does not exist in QuickBooks"):
        billing(fake_qbo, secrets_file(tmp_path)).post_lines(
            PostRequest("hdb:35436:r1", "35436", "77", LINES, "2026-11")
        )
    assert fake_qbo.api_requests("POST") == []
    assert billing(fake_qbo, secrets_file(tmp_path)).customer_exists("CUST-9001") is False


def test_an_unmapped_service_code_is_named(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    line = BillableLine(
        "te-3",
        "labor",
        "LAB-EMERG",
        "x",
        Decimal("1"),
        Decimal("190.00"),
        Decimal("190.00"),
        taxable=False,
    )
    with pytest.raises(BillingRejected, match="'LAB-EMERG' has no QuickBooks item"):
        billing(fake_qbo, secrets_file(tmp_path)).post_lines(
            PostRequest("hdb:2:r1", "2", "58", [line], "2026-11")
        )
    assert fake_qbo.requests == []


def test_throttling_is_unavailable_with_the_retry_after_delay(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    fake_qbo.failures = [
        json_response(429, fixture("quickbooks/fault_429_throttled.json"), {"Retry-After": "60"})
    ]
    with pytest.raises(QuickBooksThrottled, match="retry after 60 s") as caught:
        billing(fake_qbo, secrets_file(tmp_path)).post_lines(REQUEST)
    assert isinstance(caught.value, BillingUnavailable)
    assert caught.value.retry_after == 60.0
    assert fake_qbo.invoices == []


def test_server_errors_and_timeouts_are_unavailable(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    fake_qbo.failures = [httpx.Response(503, text="Service Unavailable")]
    with pytest.raises(BillingUnavailable, match="503"):
        billing(fake_qbo, secrets_file(tmp_path)).customer_exists("58")

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    adapter = QuickBooksBilling(
        CONFIG,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(timeout),
        now=lambda: NOW,
    )
    with pytest.raises(BillingUnavailable, match="in time") as caught:
        adapter.customer_exists("58")
    assert not isinstance(caught.value, BillingRejected)


def test_a_validation_fault_is_rejected_with_its_detail(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    adapter = billing(fake_qbo, path)
    real_create = fake_qbo._create
    fake_qbo._create = lambda request: json_response(  # type: ignore[method-assign]
        400, fixture("quickbooks/fault_400_business_validation.json")
    )
    with pytest.raises(BillingRejected) as caught:
        adapter.post_lines(REQUEST)
    message = str(caught.value)
    assert "Select a product or service for each line with an amount." in message
    assert "code 6000" in message and "ValidationFault" in message
    fake_qbo._create = real_create  # type: ignore[method-assign]


def test_a_fault_in_a_200_response_is_still_a_fault(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    fake_qbo.failures = [
        json_response(200, fixture("quickbooks/fault_400_business_validation.json"))
    ]
    with pytest.raises(BillingRejected, match="Business Validation Error"):
        billing(fake_qbo, secrets_file(tmp_path)).customer_exists("58")


# ---- reading back -------------------------------------------------------------------------------


def test_ticket_lines_read_back_exactly_what_was_posted(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    billing(fake_qbo, path).post_lines(REQUEST)
    credit = BillableLine(
        "te-2",
        "labor",
        "LAB-ONSITE",
        "Adjustment: reverses ...",
        Decimal("-0.33"),
        Decimal("95.55"),
        Decimal("-31.53"),
        taxable=False,
        line_type=LineType.CREDIT,
    )
    billing(fake_qbo, path).post_lines(
        PostRequest("hdb:35436:r2", "35436", "58", [credit], "2026-11")
    )

    posted = billing(fake_qbo, path).ticket_lines("35436")
    invoices, memos = (r.url.params["query"] for r in fake_qbo.api_requests("GET", "/query")[-2:])
    assert invoices.startswith("select * from Invoice where DocNumber LIKE 'H3MHWCGIL54QC-%'")
    assert memos.startswith("select * from CreditMemo where DocNumber LIKE 'H3MHWCGIL54QC-%'")
    assert [p.line.identity for p in posted] == [line.identity for line in [*LINES, credit]]
    assert [p.line.line_type for p in posted][-1] is LineType.CREDIT
    assert {(p.invoice_id, p.posting_key) for p in posted} == {
        ("130", "hdb:35436:r1"),
        ("CM-131", "hdb:35436:r2"),  # a credit on its own is a credit memo
    }
    assert all(p.billing_customer_id == "58" and p.ticket_id == "35436" for p in posted)
    assert posted[0].posted_at == datetime(2026, 11, 24, 21, 16, 17, tzinfo=UTC)
    assert posted[0].invoice_status == "open"
    # The posting diff sees nothing left to post: re-posting is idempotent end to end.
    desired = [LINES[0], LINES[2]]
    assert lines_to_post(desired, [p.line for p in posted]) == []
    assert billing(fake_qbo, path).ticket_lines("99999") == []


def test_lines_read_back_from_a_recorded_invoice_keep_exact_decimals(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        invoice = fixture("quickbooks/invoice_create_response.json")["Invoice"]
        return json_response(200, {"QueryResponse": {"Invoice": [invoice]}})

    adapter = QuickBooksBilling(
        CONFIG,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(answer),
        now=lambda: NOW,
    )
    posted = adapter.posted_lines(since=NOW - timedelta(days=1), until=NOW + timedelta(days=1))
    assert [p.line for p in posted] == LINES  # UnitPrice 95 from QuickBooks equals 95.00
    assert posted[0].line.quantity == Decimal("0.75")
    assert posted[2].line.taxable is True and posted[0].line.taxable is False


def test_posted_lines_filter_by_creation_time(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    path = secrets_file(tmp_path)
    billing(fake_qbo, path).post_lines(REQUEST)
    adapter = billing(fake_qbo, path)
    assert (
        len(adapter.posted_lines(since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1)))
        == 3
    )
    query = fake_qbo.api_requests("GET", "/query")[-2].url.params["query"]
    assert query.startswith("select * from Invoice where MetaData.CreateTime")
    assert "MetaData.CreateTime >= '2026-11-24T20:16:17+00:00'" in query
    assert "MetaData.CreateTime < '2026-11-24T22:16:17+00:00'" in query
    assert adapter.posted_lines(since=NOW + timedelta(seconds=1)) == []
    assert len(adapter.posted_lines(ticket_ids=["35436"])) == 3


def test_an_invoice_edited_in_quickbooks_is_reported_not_misread(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    billing(fake_qbo, path).post_lines(REQUEST)
    del fake_qbo.invoices[0]["Line"][1]  # someone deleted a line in QuickBooks
    with pytest.raises(
        BillingUnavailable, match="Invoice 130 has 2 item lines but was posted with 3"
    ):
        billing(fake_qbo, path).ticket_lines("35436")


def test_list_customers_reads_the_query_endpoint(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, fixture("quickbooks/query_customers_all.json"))

    adapter = QuickBooksBilling(
        CONFIG,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(answer),
        now=lambda: NOW,
    )
    assert adapter.list_customers() == [
        BillingCustomer("58", "Acme Dental"),
        BillingCustomer("59", "Birch Law LLP"),
    ]
    assert seen[0].url.params["query"] == "select * from Customer STARTPOSITION 1 MAXRESULTS 1000"


def test_check_setup_names_what_an_admin_must_fix(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    preferences = fixture("quickbooks/preferences.json")
    preferences["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"] = False

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/preferences"):
            return json_response(200, preferences)
        return json_response(200, fixture("quickbooks/query_items.json"))

    adapter = QuickBooksBilling(
        CONFIG,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(answer),
        now=lambda: NOW,
    )
    problems = adapter.check_setup()
    assert len(problems) == 2
    assert "Custom transaction numbers" in problems[0]
    assert problems[1].startswith("QuickBooks has no Item 12 (mapped from LAB-ONSITE)")
    assert seen[0].url.path == f"/v3/company/{REALM}/preferences"
    assert seen[1].url.params["query"] == (
        "select * from Item where Id in ('11', '12', '21') STARTPOSITION 1 MAXRESULTS 1000"
    )


def test_check_setup_is_empty_when_ready(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/preferences"):
            return json_response(200, fixture("quickbooks/preferences.json"))
        return json_response(200, fixture("quickbooks/query_items.json"))

    config = QuickBooksConfig(REALM, QuickBooksItems({"LAB-REMOTE": "11", "SSD-1TB": "21"}), API)
    adapter = QuickBooksBilling(
        config,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(answer),
        now=lambda: NOW,
    )
    assert adapter.check_setup() == []


def test_a_posting_that_credits_more_than_it_charges_is_a_credit_memo(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    billing(fake_qbo, path).post_lines(REQUEST)
    # The ticket was reopened and the onsite entry dropped; the remote entry shortened.
    credits = [
        BillableLine(
            line.source_id,
            line.kind,
            line.service_code,
            f"Adjustment: reverses {line.description}",
            -line.quantity,
            line.unit_price,
            -line.amount,
            line.taxable,
            LineType.CREDIT,
        )
        for line in LINES[:2]
    ]
    shorter = BillableLine(
        "te-1",
        "labor",
        "LAB-REMOTE",
        "Printer offline: driver",
        Decimal("0.50"),
        Decimal("95.00"),
        Decimal("47.50"),
        taxable=False,
    )
    receipt = billing(fake_qbo, path).post_lines(
        PostRequest("hdb:35436:r2", "35436", "58", [*credits, shorter], "2026-11")
    )
    [memo_create] = fake_qbo.api_requests("POST", "/creditmemo")
    assert memo_create.url.params["requestid"] == request_id("hdb:35436:r2")
    lines = body_of(memo_create)["Line"]
    # On the memo a credit is a positive line and a charge a negative one.
    assert [(ln["SalesItemLineDetail"]["Qty"], ln["Amount"]) for ln in lines] == [
        (Decimal("0.75"), Decimal("71.25")),
        (Decimal("0.33"), Decimal("31.53")),
        (Decimal("-0.50"), Decimal("-47.50")),
    ]
    assert receipt.invoice_id == "CM-131"
    assert receipt.amount == Decimal("-55.28")  # as we count it: a net credit

    posted = billing(fake_qbo, path).ticket_lines("35436")
    assert [p.line for p in posted][3:] == [*credits, shorter]
    assert lines_to_post([shorter, LINES[2]], [p.line for p in posted]) == []
    again = billing(fake_qbo, path).post_lines(
        PostRequest("hdb:35436:r2", "35436", "58", [*credits, shorter], "2026-11")
    )
    assert again.already_posted and again.invoice_id == "CM-131"
    assert len(fake_qbo.api_requests("POST")) == 2


def test_reconciliation_reads_tickets_and_totals_but_not_fees(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    billing(fake_qbo, path).post_lines(REQUEST)
    fee = BillableLine(
        "fee:acme-msp:2026-11",
        "fee",
        "FEE-acme-msp",
        "Managed services, November 2026",
        Decimal("1"),
        Decimal("1500.00"),
        Decimal("1500.00"),
        taxable=False,
    )
    items = QuickBooksItems({**ITEMS.items, "FEE-acme-msp": "31"})
    adapter = QuickBooksBilling(
        dataclasses.replace(CONFIG, items=items),
        SecretsFileTokens(path),
        transport=fake_qbo.transport(),
        now=lambda: NOW,
    )
    adapter.post_lines(
        PostRequest("hdb:fee:acme-msp:58:2026-11", "fee:acme-msp:2026-11", "58", [fee], "2026-11")
    )
    day = (NOW - timedelta(hours=12), NOW + timedelta(hours=12))
    assert adapter.tickets_posted(since=day[0], until=day[1]) == {"35436"}
    [facts] = adapter.ticket_totals(["35436"])
    assert (facts.ticket_id, facts.billing_customer_id) == ("35436", "58")
    assert (facts.amount, facts.lines, facts.invoice_ids) == (Decimal("231.78"), 3, ("130",))
    # Many tickets: one scan of each document type, not two queries per ticket.
    before = len(fake_qbo.api_requests("GET", "/query"))
    many = ["35436", *(str(n) for n in range(1, 40))]
    assert [f.amount for f in adapter.ticket_totals(many)] == [Decimal("231.78")]
    assert len(fake_qbo.api_requests("GET", "/query")) - before == 2


def test_a_voided_invoice_holds_no_lines(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    path = secrets_file(tmp_path)
    billing(fake_qbo, path).post_lines(REQUEST)
    voided = fake_qbo.invoices[0]
    voided["PrivateNote"] = "Voided - " + voided["PrivateNote"]
    for line in voided["Line"]:
        line["Amount"] = Decimal("0")
        if "SalesItemLineDetail" in line:
            line["SalesItemLineDetail"]["Qty"] = Decimal("0")
    assert billing(fake_qbo, path).ticket_lines("35436") == []  # the next revision bills again


# ---- a sent or paid invoice is locked -----------------------------------------------------------

LATE = BillableLine(
    "te-3",
    "labor",
    "LAB-REMOTE",
    "Printer offline: follow-up call",
    Decimal("0.25"),
    Decimal("95.00"),
    Decimal("23.75"),
    taxable=False,
)


def sent(fake: FakeQuickBooks, path: Path) -> None:
    """The first invoice posted, then sent to the customer from QuickBooks."""
    billing(fake, path).post_lines(REQUEST)
    fake.invoices[0]["EmailStatus"] = "EmailSent"


def test_a_sent_or_paid_invoice_reads_back_finalized(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    billing(fake_qbo, path).post_lines(REQUEST)
    assert {p.invoice_status for p in billing(fake_qbo, path).ticket_lines("35436")} == {"open"}
    fake_qbo.invoices[0]["EmailStatus"] = "EmailSent"
    assert {p.invoice_status for p in billing(fake_qbo, path).ticket_lines("35436")} == {FINALIZED}
    fake_qbo.invoices[0]["EmailStatus"] = "NotSet"
    fake_qbo.invoices[0]["Balance"] = Decimal("0")  # paid
    assert {p.invoice_status for p in billing(fake_qbo, path).ticket_lines("35436")} == {FINALIZED}


def test_a_posting_for_a_sent_invoice_goes_on_a_new_invoice_naming_the_original(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    sent(fake_qbo, path)
    original = json.loads(json.dumps(fake_qbo.invoices[0], default=str))

    receipt = billing(fake_qbo, path).post_lines(
        PostRequest(
            "hdb:35436:r2",
            "35436",
            "58",
            [LATE],
            "2026-11",
            reason="late time entry",
            locked_invoice_ids=("130",),
        )
    )

    [_, create] = fake_qbo.api_requests("POST", "/invoice")  # a second create, never an update
    assert [ln["Description"] for ln in body_of(create)["Line"]] == [
        "Adjustment to 130 (late time entry): Printer offline: follow-up call"
    ]
    assert (receipt.invoice_id, receipt.adjusts_invoice_id, receipt.amount) == (
        "131",
        "130",
        Decimal("23.75"),
    )
    assert json.loads(json.dumps(fake_qbo.invoices[0], default=str)) == original  # untouched
    # A create, not an update of the sent one (an update would carry its Id and SyncToken).
    assert "Id" not in body_of(create) and "SyncToken" not in body_of(create)


def test_a_credit_for_a_sent_invoice_is_a_credit_memo_naming_the_original(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    sent(fake_qbo, path)
    [credit] = lines_to_post([LINES[0], LINES[2]], LINES)  # te-2 deleted after the invoice went

    receipt = billing(fake_qbo, path).post_lines(
        PostRequest(
            "hdb:35436:r2",
            "35436",
            "58",
            [credit],
            "2026-11",
            reason="deleted time entry",
            locked_invoice_ids=("130",),
        )
    )

    [memo] = fake_qbo.api_requests("POST", "/creditmemo")
    [line] = body_of(memo)["Line"]
    assert line["Description"] == (
        "Adjustment to 130 (deleted time entry): Adjustment: reverses Printer offline in the "
        "front office: replaced the fuser on site"
    )
    assert (line["Amount"], line["SalesItemLineDetail"]["Qty"]) == (
        Decimal("31.53"),
        Decimal("0.33"),
    )
    assert (receipt.invoice_id, receipt.adjusts_invoice_id, receipt.amount) == (
        "CM-131",
        "130",
        Decimal("-31.53"),
    )
    assert len(fake_qbo.api_requests("POST", "/invoice")) == 1  # the sent invoice: no new one


def test_the_posting_activity_holds_a_raise_to_a_sent_invoice_and_credits_it_freely(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    """The same rule as for a finalized draft elsewhere, through the worker's posting activity:
    a raise waits for finance's approval of the total (nothing created meanwhile), and a credit
    goes through as a credit memo naming the sent invoice."""
    path = secrets_file(tmp_path)
    activities = TicketActivities(
        book=BookSource(tmp_path / "unused.toml"),
        billing=billing(fake_qbo, path),
        helpdesk=None,  # type: ignore[arg-type]  # posting writes nothing to the help desk
        prepaid=None,  # type: ignore[arg-type]  # posting draws nothing
        engine=None,
        instance_id="hdb",
    )

    def post(revision: int, lines: list[BillableLine], **fields: object) -> PostResult:
        request = PostInput("35436", "58", revision, lines, NOW, hold_locked_raises=True, **fields)
        return ActivityEnvironment().run(activities.post_invoice_lines, request)

    post(1, LINES)
    fake_qbo.invoices[0]["EmailStatus"] = "EmailSent"

    with pytest.raises(ApplicationError) as refused:
        post(2, [*LINES, LATE], reason="late time entry")
    assert refused.value.type == LOCKED_PERIOD_REFUSED and refused.value.non_retryable
    assert "(late time entry) raises finalized invoice 130 by 23.75" in refused.value.message
    assert list(refused.value.details) == [["130"], "23.75", "255.53"]
    assert len(fake_qbo.api_requests("POST")) == 1  # nothing created

    approved = post(2, [*LINES, LATE], reason="late time entry", approved_total=Decimal("255.53"))
    assert (approved.invoice_id, approved.posted_amount) == ("131", Decimal("23.75"))

    credited = post(3, [*LINES], reason="deleted time entry")  # no approval needed
    assert (credited.invoice_id, credited.posted_amount) == ("CM-132", Decimal("-23.75"))
    [memo] = fake_qbo.api_requests("POST", "/creditmemo")
    assert body_of(memo)["Line"][0]["Description"].startswith(
        "Adjustment to 130 (deleted time entry): Adjustment: reverses "
    )


# ---- the pre-bill: periods, a period's documents, taxes -----------------------------------------

TAXED = QuickBooksConfig(
    realm_id=REALM,
    items=dataclasses.replace(ITEMS, sales_tax_code="2"),  # "California": 7.25 % + 0.75 %
    base_url=API,
    minor_version=75,
)
BOOK = parse_book(
    (FIXTURES.parents[2] / "examples" / "book.toml")
    .read_text()
    .replace('billing_id = "CUST-9001"', 'billing_id = "58"', 1)
)
OTHER_TICKET = PostRequest(
    "hdb:35500:r1",
    "35500",
    "58",
    [dataclasses.replace(LINES[0], source_id="te-7", description="New laptop set up")],
    "2026-11",
)


def taxed(
    fake: FakeQuickBooks, path: Path, now: Callable[[], datetime] = lambda: NOW
) -> QuickBooksBilling:
    return QuickBooksBilling(TAXED, SecretsFileTokens(path), transport=fake.transport(), now=now)


def queries(fake: FakeQuickBooks) -> list[str]:
    return [r.url.params["query"] for r in fake.api_requests("GET", "/query")]


def test_the_adapter_reads_periods_and_taxes_for_the_prebill(tmp_path: Path) -> None:
    adapter = QuickBooksBilling(CONFIG, SecretsFileTokens(secrets_file(tmp_path)))
    assert isinstance(adapter, PeriodInvoiceReader) and isinstance(adapter, TaxReader)


def test_each_document_records_its_period_and_reads_it_back(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    receipt = billing(fake_qbo, path).post_lines(dataclasses.replace(REQUEST, period="2026-10"))
    [create] = fake_qbo.api_requests("POST", "/invoice")
    assert '"ticket":"35436","period":"2026-10","lines":' in body_of(create)["PrivateNote"]
    assert receipt.period == "2026-10"
    # Created on 24 November, it belongs to October (its ticket closed then): the record says so.
    assert fake_qbo.invoices[0]["TxnDate"] == "2026-11-24"
    adapter = billing(fake_qbo, path)
    assert [i.invoice_id for i in adapter.period_invoices("58", "2026-10")] == ["130"]
    assert adapter.period_invoices("58", "2026-11") == []
    assert (
        billing(fake_qbo, path).post_lines(dataclasses.replace(REQUEST, period="2026-10")).period
        == "2026-10"
    )  # the repeat reads the period off the found document


def test_a_document_written_before_periods_counts_by_its_txn_date(tmp_path: Path) -> None:
    invoice = fixture("quickbooks/invoice_create_response.json")["Invoice"]
    invoice["PrivateNote"] = invoice["PrivateNote"].replace('"period":"2026-11",', "")
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["query"])
        if "from Invoice" in request.url.params["query"]:
            return json_response(200, {"QueryResponse": {"Invoice": [invoice]}})
        return json_response(200, fixture("quickbooks/query_empty.json"))

    adapter = QuickBooksBilling(
        CONFIG,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(answer),
        now=lambda: NOW,
    )
    [november] = adapter.period_invoices("58", "2026-11")  # TxnDate 2026-11-24
    assert (november.invoice_id, november.status, november.period) == ("130", "draft", "2026-11")
    assert [p.line for p in november.lines] == LINES
    assert adapter.period_invoices("58", "2026-12") == []
    assert seen[:2] == [
        "select * from Invoice where CustomerRef = '58' and TxnDate >= '2026-10-31' "
        "STARTPOSITION 1 MAXRESULTS 1000",
        "select * from CreditMemo where CustomerRef = '58' and TxnDate >= '2026-10-31' "
        "STARTPOSITION 1 MAXRESULTS 1000",
    ]


def post_november(fake: FakeQuickBooks, path: Path) -> None:
    """Invoice 130 (sent), invoice 131 (open) and credit memo CM-132 adjusting 130, all of
    November; invoice 133 of October, created the same day."""
    sent(fake, path)
    billing(fake, path).post_lines(OTHER_TICKET)
    [credit] = lines_to_post([LINES[0], LINES[2]], LINES)
    billing(fake, path).post_lines(
        PostRequest(
            "hdb:35436:r2",
            "35436",
            "58",
            [credit],
            "2026-11",
            reason="deleted time entry",
            locked_invoice_ids=("130",),
        )
    )
    billing(fake, path).post_lines(
        PostRequest("hdb:35600:r1", "35600", "58", [LINES[1]], "2026-10")
    )


def test_period_invoices_list_the_sent_the_open_and_the_credit_memo(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    post_november(fake_qbo, path)
    before = len(fake_qbo.api_requests("GET", "/query"))

    invoices = billing(fake_qbo, path).period_invoices("58", "2026-11")

    assert [(i.invoice_id, i.status) for i in invoices] == [
        ("130", FINALIZED),  # sent: the customer has it
        ("131", "draft"),  # open, not sent: it can still change
        ("CM-132", "draft"),
    ]
    assert [len(i.lines) for i in invoices] == [3, 1, 1]
    assert [p.line for p in invoices[0].lines] == LINES
    [memo_line] = invoices[2].lines
    assert (
        memo_line.line.amount == Decimal("-31.53") and memo_line.line.line_type is LineType.CREDIT
    )
    assert memo_line.line.description.startswith("Adjustment to 130 (deleted time entry): ")
    assert all(i.billing_customer_id == "58" and i.period == "2026-11" for i in invoices)
    assert len(fake_qbo.api_requests("GET", "/query")) - before == 2  # one per document type
    fake_qbo.invoices[1]["Balance"] = Decimal("0")  # 131 paid
    statuses = [i.status for i in billing(fake_qbo, path).period_invoices("58", "2026-11")]
    assert statuses == [FINALIZED, FINALIZED, "draft"]
    assert [i.invoice_id for i in billing(fake_qbo, path).period_invoices("58", "2026-10")] == [
        "133"
    ]
    assert billing(fake_qbo, path).period_invoices("59", "2026-11") == []
    assert billing(fake_qbo, path).period_invoices("CUST-9001", "2026-11") == []


def test_an_adjustment_posted_after_its_month_goes_with_the_current_month(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    path = secrets_file(tmp_path)
    sent(fake_qbo, path)
    december = NOW + timedelta(days=8)
    receipt = billing(fake_qbo, path, now=december).post_lines(
        PostRequest(
            "hdb:35436:r2",
            "35436",
            "58",
            [LATE],
            "2026-11",
            reason="late time entry",
            locked_invoice_ids=("130",),
        )
    )
    assert (receipt.invoice_id, receipt.period, receipt.adjusts_invoice_id) == (
        "131",
        "2026-12",
        "130",
    )
    adapter = billing(fake_qbo, path, now=december)
    assert [i.invoice_id for i in adapter.period_invoices("58", "2026-11")] == ["130"]
    fake_qbo.invoices[1]["TxnDate"] = "2026-12-02"  # as QuickBooks dates it on that day
    assert [i.invoice_id for i in adapter.period_invoices("58", "2026-12")] == ["131"]


def test_tax_for_sums_the_sales_tax_codes_rates_as_recorded(tmp_path: Path) -> None:
    seen: list[str] = []
    recorded = {
        "Customer": "quickbooks/query_customer_58.json",
        "TaxCode": "quickbooks/query_taxcode_california.json",
        "TaxRate": "quickbooks/query_taxrates_california.json",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        seen.append(query)
        return json_response(200, fixture(recorded[query.split(" from ")[1].split()[0]]))

    clock = [NOW]
    adapter = QuickBooksBilling(
        TAXED,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(answer),
        now=lambda: clock[0],
    )
    tax = adapter.tax_for("58", LINES, BOOK)
    # 8 % of the one taxable line (129.00), as QuickBooks taxed the recorded invoice.
    invoice = fixture("quickbooks/invoice_create_response.json")["Invoice"]
    assert tax == invoice["TxnTaxDetail"]["TotalTax"] == Decimal("10.32")
    assert invoice["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": "2"}
    assert seen == [
        "select * from Customer where Id = '58' STARTPOSITION 1 MAXRESULTS 1000",
        "select * from TaxCode where Id = '2' STARTPOSITION 1 MAXRESULTS 1000",
        "select * from TaxRate where Id in ('3', '4') STARTPOSITION 1 MAXRESULTS 1000",
    ]
    # Rounded half up once, on the sum: 8 % of 0.12 = 0.0096 → 0.01 (per line: 0.00 + 0.00).
    cents = [
        dataclasses.replace(
            LINES[2], source_id=f"pu-{n}", quantity=Decimal(1), unit_price=a, amount=a
        )
        for n, a in enumerate((Decimal("0.06"), Decimal("0.06")))
    ]
    assert adapter.tax_for("58", cents, BOOK) == Decimal("0.01")
    credit = dataclasses.replace(
        LINES[2],
        quantity=Decimal(-1),
        unit_price=Decimal("29.00"),
        amount=Decimal("-29.00"),
        line_type=LineType.CREDIT,
    )
    assert adapter.tax_for("58", [LINES[2], credit], BOOK) == Decimal("8.00")  # 100.00 taxed
    # The rate is kept for a while: the next customers' pre-bills read only their customer.
    assert [q.split(" where")[0] for q in seen[3:]] == ["select * from Customer"] * 2
    clock[0] = NOW + timedelta(minutes=11)
    adapter.tax_for("58", LINES, BOOK)
    assert [q.split(" where")[0] for q in seen[5:]] == [
        "select * from Customer",
        "select * from TaxCode",
        "select * from TaxRate",
    ]


def test_tax_for_is_not_known_rather_than_guessed(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    path = secrets_file(tmp_path)
    # The US pseudo-code TAX has no rates: without the real sales tax code nobody can tell.
    assert billing(fake_qbo, path).tax_for("58", LINES, BOOK) is None
    assert queries(fake_qbo)[-1].startswith("select * from TaxCode where Id = 'TAX'")
    # Automated sales tax picks the rate by address: nothing to read.
    automated = dataclasses.replace(
        TAXED, items=dataclasses.replace(TAXED.items, automated_sales_tax=True)
    )
    before = len(fake_qbo.requests)
    adapter = QuickBooksBilling(
        automated, SecretsFileTokens(path), transport=fake_qbo.transport(), now=lambda: NOW
    )
    assert adapter.tax_for("58", LINES, BOOK) is None
    assert len(fake_qbo.requests) == before
    # A failed read is not known, and not kept: the next call reads again.
    adapter = taxed(fake_qbo, path)
    fake_qbo.failures = [json_response(200, fixture("quickbooks/query_customer_58.json"))]
    fake_qbo.failures.append(httpx.Response(503, text="Service Unavailable"))
    assert adapter.tax_for("58", LINES, BOOK) is None
    assert adapter.tax_for("58", LINES, BOOK) == Decimal("10.32")
    # A rate that compounds on another tax, or a code whose rate is gone: not a sum to make.
    fake_qbo.tax_codes[1]["SalesTaxRateList"]["TaxRateDetail"][1]["TaxTypeApplicable"] = "TaxOnTax"
    assert taxed(fake_qbo, path).tax_for("58", LINES, BOOK) is None
    fake_qbo.tax_codes[1]["SalesTaxRateList"]["TaxRateDetail"][1]["TaxTypeApplicable"] = (
        "TaxOnAmount"
    )
    del fake_qbo.tax_rates[1]
    assert taxed(fake_qbo, path).tax_for("58", LINES, BOOK) is None
    # Nothing taxable: QuickBooks taxes nothing, no read needed.
    before = len(fake_qbo.requests)
    assert taxed(fake_qbo, path).tax_for("58", LINES[:2], BOOK) == Decimal("0.00")
    assert len(fake_qbo.requests) == before


def test_a_tax_exempt_customer_is_not_known(tmp_path: Path) -> None:
    customer = fixture("quickbooks/query_customer_58.json")
    customer["QueryResponse"]["Customer"][0]["Taxable"] = False

    def answer(request: httpx.Request) -> httpx.Response:
        assert "from Customer" in request.url.params["query"]
        return json_response(200, customer)

    adapter = QuickBooksBilling(
        TAXED,
        SecretsFileTokens(secrets_file(tmp_path)),
        transport=httpx.MockTransport(answer),
        now=lambda: NOW,
    )
    assert adapter.tax_for("58", LINES, BOOK) is None


def test_the_sales_tax_code_taxes_the_posted_invoice(
    tmp_path: Path, fake_qbo: FakeQuickBooks
) -> None:
    taxed(fake_qbo, secrets_file(tmp_path)).post_lines(REQUEST)
    [create] = fake_qbo.api_requests("POST", "/invoice")
    expected = fixture("quickbooks/invoice_create_request.json")
    assert body_of(create) == {**expected, "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}}}


def test_the_prebill_of_a_quickbooks_customer(tmp_path: Path, fake_qbo: FakeQuickBooks) -> None:
    """``build_prebill`` over the QuickBooks stand-in: the period's documents, the tax from the
    recorded tax code, and the period finalized once every invoice of it is sent."""
    path = secrets_file(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    taxed(fake_qbo, path).post_lines(REQUEST)
    taxed(fake_qbo, path).post_lines(OTHER_TICKET)
    december = datetime(2026, 12, 2, 15, tzinfo=UTC)

    prebill = build_prebill(
        BOOK, taxed(fake_qbo, path), store, "58", "2026-11", now=december, instance_id="hdb"
    )
    assert prebill.customer_name == "Acme Dental"
    assert [(i.invoice_id, i.status, i.total) for i in prebill.invoices] == [
        ("130", "draft", Decimal("231.78")),
        ("131", "draft", Decimal("71.25")),
    ]
    assert [g.ticket_id for g in prebill.groups] == ["35436", "35500"]
    assert prebill.subtotal == Decimal("303.03")
    assert (prebill.tax, prebill.tax_note) == (
        Decimal("10.32"),
        "as the billing system computes it",
    )
    assert prebill.total == Decimal("313.35")
    assert prebill.state is PrebillState.OPEN

    fake_qbo.invoices[0]["EmailStatus"] = "EmailSent"
    prebill = build_prebill(
        BOOK, taxed(fake_qbo, path), store, "58", "2026-11", now=december, instance_id="hdb"
    )
    assert [i.status for i in prebill.invoices] == [FINALIZED, "draft"]
    # One invoice per posting: the period is finalized once every one of them is sent, as an
    # unsent one can still change.
    assert prebill.state is PrebillState.OPEN
    fake_qbo.invoices[1]["EmailStatus"] = "EmailSent"
    prebill = build_prebill(
        BOOK, taxed(fake_qbo, path), store, "58", "2026-11", now=december, instance_id="hdb"
    )
    assert prebill.state is PrebillState.FINALIZED
    # Without the real sales tax code the tax is not known, never a silent 0.00.
    prebill = build_prebill(
        BOOK, billing(fake_qbo, path), store, "58", "2026-11", now=december, instance_id="hdb"
    )
    assert prebill.tax is None and "not known" in prebill.tax_note
