"""Invoice descriptions carry no invisible characters: a bidirectional override would make a
line read differently from what it says, and a zero-width space can split a secret so that it
escapes redaction."""

from __future__ import annotations

from billing.descriptions import DescriptionWriter
from billing.sensitive import SensitiveKind


def test_bidirectional_overrides_and_zero_width_characters_are_removed() -> None:
    writer = DescriptionWriter("Invoice\u202e fix\u2066", "")
    text = writer.labor("te-1", "Paid \u202e0001$ refund, re\u200bset\ufeff")
    assert text == "Invoice fix: Paid 0001$ refund, reset"
    assert text.isprintable()


def test_a_secret_split_by_a_zero_width_space_is_still_redacted() -> None:
    writer = DescriptionWriter("Mailbox", "")
    text = writer.labor("te-1", "pass\u200bword: hunter2")
    assert text == "Mailbox: password: [redacted]"
    assert [finding.kinds for finding in writer.findings] == [(SensitiveKind.PASSWORD,)]


def test_a_secret_made_by_joining_names_both_places_and_the_entry() -> None:
    # Safe apart, a secret together: the finding names where each half came from.
    writer = DescriptionWriter("Reset the new password", "Done.")
    assert writer.labor("te-1", "Summer2025!") == "Reset the new password: [redacted]"
    assert [(f.place, f.source_id) for f in writer.findings] == [
        ("ticket subject together with time entry te-1 note", "te-1")
    ]
