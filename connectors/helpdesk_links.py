"""Where a person opens one of our tickets in the help desk itself: the link the exception queue
gives for a hold only the help desk can clear (a note to redact, a time entry to correct).

Built from the settings alone (no secret, no call): django-helpdesk's staff view
``<url>/helpdesk/tickets/<number>/``, Zendesk's agent view ``https://<subdomain>.zendesk.com/
agent/tickets/<id>``. The embedded help desk has no pages, so no link.
"""

from __future__ import annotations

from settings import Settings


def helpdesk_ticket_url(settings: Settings, ticket_id: str) -> str | None:
    """The help desk's page for ``ticket_id``; None when the help desk has none, or the id is
    not one of its tickets."""
    if settings.helpdesk_adapter == "django-helpdesk" and settings.django_helpdesk_url:
        number = ticket_id.removeprefix(f"{settings.django_helpdesk_instance}-")
        if number == ticket_id or not number.isdigit():
            return None
        return f"{str(settings.django_helpdesk_url).rstrip('/')}/helpdesk/tickets/{number}/"
    if settings.helpdesk_adapter == "zendesk" and settings.zendesk_subdomain:
        number = ticket_id.removeprefix(settings.zendesk_ticket_prefix or "")
        if not number.isdigit():
            return None
        return f"https://{settings.zendesk_subdomain}.zendesk.com/agent/tickets/{number}"
    return None
