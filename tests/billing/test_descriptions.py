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
