"""The Tryton connector against a real trytond 8.2: lines on one draft invoice per customer with
the right product, price and tax; one set of lines per posting key whatever fails in between;
rejections; posting on the invoice run; lines read back for reconciliation."""

from __future__ import annotations

import inspect
import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billing.posting import BillableLine, LineType
from connectors.billing import BillingAdapter, BillingRejected, BillingUnavailable, PostRequest
from connectors.tryton import TrytonBilling
from tests.billing.builders import make_book
from tests.real.tryton_server import TrytonServer, free_port

ACME, BIRCH, CEDAR = "CUST-9001", "CUST-9002", "CUST-9003"
INSTANCE = "t1"


def labor(source_id: str, hours: str, rate: str, *, code: str = "LAB-REMOTE") -> BillableLine:
    quantity, price = Decimal(hours), Decimal(rate)
    return BillableLine(
        source_id=source_id,
        kind="labor",
        service_code=code,
        description=f"Remote support {hours} h",
        quantity=quantity,
        unit_price=price,
        amount=(quantity * price).quantize(Decimal("0.01")),
        taxable=False,
    )


def part(
    source_id: str, quantity: int, sku: str = "SSD-1TB", price: str = "129.00"
) -> BillableLine:
    return BillableLine(
        source_id=source_id,
        kind="part",
        service_code=sku,
        description=f"{quantity} × {sku}",
        quantity=Decimal(quantity),
        unit_price=Decimal(price),
        amount=Decimal(quantity) * Decimal(price),
        taxable=True,
    )


# The tests share one Tryton database, and posting an invoice locks its customer's period for
# good. Each test bills its own period, a year apart (an adjustment goes on the next month's
# draft), so no test finds another's locked period or draft.
_TEST_PERIODS = (f"{year}-06" for year in itertools.count(2031))
PERIOD = {"current": "2030-06"}


def request(customer: str, *lines: BillableLine, revision: int = 1) -> PostRequest:
    ticket_id = f"T-{uuid.uuid4().hex[:8]}"
    return PostRequest(
        f"{INSTANCE}:{ticket_id}:r{revision}", ticket_id, customer, list(lines), PERIOD["current"]
    )


def connector(server: TrytonServer, **options: Any) -> TrytonBilling:
    return TrytonBilling(
        server.url, server.database, server.login, server.password, instance_id=INSTANCE, **options
    )


@pytest.fixture
def billing(tryton_server: TrytonServer) -> Iterator[TrytonBilling]:
    """The connector, on a billing period of the test's own (``PERIOD``): each test starts
    with no draft invoice, so totals and line counts are its own."""
    adapter = connector(tryton_server)
    PERIOD["current"] = next(_TEST_PERIODS)
    yield adapter
    adapter.close()


@pytest.fixture
def admin(tryton_server: TrytonServer) -> Iterator[TrytonBilling]:
    """Tryton's administrator, to look at invoices as an accountant would."""
    adapter = TrytonBilling(
        tryton_server.url, tryton_server.database, "admin", tryton_server.admin_password
    )
    yield adapter
    adapter.close()


def read(admin: TrytonBilling, model: str, ids: list[int], fields: list[str]) -> list[dict]:
    return admin._call(f"model.{model}.read", ids, fields)


def invoice_lines(admin: TrytonBilling, invoice_id: str) -> list[dict]:
    (invoice,) = read(admin, "account.invoice", [int(invoice_id)], ["lines"])
    lines = read(
        admin,
        "account.invoice.line",
        invoice["lines"],
        ["product.code", "quantity", "unit_price", "amount", "taxes", "note", "description"],
    )
    return sorted(lines, key=lambda line: line["id"])


def vat_id(admin: TrytonBilling) -> int:
    (tax,) = admin._call(
        "model.account.tax.search", [("rate", "=", Decimal("0.10"))], 0, None, None
    )
    return tax


