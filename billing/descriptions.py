"""Customer-safe invoice line descriptions (SPEC §4.8).

Built only from public text: the ticket's subject, the entry's public note and the resolution.
Internal notes never reach this module (they are dropped when events are parsed). Every piece of
text is checked for secrets first; what looks sensitive is replaced by ``[redacted]`` and
reported, so support can fix the note at its source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from billing.sensitive import RedactedText, SensitiveKind, may_lead_into_secret, redact

MAX_DESCRIPTION = 500
_CONTROL_AND_SPACE_RUNS = re.compile(r"[\s\x00-\x1f\x7f]+")
# Invisible characters: zero-width ones can split a secret so it escapes redaction, and
# bidirectional overrides make an invoice line read differently from what it says
# ("Paid \u202e0001$ refund").
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


@lru_cache(maxsize=8192)
def _cleaned(text: str) -> RedactedText:
    """``text`` without control or invisible characters, then redacted.

    A pure function of the text, and the same notes, subjects and resolutions recur across a
    month's entries ("Restarted print spooler"): each distinct one is checked once, not once
    per entry. The result is immutable, so sharing it is safe; the cache is bounded."""
    if not text.isprintable() or "  " in text:  # isprintable() is False for \n, \t, …
        text = _CONTROL_AND_SPACE_RUNS.sub(" ", _INVISIBLE.sub("", text))
    return redact(text.strip())


@dataclass(frozen=True, slots=True)
class SensitiveSource:
    """Where sensitive text was found: ``ticket subject``, ``time entry te-13 note``, …"""

    place: str
    kinds: tuple[SensitiveKind, ...]
    source_id: str | None


@dataclass(slots=True)
class DescriptionWriter:
    """Writes a ticket's line descriptions, checking each distinct piece of text once."""

    subject: str
    resolution: str
    findings: list[SensitiveSource] = field(default_factory=list)
    _checked: dict[str, str] = field(default_factory=dict)

    def _safe(self, text: str, place: str, source_id: str | None) -> str:
        if place in self._checked:
            return self._checked[place]
        result = _cleaned(text)
        if result.kinds:
            self.findings.append(SensitiveSource(place, result.kinds, source_id))
        self._checked[place] = result.text
        return result.text

    def _compose(self, first: str, second: str, places: str, source_id: str) -> str:
        """``first: second``, or whichever is not empty, cut to ``MAX_DESCRIPTION``.

        Each piece is safe on its own, but joining can make a secret: a subject ending "new
        password" and a note starting "Summer2025!" read as "new password: Summer2025!".
        ``places`` names where, with ``{}`` for ``source_id`` (filled in only for a finding).
        """
        text = f"{first}: {second}" if first and second else first or second
        if first and second and may_lead_into_secret(first):
            joined = redact(text)
            if joined.kinds:
                place = places.format(source_id)
                self.findings.append(SensitiveSource(place, joined.kinds, source_id))
                text = joined.text
        if len(text) > MAX_DESCRIPTION:
            text = text[: MAX_DESCRIPTION - 1].rstrip() + "…"
        return text

    def labor(self, entry_id: str, note: str) -> str:
        """``<subject>: <public note>``, falling back to the resolution when there is no note."""
        subject = self._safe(self.subject, "ticket subject", None)
        detail = self._safe(note, f"time entry {entry_id} note", entry_id)
        if not detail:
            detail = self._safe(self.resolution, "ticket resolution", None)
        places = "ticket subject together with time entry {} note"
        return self._compose(subject, detail, places, entry_id) or "Support labor"

    def part(self, line_id: str, part_description: str, serial_number: str | None) -> str:
        """``<part description> (SN …): <subject>``."""
        subject = self._safe(self.subject, "ticket subject", None)
        serial = self._safe(serial_number or "", f"part line {line_id} serial number", line_id)
        name = f"{part_description} (SN {serial})" if serial else part_description
        places = "part line {} serial number together with the ticket subject"
        return self._compose(name, subject, places, line_id)
