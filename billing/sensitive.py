"""Finds text that must never reach a customer's invoice, and redacts it (SPEC §4.8).

Technicians paste things into public notes they should not: passwords read out on the phone,
API keys, private keys, internal IP addresses, card numbers. Each detector is tuned for few
false positives, because a false positive holds a ticket for a person to look at: version
numbers (``10.2.3``, ``v1.2.3.4``) are not addresses, invoice numbers that fail the Luhn check
are not cards, and "pinned" or "password reset" are not secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

REDACTED = "[redacted]"


class SensitiveKind(StrEnum):
    PASSWORD = "password"
    API_KEY = "api_key"
    PRIVATE_KEY = "private_key"
    IP_ADDRESS = "ip_address"
    CARD_NUMBER = "card_number"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    SensitiveKind.PASSWORD: "a password or passcode",
    SensitiveKind.API_KEY: "an API key or token",
    SensitiveKind.PRIVATE_KEY: "a private key",
    SensitiveKind.IP_ADDRESS: "an IP address",
    SensitiveKind.CARD_NUMBER: "a card number",
}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: SensitiveKind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class RedactedText:
    text: str
    kinds: tuple[SensitiveKind, ...]


# Words that follow "password:" in ordinary notes and are not the password itself.
_NOT_A_SECRET = frozenset(
    [
        "reset",
        "resets",
        "changed",
        "change",
        "expired",
        "expires",
        "updated",
        "update",
        "required",
        "policy",
        "manager",
        "vault",
        "none",
        "n/a",
        "na",
        "unchanged",
        "same",
        "the",
        "a",
        "an",
        "not",
        "was",
        "is",
        "set",
        "sent",
        "emailed",
        "provided",
        "given",
        "prompt",
        "prompts",
        "field",
        "fields",
        "screen",
        "page",
        "complexity",
        "length",
        "rotation",
        "sync",
        "synced",
    ]
)

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_PASSWORD = re.compile(
    r"\b(?:passwords?|passwd|passcodes?|passphrases?|pwd|pw)\b"
    r"(?P<sep>\s*[:=]\s*"
    r"|\s+(?:(?:is|was)(?:\s+now)?|now|set\s+to|reset\s+to|changed\s+to|to)\s*:?\s*)"
    r"(?P<value>[^\s,;]+)",
    re.IGNORECASE,
)
_PIN = re.compile(r"\bpin(?:\s*code)?\b\s*(?:[:=#]|is)?\s*(?P<value>\d{4,8})\b", re.IGNORECASE)
_KNOWN_TOKEN = re.compile(
    r"\b(?:"
    r"(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r")"
    r"|\bBearer\s+(?P<bearer>[A-Za-z0-9._~+/=-]{16,})",
)
_KEYWORD_TOKEN = re.compile(
    r"\b(?:api[_ -]?key|apikey|access[_ -]?key|secret(?:[_ -]?key)?|client[_ -]?secret"
    r"|auth[_ -]?token|access[_ -]?token|token)\b"
    r"(?:\s*[:=]\s*|\s+(?:is|was)\s+)(?P<value>[^\s,;]{8,})",
    re.IGNORECASE,
)
# Long mixed-case alphanumeric runs: how random keys look. Single-case hex (hashes, GUIDs)
# does not match, which keeps build hashes and tenant IDs in notes from holding tickets.
_MIN_RANDOM_RUN = 32
_RANDOM_LOOKING = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}")
_URL_START = re.compile(r"[<(\[\"']?(?:https?|ftp)://|[<(\[\"']?www\.", re.IGNORECASE)
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w-])(?!\.\d)"
)
_VERSION_CONTEXT = re.compile(
    r"(?:\bv|\bversion|\bver\.?|\bbuild|\brelease|\bfirmware)\s*$", re.IGNORECASE
)
_CARD_CANDIDATE = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
# Gates: every IPv4 address has a digit, a dot and a digit; every card candidate has four
# digits with at most one space or dash between them.
_DOTTED_DIGITS = re.compile(r"\d\.\d")
_FOUR_DIGITS = re.compile(r"\d[ -]?\d[ -]?\d[ -]?\d")
_LONGEST_PLAIN_WORD = 31  # a longer whitespace-free run may be a random-looking key


# Words whose presence means a secret may be introduced by the text that follows them: used to
# re-check a description where two pieces of text were joined ("new password" + ": Summer1!").
_LEAD_IN_WORDS = ("pass", "pw", "pin", "key", "token", "secret", "bearer")


@lru_cache(maxsize=8192)
def may_lead_into_secret(text: str) -> bool:
    """True when ``text`` has a word after which the next piece of text could be a secret.

    Asked for the same subject once per entry of a ticket, hence the (bounded) cache."""
    lowered = text.lower()
    return any(word in lowered for word in _LEAD_IN_WORDS)


def _already_redacted(value: str) -> bool:
    return value.startswith(REDACTED)


def _looks_secret(value: str) -> bool:
    if len(value) < 4 or value.lower().strip(".!?") in _NOT_A_SECRET:
        return False
    has_digit = any(ch.isdigit() for ch in value)
    has_symbol = any(not ch.isalnum() for ch in value.rstrip(".!?"))
    mixed_case = value != value.lower() and value != value.upper()
    return has_digit or has_symbol or mixed_case


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _passwords(text: str) -> list[Finding]:
    found = []
    for match in _PASSWORD.finditer(text):
        value = match.group("value")
        loose_separator = ":" not in match.group("sep") and "=" not in match.group("sep")
        if value.lower() in _NOT_A_SECRET or len(value) < 3 or _already_redacted(value):
            continue
        if loose_separator and not _looks_secret(value):
            continue
        found.append(Finding(SensitiveKind.PASSWORD, match.start("value"), match.end("value")))
    return found


def _pins(text: str) -> list[Finding]:
    return [
        Finding(SensitiveKind.PASSWORD, match.start("value"), match.end("value"))
        for match in _PIN.finditer(text)
    ]


def _known_tokens(text: str) -> list[Finding]:
    found = []
    for match in _KNOWN_TOKEN.finditer(text):
        group = "bearer" if match.group("bearer") else 0
        found.append(Finding(SensitiveKind.API_KEY, match.start(group), match.end(group)))
    return found


def _keyword_tokens(text: str) -> list[Finding]:
    return [
        Finding(SensitiveKind.API_KEY, match.start("value"), match.end("value"))
        for match in _KEYWORD_TOKEN.finditer(text)
        if _looks_secret(match.group("value")) and not _already_redacted(match.group("value"))
    ]


def _mixed_alphanumeric(run: str) -> bool:
    return (
        any(ch.isdigit() for ch in run)
        and any(ch.isupper() for ch in run)
        and any(ch.islower() for ch in run)
    )


def _random_looking(text: str) -> list[Finding]:
    found = []
    for match in _RANDOM_LOOKING.finditer(text):
        if not _inside_url(text, match.start()):
            if _mixed_alphanumeric(match.group()):
                found.append(Finding(SensitiveKind.API_KEY, match.start(), match.end()))
            continue
        # A URL path (/Support/KnowledgeBase/Article12345) is long and mixed-case without being
        # a key, so in a URL only a single path segment long enough to be a key counts.
        offset = match.start()
        for segment in match.group().split("/"):
            if len(segment) >= _MIN_RANDOM_RUN and _mixed_alphanumeric(segment):
                found.append(Finding(SensitiveKind.API_KEY, offset, offset + len(segment)))
            offset += len(segment) + 1
    return found


def _inside_url(text: str, position: int) -> bool:
    word_start = max(text.rfind(" ", 0, position), text.rfind("\n", 0, position)) + 1
    return _URL_START.match(text, word_start) is not None


def _ip_addresses(text: str) -> list[Finding]:
    return [
        Finding(SensitiveKind.IP_ADDRESS, match.start(), match.end())
        for match in _IPV4.finditer(text)
        if not _VERSION_CONTEXT.search(text, max(0, match.start() - 12), match.start())
    ]


def _card_numbers(text: str) -> list[Finding]:
    found = []
    for match in _CARD_CANDIDATE.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits):
            found.append(Finding(SensitiveKind.CARD_NUMBER, match.start(), match.end()))
    return found


def find_sensitive(text: str) -> list[Finding]:
    """Every sensitive span in ``text``, in order; overlapping spans are merged.

    Each detector runs only when its cheap trigger (a substring every match must contain) is
    present: most notes trigger none, and "pinned" no longer costs a full scan.
    """
    if not text:
        return []
    lowered = text.lower()
    findings: list[Finding] = []
    if "-----begin" in lowered:
        findings += [
            Finding(SensitiveKind.PRIVATE_KEY, match.start(), match.end())
            for match in _PRIVATE_KEY.finditer(text)
        ]
    if "pass" in lowered or "pw" in lowered:  # "pw" also covers "pwd"
        findings += _passwords(text)
    if "pin" in lowered:
        findings += _pins(text)
    # Every sk_/pk_/rk_/gh?_/github_pat_ token contains an underscore.
    if (
        "_" in lowered
        or "akia" in lowered
        or "xox" in lowered
        or "eyj" in lowered
        or "aiza" in lowered
        or "bearer" in lowered
    ):
        findings += _known_tokens(text)
    if "key" in lowered or "token" in lowered or "secret" in lowered:
        findings += _keyword_tokens(text)
    if len(text) > _LONGEST_PLAIN_WORD and any(
        len(word) > _LONGEST_PLAIN_WORD for word in text.split()
    ):
        findings += _random_looking(text)
    if _DOTTED_DIGITS.search(text):
        findings += _ip_addresses(text)
    if _FOUR_DIGITS.search(text):
        findings += _card_numbers(text)
    if not findings:
        return []
    findings.sort(key=lambda finding: (finding.start, -finding.end))
    merged: list[Finding] = []
    for finding in findings:
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Finding(last.kind, last.start, max(last.end, finding.end))
        else:
            merged.append(finding)
    return merged


def redact(text: str) -> RedactedText:
    """``text`` with every sensitive span replaced by ``[redacted]``, and the kinds found.

    Removing one span can expose another ("0.0.0.0-----BEGIN…" hides the address behind the
    key's dashes until the key is gone), so redaction repeats until nothing more is found.
    """
    kinds: dict[SensitiveKind, None] = {}
    for _ in range(_MAX_PASSES):
        findings = find_sensitive(text)
        if not findings:
            break
        text = _replace_spans(text, findings)
        kinds.update(dict.fromkeys(finding.kind for finding in findings))
    return RedactedText(text, tuple(kinds))


_MAX_PASSES = 5


def _replace_spans(text: str, findings: list[Finding]) -> str:
    pieces = []
    cursor = 0
    for finding in findings:
        pieces.append(text[cursor : finding.start])
        pieces.append(REDACTED)
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)