def test_lines_land_on_one_draft_invoice_with_product_price_and_tax(
    billing: TrytonBilling, admin: TrytonBilling
) -> None:
    first = billing.post_lines(request(ACME, labor("w1", "1.5", "95.00"), part("p1", 2)))
    second = billing.post_lines(
        request(ACME, replace(labor("w2", "0.75", "150.00", code="LAB-ONSITE"), taxable=True))
    )

    assert first.invoice_id == second.invoice_id
    assert (first.line_count, first.amount, first.already_posted) == (2, Decimal("400.50"), False)
    assert (second.line_count, second.amount) == (1, Decimal("112.50"))
    assert [d.invoice_id for d in billing.draft_invoices([ACME], str(first.period))] == [
        first.invoice_id
    ]
    lines = invoice_lines(admin, first.invoice_id)
    vat = vat_id(admin)
    assert [
        (
            line["product."]["code"],
            line["quantity"],
            line["unit_price"],
            line["amount"],
            line["taxes"],
        )
        for line in lines
    ] == [
        ("LAB-REMOTE", Decimal("1.5"), Decimal("95.0000"), Decimal("142.50"), []),
        ("SSD-1TB", Decimal("2.0"), Decimal("129.0000"), Decimal("258.00"), [vat]),
        ("LAB-ONSITE", Decimal("0.75"), Decimal("150.0000"), Decimal("112.50"), [vat]),
    ]
    (invoice,) = read(
        admin,
        "account.invoice",
        [int(first.invoice_id)],
        ["state", "party.code", "untaxed_amount", "tax_amount", "total_amount", "journal"],
    )
    assert invoice["state"] == "draft"
    assert invoice["party."]["code"] == ACME
    # 10% VAT on the part (258.00) and the taxable on-site labor (112.50), none on remote labor.
    assert invoice["untaxed_amount"] == Decimal("513.00")
    assert invoice["tax_amount"] == Decimal("37.05")
    assert invoice["total_amount"] == Decimal("550.05")


def test_the_same_posting_key_twice_posts_one_set_of_lines(
    billing: TrytonBilling, admin: TrytonBilling
) -> None:
    posting = request(BIRCH, labor("w1", "2", "95.00"), part("p1", 1))

    first = billing.post_lines(posting)
    again = billing.post_lines(posting)

    assert first.already_posted is False
    assert again.already_posted is True
    assert (again.invoice_id, again.line_count, again.amount) == (
        first.invoice_id,
        2,
        Decimal("319.00"),
    )
    assert len(invoice_lines(admin, first.invoice_id)) == 2
    assert len(billing.ticket_lines(posting.ticket_id)) == 2


class LosesLineWriteReplies(httpx.BaseTransport):
    """Delivers every request, but loses Tryton's answer to the call that adds lines (a new
    draft created with them, or lines written to the draft): they exist and the caller never
    learns it (a crash or a dropped connection after the commit)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.lost: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        method = json.loads(request.content)["method"]
        if method in ("model.account.invoice.create", "model.account.invoice.write"):
            response.read()
            self.lost.append(method)
            raise httpx.ReadTimeout("reply lost", request=request)
        return response


@pytest.mark.parametrize("draft_exists", [False, True], ids=["new draft", "existing draft"])
def test_a_retry_after_the_reply_to_the_write_was_lost_posts_nothing_more(
    tryton_server: TrytonServer, billing: TrytonBilling, admin: TrytonBilling, draft_exists: bool
) -> None:
    if draft_exists:
        billing.post_lines(request(CEDAR, labor("w0", "1", "95.00")))
    posting = request(CEDAR, labor("w1", "1", "95.00"), part("p1", 3, "CAT6-3M", "6.00"))
    transport = LosesLineWriteReplies()
    lossy = connector(tryton_server, transport=transport)

    with pytest.raises(BillingUnavailable):
        lossy.post_lines(posting)
    retried = lossy.post_lines(posting)

    assert transport.lost == [
        "model.account.invoice.write" if draft_exists else "model.account.invoice.create"
    ]
    assert retried.already_posted is True
    assert (retried.line_count, retried.amount) == (2, Decimal("113.00"))
    assert len(invoice_lines(admin, retried.invoice_id)) == (3 if draft_exists else 2)
    assert len(billing.ticket_lines(posting.ticket_id)) == 2
    assert [d.invoice_id for d in billing.draft_invoices([CEDAR], str(retried.period))] == [
        retried.invoice_id
    ]


def test_the_create_step_done_but_unreported_is_found_by_the_next_post(
    billing: TrytonBilling,
) -> None:
    posting = request(ACME, labor("w1", "0.5", "95.00"))
    billing._create_lines(posting, billing._party(ACME))  # the write, then "crash"

    receipt = billing.post_lines(posting)

    assert receipt.already_posted is True
    assert receipt.line_count == 1
    assert [line.posting_key for line in billing.ticket_lines(posting.ticket_id)] == [
        posting.posting_key
    ]


class SearchesBeforeTheOtherCommits(TrytonBilling):
    """An attempt whose first search ran before a concurrent attempt's lines were committed."""

    blind = True

    def _lines_with_key(self, posting_key: str) -> list[dict]:
        if self.blind:
            self.blind = False
            return []
        return super()._lines_with_key(posting_key)


