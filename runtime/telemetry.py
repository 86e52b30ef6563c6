"""OpenTelemetry: spans for ingest, rating, posting and help desk updates, and metrics
(reconciliation findings and alerts) exported the same way, every minute.

Temporal's ``TracingInterceptor`` makes a span for every workflow, signal and activity and
carries the trace across processes in headers, so one ingest shows as one trace from the CLI
through the worker. Spans go to a file by default (readable JSON, one span per block), or to an
OTLP collector when ``HDB_OTEL_EXPORTER=otlp``.
"""

from __future__ import annotations

import atexit
from typing import IO

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor

from settings import Settings
from store.private_files import private_file

_configured = False


class TelemetryError(RuntimeError):
    pass


def configure_tracing(settings: Settings, service_name: str) -> TracingInterceptor | None:
    """Install the tracer provider once per process; the interceptor to give Temporal."""
    global _configured
    if settings.otel_exporter == "none":
        return None
    if not _configured:
        resource = Resource.create({"service.name": service_name})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
        trace.set_tracer_provider(provider)
        atexit.register(provider.shutdown)
        meters = MeterProvider(
            resource=resource,
            metric_readers=[PeriodicExportingMetricReader(_metric_exporter(settings))],
        )
        metrics.set_meter_provider(meters)
        atexit.register(meters.shutdown)
        _configured = True
    return TracingInterceptor()


def _exporter(settings: Settings):  # type: ignore[no-untyped-def]
    if settings.otel_exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise TelemetryError(
                "HDB_OTEL_EXPORTER=otlp needs the OTLP exporter: "
                "pip install opentelemetry-exporter-otlp (its endpoint is read from "
                "OTEL_EXPORTER_OTLP_ENDPOINT)"
            ) from None
        return OTLPSpanExporter()
    out: IO[str] | None = None
    if settings.otel_console_file is not None:
        out = open(private_file(settings.otel_console_file), "a", encoding="utf-8")  # noqa: SIM115
        atexit.register(out.close)
    return ConsoleSpanExporter(out=out) if out else ConsoleSpanExporter()


def _metric_exporter(settings: Settings):  # type: ignore[no-untyped-def]
    if settings.otel_exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        except ImportError:
            raise TelemetryError(
                "HDB_OTEL_EXPORTER=otlp needs the OTLP exporter: pip install "
                "opentelemetry-exporter-otlp"
            ) from None
        return OTLPMetricExporter()
    if settings.otel_console_file is not None:
        out = open(private_file(settings.otel_console_file), "a", encoding="utf-8")  # noqa: SIM115
        atexit.register(out.close)
        return ConsoleMetricExporter(out=out)
    return ConsoleMetricExporter()


def tracer():  # type: ignore[no-untyped-def]
    return trace.get_tracer("helpdesk-billing")
