"""A django-helpdesk webhook body checked against the help desk's own records before anything is
billed from it.

django-helpdesk cannot sign its webhooks: a shared token is all that says who sent a body, and
whoever holds the token could send any ticket, time or status. So a body is taken as a notice
that something changed, never as the record of what changed. The ticket and the follow-up it
names are read back from the help desk's REST API (what the polling sync reads); a body that
contradicts them is refused, naming its field, and the events are mapped from the help desk's
copy. A genuine body refused because the ticket changed in between loses nothing: the polling
sync delivers that follow-up from the API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from billing.events import EventError, HelpdeskEvent
from billing.problems import Problem
from connectors.django_helpdesk import (
    ACCOUNT_FIELD,
    DjangoHelpdeskClient,
    DjangoHelpdeskMapper,
    HelpdeskApiError,
    WebhookBody,
    parse_time_spent,
)


class ContradictedByHelpdesk(EventError):
    """The help desk's records contradict the body (each problem names the body's field): the
    body is refused and nothing of it is delivered. ``ticket_id`` is ours (``dh-42``)."""

    def __init__(self, problems: list[Problem], ticket_id: str) -> None:
        super().__init__(problems)
        self.ticket_id = ticket_id


class HelpdeskUnreachable(RuntimeError):
    """The help desk's REST API cannot confirm the body now (unreachable, too slow, an error
    status, our token refused): nothing is delivered, and a retry or the sync settles it."""


def _same(value: Any) -> Any:
    return value


def _account(value: Any) -> Any:
    return value.strip() or None if isinstance(value, str) else value


def _duration(value: Any) -> Any:
    if not value:
        return timedelta(0)
    try:
        return parse_time_spent(value)
    except (ValueError, AttributeError):
        return value


def _moment(value: Any) -> Any:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value


# Everything the mapping reads from a ticket and a follow-up, with how two values are compared
# (the body and the API use the same serializer; a duration or a time may be written two ways).
TICKET_FIELDS: dict[str, Callable[[Any], Any]] = {
    ACCOUNT_FIELD: _account,
    "title": _same,
    "priority": _same,
}
FOLLOWUP_FIELDS: dict[str, Callable[[Any], Any]] = {
    "ticket": _same,
    "time_spent": _duration,
    "date": _moment,
    "new_status": _same,
    "user": _same,
    "public": _same,
    "comment": _same,
}


class WebhookConfirmation:
    """The events of a webhook body, as the help desk's REST API has them."""

    def __init__(self, client: DjangoHelpdeskClient, mapper: DjangoHelpdeskMapper) -> None:
        self._client = client
        self._mapper = mapper

    def confirmed_events(self, body: bytes) -> list[HelpdeskEvent]:
        """Raises ``EventError`` for a malformed body, ``ContradictedByHelpdesk`` naming each
        field the help desk disagrees with (a ticket or follow-up it does not have, another
        ticket, time, date, status, author, text or billing account), and
        ``HelpdeskUnreachable`` when the help desk cannot be asked. Blocking (HTTP calls)."""
        webhook = self._mapper.read_webhook(body)
        claimed = self._mapper.events_of(webhook)
        if not claimed:
            # Our own notes and tickets without a customer: nothing to bill, nothing to ask
            # (and our notes fire this webhook while the help desk waits on our write-back).
            return []
        number: int = webhook.ticket["id"]  # an integer: events_of checked it
        ticket_id = self._mapper.config.ticket_id(number)
        ticket = self._read(
            self._client.get_ticket,
            number,
            Problem("ticket.id", f"ticket {number} does not exist in the help desk"),
            ticket_id,
        )
        problems = _differences(webhook.ticket, ticket, TICKET_FIELDS, "ticket.", "ticket")
        if webhook.followup is None:
            _refuse_if(problems, ticket_id)
            confirmed = self._mapper.opened_events(ticket)
        else:
            confirmed = self._confirmed_followup(webhook, ticket, problems, ticket_id)
        claimed_ids = [event.event_id for event in claimed]
        if [event.event_id for event in confirmed] != claimed_ids:
            # The fields agree, yet the ticket's other follow-ups (the status before this one)
            # give other events: the body's follow-up list is not the help desk's.
            message = f"the help desk's follow-ups give other events than the body's {claimed_ids}"
            _refuse_if([Problem("ticket.followup_set", message)], ticket_id)
        return confirmed

    def _confirmed_followup(
        self,
        webhook: WebhookBody,
        ticket: Mapping[str, Any],
        problems: list[Problem],
        ticket_id: str,
    ) -> list[HelpdeskEvent]:
        assert webhook.followup is not None
        number: int = webhook.ticket["id"]
        followup_id: int = webhook.followup["id"]  # an integer: events_of checked it
        followup = self._read(
            self._client.get_followup,
            followup_id,
            Problem("followup_id", f"follow-up {followup_id} does not exist in the help desk"),
            ticket_id,
        )
        if followup.get("ticket") != number:
            message = f"follow-up {followup_id} is not on ticket {number} in the help desk"
            _refuse_if([Problem("followup_id", message)], ticket_id)
        record = f"follow-up {followup_id}"
        problems += _differences(
            webhook.followup, followup, FOLLOWUP_FIELDS, webhook.followup_path, record
        )
        _refuse_if(problems, ticket_id)
        return self._mapper.followup_events(ticket, followup, webhook.followup_path)

    def _read(
        self, read: Callable[[int], Any], number: int, missing: Problem, ticket_id: str
    ) -> Mapping[str, Any]:
        """The help desk's record ``read(number)``; a 404 contradicts the body (``missing``)."""
        try:
            found = read(number)
        except HelpdeskApiError as error:
            if error.status == 404:
                raise ContradictedByHelpdesk([missing], ticket_id) from None
            raise HelpdeskUnreachable(str(error)) from None
        except httpx.HTTPError as error:  # refused, reset, timed out
            raise HelpdeskUnreachable(
                f"django-helpdesk did not answer: {type(error).__name__} {error}"
            ) from None
        except ValueError as error:  # an answer that is not JSON (a proxy's error page)
            raise HelpdeskUnreachable(f"django-helpdesk answered with no JSON: {error}") from None
        if not isinstance(found, dict):
            raise HelpdeskUnreachable(f"django-helpdesk answered {type(found).__name__}")
        return found


def _differences(
    claimed: Mapping[str, Any],
    recorded: Mapping[str, Any],
    fields: Mapping[str, Callable[[Any], Any]],
    path: str,
    record: str,
) -> list[Problem]:
    # The message names the help desk's record, never its value: whoever holds a stolen token
    # must not read tickets back through our answers (no message here shows the help desk's).
    return [
        Problem(f"{path}{key}", f"does not match the help desk's {record}")
        for key, normal in fields.items()
        if normal(claimed.get(key)) != normal(recorded.get(key))
    ]


def _refuse_if(problems: list[Problem], ticket_id: str) -> None:
    if problems:
        raise ContradictedByHelpdesk(problems, ticket_id)
