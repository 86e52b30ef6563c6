"""Fixtures for the tests against real systems: each system's fixture lives in its own module and
is imported here so pytest finds it."""

from tests.real.helpdesk_server import django_helpdesk  # noqa: F401
from tests.real.tryton_server import tryton_server  # noqa: F401
