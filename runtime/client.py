"""Connecting to Temporal the same way everywhere: pydantic payloads (Decimal stays a string,
never a float), TLS or an API key for Temporal Cloud, and tracing when it is configured."""

from __future__ import annotations

from temporalio.client import Client, Interceptor
from temporalio.service import TLSConfig

from runtime.data_converter import data_converter_for
from settings import Settings


class ConnectionProblem(RuntimeError):
    """Temporal cannot be reached; the message says where we looked and what to do."""


def _tls(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert is None and settings.temporal_tls_ca is None:
        return settings.temporal_api_key is not None  # Temporal Cloud API keys need TLS
    return TLSConfig(
        client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
        client_private_key=(
            settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None
        ),
        server_root_ca_cert=settings.temporal_tls_ca.read_bytes()
        if settings.temporal_tls_ca
        else None,
    )


async def connect(settings: Settings, interceptors: list[Interceptor] | None = None) -> Client:
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter_for(settings),
            tls=_tls(settings),
            api_key=settings.temporal_api_key,
            interceptors=interceptors or [],
        )
    except RuntimeError as error:
        raise ConnectionProblem(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {error}. Start one with `make demo` "
            "or set HDB_TEMPORAL_ADDRESS"
        ) from None
