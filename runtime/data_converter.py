"""The data converter every client and worker uses: the shared-cache pydantic converter
(messages/payloads.py), with AES-GCM encryption of every payload when
``HDB_ENCRYPTION_KEYS_FILE`` is set (runtime/encryption.py)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from messages.payloads import data_converter

if TYPE_CHECKING:
    from runtime.encryption import EncryptionCodec
    from settings import Settings


def payload_codec_for(settings: Settings) -> EncryptionCodec | None:
    """The AES-GCM codec when ``HDB_ENCRYPTION_KEYS_FILE`` is set (runtime/encryption.py), else
    None; a bad key file is a ``SettingsError`` naming the variable. The data converter and the
    API's codec endpoint both take it from here."""
    path = settings.encryption_keys_path
    if path is None:
        return None
    # Imported here: cryptography loads only in processes that encrypt.
    from runtime.encryption import EncryptionProblem, codec_from_file
    from settings import SettingsError

    try:
        return codec_from_file(path)
    except EncryptionProblem as problem:
        raise SettingsError(f"HDB_ENCRYPTION_KEYS_FILE: {problem}") from None


def data_converter_for(settings: Settings) -> DataConverter:
    """``data_converter``, encrypting every payload when ``HDB_ENCRYPTION_KEYS_FILE`` is set:
    the same pydantic payload converter, with the AES-GCM codec, and failure messages and
    stack traces moved into (encrypted) payloads too."""
    codec = payload_codec_for(settings)
    if codec is None:
        return data_converter
    return dataclasses.replace(
        data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
