"""What every webhook receiver shares: reading a body without trusting its size (refused past a
limit, whether declared in ``Content-Length`` or found while streaming), and the answer a
receiver gives, which the API's route sends as it is."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import Any

MAX_BODY_BYTES = 256 * 1024


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """An HTTP answer to a help desk: senders act on the status (Zendesk retries a 503)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


async def read_body(
    declared_length: str | None, chunks: AsyncIterable[bytes], limit: int = MAX_BODY_BYTES
) -> bytes:
    """The body from its ``chunks``; ``BodyTooLarge`` as soon as it (or its declared length)
    is over ``limit``."""
    if declared_length and declared_length.isdigit() and int(declared_length) > limit:
        raise BodyTooLarge
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)
