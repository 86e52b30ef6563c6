"""How everything we put in Temporal is turned into payloads and back: pydantic JSON (Decimal
stays a string, never a float), with one process-wide cache of type adapters.

The SDK builds a new payload converter for every workflow run, and the stock pydantic converter
keeps its cache of ``TypeAdapter``s on the instance, so every ticket's workflow built the
adapters of its input, signals and activity results again: measured with py-spy, that was a
fifth of the worker's CPU under load (bench/live.py). Building an adapter is a pure function of
the type, so one cache per process serves every run. The types that cross the boundary live in
modules the sandbox passes through (see workflows/ticket_billing.py), so a run in the sandbox
and the worker outside it ask with the very same type objects.

It lives with the messages because the ticket workflow uses the same cache for its projection;
the data converter every client uses (with encryption when configured) is
runtime/data_converter.py's ``data_converter_for``.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

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
