"""A real Tryton 8.2 for the tests: a SQLite database with a company, chart of accounts, fiscal
year, a 10% tax, a product per service code and a party per customer of examples/book.toml,
served by ``trytond`` on loopback.

Preparing the database takes about a minute, so the prepared ``.sqlite`` file is cached under
``.data/test-cache/tryton/`` keyed by the trytond version, this file and the book; each test
session copies it and starts its own server. Run as a script (``python tryton_server.py
populate CONF NAME``) it fills a freshly initialised database through proteus, in a process of
its own because trytond keeps its configuration and pool in module globals.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest

from store.private_files import private_folder

REPO = Path(__file__).resolve().parents[2]
BOOK = REPO / "examples" / "book.toml"
CACHE_ROOT = REPO / ".data" / "test-cache" / "tryton"
BIN = Path(sys.executable).parent
DATABASE = "hdb"
ADMIN_PASSWORD = "admin-password-for-tests-only"
# The connector logs in as this user, who holds only the groups docs/connector-tryton.md lists.
INTEGRATION_LOGIN = "hdb-billing"
INTEGRATION_PASSWORD = "integration-password-for-tests-only"
INTEGRATION_GROUPS = ("account.group_account",)
VAT_RATE = Decimal("0.10")
COMPANY_NAME = "Northwind IT Services"


@dataclass(frozen=True, slots=True)
class TrytonServer:
    """A running trytond: where to reach it and whom to log in as."""

    url: str  # http://127.0.0.1:PORT
    database: str
    login: str
    password: str
    admin_password: str
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def rpc_url(self) -> str:
        return f"{self.url}/{self.database}/"


@dataclass(frozen=True, slots=True)
class BookProduct:
    code: str
    name: str
    unit: str  # "hour" or "unit"
    list_price: Decimal


def book_products(book_text: str) -> list[BookProduct]:
    """A product for every code a posted line can carry: work types (hours), parts (units) and
    monthly contract fees (``FEE-<contract id>``, as billing.invoice_run names them)."""
    book = tomllib.loads(book_text)
    technician = Decimal(book["rates"]["technician"])
    products = [
        BookProduct(work["service_code"], f"Labor: {name}", "hour", technician)
        for name, work in book["work_types"].items()
    ]
    for sku, part in book.get("parts", {}).items():
        price = part.get("price") or Decimal(part["cost"]) * (1 + Decimal(part["markup"]))
        products.append(BookProduct(sku, part["description"], "unit", Decimal(price)))
    products += [
        BookProduct(f"FEE-{contract['id']}", f"Monthly fee {contract['id']}", "unit", Decimal(fee))
        for contract in book.get("contracts", [])
        if (fee := contract.get("monthly_fee"))
    ]
    return products


def book_customers(book_text: str) -> list[tuple[str, str]]:
    return [(c["billing_id"], c["name"]) for c in tomllib.loads(book_text)["customers"]]


def cache_key() -> str:
    """Changes when anything that shapes the prepared database changes (the year too: the
    fiscal year is the calendar year, and posting needs one covering today)."""
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(BOOK.read_bytes())
    return f"trytond-{version('trytond')}-{date.today().year}-{digest.hexdigest()[:16]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(directory: Path, port: int) -> Path:
    config = directory / "trytond.conf"
    config.write_text(
        "[database]\n"
        "uri = sqlite://\n"
        f"path = {directory}\n"
        "[web]\n"
        f"listen = 127.0.0.1:{port}\n"
        "[password]\n"
        "length = 8\n"
    )
    return config


def _run(command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as output:
        completed = subprocess.run(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=log.parent
        )
    if completed.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}):\n{tail}")


def build_database(directory: Path) -> Path:
    """Initialise, activate account_invoice and populate ``DATABASE`` in ``directory``."""
    config = write_config(directory, free_port())
    log = directory / "setup.log"
    (directory / f"{DATABASE}.sqlite").touch()
    password_file = directory / "admin-password"
    password_file.write_text(ADMIN_PASSWORD)
    env = {**os.environ, "TRYTONPASSFILE": str(password_file)}
    admin = [str(BIN / "trytond-admin"), "-c", str(config), "-d", DATABASE]
    _run([*admin, "--all", "--email", "admin@example.com"], log, env)
    _run([*admin, "-u", "account_invoice", "--activate-dependencies"], log, env)
    _run([sys.executable, __file__, "populate", str(config), DATABASE], log)
    return directory / f"{DATABASE}.sqlite"


def prepared_database() -> tuple[Path, float]:
    """The cached prepared database file (built on a miss) and the seconds it took."""
    started = time.monotonic()
    cached = CACHE_ROOT / cache_key() / f"{DATABASE}.sqlite"
    if not cached.exists():
        private_folder(cached.parent)  # .data/ is the owner's only, test caches too
        # Built aside and renamed into place: a concurrent run never copies a half-built file.
        with tempfile.TemporaryDirectory(dir=cached.parent) as scratch:
            built = build_database(Path(scratch))
            os.replace(built, cached)
    return cached, time.monotonic() - started


def _answers(url: str) -> bool:
    import httpx

    body = {"id": 0, "method": "common.server.version", "params": []}
    try:
        return httpx.post(f"{url}/rpc/", json=body, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_server(database_file: Path, directory: Path, timeout: float = 60) -> TrytonServer:
    """Copy the prepared database into ``directory`` and serve it on a free loopback port."""
    shutil.copyfile(database_file, directory / f"{DATABASE}.sqlite")
    port = free_port()
    config = write_config(directory, port)
    log = (directory / "trytond.log").open("ab")
    process = subprocess.Popen(
        [str(BIN / "trytond"), "-c", str(config), "-d", DATABASE],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tail = Path(log.name).read_text(errors="replace")[-4000:]
            raise RuntimeError(f"trytond did not answer on {url}:\n{tail}")
        time.sleep(0.2)
    return TrytonServer(
        url=url,
        database=DATABASE,
        login=INTEGRATION_LOGIN,
        password=INTEGRATION_PASSWORD,
        admin_password=ADMIN_PASSWORD,
        directory=directory,
        process=process,
    )


def stop_server(server: TrytonServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """Tryton serving a copy of the prepared database for this test session."""
    if not (BIN / "trytond").exists():
        pytest.fail(
            "trytond is not installed in this environment: install the dev extras "
            "(trytond, trytond-account-invoice, proteus 8.2)"
        )
    database_file, seconds = prepared_database()
    directory = tmp_path_factory.mktemp("tryton")
    server = start_server(database_file, directory)
    (directory / "setup-seconds").write_text(f"{seconds:.1f}\n")
    try:
        yield server
    finally:
        stop_server(server)


def populate(config_file: str, database: str) -> None:
    """Company, chart, fiscal year, tax, products, parties and the integration user, through
    proteus and the modules' own test helpers (the way Tryton's scenarios set up a company)."""
    from proteus import Model
    from proteus import config as proteus_config
    from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, get_accounts
    from trytond.modules.account_invoice.tests.tools import (
        create_payment_term,
        set_fiscalyear_invoice_sequences,
    )
    from trytond.modules.company.tests.tools import create_company, get_company
    from trytond.modules.currency.tests.tools import get_currency

    book_text = BOOK.read_text()
    currency_code = tomllib.loads(book_text)["book"]["currency"]
    config = proteus_config.set_trytond(database=database, config_file=config_file)
    Party = Model.get("party.party")
    company_party = Party(name=COMPANY_NAME)
    company_party.save()
    create_company(party=company_party, currency=get_currency(currency_code))
    company = get_company()
    create_chart(company)
    accounts = get_accounts(company)

    year = date.today().year
    fiscalyear = set_fiscalyear_invoice_sequences(
        create_fiscalyear(company, today=(date(year, 1, 1), date(year, 12, 31)))
    )
    fiscalyear.save()
    fiscalyear.click("create_period")

    Tax = Model.get("account.tax")
    tax = Tax(
        name=f"VAT {VAT_RATE * 100:.0f}%",
        description=f"VAT {VAT_RATE * 100:.0f}%",
        type="percentage",
        rate=VAT_RATE,
        invoice_account=accounts["tax"],
        credit_note_account=accounts["tax"],
    )
    tax.save()

    payment_term = create_payment_term()
    payment_term.save()
    AccountConfiguration = Model.get("account.configuration")
    account_configuration = AccountConfiguration(1)
    account_configuration.default_customer_payment_term = payment_term
    account_configuration.save()

    ProductCategory = Model.get("product.category")
    category = ProductCategory(name="Help desk services and parts", accounting=True)
    category.account_revenue = accounts["revenue"]
    category.account_expense = accounts["expense"]
    category.customer_taxes.append(Tax(tax.id))
    category.save()

    Uom = Model.get("product.uom")
    units = {
        "hour": Uom.find([("name", "=", "Hour")])[0],
        "unit": Uom.find([("name", "=", "Unit")])[0],
    }
    Template = Model.get("product.template")
    for product in book_products(book_text):
        template = Template(
            name=product.name,
            code=product.code,
            type="service"
            if product.unit == "hour" or product.code.startswith("FEE-")
            else "goods",
            default_uom=units[product.unit],
            list_price=product.list_price,
            account_category=category,
        )
        template.save()

    for billing_id, name in book_customers(book_text):
        party = Party(name=name, code=billing_id)
        party.customer_payment_term = payment_term
        party.save()

    User = Model.get("res.user")
    Group = Model.get("res.group")
    ModelData = Model.get("ir.model.data")
    Company = Model.get("company.company")
    user = User(name="Help desk billing integration", login=INTEGRATION_LOGIN)
    user.password = INTEGRATION_PASSWORD
    user.companies.append(Company(company.id))
    user.company = Company(company.id)
    for group in INTEGRATION_GROUPS:
        user.groups.append(Group(ModelData.get_id(group, config.context)))
    user.save()
    print(json.dumps({"company": company.id, "user": user.id}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "populate":
        populate(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"usage: {sys.argv[0]} populate TRYTOND_CONF DATABASE")
