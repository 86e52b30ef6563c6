"""The ticket-id alphabet (billing/ticket_ids.py): what is admitted, what NFKC maps into it, and
what is refused with a reason that names the offending character."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billing.events import EventError, parse_event
from billing.ticket_ids import safe_ticket_id
from tests.billing.builders import opened

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "events.jsonl"


@pytest.mark.parametrize(
    "ticket_id", ["T-1001", "RT-X1b", "ZD-48213", "dh-42", "123", "a.b_c-d", "x" * 128]
)
def test_ids_in_the_alphabet_are_kept_as_they_are(ticket_id: str) -> None:
    assert safe_ticket_id(ticket_id) == ticket_id


def test_every_example_ticket_id_is_in_the_alphabet() -> None:
    ids = {
        json.loads(line)["ticket_id"]
        for line in EXAMPLES.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert ids and all(safe_ticket_id(ticket_id) == ticket_id for ticket_id in ids)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("\uff34-\uff11\uff10\uff11\uff10", "T-1010"),  # fullwidth Ｔ-１０１０
        ("RT-\u2160", "RT-I"),  # ROMAN NUMERAL ONE
        ("T\u2011\u00b9", None),  # NFKC: a non-breaking hyphen becomes U+2010, still refused
    ],
)
def test_nfkc_normalizes_first_then_the_alphabet_decides(text: str, normalized: str | None) -> None:
    if normalized is None:
        with pytest.raises(ValueError, match="U\\+2010, HYPHEN"):
            safe_ticket_id(text)
    else:
        assert safe_ticket_id(text) == normalized


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("../review/RT-X1b", "has '/' (U+002F, SOLIDUS)"),
        ("\u0422-1010", "has 'Т' (U+0422, CYRILLIC CAPITAL LETTER TE)"),  # looks like T-1010
        ("T-1010\u200b", "has '\\u200b' (U+200B, ZERO WIDTH SPACE)"),
        ("H-\u0397", "(U+0397, GREEK CAPITAL LETTER ETA)"),  # looks like H
        ("T..1", "has '..'"),
        ("..", "must start with a letter or a digit"),
        (".hidden", "must start with a letter or a digit"),
        ("-rf", "must start with a letter or a digit"),
        ("T 1", "has ' ' (U+0020, SPACE)"),
        ("", "must not be empty"),
        ("x" * 129, "is too long (at most 128 characters)"),
    ],
)
def test_anything_else_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(ValueError) as refused:
        safe_ticket_id(text)
    assert says in str(refused.value)


def test_an_event_is_refused_naming_ticket_id_and_keeps_the_normalized_id() -> None:
    with pytest.raises(EventError) as refused:
        parse_event(opened(ticket_id="../review/RT-X1b"))
    assert [problem.path for problem in refused.value.problems] == ["ticket_id"]
    assert parse_event(opened(ticket_id="\uff34-1010")).ticket_id == "T-1010"
