"""Payload compression: zlib over the payloads too big to keep in Temporal as plain JSON.

A long ticket's rating (hundreds of lines with their explanations), the activity inputs that
carry it and its continue-as-new input are repetitive pydantic JSON that outgrows our 256 KiB
per-payload budget, and compresses 13 to 42 times over (measured: docs/encryption.md). A
payload whose serialized size is over the threshold (32 KiB: the small payloads people read in
the Temporal UI stay plain JSON) is serialized whole (its metadata too, as runtime/encryption.py
does) and deflated; what Temporal keeps is::

    metadata: {"encoding": "binary/zlib"}
    data:     zlib stream of the serialized inner Payload

and only when that is smaller than the plain payload. Decoding inflates ``binary/zlib`` payloads
back to the inner payload and passes every other one through unchanged (small payloads, and
histories written before compression was on). It always decodes, even with encoding turned off
(``HDB_PAYLOAD_COMPRESSION=false``), so a deployment that turns compression off still reads what
it wrote; a build older than this one cannot, which is why the setting exists (docs/encryption.md).

Inflating is bounded (``max_inflated_bytes``, 64 MiB, for a batch of payloads decoded together):
a payload that would grow beyond it is refused with ``CompressionProblem``, so a hostile one
(a "zip bomb" sent to the codec endpoint, say) cannot exhaust the process's memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/zlib"
DEFAULT_THRESHOLD_BYTES = 32 * 1024
DEFAULT_LEVEL = 6  # zlib's default: a 900-line rating 14 KiB (level 9: 12 KiB), a third faster
# Temporal refuses payloads over 2 MB; a legitimate one inflates tenfold or so.
DEFAULT_MAX_INFLATED_BYTES = 64 * 1024 * 1024


class CompressionProblem(ValueError):
    """A ``binary/zlib`` payload cannot be inflated; the message says why."""


class CompressionCodec(PayloadCodec):
    """zlib over payloads larger than ``threshold_bytes``; see the module's description.

    ``compress=False`` only decodes: every payload is encoded as it is, and compressed ones
    written earlier are still read."""

    def __init__(
        self,
        *,
        compress: bool = True,
        threshold_bytes: int = DEFAULT_THRESHOLD_BYTES,
        level: int = DEFAULT_LEVEL,
        max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES,
    ) -> None:
        if threshold_bytes < 0:
            raise ValueError("threshold_bytes must be 0 or more")
        if not -1 <= level <= 9:
            raise ValueError("level must be a zlib level, -1 to 9")
        self.compresses = compress
        self.threshold_bytes = threshold_bytes
        self.level = level
        self.max_inflated_bytes = max_inflated_bytes

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.compress(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Every payload inflated; the bound holds for the batch as a whole, so many payloads
        each just under it cannot exhaust memory either."""
        remaining = self.max_inflated_bytes
        decoded = []
        for payload in payloads:
            inner, inflated = self._inflate(payload, remaining)
            remaining -= inflated
            decoded.append(inner)
        return decoded

    def compress(self, payload: Payload) -> Payload:
        """``payload`` deflated when compression is on, it is over the threshold and deflating
        makes it smaller; else ``payload`` itself."""
        if not self.compresses or payload.ByteSize() <= self.threshold_bytes:
            return payload
        serialized = payload.SerializeToString()
        compressed = Payload(
            metadata={"encoding": ENCODING}, data=zlib.compress(serialized, self.level)
        )
        return compressed if compressed.ByteSize() < len(serialized) else payload

    def inflate(self, payload: Payload) -> Payload:
        """``payload``'s inner payload when it is ``binary/zlib``; else ``payload`` itself."""
        return self._inflate(payload, self.max_inflated_bytes)[0]

    def _inflate(self, payload: Payload, limit: int) -> tuple[Payload, int]:
        """The payload and how many bytes inflating it took, refusing more than ``limit``."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload, 0  # small, or written before compression was on
        size = len(payload.data)
        inflater = zlib.decompressobj()
        try:
            # One byte over the bound tells "too big" from "exactly at the bound".
            serialized = inflater.decompress(payload.data, limit + 1)
        except zlib.error as error:
            raise CompressionProblem(
                f"compressed payload ({size} bytes) is not a valid zlib stream: {error}"
            ) from None
        if len(serialized) > limit:
            raise CompressionProblem(
                f"compressed payload ({size} bytes) inflates beyond {limit} bytes "
                f"(at most {self.max_inflated_bytes} bytes per batch of payloads): refused, as a "
                "corrupt or hostile payload; no payload of ours comes near that"
            )
        if not inflater.eof:
            raise CompressionProblem(
                f"compressed payload ({size} bytes) is truncated: its zlib stream does not end"
            )
        if inflater.unused_data:
            raise CompressionProblem(
                f"compressed payload ({size} bytes) has bytes after its zlib stream"
            )
        try:
            return Payload.FromString(serialized), len(serialized)
        except DecodeError as error:
            raise CompressionProblem(
                f"compressed payload ({size} bytes) does not hold a payload: {error}"
            ) from None
