"""Sensitive text (SPEC §4.8): what is redacted, what is left alone, and what rating reports.

A miss leaks a customer's secret onto an invoice; a false positive holds a ticket for a person
to look at. Both directions are tested, then the whole path through rating: the secret must not
survive in any description, explanation or exception message, and ``internal*`` fields must never
reach the ticket at all.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing.book import BillingBook
from billing.events import parse_event
from billing.holds import ExceptionCode, HoldOwner
from billing.prepaid import PrepaidBalances
from billing.rating import TicketRating, TicketStatus, rate_ticket
from billing.sensitive import REDACTED, SensitiveKind, find_sensitive, luhn_valid, redact
from billing.ticket import Ticket

PASSWORD = SensitiveKind.PASSWORD
API_KEY = SensitiveKind.API_KEY
PRIVATE_KEY = SensitiveKind.PRIVATE_KEY
IP_ADDRESS = SensitiveKind.IP_ADDRESS
CARD_NUMBER = SensitiveKind.CARD_NUMBER

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
RSA_BODY = "MIIEowIBAAKCAQEAv3L9kq2Zr8XyQ1m0\nc8JmW2Yp4xq5nH0Tb7Lr1sKd9Xe2\n"
RSA_BLOCK = f"-----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}-----END RSA PRIVATE KEY-----"

# (text, the secret that must disappear, the kind that must be reported)
POSITIVES: list[tuple[str, str, SensitiveKind]] = [
    # passwords and passcodes, in the ways technicians write them
    ("new password: Winter2026!", "Winter2026!", PASSWORD),
    ("pw=abc123", "abc123", PASSWORD),
    ("password is Tr0ub4dor&3", "Tr0ub4dor&3", PASSWORD),
    ("changed password to Summer2025", "Summer2025", PASSWORD),
    ("passcode: 4821", "4821", PASSWORD),
    ("PIN 4821", "4821", PASSWORD),
    ("Password: Winter2026! for the front desk", "Winter2026!", PASSWORD),
    ("PASSWORD=Winter2026!", "Winter2026!", PASSWORD),
    ("temp password is Welcome123, must change at logon", "Welcome123", PASSWORD),
    ("passwd: s3cr3t!", "s3cr3t!", PASSWORD),
    ("pwd=Qwerty!234", "Qwerty!234", PASSWORD),
    ("reset password to Welcome1! and told the user", "Welcome1!", PASSWORD),
    ("the alarm passcode is 4821", "4821", PASSWORD),
    ("door PIN: 482193", "482193", PASSWORD),
    ("password is now Winter2026", "Winter2026", PASSWORD),
    # API keys and tokens
    (
        "stripe key sk_live_4eC39HqLyjWDarjtT1zdp7dc in the config",
        "4eC39HqLyjWDarjtT1zdp7dc",
        API_KEY,
    ),
    ("AWS access key AKIAIOSFODNN7EXAMPLE set on the NAS", "AKIAIOSFODNN7EXAMPLE", API_KEY),
    (
        "pushed with ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        API_KEY,
    ),
    ("api key: 9f8e7d6c5b4a3f2e1d", "9f8e7d6c5b4a3f2e1d", API_KEY),
    ("API_KEY=a1b2c3d4e5f6g7h8", "a1b2c3d4e5f6g7h8", API_KEY),
    ("client secret is Zx9#kLm2Qp", "Zx9#kLm2Qp", API_KEY),
    (f"sent header Authorization: Bearer {JWT} to the vendor", JWT, API_KEY),
    (f"token {JWT}", JWT, API_KEY),
    (
        "license blob qX7rT2mN9pL4vB8kJ3hG6fD1sA5zW0yEuI9o pasted",
        "qX7rT2mN9pL4vB8kJ3hG6fD1sA5zW0yEuI9o",
        API_KEY,
    ),
    # private key blocks, whole or cut off by the help desk's field limit
    (f"installed cert, key:\n{RSA_BLOCK}\ndone", "MIIEowIBAAKCAQEAv3L9kq2Zr8XyQ1m0", PRIVATE_KEY),
    (
        f"key follows -----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}",
        "MIIEowIBAAKCAQEAv3L9kq2Zr8XyQ1m0",
        PRIVATE_KEY,
    ),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
        PRIVATE_KEY,
    ),
    # IPv4 addresses
    ("printer is at 10.0.0.5.", "10.0.0.5", IP_ADDRESS),
    ("gateway 192.168.1.254, DNS 8.8.8.8", "192.168.1.254", IP_ADDRESS),
    ("RDP to 172.16.254.1:3389", "172.16.254.1", IP_ADDRESS),
    ("(host 10.10.10.10)", "10.10.10.10", IP_ADDRESS),
    # card numbers that pass Luhn, with spaces or dashes or neither
    ("customer read card 4111 1111 1111 1111 over the phone", "4111 1111 1111 1111", CARD_NUMBER),
    ("card 5500-0000-0000-0004 exp 12/28", "5500-0000-0000-0004", CARD_NUMBER),
    ("Amex 378282246310005", "378282246310005", CARD_NUMBER),
    ("4111111111111111", "4111111111111111", CARD_NUMBER),
]

# Ordinary note text that must pass untouched (a false positive holds the ticket).
NEGATIVES: list[str] = [
    "upgraded the app to 10.2.3",
    "installed v1.2.3.4 of the agent",
    "flashed firmware 1.2.3.4 on the switch",
    "Windows build 10.0.19045.3803 installed",
    "Windows 10.0.19045.3803 installed",
    "version 10.2.3.4",
    "Office 16.0.17126.20132 repaired",
    "1.2.3.4.5",
    "10.0.0.300 is not valid",
    "invoice 4111111111111112 paid",
    "order 1234567812345678",
    "called the user at 555-123-4567",
    "called +1 (555) 123-4567 ext 1234",
    "UK office +44 20 7946 0958",
    "visited on 2026-11-02",
    "follow-up 11/02/2026 and 02.11.2026",
    "pinned the shortcut to the taskbar",
    "PIN reset requested",
    "spinning disk replaced",
    "password reset completed",
    "password is expired",
    "the password was changed",
    "reset the user's password",
    "password expires in 30 days",
    "password policy updated",
    "password manager installed",
    "forgot password",
    "token expired, re-authenticated",
    "API key rotated by the vendor",
    "tenant 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    "GUID {3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
    "hash 9e107d9d372bb6826bd81d3542a419d6",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "SHA1 DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
    "meeting at 09:30, back at 14:45",
    "quote was 1,250.00 for the server",
    "$12,500.00 budget",
    "MAC 00:1A:2B:3C:4D:5E",
    "serial C02XK1ABJG5H",
    "passed 1234 tests",
    "see https://example.com/Support/KnowledgeBase/Article12345",
]


def _finding_texts(text: str) -> list[str]:
    return [text[f.start : f.end] for f in find_sensitive(text)]


@pytest.mark.parametrize(("text", "secret", "kind"), POSITIVES)
def test_sensitive_text_is_found_and_redacted(text: str, secret: str, kind: SensitiveKind) -> None:
    findings = find_sensitive(text)
    assert findings, f"nothing found in {text!r}"
    assert any(f.kind is kind and secret in text[f.start : f.end] for f in findings), (
        f"{kind} covering {secret!r} not found in {text!r}: {findings}"
    )
    result = redact(text)
    assert secret not in result.text
    assert REDACTED in result.text
    assert kind in result.kinds


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert find_sensitive(text) == [], _finding_texts(text)
    result = redact(text)
    assert result.text == text
    assert result.kinds == ()


def test_redaction_keeps_the_surrounding_words() -> None:
    result = redact("new password: Winter2026! given by phone")
    assert result.text == "new password: [redacted] given by phone"
    assert result.kinds == (PASSWORD,)


def test_an_address_at_the_end_of_a_sentence_keeps_its_full_stop() -> None:
    assert redact("printer is at 10.0.0.5.").text == "printer is at [redacted]."


def test_a_bearer_token_keeps_the_word_bearer() -> None:
    result = redact(f"Authorization: Bearer {JWT}")
    assert result.text == "Authorization: Bearer [redacted]"


def test_a_truncated_private_key_is_redacted_to_the_end_of_the_text() -> None:
    result = redact(f"key follows -----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}")
    assert result.text == "key follows [redacted]"
    assert result.kinds == (PRIVATE_KEY,)


def test_a_complete_private_key_block_keeps_the_text_after_it() -> None:
    result = redact(f"before {RSA_BLOCK} after")
    assert result.text == "before [redacted] after"


def test_several_kinds_in_one_note_are_all_reported_in_order() -> None:
    result = redact("pw=abc123 on 10.0.0.5, card 4111 1111 1111 1111")
    assert result.text == "pw=[redacted] on [redacted], card [redacted]"
    assert result.kinds == (PASSWORD, IP_ADDRESS, CARD_NUMBER)


def test_luhn_check() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("5500000000000004")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("1234567812345678")


def test_empty_text_has_no_findings() -> None:
    assert find_sensitive("") == []
    assert redact("") == redact("")
    assert redact("").text == ""


# ---------------------------------------------------------------------------------------------
# Through rating: the secret never survives, and the exception points at its source.

SECRET = "Winter2026!"


def _event(event_id: str, kind: str, second: int, **fields: object):
    return parse_event(
        {
            "event_id": event_id,
            "type": kind,
            "occurred_at": f"2026-11-03T15:00:{second:02d}Z",
            "ticket_id": "T-S",
            **fields,
        }
    )


def _ticket(
    *,
    subject: str = "Mailbox locked",
    note: str = "unlocked the mailbox",
    resolution: str = "resolved",
    serial: str | None = None,
    customer: str = "org-100",
    extra_time_fields: dict[str, object] | None = None,
) -> Ticket:
    ticket = Ticket("T-S")
    events = [
        _event("e-1", "ticket.opened", 1, customer_id=customer, subject=subject),
        _event(
            "e-2",
            "time.logged",
            2,
            entry_id="te-1",
            technician="ana",
            role="technician",
            work_type="remote",
            started_at="2026-11-03T10:00:00-05:00",
            minutes=45,
            note=note,
            **(extra_time_fields or {}),
        ),
    ]
    if serial is not None:
        events.append(
            _event(
                "e-3",
                "part.used",
                3,
                line_id="p-1",
                sku="SSD-1TB",
                quantity=1,
                serial_number=serial,
            )
        )
    events.append(_event("e-9", "ticket.closed", 9, resolution=resolution))
    for item in events:
        ticket.apply(item)
    return ticket


def _all_text(rating: TicketRating) -> list[str]:
    texts = []
    for line in rating.lines:
        texts.append(line.description)
        texts.extend(line.explanation)
    texts.extend(exception.message for exception in rating.exceptions)
    texts.extend(approval.reason for approval in rating.approvals_required)
    return texts


def _sensitive(rating: TicketRating):
    return [e for e in rating.exceptions if e.code is ExceptionCode.SENSITIVE_TEXT]


def test_a_password_in_a_public_note_holds_the_ticket_without_leaking_it(
    example_book: BillingBook,
) -> None:
    ticket = _ticket(note=f"new password: {SECRET} given by phone")
    rating = rate_ticket(ticket, example_book, PrepaidBalances())

    (exception,) = _sensitive(rating)
    assert exception.code == "sensitive_text"
    assert exception.owner is HoldOwner.SUPPORT
    assert exception.source_id == "te-1"
    assert rating.status is TicketStatus.HELD
    for text in _all_text(rating):
        assert SECRET not in text, text
    assert SECRET not in repr(rating)
    (line,) = rating.lines
    assert line.description == "Mailbox locked: new password: [redacted] given by phone"
    # The line is still rated: redaction changes words, not money.
    assert line.amount == Decimal("71.25")


def test_sensitive_subject_is_reported_without_a_source_record(example_book: BillingBook) -> None:
    rating = rate_ticket(_ticket(subject="VPN down at 10.0.0.5"), example_book, PrepaidBalances())
    (exception,) = _sensitive(rating)
    assert exception.source_id is None
    assert exception.owner is HoldOwner.SUPPORT
    assert all("10.0.0.5" not in text for text in _all_text(rating))
    assert rating.lines[0].description.startswith("VPN down at [redacted]")


def test_sensitive_resolution_used_as_description_is_redacted(example_book: BillingBook) -> None:
    rating = rate_ticket(
        _ticket(note="", resolution=f"reset, password is {SECRET}"),
        example_book,
        PrepaidBalances(),
    )
    (exception,) = _sensitive(rating)
    assert exception.source_id is None
    assert all(SECRET not in text for text in _all_text(rating))
    assert rating.status is TicketStatus.HELD


def test_a_card_number_in_a_part_serial_number_names_the_part_line(
    example_book: BillingBook,
) -> None:
    card = "4111 1111 1111 1111"
    rating = rate_ticket(_ticket(serial=card), example_book, PrepaidBalances())
    (exception,) = _sensitive(rating)
    assert exception.source_id == "p-1"
    assert all(card not in text for text in _all_text(rating))


def test_a_clean_ticket_has_no_sensitive_text_exception(example_book: BillingBook) -> None:
    rating = rate_ticket(
        _ticket(subject="Printer firmware 1.2.3.4", note="pinned the shortcut; password reset"),
        example_book,
        PrepaidBalances(),
    )
    assert _sensitive(rating) == []
    assert rating.status is TicketStatus.READY


def test_a_password_split_between_subject_and_note_does_not_reach_the_invoice(
    example_book: BillingBook,
) -> None:
    """Descriptions join ``subject: note``; the joined text is what the customer reads."""
    rating = rate_ticket(
        _ticket(subject="Locked out - new password", note="Summer2025! given by phone"),
        example_book,
        PrepaidBalances(),
    )
    for line in rating.lines:
        assert "Summer2025!" not in line.description, line.description


@pytest.mark.parametrize("field", ["internal_note", "internal_comment", "internalNote"])
def test_internal_fields_never_reach_the_ticket(example_book: BillingBook, field: str) -> None:
    secret = "hunter2-Xy9!"
    raw = {
        "event_id": "e-2",
        "type": "time.logged",
        "occurred_at": "2026-11-03T15:00:02Z",
        "ticket_id": "T-S",
        "entry_id": "te-1",
        "technician": "ana",
        "role": "technician",
        "work_type": "remote",
        "started_at": "2026-11-03T10:00:00-05:00",
        "minutes": 45,
        "note": "unlocked the mailbox",
        field: f"admin password: {secret} on 10.0.0.5",
    }
    parsed = parse_event(raw)
    assert field not in parsed.model_dump()
    assert not hasattr(parsed, field)
    assert secret not in repr(parsed)

    ticket = _ticket(extra_time_fields={field: raw[field]})
    assert ticket.entries["te-1"].note == "unlocked the mailbox"
    assert secret not in repr(ticket)
    rating = rate_ticket(ticket, example_book, PrepaidBalances())
    assert _sensitive(rating) == []
    assert rating.status is TicketStatus.READY
    assert secret not in repr(rating)
    assert all("10.0.0.5" not in text for text in _all_text(rating))


# ---------------------------------------------------------------------------------------------
# Properties of redact over arbitrary text.

# Pieces that trigger the detectors, so generated text reaches them and not only the fast path.
_FRAGMENTS = [
    "password",
    "password: ",
    "pw=",
    "passcode is ",
    "PIN ",
    "pin",
    "api key: ",
    "token=",
    "Bearer ",
    "sk_live_",
    "AKIA",
    "ghp_",
    "eyJ",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "10.0.0.5",
    "192.168.",
    "v1.2.3.4",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "4821",
    "Winter2026!",
    "abc123",
    "qX7rT2mN9pL4vB8kJ3hG6fD1sA5zW0yE",
    REDACTED,
    "[",
    "]",
    ".",
    ":",
    "=",
    " ",
    "\n",
    "-",
]
noteish_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=6)), max_size=14).map("".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noteish_text)
@example("pw=abc123")
@example("new password: Winter2026! given by phone")
@example("api key: 9f8e7d6c5b4a3f2e1d")
def test_redact_leaves_nothing_to_find_in_its_own_output(text: str) -> None:
    once = redact(text)
    twice = redact(once.text)
    assert twice.kinds == (), (once.text, twice.text)
    assert twice.text == once.text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noteish_text)
def test_findings_are_ordered_disjoint_spans_and_redact_keeps_everything_else(text: str) -> None:
    findings = find_sensitive(text)
    previous_end = 0
    kept = []
    for finding in findings:
        assert previous_end <= finding.start < finding.end <= len(text)
        kept.append(text[previous_end : finding.start])
        previous_end = finding.end
    kept.append(text[previous_end:])

    result = redact(text)
    once = REDACTED.join(kept)
    # Redacting can expose another span ("4111…1111-----BEGIN…" hides the card behind the
    # key's dashes); then redaction goes on from the once-redacted text.
    assert result.text == (redact(once).text if find_sensitive(once) else once)
    assert set(result.kinds) >= {finding.kind for finding in findings}
    assert len(result.kinds) == len(set(result.kinds))
    assert (result.kinds == ()) == (not findings)
