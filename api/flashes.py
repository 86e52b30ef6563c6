"""The messages a form post leaves for the page it redirects to: a fixed set of templates, each
filled in with values the server made (a ticket id, the ticket's answer, a total).

A flash is kept in the store bound to the session that posted the form (store/page_sessions.py)
and the redirect's URL carries only its random id, so no link from elsewhere can put words on
our pages: an id of another session, an old one or a made-up one shows nothing, and there is no
free text anywhere in the URL to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FlashTemplate(StrEnum):
    DECISION = "decision"
    NOT_SENT = "not_sent"
    NO_EDIT_VALUE = "no_edit_value"
    NOTHING_SELECTED = "nothing_selected"
    SIGNOFF_LINK_REFUSED = "signoff_link_refused"
    REFUSED = "refused"
    PREBILL_TOTAL_UNREADABLE = "prebill_total_unreadable"
    PREBILL_NOT_APPROVED = "prebill_not_approved"
    PREBILL_APPROVED = "prebill_approved"
    PREBILL_NOT_FINALIZED = "prebill_not_finalized"
    PREBILL_FINALIZED = "prebill_finalized"
    OUTBOX_RESENT = "outbox_resent"
    OUTBOX_NOT_RESENT = "outbox_not_resent"


TEXTS: dict[FlashTemplate, str] = {
    FlashTemplate.DECISION: "{ticket}: {outcome}: {detail}{status}",
    FlashTemplate.NOT_SENT: "{ticket}: not sent: {problems}",
    FlashTemplate.NO_EDIT_VALUE: "{ticket}: give a new quantity or unit price",
    FlashTemplate.NOTHING_SELECTED: "Select at least one ticket to approve.",
    FlashTemplate.SIGNOFF_LINK_REFUSED: "{ticket}: {detail}",
    FlashTemplate.REFUSED: "{detail}",
    FlashTemplate.PREBILL_TOTAL_UNREADABLE: "expected_total: {problem}",
    FlashTemplate.PREBILL_NOT_APPROVED: "Not approved: {problem}",
    FlashTemplate.PREBILL_APPROVED: "Approved the pre-bill of {month} at {total} {currency}.",
    FlashTemplate.PREBILL_NOT_FINALIZED: "Not finalized: {problem}",
    FlashTemplate.PREBILL_FINALIZED: (
        "Finalized {invoices} for {month} at {total}: the period is locked."
    ),
    FlashTemplate.OUTBOX_RESENT: (
        "{message}: was {state}; now pending: the notifier sends it on its next round."
    ),
    FlashTemplate.OUTBOX_NOT_RESENT: "Not sent again: {detail}",
}
# A message quoting a ticket's refusal can be long; the page shows at most this much of it. (A
# bulk approval has a page of its own, bulk_result.html, one row per ticket.)
MAX_FLASH_CHARS = 1500


@dataclass(frozen=True, slots=True)
class Flash:
    template: FlashTemplate
    ok: bool
    values: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        # format_map with str values only: a value is inserted as it is, never read as a format.
        return TEXTS[self.template].format_map(self.values)[:MAX_FLASH_CHARS]


def flash(template: FlashTemplate, ok: bool, **values: object) -> Flash:
    return Flash(template, ok, {name: str(value) for name, value in values.items()})


def stored(template: str, values: dict[str, str], ok: bool) -> Flash | None:
    """A flash read back from the store; None for a template this code no longer has, or
    values that do not fill it."""
    try:
        found = Flash(FlashTemplate(template), ok, values)
        found.text  # noqa: B018  (fills the template: a missing value is a KeyError here)
    except (ValueError, KeyError):
        return None
    return found
