"""Chat out (issue 16): one short message posted to a Slack or Microsoft Teams incoming webhook
of an owner queue, shaped as each expects and cut to their limits, with errors that say whether
a retry can help (``ChatUnavailable``) or not (``ChatRejected``). A webhook URL is a secret (it
is all anyone needs to post to the channel), so no error, log line or repr carries it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from connectors.mail import is_loopback
from connectors.selection import ConnectorSetupError, read_secret
from settings import Settings

ChatKind = Literal["slack", "teams"]
CHAT_KINDS: tuple[ChatKind, ...] = ("slack", "teams")
OWNERS = ("support", "billing", "manager", "finance")

# Slack's documented limits (docs.slack.dev/reference/block-kit): at most 50 blocks in a
# message, a header's plain_text at most 150 characters, a section's text at most 3000. A
# payload over them is refused with 400 invalid_blocks, so we cut instead.
SLACK_MAX_BLOCKS = 50
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
# Teams refuses an incoming-webhook message over 28 KB (learn.microsoft.com, "Create an
# Incoming Webhook": message size limit); lines and text are cut well below it.
TEAMS_MAX_LINES = 50
TEAMS_MAX_TEXT = 20_000
_NAMES = {"slack": "Slack", "teams": "Teams"}


@dataclass(frozen=True)
class ChatMessage:
    """What a notice says in chat: a title, its lines (plain text, not markup) and an optional
    link to the page where one acts. Teams shows the text as written; Slack has no way to
    escape its emphasis marks, so ``*word*`` may show bold there, but ``&``, ``<`` and ``>`` are
    escaped, so no text can make a link or a mention."""

    title: str
    lines: tuple[str, ...]
    link: str | None
    link_label: str = "Open"


class ChatUnavailable(Exception):
    """A transient failure (throttled, 5xx, timeout, no connection): post again later, after
    ``retry_after`` seconds when the service said how long."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChatRejected(Exception):
    """The webhook refused the post and will again (removed, archived channel, bad payload): a
    person must fix the webhook setting."""


# ---- payloads -----------------------------------------------------------------------------------