def test_two_attempts_racing_past_the_search_leave_one_set_of_lines(
    tryton_server: TrytonServer, billing: TrytonBilling
) -> None:
    posting = request(BIRCH, labor("w1", "1", "95.00"), part("p1", 1))
    billing._create_lines(posting, billing._party(BIRCH))  # the other attempt's write
    racing = SearchesBeforeTheOtherCommits(
        tryton_server.url,
        tryton_server.database,
        tryton_server.login,
        tryton_server.password,
        instance_id=INSTANCE,
    )

    receipt = racing.post_lines(posting)

    assert receipt.already_posted is True
    assert len(billing.ticket_lines(posting.ticket_id)) == 2


class InvoiceRunFinishesMeanwhile(TrytonBilling):
    """The invoice run posts the customer's draft just after this attempt found it."""

    posted_once = False

    def _draft_invoice(self, party: dict, period: str) -> int | None:
        invoice_id = super()._draft_invoice(party, period)
        if invoice_id is not None and not self.posted_once:
            self.posted_once = True
            self.finalize_invoice(str(invoice_id))
        return invoice_id


def test_lines_for_a_draft_posted_meanwhile_go_on_a_new_draft(
    tryton_server: TrytonServer, billing: TrytonBilling, admin: TrytonBilling
) -> None:
    earlier = billing.post_lines(request(ACME, labor("w1", "1", "95.00")))
    posting = request(ACME, part("p1", 1))
    meanwhile = InvoiceRunFinishesMeanwhile(
        tryton_server.url,
        tryton_server.database,
        tryton_server.login,
        tryton_server.password,
        instance_id=INSTANCE,
    )

    receipt = meanwhile.post_lines(posting)

    assert meanwhile.posted_once
    assert receipt.invoice_id != earlier.invoice_id
    assert len(invoice_lines(admin, earlier.invoice_id)) == 1
    assert [d.invoice_id for d in billing.draft_invoices([ACME], str(receipt.period))] == [
        receipt.invoice_id
    ]


def test_a_draft_an_accountant_made_by_hand_is_neither_extended_nor_finalized(
    billing: TrytonBilling, admin: TrytonBilling
) -> None:
    party = admin._party(BIRCH)
    company, currency = admin._company_currency()
    product = admin._product_defaults("LAB-REMOTE", party, company, currency)
    manual_line = {
        "type": "line",
        "product": product["product"],
        "unit": product["unit"],
        "account": product["account"],
        "quantity": 1.0,
        "unit_price": Decimal("50.00"),
        "description": "Entered by hand",
    }
    admin._create_invoice(party, [manual_line])
    manual = max(  # the newest draft: earlier tests leave drafts of their own periods
        admin._call(
            "model.account.invoice.search",
            [("party", "=", party["id"]), ("state", "=", "draft")],
            0,
            None,
            None,
        )
    )

    receipt = billing.post_lines(request(BIRCH, labor("w1", "1", "95.00")))

    assert receipt.invoice_id != str(manual)
    assert [d.invoice_id for d in billing.draft_invoices([BIRCH], str(receipt.period))] == [
        receipt.invoice_id
    ]
    admin._call("model.account.invoice.cancel", [manual])


def test_an_unknown_customer_is_rejected_with_its_id(billing: TrytonBilling) -> None:
    assert billing.customer_exists(ACME)
    assert not billing.customer_exists("CUST-0000")
    with pytest.raises(BillingRejected, match="CUST-0000"):
        billing.post_lines(request("CUST-0000", labor("w1", "1", "95.00")))


