"""The HDB_* variables that point the service at a running django-helpdesk and Tryton: what a
deployment sets, here for the end-to-end test and ``make demo-real``."""

from __future__ import annotations

from pathlib import Path

from tests.real.helpdesk_server import HelpdeskServer
from tests.real.tryton_server import TrytonServer


def real_systems_environment(
    desk: HelpdeskServer,
    tryton: TrytonServer,
    webhook_token: str,
    *,
    instance_id: str,
    data: Path,
) -> dict[str, str]:
    return {
        "HDB_HELPDESK_ADAPTER": "django-helpdesk",
        "HDB_BILLING_ADAPTER": "tryton",
        "HDB_DJANGO_HELPDESK_URL": desk.base_url,
        "HDB_DJANGO_HELPDESK_TOKEN": desk.token,
        "HDB_DJANGO_HELPDESK_WEBHOOK_TOKEN": webhook_token,
        "HDB_TRYTON_URL": tryton.url,
        "HDB_TRYTON_DATABASE": tryton.database,
        "HDB_TRYTON_LOGIN": tryton.login,
        "HDB_TRYTON_PASSWORD": tryton.password,
        "HDB_INSTANCE_ID": instance_id,
        "HDB_DATABASE_URL": f"sqlite:///{data / 'store.db'}",
        "HDB_SECRETS_DIR": str(data / "secrets"),
        "HDB_OTEL_EXPORTER": "none",
    }
