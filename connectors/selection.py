"""Which help desk and billing system this deployment talks to (``HDB_HELPDESK_ADAPTER``,
``HDB_BILLING_ADAPTER``), built from the connector's settings (``Settings``, read from the
``HDB_*`` environment like every other setting and validated there).

Secrets (passwords, tokens, refresh tokens) come from the settings or from a file under
``HDB_SECRETS_DIR``, never from the book or the repository. Anything missing is one
``ConnectorSetupError`` naming every variable to set, raised when the worker or API starts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy.engine import Engine

from connectors.billing import BillingAdapter
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from connectors.helpdesk import HelpdeskAdapter
from settings import Settings


class ConnectorSetupError(ValueError):
    """A chosen connector cannot be built: the message names what to set."""


def read_secret(settings: Settings, name: str) -> str:
    """The setting ``name`` (``HDB_<NAME>``), else the file ``<secrets_dir>/<name>``; '' if
    neither is there (the caller says which it needed)."""
    value = getattr(settings, name)
    if value:
        return str(value)
    path = settings.secrets_dir / name
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def _or_file(name: str) -> str:
    return f"HDB_{name.upper()} (or the file {name} in HDB_SECRETS_DIR)"


def billing_adapter(settings: Settings, engine: Engine) -> BillingAdapter:
    """The chosen billing system; wrapped by the chaos campaign's fault injector only when
    ``HDB_CHAOS_BILLING_FAILURES`` is set (bench/chaos.py), never otherwise."""
    from connectors.chaos import maybe_chaotic

    chosen = _chosen_billing_adapter(settings, engine)
    adapter = maybe_chaotic(chosen, settings)
    if adapter is not chosen:
        logging.getLogger("helpdesk_billing").warning(
            "CHAOS: HDB_CHAOS_BILLING_FAILURES is set; billing calls fail on purpose "
            "(a test campaign, never production)"
        )
    return adapter


def _chosen_billing_adapter(settings: Settings, engine: Engine) -> BillingAdapter:
    if settings.billing_adapter == "tryton":
        from connectors.tryton import TrytonBilling

        password = read_secret(settings, "tryton_password")
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
        return _quickbooks(settings)
    return EmbeddedLedger(engine)


def helpdesk_adapter(settings: Settings, engine: Engine) -> HelpdeskAdapter:
    if settings.helpdesk_adapter == "django-helpdesk":
        from connectors.django_helpdesk import (
            DjangoHelpdesk,
            DjangoHelpdeskClient,
        )

        config = django_helpdesk_config(settings)
        return DjangoHelpdesk(DjangoHelpdeskClient.from_config(config), config)
    if settings.helpdesk_adapter == "zendesk":
        from connectors.zendesk import ZendeskHelpdesk

        return ZendeskHelpdesk(zendesk_config(settings))
    return EmbeddedHelpdesk(engine)


def django_helpdesk_config(settings: Settings):  # type: ignore[no-untyped-def]
    """``HDB_DJANGO_HELPDESK_URL``, ``HDB_DJANGO_HELPDESK_TOKEN`` (or ``…_TOKEN_FILE``, or the
    file ``django_helpdesk_token`` in ``HDB_SECRETS_DIR``), optional ``…_INSTANCE``, ``…_ROLE``,
    ``…_WORK_TYPE``, ``…_USER_ID``."""
    from connectors.django_helpdesk import DjangoHelpdeskConfig

    token = read_secret(settings, "django_helpdesk_token")
    token_file = settings.django_helpdesk_token_file
    if not token and token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as problem:
            raise ConnectorSetupError(
                f"help desk adapter django-helpdesk: HDB_DJANGO_HELPDESK_TOKEN_FILE "
                f"{str(token_file)!r} cannot be read: {problem.strerror}"
            ) from None
    missing = [
        name
        for name, value in (
            ("HDB_DJANGO_HELPDESK_URL", settings.django_helpdesk_url),
            ("HDB_DJANGO_HELPDESK_TOKEN (or HDB_DJANGO_HELPDESK_TOKEN_FILE)", token),
        )
        if not value
    ]
    if missing:
        raise ConnectorSetupError(f"help desk adapter django-helpdesk: set {', '.join(missing)}")
    return DjangoHelpdeskConfig(
        base_url=str(settings.django_helpdesk_url),
        token=token,
        instance=settings.django_helpdesk_instance,
        default_role=settings.django_helpdesk_role,
        default_work_type=settings.django_helpdesk_work_type,
        integration_user_id=settings.django_helpdesk_user_id,
    )


def zendesk_config(settings: Settings):  # type: ignore[no-untyped-def]
    from connectors.zendesk import ZendeskConfig, ZendeskFields

    api_token = read_secret(settings, "zendesk_api_token")
    webhook_secret = read_secret(settings, "zendesk_webhook_secret")
    # An empty webhook secret would let anyone sign a webhook: both secrets are required.
    missing = [
        name
        for name, value in (
            ("HDB_ZENDESK_SUBDOMAIN", settings.zendesk_subdomain),
            ("HDB_ZENDESK_EMAIL", settings.zendesk_email),
            ("HDB_ZENDESK_TOTAL_TIME_FIELD", settings.zendesk_total_time_field),
            ("HDB_ZENDESK_LAST_UPDATE_TIME_FIELD", settings.zendesk_last_update_time_field),
            ("HDB_ZENDESK_BILLING_STATUS_FIELD", settings.zendesk_billing_status_field),
            (_or_file("zendesk_api_token"), api_token),
            (_or_file("zendesk_webhook_secret"), webhook_secret),
        )
        if not value
    ]
    if missing:
        raise ConnectorSetupError(f"help desk adapter zendesk: set {', '.join(missing)}")
    return ZendeskConfig(
        subdomain=str(settings.zendesk_subdomain),
        email=str(settings.zendesk_email),
        api_token=api_token,
        webhook_secret=webhook_secret,
        fields=ZendeskFields(
            total_time=settings.zendesk_total_time_field or 0,
            time_last_update=settings.zendesk_last_update_time_field or 0,
            billing_status=settings.zendesk_billing_status_field or 0,
            hold_reason=settings.zendesk_hold_reason_field,
            customer=settings.zendesk_customer_field,
            work_type=settings.zendesk_work_type_field,
            warranty=settings.zendesk_warranty_field,
        ),
        integration_user_id=settings.zendesk_integration_user_id,
        default_role=settings.zendesk_default_role,
        default_work_type=settings.zendesk_default_work_type,
        ticket_id_prefix=settings.zendesk_ticket_prefix,
        organization_key=settings.zendesk_organization_key,
    )


def _quickbooks(settings: Settings) -> BillingAdapter:
    from connectors.quickbooks import (
        PRODUCTION_URL,
        SANDBOX_URL,
        EnvironmentTokens,
        QuickBooksBilling,
        QuickBooksConfig,
        QuickBooksItems,
        SecretsFileTokens,
    )

    realm = settings.qbo_realm_id
    items_file = settings.qbo_items_file
    problems = [] if realm else ["set HDB_QBO_REALM_ID (the company id)"]
    items = QuickBooksItems()
    if items_file is None:
        problems.append(
            'set HDB_QBO_ITEMS_FILE (JSON: {"items": {service code: Item Id}, '
            '"default_item", "taxable_tax_code", "non_taxable_tax_code", optional '
            '"sales_tax_code" and "automated_sales_tax"})'
        )
    else:
        try:
            mapping = json.loads(Path(items_file).read_text(encoding="utf-8"))
            items = QuickBooksItems(**mapping)
        except (OSError, ValueError, TypeError) as problem:
            problems.append(f"HDB_QBO_ITEMS_FILE {str(items_file)!r} is not usable: {problem}")
    secrets_file = settings.qbo_secrets_file or settings.secrets_dir / "quickbooks.json"
    try:
        tokens = (
            SecretsFileTokens(Path(secrets_file))
            if Path(secrets_file).is_file()
            else EnvironmentTokens(
                {
                    "HDB_QBO_CLIENT_ID": read_secret(settings, "qbo_client_id"),
                    "HDB_QBO_CLIENT_SECRET": read_secret(settings, "qbo_client_secret"),
                    "HDB_QBO_REFRESH_TOKEN": read_secret(settings, "qbo_refresh_token"),
                }
            )
        )
    except ValueError as problem:
        problems.append(f"{problem}, or a secrets file at {secrets_file}")
    if problems:
        raise ConnectorSetupError("billing adapter quickbooks: " + "; ".join(problems))
    config = QuickBooksConfig(
        realm_id=str(realm),
        items=items,
        base_url=SANDBOX_URL if settings.qbo_environment == "sandbox" else PRODUCTION_URL,
        reference_prefix=settings.instance_id,
    )
    return QuickBooksBilling(config, tokens)
