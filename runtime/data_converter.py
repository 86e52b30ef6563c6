"""The data converter every client and worker uses: the shared-cache pydantic converter
(messages/payloads.py), with large payloads compressed (runtime/compression.py, on unless
``HDB_PAYLOAD_COMPRESSION=false``) and every payload encrypted when ``HDB_ENCRYPTION_KEYS_FILE``
is set (runtime/encryption.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from messages.payloads import data_converter
from runtime.compression import CompressionCodec

if TYPE_CHECKING:
    from runtime.encryption import EncryptionCodec
    from settings import Settings


class PayloadCodecChain(PayloadCodec):
    """Codecs applied in order on encode and in reverse order on decode."""

    def __init__(self, *codecs: PayloadCodec) -> None:
        self.codecs = codecs

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        encoded = list(payloads)
        for codec in self.codecs:
            encoded = await codec.encode(encoded)
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = list(payloads)
        for codec in reversed(self.codecs):
            decoded = await codec.decode(decoded)
        return decoded


def encryption_codec_for(
    settings: Settings, *, for_display: bool = False
) -> EncryptionCodec | None:
    """The AES-GCM codec when ``HDB_ENCRYPTION_KEYS_FILE`` is set (runtime/encryption.py), else
    None; a bad key file is a ``SettingsError`` naming the variable. It refuses plaintext
    payloads unless ``HDB_ENCRYPTION_ACCEPT_PLAINTEXT`` is set, or it only decodes for people to
    read (``for_display``: the codec endpoint shows a plaintext payload as it is)."""
    path = settings.encryption_keys_path
    if path is None:
        return None
    # Imported here: cryptography loads only in processes that encrypt.
    from runtime.encryption import EncryptionProblem, codec_from_file
    from settings import SettingsError

    try:
        return codec_from_file(
            path, refuse_plaintext=not (for_display or settings.encryption_accept_plaintext)
        )
    except EncryptionProblem as problem:
        raise SettingsError(f"HDB_ENCRYPTION_KEYS_FILE: {problem}") from None


def payload_codec_for(settings: Settings, *, for_display: bool = False) -> PayloadCodecChain:
    """Compression, then encryption when it is on; decoded the other way round (ciphertext does
    not compress, so compressing must come first). Compressed payloads are always decoded, so
    turning ``HDB_PAYLOAD_COMPRESSION`` off still reads what was written with it on. The data
    converter and the API's codec endpoint both take it from here; a bad key file is a
    ``SettingsError``."""
    compression = CompressionCodec(compress=settings.payload_compression)
    encryption = encryption_codec_for(settings, for_display=for_display)
    return PayloadCodecChain(compression, *([encryption] if encryption is not None else []))


def data_converter_for(settings: Settings) -> DataConverter:
    """``data_converter`` with the deployment's payload codec (``payload_codec_for``): the same
    pydantic payload converter; with encryption on, failure messages and stack traces are moved
    into (encrypted) payloads too."""
    converter = dataclasses.replace(data_converter, payload_codec=payload_codec_for(settings))
    if settings.encryption_keys_path is None:
        return converter
    return dataclasses.replace(
        converter, failure_converter_class=DefaultFailureConverterWithEncodedAttributes
    )