def test_an_unknown_service_code_is_rejected_and_nothing_is_posted(billing: TrytonBilling) -> None:
    posting = request(ACME, labor("w1", "1", "95.00"), labor("w2", "1", "95.00", code="LAB-NOPE"))

    with pytest.raises(BillingRejected, match="LAB-NOPE"):
        billing.post_lines(posting)
    assert billing.ticket_lines(posting.ticket_id) == []


def test_a_line_tryton_would_round_differently_is_rejected_before_anything_is_written(
    billing: TrytonBilling,
) -> None:
    # A quarter hour after hours: 0.25 × 142.50 = 35.625, half up 35.63, Tryton's half even 35.62.
    after_hours = replace(labor("w1", "0.25", "142.50"), amount=Decimal("35.63"))
    half_a_part = replace(part("p1", 1), quantity=Decimal("0.5"), amount=Decimal("64.50"))

    for line, why in ((after_hours, "as 35.62, not 35.63"), (half_a_part, "rounds quantities")):
        posting = request(ACME, labor("w0", "1", "95.00"), line)
        with pytest.raises(BillingRejected, match=f"line {line.source_id} .*{why}"):
            billing.post_lines(posting)
        assert billing.ticket_lines(posting.ticket_id) == []


def test_customers_are_the_parties_by_code_without_the_company(billing: TrytonBilling) -> None:
    customers = billing.list_customers()

    assert [(c.id, c.name) for c in customers] == [
        (ACME, "Acme Dental"),
        (BIRCH, "Birch Legal"),
        (CEDAR, "Cedar Clinic"),
    ]


def test_finalizing_posts_the_invoice_with_a_number_and_the_next_line_opens_a_new_draft(
    billing: TrytonBilling, admin: TrytonBilling
) -> None:
    # Remote labor is not taxable under this contract although its product carries VAT: Tryton
    # warns on posting, and the connector confirms that one warning.
    posting = request(CEDAR, labor("w1", "1.25", "95.00"), part("p1", 1))
    receipt = billing.post_lines(posting)
    assert [d.invoice_id for d in billing.draft_invoices([CEDAR, ACME], str(receipt.period))] == [
        receipt.invoice_id
    ]

    billing.finalize_invoice(receipt.invoice_id)
    billing.finalize_invoice(receipt.invoice_id)  # already posted: nothing happens

    (invoice,) = read(
        admin, "account.invoice", [int(receipt.invoice_id)], ["state", "number", "total_amount"]
    )
    assert invoice["state"] == "posted"
    assert invoice["number"]
    assert invoice["total_amount"] == Decimal("260.65")  # 118.75 + 129.00 + 12.90 VAT
    assert [d.invoice_id for d in billing.draft_invoices([CEDAR], PERIOD["current"])] == []
    assert {line.invoice_status for line in billing.ticket_lines(posting.ticket_id)} == {
        "finalized"
    }
    later = billing.post_lines(request(CEDAR, labor("w1", "1", "95.00")))
    assert later.invoice_id != receipt.invoice_id
    assert [d.invoice_id for d in billing.draft_invoices([CEDAR], str(later.period))] == [
        later.invoice_id
    ]


def test_finalizing_an_unknown_invoice_is_rejected(billing: TrytonBilling) -> None:
    with pytest.raises(BillingRejected, match="999999"):
        billing.finalize_invoice("999999")


