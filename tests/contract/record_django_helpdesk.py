"""Records the django-helpdesk fixtures of tests/contract/test_django_helpdesk_webhook.py from a
real django-helpdesk 2.6 (tests/real/helpdesk_server.py): a new-ticket and a follow-up webhook
body as it sends them, and the same ticket and follow-up as its REST API returns them.

    .venv/bin/python -m tests.contract.record_django_helpdesk

Binds loopback ports: run it where nothing else listens (the tests' network namespace).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from connectors.django_helpdesk import DjangoHelpdeskClient
from tests.real.helpdesk_server import running_helpdesk
from tests.real.test_django_helpdesk import WebhookReceiver, new_ticket

FOLDER = Path(__file__).resolve().parent / "fixtures" / "django_helpdesk"


def _save(name: str, data: Any) -> None:
    (FOLDER / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, running_helpdesk(Path(folder)) as server:
        receiver = WebhookReceiver(server.webhook_url, mapper=_NoMapping())  # type: ignore[arg-type]
        receiver.start()
        try:
            desk = DjangoHelpdeskClient(server.base_url, server.technician_token)
            number = new_ticket(desk, server, "org-100", "Printer jams on tray 2")
            followup = desk.add_followup(
                number, "Replaced the roller", public=True, time_spent="00:15:00"
            )
        finally:
            receiver.stop()
        api = DjangoHelpdeskClient(server.base_url, server.token)
        _save("webhook_new_ticket.json", receiver.bodies[0])
        _save("webhook_followup.json", receiver.bodies[-1])
        _save("api_ticket.json", api.get_ticket(number))
        _save("api_followup.json", api.get_followup(followup["id"]))
    print(f"recorded ticket {number}, follow-up {followup['id']} in {FOLDER}")


class _NoMapping:
    """The receiver only keeps the bodies here."""

    def handle_webhook(self, body: bytes) -> list[object]:
        return []


if __name__ == "__main__":
    main()
