"""How everything we put in Temporal is turned into payloads and back: pydantic JSON (Decimal
stays a string, never a float), with one process-wide cache of type adapters.

The SDK builds a new payload converter for every workflow run, and the stock pydantic converter
keeps its cache of ``TypeAdapter``s on the instance, so every ticket's workflow built the
adapters of its input, signals and activity results again: measured with py-spy, that was a
fifth of the worker's CPU under load (bench/live.py). Building an adapter is a pure function of
the type, so one cache per process serves every run. The types that cross the boundary live in
modules the sandbox passes through (see workflows/ticket_billing.py), so a run in the sandbox
and the worker outside it ask with the very same type objects.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

if TYPE_CHECKING:
    from service.encryption import EncryptionCodec
    from settings import Settings

# Our own types number in the tens; the bound only keeps a stray per-run type from piling up.
_CACHED_ADAPTERS = 512


@functools.lru_cache(maxsize=_CACHED_ADAPTERS)
def type_adapter(type_hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_hint)


class _SharedCacheJSONConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        wanted: Any = type_hint if type_hint is not None else Any
        try:
            adapter = type_adapter(wanted)
        except TypeError:  # an unhashable hint (rare): build it for this call only
            adapter = TypeAdapter(wanted)
        return adapter.validate_json(payload.data)


# The encoding converters hold no per-run state, and the SDK makes a payload converter for
# every workflow activation: build them once.
_ENCODING_CONVERTERS = tuple(
    _SharedCacheJSONConverter() if isinstance(converter, JSONPlainPayloadConverter) else converter
    for converter in DefaultPayloadConverter.default_encoding_payload_converters
)


class SharedCachePydanticPayloadConverter(CompositePayloadConverter):
    """The stock pydantic payload converter, with the adapter cache shared by every run."""

    def __init__(self) -> None:
        super().__init__(*_ENCODING_CONVERTERS)


data_converter = DataConverter(payload_converter_class=SharedCachePydanticPayloadConverter)


def payload_codec_for(settings: Settings) -> EncryptionCodec | None:
    """The AES-GCM codec when ``HDB_ENCRYPTION_KEYS_FILE`` is set (service/encryption.py), else
    None; a bad key file is a ``SettingsError`` naming the variable. The data converter and the
    API's codec endpoint both take it from here."""
    path = settings.encryption_keys_path
    if path is None:
        return None
    # Imported here: cryptography loads only in processes that encrypt.
    from service.encryption import EncryptionProblem, codec_from_file
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
