"""Service settings: one typed object read from ``HDB_*`` environment variables, with defaults.

Every setting is documented in the README's configuration table; a bad value fails at start
with a message naming the variable, never later in the middle of billing.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from billing.book import BillingMode
from billing.problems import problems_from

# The repository (settings/ is a package so the import contract can name it).
ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "HDB_"
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
# Temporal's limit.workerBuildIdSize default: the SQL stores' column holds no more.
_MAX_DEPLOYMENT_VERSION_PART = 255
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _url_host(url: str) -> str:
    """The host of ``url``, lower-case and without brackets (``[::1]`` is ``::1``); "" when the
    URL has none."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def parse_duration(text: str) -> timedelta:
    """``0``, ``90s``, ``10m``, ``2h``, ``30d`` (a bare number is seconds)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 2h or 30d")
    amount, unit = int(match.group(1)), match.group(2) or "s"
    return timedelta(**{_UNITS[unit]: amount})


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each bad variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "helpdesk-billing"
    # The worker's name in workflow histories (default: <pid>@<host>).
    worker_identity: str | None = None
    # Worker Versioning (docs/worker-versioning.md): a build id (the image tag) turns it on, and
    # the worker joins the Worker Deployment worker_deployment_name as version <name>:<build id>;
    # unset, the worker is unversioned.
    worker_build_id: str | None = None
    worker_deployment_name: str = "helpdesk-billing"
    # Worker sizing (README, "Sizing a worker"). Threads for activities, and at most as many
    # activities at once: one waiting for a thread inside the worker would have its
    # start-to-close timer running already (the Tryton chaos campaign). 32: with 16,
    # bench/live.py fell from 0.81 to 0.75 of its baseline.
    worker_activity_threads: int = Field(default=32, ge=1, le=1024)
    # Workflow runs kept in memory between tasks (the SDK's default). A ticket waits out its
    # settle period open, so a busy worker holds this many; one evicted is replayed from its
    # history when its next event comes. 0 keeps none (every task replays).
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    # Temporal Cloud / mTLS: client certificate and key files, optional CA, or an API key.
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: str | None = None
    temporal_ui_url: str = "http://localhost:8233"

    book_path: Path = ROOT / "examples" / "book.toml"
    database_url: str = f"sqlite:///{ROOT / '.data' / 'helpdesk-billing.db'}"
    # Which systems this deployment talks to (connectors/selection.py); each connector's own
    # settings are below (README, "Connecting your help desk and billing system").
    billing_adapter: Literal["embedded", "tryton", "quickbooks"] = "embedded"
    helpdesk_adapter: Literal["embedded", "django-helpdesk", "zendesk"] = "embedded"
    # Tryton (billing_adapter = tryton); the password is HDB_TRYTON_PASSWORD or a secrets file.
    tryton_url: str | None = None
    tryton_database: str | None = None
    tryton_login: str | None = None
    tryton_password: str | None = Field(default=None, repr=False)
    # How often the django-helpdesk polling sync catches what its webhooks missed.
    helpdesk_sync_interval: timedelta = timedelta(minutes=5)

    # ---- Connectors' own settings (connectors/selection.py checks what the chosen one needs) --
    # Secrets (tokens, passwords) may be unset here and kept instead in a file of the same name,
    # lower-case, under secrets_dir (e.g. secrets/zendesk_api_token).
    # django-helpdesk (docs/connector-django-helpdesk.md).
    django_helpdesk_url: str | None = None
    django_helpdesk_token: str | None = Field(default=None, repr=False)
    django_helpdesk_token_file: Path | None = None
    django_helpdesk_instance: str = "dh"
    django_helpdesk_role: str = "technician"
    django_helpdesk_work_type: str = "remote"
    django_helpdesk_user_id: int | None = None
    django_helpdesk_webhook_token: str | None = Field(default=None, repr=False)
    # While the webhook token is rotated: the next one, accepted besides the current one.
    django_helpdesk_webhook_token_next: str | None = Field(default=None, repr=False)
    # Zendesk (docs/connectors-saas.md): the custom field ids are numbers.
    zendesk_subdomain: str | None = None
    zendesk_email: str | None = None
    zendesk_api_token: str | None = Field(default=None, repr=False)
    zendesk_webhook_secret: str | None = Field(default=None, repr=False)
    zendesk_total_time_field: int | None = None
    zendesk_last_update_time_field: int | None = None
    zendesk_billing_status_field: int | None = None
    zendesk_hold_reason_field: int | None = None
    zendesk_customer_field: int | None = None
    zendesk_work_type_field: int | None = None
    zendesk_warranty_field: int | None = None
    zendesk_integration_user_id: int | None = None
    zendesk_organization_key: Literal["id", "external_id"] = "id"
    zendesk_default_role: str = "technician"
    zendesk_default_work_type: str = "remote"
    zendesk_ticket_prefix: str = ""
    # QuickBooks Online (docs/connectors-saas.md): OAuth secrets in qbo_secrets_file (default
    # secrets/quickbooks.json, where the rotated refresh token is kept) or the three below.
    qbo_realm_id: str | None = None
    qbo_items_file: Path | None = None
    qbo_secrets_file: Path | None = None
    qbo_environment: Literal["production", "sandbox"] = "production"
    qbo_client_id: str | None = Field(default=None, repr=False)
    qbo_client_secret: str | None = Field(default=None, repr=False)
    qbo_refresh_token: str | None = Field(default=None, repr=False)
    # The chaos campaign's fault injector (bench/chaos.py, docs/chaos.md; never production):
    # unset failures, it is off.
    chaos_billing_failures: float | None = Field(default=None, ge=0, le=1)
    chaos_billing_seed: int | None = None
    chaos_billing_methods: str | None = None
    chaos_billing_retry_after: float | None = None
    chaos_billing_timeout: float | None = None
    chaos_billing_hang: float | None = None
    chaos_billing_hang_share: float | None = Field(default=None, ge=0, le=1)
    chaos_billing_log: Path | None = None
    # ---- end of the connectors' settings -----------------------------------------------------
    # Prefixes invoice references: ticket ids repeat across help desk instances.
    instance_id: str = "hdb"

    grace_period: timedelta = timedelta(0)
    settle_period: timedelta = timedelta(days=30)
    mode_override: BillingMode | None = None

    # The HTTP API and pages (`starter.py serve`).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Where links in pages and e-mails point (the signoff link a customer receives).
    public_url: str = "http://127.0.0.1:8000"
    # Secrets: the help desk's webhook secret, and the key that signs session cookies and
    # customer signoff links. Unset, each is read from (or created once in) a file under
    # .data/, so the demo works and nothing secret ever sits in the repository.
    webhook_secret: str | None = None
    signing_key: str | None = None
    secrets_dir: Path = ROOT / ".data" / "secrets"
    signoff_link_ttl: timedelta = timedelta(days=14)
    # The CLI's API token for decision commands (`starter.py approve …`): they act as its name
    # and role. Or `--token-file FILE`.
    api_token: str | None = Field(default=None, repr=False)
    # Separation of duties (issue 14, docs/security.md): whoever edited a ticket's lines may
    # not approve it, and the manager who approved may not issue or accept its customer
    # signoff. On by default; a team too small to split the work may turn it off.
    separation_of_duties: bool = True
    # Throttling of log-in and signoff-link attempts (api/throttle.py): after this many failures
    # within the window from one client address, or with one token prefix, further attempts get
    # 429 with Retry-After until the oldest of those failures leaves the window. Counted in the
    # store, so every API process agrees; a lockout is audited and raises an alert.
    auth_throttle_failures: int = Field(default=10, ge=1)
    auth_throttle_window: timedelta = timedelta(minutes=15)

    # Reconciliation: the daily run's hour (UTC), and how many findings raise the alert.
    reconciliation_hour_utc: int = 2
    reconciliation_alert_findings: int = 1
    # Sync health (every sync_health_interval): alert when this share of help desk or billing
    # calls failed in the last two hours, or a day's calls are over volume_factor × the usual
    # (or under the usual / volume_factor); judged only from sync_alert_min_calls calls.
    sync_health_interval: timedelta = timedelta(minutes=15)
    sync_alert_failure_rate: Decimal = Decimal("0.2")
    sync_alert_min_calls: int = 20
    sync_alert_volume_factor: Decimal = Decimal(3)

    # Retention (store/retention.py, `starter.py purge`): unset keeps everything.
    audit_retention: timedelta | None = None
    event_retention: timedelta | None = None

    otel_exporter: Literal["console", "otlp", "none"] = "console"
    # Spans go to a file by default, so they never mix with command output.
    otel_console_file: Path | None = ROOT / ".data" / "traces.log"

    # ---- Notifications (docs/notifications.md): e-mail notices, digests, signoff e-mails, chat --
    # Who is told is in the book ([notifications] owners, each customer's billing_contact). The
    # mail server: smtp://[user@]host[:587] (STARTTLS, required unless the host is loopback),
    # smtps://[user@]host[:465] (TLS from the start), or smtp+plain://host:port (no TLS: a local
    # relay or a test server on loopback only). Unset, nothing is e-mailed: notices wait in the
    # outbox, marked so. The password is HDB_SMTP_PASSWORD or the file smtp_password in
    # HDB_SECRETS_DIR.
    smtp_url: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_timeout: timedelta = timedelta(seconds=30)
    mail_from: str = "helpdesk-billing <billing@localhost>"
    # Notices are gathered for this long and sent as one e-mail per owner queue (the notifier
    # runs five rounds per interval, at least 5 s apart).
    notification_interval: timedelta = timedelta(minutes=5)
    # The daily digest per owner queue, at this hour in the book's timezone; what has waited
    # longer than digest_aged_after is called out. The weekly finance summary goes out on
    # finance_summary_weekday (mon … sun) at the digest hour.
    digest_hour: int = Field(default=8, ge=0, le=23)
    digest_aged_after: timedelta = timedelta(days=3)
    finance_summary_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    # The customer's signoff e-mail: a reminder when it is still unanswered after this long, and
    # a final notice this long before the link expires (signoff_link_ttl).
    signoff_reminder_after: timedelta = timedelta(days=3)
    signoff_final_notice_before: timedelta = timedelta(days=2)
    # Chat: Slack and Microsoft Teams incoming webhooks per owner queue (secrets: set here or in
    # a file of the same name in HDB_SECRETS_DIR). A failed post is retried at each send and
    # counted in sync health; it never blocks billing.
    slack_webhook_support: str | None = Field(default=None, repr=False)
    slack_webhook_billing: str | None = Field(default=None, repr=False)
    slack_webhook_manager: str | None = Field(default=None, repr=False)
    slack_webhook_finance: str | None = Field(default=None, repr=False)
    teams_webhook_support: str | None = Field(default=None, repr=False)
    teams_webhook_billing: str | None = Field(default=None, repr=False)
    teams_webhook_manager: str | None = Field(default=None, repr=False)
    teams_webhook_finance: str | None = Field(default=None, repr=False)
    # How many rounds a failed e-mail or chat post is tried before it stays failed (the outbox).
    notification_attempts: int = Field(default=10, ge=1, le=1000)

    # ---- Payload compression (runtime/compression.py, docs/encryption.md) ---------------------
    # Payloads over 32 KiB go to Temporal zlib-compressed (a long ticket's rating, its
    # continue-as-new input). Turn it off (false) for the first deploy of the release that brought
    # it, so rolling back to an older build, which cannot inflate them, stays possible; compressed
    # payloads are read whatever this says.
    payload_compression: bool = True

    @field_validator("payload_compression", mode="before")
    @classmethod
    def _switch(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        if word in {"", "1", "true", "yes", "on"}:  # empty is unset: on, the default
            return True
        if word in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{value!r} is not a switch: use true or false")

    # ---- Payload encryption (runtime/encryption.py, docs/encryption.md) ----------------------
    # The key file (JSON {"current": "k2", "keys": {"k1": "<base64 32 bytes>", ...}}): set, every
    # payload the service puts in Temporal is AES-256-GCM encrypted; unset, encryption is off. A
    # relative path is read from secrets_dir (where a Kubernetes Secret is mounted).
    encryption_keys_file: Path | None = None
    # With encryption on, a payload that is not encrypted is refused when decoded (issue 14): a
    # signal sent in plaintext straight to Temporal never reaches a ticket. Set true only while
    # workflows started before encryption was turned on are still open (docs/encryption.md).
    encryption_accept_plaintext: bool = False
    # Origins allowed to call the codec endpoint (/codec/decode) from a browser: the Temporal
    # Web UI, by either name. Comma-separated in HDB_CODEC_CORS_ORIGINS.
    codec_cors_origins: tuple[str, ...] = ("http://localhost:8233", "http://127.0.0.1:8233")

    @field_validator("encryption_keys_file", mode="before")
    @classmethod
    def _keys_file_empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("codec_cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
        return value

    @property
    def encryption_keys_path(self) -> Path | None:
        """The key file, a relative path taken under ``secrets_dir``; None when off."""
        path = self.encryption_keys_file
        return None if path is None else path if path.is_absolute() else self.secrets_dir / path

    # ---- end of payload encryption ------------------------------------------------------------

    @field_validator(
        "grace_period",
        "settle_period",
        "signoff_link_ttl",
        "smtp_timeout",
        "notification_interval",
        "digest_aged_after",
        "signoff_reminder_after",
        "signoff_final_notice_before",
        "sync_health_interval",
        "helpdesk_sync_interval",
        "auth_throttle_window",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("auth_throttle_window", "notification_interval", "smtp_timeout")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("use a duration longer than 0, such as 15m")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        scheme = value.partition("://")[0].lower()
        if scheme not in ("http", "https") or not _url_host(value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
        return value

    @property
    def public_url_is_plain_http(self) -> bool:
        return self.public_url.lower().startswith("http://")

    @property
    def public_url_on_loopback(self) -> bool:
        """Whether the public URL names this machine (localhost, 127.0.0.0/8, ::1): only a
        browser on the same host can reach it, so nothing crosses a network."""
        host = _url_host(self.public_url)
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` (a browser sends them over https only) unless the public
        URL is plain http on loopback, as in the demo: there a Secure cookie would never come
        back. Plain http elsewhere keeps them Secure, so they never cross a network in clear
        text, and the API warns at start (api/app.py)."""
        return not (self.public_url_is_plain_http and self.public_url_on_loopback)

    @field_validator(
        "mode_override",
        "temporal_tls_cert",
        "temporal_tls_key",
        "temporal_tls_ca",
        "temporal_api_key",
        "otel_console_file",
        "webhook_secret",
        "signing_key",
        "worker_identity",
        "tryton_url",
        "tryton_database",
        "tryton_login",
        "smtp_url",
        "smtp_password",
        "slack_webhook_support",
        "slack_webhook_billing",
        "slack_webhook_manager",
        "slack_webhook_finance",
        "teams_webhook_support",
        "teams_webhook_billing",
        "teams_webhook_manager",
        "teams_webhook_finance",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(
        "tryton_password",
        "django_helpdesk_url",
        "django_helpdesk_token",
        "django_helpdesk_token_file",
        "django_helpdesk_user_id",
        "django_helpdesk_webhook_token",
        "django_helpdesk_webhook_token_next",
        "zendesk_subdomain",
        "zendesk_email",
        "zendesk_api_token",
        "zendesk_webhook_secret",
        "zendesk_total_time_field",
        "zendesk_last_update_time_field",
        "zendesk_billing_status_field",
        "zendesk_hold_reason_field",
        "zendesk_customer_field",
        "zendesk_work_type_field",
        "zendesk_warranty_field",
        "zendesk_integration_user_id",
        "qbo_realm_id",
        "qbo_items_file",
        "qbo_secrets_file",
        "qbo_client_id",
        "qbo_client_secret",
        "qbo_refresh_token",
        "chaos_billing_failures",
        "chaos_billing_seed",
        "chaos_billing_methods",
        "chaos_billing_retry_after",
        "chaos_billing_timeout",
        "chaos_billing_hang",
        "chaos_billing_hang_share",
        "chaos_billing_log",
        mode="before",
    )
    @classmethod
    def _connector_value(cls, value: object) -> object:
        """As the connectors always read them: surrounding blanks dropped, empty is unset."""
        if isinstance(value, str):
            value = value.strip()
        return None if value == "" else value

    @field_validator("audit_retention", "event_retention", mode="before")
    @classmethod
    def _retention(cls, value: object) -> object:
        if isinstance(value, str):
            value = None if not value.strip() else parse_duration(value)
        if isinstance(value, timedelta) and value <= timedelta(0):
            raise ValueError("use a duration longer than 0, such as 400d, or leave it unset")
        return value

    @field_validator("sync_alert_failure_rate")
    @classmethod
    def _rate(cls, value: Decimal) -> Decimal:
        if not 0 < value <= 1:
            raise ValueError("use a share between 0 and 1, such as 0.2 for 20%")
        return value

    @field_validator("sync_alert_volume_factor")
    @classmethod
    def _factor(cls, value: Decimal) -> Decimal:
        if value <= 1:
            raise ValueError("use a factor above 1, such as 3")
        return value

    @field_validator("worker_build_id", "worker_deployment_name")
    @classmethod
    def _deployment_version_part(cls, value: str | None, info: ValidationInfo) -> str | None:
        """What Temporal accepts in a Worker Deployment Version (server worker_versioning.go):
        not empty, no leading '__', a deployment name without '.' or ':'; no whitespace, so a
        stray blank never makes a second version; at most 255 bytes (limit.workerBuildIdSize's
        default, the width of the SQL stores' column)."""
        if value is None:
            return value
        if not value.strip():
            raise ValueError(
                "is empty: set the build's id (e.g. the image tag), or leave it unset to run "
                "without Worker Versioning"
                if info.field_name == "worker_build_id"
                else "is empty: name the Worker Deployment, or leave it unset for helpdesk-billing"
            )
        if any(character.isspace() for character in value):
            raise ValueError("contains whitespace (a stray blank or line break?): remove it")
        if len(value.encode()) > _MAX_DEPLOYMENT_VERSION_PART:
            raise ValueError(f"is longer than {_MAX_DEPLOYMENT_VERSION_PART} bytes")
        if value.startswith("__"):
            raise ValueError("starts with '__', which Temporal reserves")
        if info.field_name == "worker_deployment_name" and ("." in value or ":" in value):
            raise ValueError("contains '.' or ':', which Temporal does not allow in the name")
        return value

    @field_validator("instance_id")
    @classmethod
    def _instance_id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", value):
            raise ValueError("use 1-16 letters, digits, '-' or '_'")
        return value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values = {
            name: environ[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in environ
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            lines = [
                f"  {ENV_PREFIX}{problem.path.upper()}: {problem.message}"
                for problem in problems_from(error)
            ]
            raise SettingsError("bad settings in the environment:\n" + "\n".join(lines)) from None

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a ``sqlite:///`` URL, so its folder can be created."""
        prefix = "sqlite:///"
        return (
            Path(self.database_url[len(prefix) :]) if self.database_url.startswith(prefix) else None
        )