def test_posted_lines_read_back_as_posted(
    tryton_server: TrytonServer, billing: TrytonBilling
) -> None:
    before = datetime.now(UTC)
    charge = labor("w1", "1.5", "95.00")
    credit = BillableLine(
        source_id="p0",
        kind="part",
        service_code="SSD-1TB",
        description="Adjustment: reverses 1 × SSD-1TB",
        quantity=Decimal("-1"),
        unit_price=Decimal("129.00"),
        amount=Decimal("-129.00"),
        taxable=True,
        line_type=LineType.CREDIT,
    )
    posting = request(ACME, charge, credit, revision=2)
    other = request(BIRCH, part("p9", 1))
    receipt = billing.post_lines(posting)
    billing.post_lines(other)
    after = datetime.now(UTC) + timedelta(seconds=1)

    read_back = billing.ticket_lines(posting.ticket_id)

    assert [line.line for line in read_back] == [charge, credit]
    assert {
        (line.ticket_id, line.billing_customer_id, line.invoice_id, line.posting_key)
        for line in read_back
    } == {(posting.ticket_id, ACME, receipt.invoice_id, posting.posting_key)}
    assert {line.invoice_status for line in read_back} == {"draft"}
    assert all(before <= line.posted_at <= after for line in read_back)
    window = billing.posted_lines(since=before, until=after)
    assert {posting.ticket_id, other.ticket_id} <= {line.ticket_id for line in window}
    assert all(before <= line.posted_at < after for line in window)
    assert billing.posted_lines(since=after) == []
    assert posting.ticket_id not in {line.ticket_id for line in billing.posted_lines(until=before)}
    assert [line.ticket_id for line in billing.posted_lines(ticket_ids=[other.ticket_id])] == [
        other.ticket_id
    ]
    another_instance = TrytonBilling(
        tryton_server.url,
        tryton_server.database,
        tryton_server.login,
        tryton_server.password,
        instance_id="t2",
    )
    assert another_instance.ticket_lines(posting.ticket_id) == []


def test_reconciliation_reads_tickets_posted_and_their_totals_across_invoices(
    billing: TrytonBilling,
) -> None:
    before = datetime.now(UTC)
    first = request(ACME, labor("w1", "1", "95.00"), revision=1)
    first_receipt = billing.post_lines(first)
    billing.finalize_invoice(first_receipt.invoice_id)
    second = PostRequest(
        f"{INSTANCE}:{first.ticket_id}:r2", first.ticket_id, ACME, [part("p1", 1)], first.period
    )
    second_receipt = billing.post_lines(second)
    fee = replace(
        labor("fee", "1", "1500.00", code="FEE-birch-msp"), kind="fee", description="Monthly fee"
    )
    billing.post_lines(
        PostRequest(
            f"{INSTANCE}:fee:birch-msp:{BIRCH}:2026-11",
            "fee:birch-msp:2026-11",
            BIRCH,
            [fee],
            first.period,
        )
    )
    after = datetime.now(UTC) + timedelta(seconds=1)

    posted = billing.tickets_posted(since=before, until=after)
    (totals,) = billing.ticket_totals([first.ticket_id])

    assert first.ticket_id in posted
    assert "fee:birch-msp:2026-11" not in posted
    assert (totals.ticket_id, totals.billing_customer_id, totals.amount, totals.lines) == (
        first.ticket_id,
        ACME,
        Decimal("224.00"),
        2,
    )
    assert totals.invoice_ids == (first_receipt.invoice_id, second_receipt.invoice_id)


def test_lines_on_an_invoice_cancelled_in_tryton_are_not_read_back(
    billing: TrytonBilling, admin: TrytonBilling
) -> None:
    posting = request(CEDAR, labor("w1", "1", "95.00"))
    receipt = billing.post_lines(posting)

    admin._call("model.account.invoice.cancel", [int(receipt.invoice_id)])

    assert billing.ticket_lines(posting.ticket_id) == []
    assert [d.invoice_id for d in billing.draft_invoices([CEDAR], PERIOD["current"])] == []
    assert billing.post_lines(request(CEDAR, labor("w1", "1", "95.00"))).invoice_id != (
        receipt.invoice_id
    )


def test_the_connector_has_every_method_of_the_billing_adapter_protocol() -> None:
    for name, method in inspect.getmembers(BillingAdapter, inspect.isfunction):
        if not name.startswith("_"):
            assert inspect.signature(getattr(TrytonBilling, name)) == inspect.signature(method)


def test_a_lapsed_session_is_renewed_once(billing: TrytonBilling) -> None:
    assert billing.customer_exists(ACME)
    old = billing._authorization
    # The server forgets the session, as when it expires.
    billing._post("common.db.logout", [], billing._authorization)

    assert billing.customer_exists(ACME)
    assert billing._authorization not in (None, old)