def slack_payload(message: ChatMessage) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` (the notification's fallback) and ``blocks``
    (header, mrkdwn sections, the link). ``&``, ``<`` and ``>`` are escaped as Slack asks
    (docs.slack.dev/messaging/formatting-message-text, "Escaping text"), so a ticket subject
    cannot make a link or mention ``<!channel>``."""
    title = _checked(message)
    link_blocks = []
    if message.link is not None:
        # A link in mrkdwn, not a button: a URL button still sends an interaction payload that
        # a webhook-only app cannot acknowledge, and Slack then marks the click as failed.
        target = _slack_escape(message.link).replace("|", "%7C")
        label = _slack_escape(_cut(message.link_label, 75))
        link_blocks.append(_section(f"<{target}|{label}>"))
    room = SLACK_MAX_BLOCKS - 1 - len(link_blocks)
    lines = [_cut_escaped(_slack_escape(line), SLACK_SECTION_MAX) for line in message.lines]
    sections = [_section(text) for text in _pack(lines, SLACK_SECTION_MAX, room)]
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": _cut(title, SLACK_HEADER_MAX)},
    }
    return {
        "text": _cut_escaped(_slack_escape(title), SLACK_SECTION_MAX),
        "blocks": [header, *sections, *link_blocks],
    }


def teams_payload(message: ChatMessage) -> dict[str, Any]:
    """A Teams incoming-webhook body: a message with one Adaptive Card 1.4, the shape both the
    Office 365 connector webhooks and the Workflows ("Post to a channel when a webhook request is
    received") webhooks take. Text goes in ``TextRun``s, which render no Markdown (Adaptive Cards
    schema: TextRun.text, "Markdown is not supported"), so what people wrote reads as written;
    the link is an ``Action.OpenUrl``."""
    title = _checked(message)
    lines = _pack_lines(list(message.lines), TEAMS_MAX_LINES, TEAMS_MAX_TEXT)
    body: list[dict[str, Any]] = [
        _rich_text(_cut(title, 500), weight="Bolder", size="Medium"),
        *(_rich_text(line, spacing="None") for line in lines),
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link is not None:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": _cut(message.link_label, 75), "url": message.link}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _checked(message: ChatMessage) -> str:
    title = message.title.strip()
    if not title:
        raise ValueError("title: a chat message needs a title")
    if message.link is not None and urlsplit(message.link).scheme not in ("http", "https"):
        raise ValueError(f"link: {message.link!r} is not an http(s) URL")
    return title


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _rich_text(text: str, spacing: str | None = None, **style: str) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "RichTextBlock",
        "inlines": [{"type": "TextRun", "text": text, **style}],
    }
    if spacing is not None:
        block["spacing"] = spacing  # the lines of a list sit close together
    return block


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_escaped(text: str, limit: int) -> str:
    """``_cut`` for escaped text: never ends inside an entity such as ``&amp;``."""
    if len(text) <= limit:
        return text
    return re.sub(r"&[a-z]*$", "", text[: limit - 1]) + "…"


def _more(count: int) -> str:
    return f"… and {count} more"


def _pack(lines: list[str], limit: int, max_chunks: int) -> list[str]:
    """Lines joined into at most ``max_chunks`` texts of at most ``limit`` characters; what
    does not fit is counted in a last line '… and N more'."""
    chunks: list[list[str]] = []
    for line in lines:
        if chunks and len("\n".join([*chunks[-1], line])) <= limit:
            chunks[-1].append(line)
        else:
            chunks.append([line])
    if len(chunks) > max_chunks:
        chunks = chunks[:max_chunks]
        shown = sum(len(chunk) for chunk in chunks)
        last = chunks[-1]
        while last and len("\n".join([*last, _more(len(lines) - shown)])) > limit:
            last.pop()
            shown -= 1
        last.append(_more(len(lines) - shown))
    return [text for text in ("\n".join(chunk) for chunk in chunks) if text.strip()]


def _pack_lines(lines: list[str], max_lines: int, max_text: int) -> list[str]:
    """At most ``max_lines`` lines and ``max_text`` characters, what does not fit counted in a
    last line '… and N more'."""
    cut = [_cut(line, max_text // 4) for line in lines]
    kept: list[str] = []
    used = 0
    for index, line in enumerate(cut):
        # The last place is a line's only when no line follows; else it says how many are left.
        room = index < max_lines - 1 or (index == max_lines - 1 and len(cut) == max_lines)
        if not room or used + len(line) > max_text:
            return [*kept, _more(len(cut) - len(kept))]
        kept.append(line)
        used += len(line)
    return kept


# ---- posting ------------------------------------------------------------------------------------


def post_chat(client: httpx.Client, kind: ChatKind, url: str, message: ChatMessage) -> None:
    """Post ``message`` to the webhook ``url`` of ``kind``; returns on any 2xx (Slack answers
    200 "ok"; a Teams connector 200 "1", a Workflows webhook 202 Accepted).

    Raises ``ChatUnavailable`` for 408, 429 (with its Retry-After), 5xx, a timeout or no
    connection, and ``ChatRejected`` for any other answer: Slack's 400 invalid_payload, 403
    action_prohibited, 404 channel_not_found, 410 channel_is_archived (api.slack.com changelog
    2016-05-17, "Improving error conditions for Incoming Webhooks"), a removed Teams webhook's
    4xx. No message holds the URL."""
    if kind not in CHAT_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(CHAT_KINDS)}")
    payload = slack_payload(message) if kind == "slack" else teams_payload(message)
    where = f"the {_NAMES[kind]} webhook"
    # Errors are raised outside the ``except`` blocks: httpx's own exception would ride along as
    # __context__, and its message or request may hold the URL.
    failure: Exception | None = None
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        host, failure = "", ChatRejected(f"{where} URL is not a valid URL: check its setting")
    if failure is not None:
        raise failure
    where = f"{where} on {host}" if host else where
    try:
        response = client.post(url, json=payload)
    except httpx.TimeoutException:
        failure = ChatUnavailable(f"{where} did not answer in time")
    except httpx.TransportError as problem:
        failure = ChatUnavailable(f"cannot reach {where} ({type(problem).__name__})")
    if failure is not None:
        raise failure
    status = response.status_code
    if 200 <= status < 300:
        return
    said = _said(response, url)
    if status in (408, 429) or status >= 500:
        delay = _retry_after(response)
        wait = f"; retry after {delay:g} s" if delay is not None else ""
        raise ChatUnavailable(f"{where} answered {status}{said}{wait}", retry_after=delay)
    raise ChatRejected(
        f"{where} refused the message with {status}{said}: check the webhook setting "
        "(removed webhook, archived or missing channel)"
    )


def _said(response: httpx.Response, url: str) -> str:
    """The answer's body on one line, short, with the URL, its path, its query and any long
    part of them blanked (the token is in the path for Slack, the sig parameter for Teams)."""
    text = " ".join(response.text.split())
    parts = urlsplit(url)
    pieces = [url, parts.path, parts.query]
    pieces += re.split(r"[/&=?]", f"{parts.path}?{parts.query}")
    for secret in sorted(pieces, key=len, reverse=True):
        if len(secret) >= 8:
            text = text.replace(secret, "…")
    text = text[:200]
    return f" ({text})" if text else ""


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds; an HTTP-date is left to the retry policy (reading it would need
    a clock here)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "").strip()))
    except ValueError:
        return None


# ---- settings -----------------------------------------------------------------------------------


def chat_webhooks(settings: Settings, owner: str) -> list[tuple[ChatKind, str]]:
    """The (kind, URL) of each chat webhook set for ``owner``'s queue:
    ``HDB_SLACK_WEBHOOK_<OWNER>`` and ``HDB_TEAMS_WEBHOOK_<OWNER>``, or the files
    ``slack_webhook_<owner>`` and ``teams_webhook_<owner>`` in ``HDB_SECRETS_DIR``. A value
    that is not an https URL (http only to this machine) is a ``ConnectorSetupError`` naming
    the variable, not the value."""
    if owner not in OWNERS:
        raise ValueError(f"owner: {owner!r} is not one of {', '.join(OWNERS)}")
    webhooks: list[tuple[ChatKind, str]] = []
    for kind in CHAT_KINDS:
        name = f"{kind}_webhook_{owner}"
        url = read_secret(settings, name)
        if not url:
            continue
        parts = urlsplit(url)
        host = parts.hostname or ""
        secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))
        if not secure or not host or any(ch.isspace() for ch in url):
            raise ConnectorSetupError(
                f"HDB_{name.upper()} (or the file {name} in HDB_SECRETS_DIR) is not an "
                f"https:// URL: paste the webhook URL {_NAMES[kind]} gave"
            )
        webhooks.append((kind, url))
    return webhooks
