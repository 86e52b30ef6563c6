"""Which help desk and billing system this deployment talks to (``HDB_HELPDESK_ADAPTER``,
``HDB_BILLING_ADAPTER``), built from settings and the connector's own ``HDB_*`` variables.

Secrets (passwords, tokens, refresh tokens) come from the environment or from a file under
``HDB_SECRETS_DIR``, never from the book or the repository. Anything missing is one
``ConnectorSetupError`` naming every variable to set, raised when the worker or API starts.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import Engine

from connectors.billing import BillingAdapter
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from connectors.helpdesk import HelpdeskAdapter
from settings import Settings


class ConnectorSetupError(ValueError):
    """A chosen connector cannot be built: the message names what to set."""


def read_secret(settings: Settings, name: str, environ: Mapping[str, str] | None = None) -> str:
    """``HDB_<NAME>`` from the environment, else the file ``<secrets_dir>/<name>``; '' if
    neither exists (the caller says which it needed)."""
    environ = os.environ if environ is None else environ
    value = environ.get(f"HDB_{name.upper()}", "").strip()
    if value:
        return value
    path = settings.secrets_dir / name
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def billing_adapter(
    settings: Settings, engine: Engine, environ: Mapping[str, str] | None = None
) -> BillingAdapter:
    """The chosen billing system; wrapped by the chaos campaign's fault injector only when
    ``HDB_CHAOS_BILLING_FAILURES`` is set (bench/chaos.py), never otherwise."""
    from connectors.chaos import maybe_chaotic

    environ = os.environ if environ is None else environ
    chosen = _chosen_billing_adapter(settings, engine, environ)
    adapter = maybe_chaotic(chosen, environ)
    if adapter is not chosen:
        logging.getLogger("helpdesk_billing").warning(
            "CHAOS: HDB_CHAOS_BILLING_FAILURES is set; billing calls fail on purpose "
            "(a test campaign, never production)"
        )
    return adapter


def _chosen_billing_adapter(
    settings: Settings, engine: Engine, environ: Mapping[str, str]
) -> BillingAdapter:
    if settings.billing_adapter == "tryton":
        from connectors.tryton import TrytonBilling

        password = read_secret(settings, "tryton_password", environ)
        missing = [
            name
            for name, value in (
                ("HDB_TRYTON_URL", settings.tryton_url),
                ("HDB_TRYTON_DATABASE", settings.tryton_database),
                ("HDB_TRYTON_LOGIN", settings.tryton_login),
                ("HDB_TRYTON_PASSWORD (or the file secrets/tryton_password)", password),
            )
            if not value
        ]
        if missing:
            raise ConnectorSetupError(f"billing adapter tryton: set {', '.join(missing)}")
        return TrytonBilling(
            str(settings.tryton_url),
            str(settings.tryton_database),
            str(settings.tryton_login),
            password,
            instance_id=settings.instance_id,
        )
    if settings.billing_adapter == "quickbooks":
        return _quickbooks(settings, environ)
    return EmbeddedLedger(engine)


def helpdesk_adapter(
    settings: Settings, engine: Engine, environ: Mapping[str, str] | None = None
) -> HelpdeskAdapter:
    environ = os.environ if environ is None else environ
    if settings.helpdesk_adapter == "django-helpdesk":
        from connectors.django_helpdesk import (
            DjangoHelpdesk,
            DjangoHelpdeskClient,
        )

        config = django_helpdesk_config(environ)
        return DjangoHelpdesk(DjangoHelpdeskClient.from_config(config), config)
    if settings.helpdesk_adapter == "zendesk":
        from connectors.zendesk import ZendeskHelpdesk

        return ZendeskHelpdesk(zendesk_config(settings, environ))
    return EmbeddedHelpdesk(engine)


def django_helpdesk_config(environ: Mapping[str, str]):  # type: ignore[no-untyped-def]
    from connectors.django_helpdesk import DjangoHelpdeskConfig

    try:
        return DjangoHelpdeskConfig.from_environment(environ)
    except (ValueError, OSError) as problem:
        raise ConnectorSetupError(f"help desk adapter django-helpdesk: {problem}") from None


def zendesk_config(settings: Settings, environ: Mapping[str, str]):  # type: ignore[no-untyped-def]
    from connectors.zendesk import config_from_env

    try:
        config = config_from_env(environ, lambda name: read_secret(settings, name, environ))
    except ValueError as problem:
        raise ConnectorSetupError(f"help desk adapter zendesk: {problem}") from None
    # An empty webhook secret would let anyone sign a webhook: both secrets are required.
    missing = [
        f"HDB_{name.upper()} (or the file {name} in HDB_SECRETS_DIR)"
        for name, value in (
            ("zendesk_api_token", config.api_token),
            ("zendesk_webhook_secret", config.webhook_secret),
        )
        if not value
    ]
    if missing:
        raise ConnectorSetupError(f"help desk adapter zendesk: set {', '.join(missing)}")
    return config


def _quickbooks(settings: Settings, environ: Mapping[str, str]) -> BillingAdapter:
    from connectors.quickbooks import (
        PRODUCTION_URL,
        SANDBOX_URL,
        EnvironmentTokens,
        QuickBooksBilling,
        QuickBooksConfig,
        QuickBooksItems,
        SecretsFileTokens,
    )

    realm = environ.get("HDB_QBO_REALM_ID", "").strip()
    items_file = environ.get("HDB_QBO_ITEMS_FILE", "").strip()
    problems = [] if realm else ["set HDB_QBO_REALM_ID (the company id)"]
    items = QuickBooksItems()
    if not items_file:
        problems.append(
            'set HDB_QBO_ITEMS_FILE (JSON: {"items": {service code: Item Id}, '
            '"default_item", "taxable_tax_code", "non_taxable_tax_code"})'
        )
    else:
        try:
            mapping = json.loads(Path(items_file).read_text(encoding="utf-8"))
            items = QuickBooksItems(**mapping)
        except (OSError, ValueError, TypeError) as problem:
            problems.append(f"HDB_QBO_ITEMS_FILE {items_file!r} is not usable: {problem}")
    secrets_file = environ.get("HDB_QBO_SECRETS_FILE", "").strip() or str(
        settings.secrets_dir / "quickbooks.json"
    )
    try:
        tokens = (
            SecretsFileTokens(Path(secrets_file))
            if Path(secrets_file).is_file()
            else EnvironmentTokens(environ)
        )
    except ValueError as problem:
        problems.append(f"{problem}, or a secrets file at {secrets_file}")
    if problems:
        raise ConnectorSetupError("billing adapter quickbooks: " + "; ".join(problems))
    sandbox = environ.get("HDB_QBO_ENVIRONMENT", "production").strip() == "sandbox"
    config = QuickBooksConfig(
        realm_id=realm,
        items=items,
        base_url=SANDBOX_URL if sandbox else PRODUCTION_URL,
        reference_prefix=settings.instance_id,
    )
    return QuickBooksBilling(config, tokens)
