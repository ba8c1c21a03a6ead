"""Tracing with OpenTelemetry, owned by the app: a server span for each request, a client span
for each upstream call (its `traceparent` sent on), a span for each database statement.

Each app has a tracer provider of its own, never the process's global one, so two apps in
one test run share no spans. `Tracing` is the part of the service (see resources.py) that
starts the export and, at shutdown, flushes and stops it. Spans are exported over OTLP (HTTP)
when the standard variables name a collector (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, with the other `OTEL_EXPORTER_OTLP_*` variables for
headers and compression); otherwise nothing is exported. `OTEL_SERVICE_NAME` names the service
(the package name by default), and `OTEL_SDK_DISABLED=true` turns tracing off. One export,
its retries included, takes at most half of `CLOSE_TIMEOUT`, so a collector that is down
never holds up shutdown longer than that.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from .config import Settings
from .resources import Resources

DEFAULT_SERVICE_NAME = "{{ cookiecutter.project_slug }}"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Tracing:
    """The part that traces (see resources.py): one app's tracer provider, what it
    instruments, and the export of its spans."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        name = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
        self.provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))

    def install(self, app: FastAPI) -> None:
        """A server span for every request `app` serves, named by its route template."""
        # No spans of their own for each ASGI message sent or received: noise, and costly.
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, exclude_spans=["receive", "send"]
        )

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Trace the calls through the HTTP session (it opens later), and export while the
        block runs, if a collector is named; at its end, send what is left, in bounded time."""
        resources.add(self)
        resources.http_trace_configs.append(create_trace_config(tracer_provider=self.provider))
        # Half of the time closing may take for the last export, half for stopping.
        seconds = self.settings.close_timeout / 2
        exporter = _exporter(seconds) if _collector_named() else None
        if exporter is not None:
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        try:
            yield
        finally:
            # Flushing is a blocking call: off the event loop.
            await asyncio.to_thread(self._stop, exporter, seconds)

    def _stop(self, exporter: SpanExporter | None, seconds: float) -> None:
        """Send what is left for at most `seconds`, then stop: an export still retrying a
        collector that is down gives up at once."""
        self.provider.force_flush(timeout_millis=round(seconds * 1000))
        if exporter is not None:
            exporter.shutdown()
        self.provider.shutdown()


def part(settings: Settings) -> Tracing:
    """This module's part of the service (parts.py)."""
    return Tracing(settings)


def _collector_named() -> bool:
    return any(os.environ.get(variable) for variable in _ENDPOINT_VARIABLES)


def _exporter(timeout: float) -> SpanExporter:
    """Spans over OTLP/HTTP to the collector the variables name. One export, its retries
    included, takes at most `timeout` seconds: at shutdown, the last must end in time."""
    # Imported only when used: the exporter pulls in protobuf and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    return OTLPSpanExporter(timeout=timeout)
