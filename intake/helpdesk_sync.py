"""The help desk polling sync as an activity: what django-helpdesk's webhooks missed (it sends
no id and never retries) is read from its REST API after a stored cursor and delivered to the
tickets' workflows, with the same event ids as the webhooks, so nothing is doubled."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from connectors import selection
from intake.delivery import deliver_all
from messages.runs import HelpdeskSyncResult
from settings import Settings


class HelpdeskSyncActivities:
    def __init__(self, *, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._sync = None

    def _syncer(self):  # type: ignore[no-untyped-def]
        if self._sync is None:
            from connectors.django_helpdesk import (
                DjangoHelpdeskClient,
                DjangoHelpdeskMapper,
                DjangoHelpdeskSync,
            )

            config = selection.django_helpdesk_config(self._settings)
            self._sync = DjangoHelpdeskSync(
                self._engine, DjangoHelpdeskClient.from_config(config), DjangoHelpdeskMapper(config)
            )
        return self._sync

    @activity.defn(name="sync_helpdesk")
    async def sync_helpdesk(self) -> HelpdeskSyncResult:
        if self._settings.helpdesk_adapter != "django-helpdesk":
            return HelpdeskSyncResult(0, 0, [f"nothing to poll: {self._settings.helpdesk_adapter}"])
        client = activity.client()

        async def deliver(events):  # type: ignore[no-untyped-def]
            await deliver_all(client, self._settings, events)

        batch = await self._syncer().run_once(deliver)
        return HelpdeskSyncResult(batch.followups, len(batch.events), batch.problems)

    def all(self) -> list:  # type: ignore[type-arg]
        return [self.sync_helpdesk]