def test_wrong_credentials_and_an_unreachable_server_are_unavailable(
    tryton_server: TrytonServer,
) -> None:
    wrong = TrytonBilling(tryton_server.url, tryton_server.database, "hdb-billing", "not-it")
    with pytest.raises(BillingUnavailable, match="refused the login"):
        wrong.customer_exists(ACME)
    nowhere = TrytonBilling(f"http://127.0.0.1:{free_port()}", "hdb", "x", "y", timeout=2)
    with pytest.raises(BillingUnavailable, match="cannot reach"):
        nowhere.customer_exists(ACME)


def test_the_tax_the_pre_bill_shows_is_the_tax_tryton_puts_on_the_invoice(
    billing: TrytonBilling, admin: TrytonBilling
) -> None:
    """Taxes from the products' taxes for the customer, as Tryton's own on-change picks them:
    the figure the pre-bill shows before posting equals the posted invoice's tax."""
    lines = [labor("w1", "1.25", "95.00"), part("p1", 2), part("p2", 1, "CAT6-3M", "6.00")]
    lines.append(replace(labor("w2", "1", "95.00"), taxable=True))
    expected = billing.tax_for(CEDAR, lines, make_book())
    receipt = billing.post_lines(request(CEDAR, *lines))
    billing.finalize_invoice(receipt.invoice_id)
    (invoice,) = read(admin, "account.invoice", [int(receipt.invoice_id)], ["tax_amount"])
    assert expected == invoice["tax_amount"] == Decimal("35.90")  # 10 % of 258 + 6 + 95
    assert billing.tax_for(CEDAR, [labor("w1", "1", "95.00")], make_book()) == Decimal("0.00")
    assert billing.tax_for("CUST-0000", lines, make_book()) is None  # not a Tryton customer
    unknown = replace(part("p3", 1), service_code="NO-SUCH-SKU")
    assert billing.tax_for(CEDAR, [unknown], make_book()) is None


def test_a_posted_invoice_stays_as_posted_and_a_late_change_goes_on_a_new_draft_naming_it(
    billing: TrytonBilling, admin: TrytonBilling
) -> None:
    """A posted Tryton invoice is immutable: the period is locked, and a later posting for it
    (a credit and a new charge) goes on the next period's draft, each line naming the invoice
    it adjusts and why."""
    posting = request(ACME, labor("w1", "1", "95.00"))
    first = billing.post_lines(posting)
    assert billing.locked_invoice(ACME, PERIOD["current"]) is None  # a draft locks nothing
    billing.finalize_invoice(first.invoice_id)
    assert billing.locked_invoice(ACME, PERIOD["current"]) == first.invoice_id
    assert billing.locked_invoice("CUST-0000", PERIOD["current"]) is None
    posted_before = invoice_lines(admin, first.invoice_id)
    credit = BillableLine(
        source_id="w1",
        kind="labor",
        service_code="LAB-REMOTE",
        description="Adjustment: reverses Remote support 1 h",
        quantity=Decimal("-1"),
        unit_price=Decimal("95.00"),
        amount=Decimal("-95.00"),
        taxable=False,
        line_type=LineType.CREDIT,
    )
    late = replace(
        posting,
        posting_key=f"{INSTANCE}:{posting.ticket_id}:r2",
        lines=[credit, labor("w1", "1.5", "95.00")],
        reason="late time entry",
    )
    receipt = billing.post_lines(late)

    assert receipt.invoice_id != first.invoice_id
    assert receipt.adjusts_invoice_id == first.invoice_id
    assert receipt.period == f"{PERIOD['current'][:5]}07"  # the next open period
    assert invoice_lines(admin, first.invoice_id) == posted_before
    read_back = billing.ticket_lines(posting.ticket_id)
    adjusted = [line for line in read_back if line.invoice_id == receipt.invoice_id]
    assert [line.line.amount for line in adjusted] == [Decimal("-95.00"), Decimal("142.50")]
    (number,) = [
        i["number"] for i in read(admin, "account.invoice", [int(first.invoice_id)], ["number"])
    ]
    assert number  # the customer knows the invoice by its number
    assert all(
        line.line.description.startswith(f"Adjustment to {number} (late time entry): ")
        for line in adjusted
    )
    assert {line.invoice_status for line in read_back} == {"finalized", "draft"}
