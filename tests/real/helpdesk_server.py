"""A real django-helpdesk 2.6 on loopback for tests: a throwaway Django project on SQLite, with a
staff integration user and its API token, a queue, the ``billing_account`` and ``billing_status``
custom fields, and webhooks pointed at a receiver URL the tests listen on.

The project lives in a temporary directory and the server runs as a subprocess (``runserver
--noreload``); ``start_helpdesk`` returns once it answers and ``HelpdeskServer.stop`` ends it.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

# The Django project reads the receiver URL from here, on every webhook (see SETTINGS below).
WEBHOOK_URL_VARIABLE = "HDB_TEST_HELPDESK_WEBHOOK_URL"
STARTUP_TIMEOUT_SECONDS = 60.0

SETTINGS = """
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "helpdesk",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "hdproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "helpdesk.sqlite3",
        "OPTIONS": {"timeout": 20},
    }
}
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SITE_ID = 1
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
HELPDESK_TEAMS_MODE_ENABLED = False
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}


def _receiver_urls():
    url = os.environ.get("HDB_TEST_HELPDESK_WEBHOOK_URL", "")
    return [url] if url else []


HELPDESK_GET_NEW_TICKET_WEBHOOK_URLS = _receiver_urls
HELPDESK_GET_FOLLOWUP_WEBHOOK_URLS = _receiver_urls
HELPDESK_WEBHOOK_TIMEOUT = 3
"""

URLS = """
from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
"""

# Run once after migrate, inside the project: the integration user (staff, not superuser: the
# permissions docs/connector-django-helpdesk.md lists) and a technician, their tokens, a queue and
# the two custom fields. Prints "BOOTSTRAP <integration token> <user id> <technician token>
# <technician id> <queue id>".
BOOTSTRAP = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from helpdesk.models import CustomField, Queue

User = get_user_model()
integration = User.objects.create_user(
    "billing-integration", "billing@example.test", None, is_staff=True
)
technician = User.objects.create_user("tech-ann", "ann@example.test", None, is_staff=True)
queue = Queue.objects.create(title="Support", slug="support", allow_public_submission=False)
CustomField.objects.create(
    name="billing_account", label="Billing account", data_type="varchar", max_length=64,
    staff_only=True,
)
CustomField.objects.create(
    name="billing_status", label="Billing status", data_type="varchar", max_length=200,
    staff_only=True,
)
print(
    "BOOTSTRAP", Token.objects.create(user=integration).key, integration.id,
    Token.objects.create(user=technician).key, technician.id, queue.id,
)
"""


@dataclass
class HelpdeskServer:
    """A running django-helpdesk: where it answers, how to authenticate, what was set up."""

    base_url: str  # e.g. http://127.0.0.1:8123 (the API is under /helpdesk/api/)
    token: str  # the integration user's (what the connector uses)
    user_id: int
    technician_token: str  # a technician's, for the tests' own tickets and follow-ups
    technician_id: int
    queue_id: int
    webhook_url: str  # where it sends webhooks; nothing listens there until a test does
    project_dir: Path
    setup_seconds: float
    process: subprocess.Popen[bytes]

    @property
    def webhook_secret(self) -> str:
        return parse_qs(urlsplit(self.webhook_url).query).get("token", [""])[0]

    @property
    def webhook_port(self) -> int:
        return urlsplit(self.webhook_url).port or 80

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.project_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _manage(project: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(project / "manage.py"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args[:1])} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


def start_helpdesk(directory: Path, webhook_url: str) -> HelpdeskServer:
    """Create the project in ``directory``, migrate, bootstrap, start it; wait until it answers."""
    started = time.monotonic()
    project = directory / "helpdesk-project"
    package = project / "hdproject"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS)
    (package / "urls.py").write_text(URLS)
    (project / "manage.py").write_text(
        "import sys\nfrom django.core.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hdproject.settings",
        "PYTHONPATH": str(project),
        WEBHOOK_URL_VARIABLE: webhook_url,
    }
    _manage(project, env, "migrate", "--noinput", "-v", "0")
    output = _manage(project, env, "shell", "-c", BOOTSTRAP)
    lines = [line for line in output.splitlines() if line.startswith("BOOTSTRAP ")]
    if not lines:
        raise RuntimeError(f"the help desk bootstrap printed no token:\n{output[-2000:]}")
    token, user_id, technician_token, technician_id, queue_id = lines[-1].split()[1:]
    port = free_port()
    log = (project / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(project / "manage.py"),
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
            "--skip-checks",
        ],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = HelpdeskServer(
        base_url=f"http://127.0.0.1:{port}",
        token=token,
        user_id=int(user_id),
        technician_token=technician_token,
        technician_id=int(technician_id),
        queue_id=int(queue_id),
        webhook_url=webhook_url,
        project_dir=project,
        setup_seconds=0.0,
        process=process,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"django-helpdesk exited at start:\n{server.log()[-4000:]}")
        try:
            answer = httpx.get(
                f"{server.base_url}/helpdesk/api/tickets/",
                headers={"Authorization": f"Token {token}"},
                timeout=2,
            )
            if answer.status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"django-helpdesk did not answer:\n{server.log()[-4000:]}")
        time.sleep(0.2)
    server.setup_seconds = time.monotonic() - started
    return server


WEBHOOK_PATH = "/webhooks/django-helpdesk"


@contextmanager
def running_helpdesk(directory: Path, webhook_url: str | None = None) -> Iterator[HelpdeskServer]:
    """A started help desk. Its webhooks go to ``webhook_url``, by default
    ``http://127.0.0.1:<free port>/webhooks/django-helpdesk?token=<random>`` (the path and secret
    ``api.helpdesk_webhooks.django_helpdesk_router`` expects; see
    ``HelpdeskServer.webhook_secret``)."""
    if webhook_url is None:
        secret = secrets.token_urlsafe(16)
        webhook_url = f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}?token={secret}"
    server = start_helpdesk(directory, webhook_url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def django_helpdesk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelpdeskServer]:
    """One django-helpdesk for the whole session (about 3 s to set up on SQLite)."""
    try:
        import helpdesk  # noqa: F401
    except ImportError:
        pytest.fail('django-helpdesk is not installed: pip install "django-helpdesk>=2.6,<2.7"')
    with running_helpdesk(tmp_path_factory.mktemp("django-helpdesk")) as server:
        yield server
