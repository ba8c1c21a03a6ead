"""Tracing with OpenTelemetry, owned by the app: a server span for each request, a client span
for each upstream call (its `traceparent` sent on), a span for each database statement.

Each app has a tracer provider of its own, never the process's global one, so two apps in
one test run share no spans. Its lifespan starts the export and, at shutdown, flushes and
stops it. Spans are exported over OTLP (HTTP) when the standard variables name a collector
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, with the other
`OTEL_EXPORTER_OTLP_*` variables for headers and timeouts); otherwise nothing is exported.
`OTEL_SERVICE_NAME` names the service (the package name by default), and
`OTEL_SDK_DISABLED=true` turns tracing off.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

DEFAULT_SERVICE_NAME = "{{ cookiecutter.project_slug }}"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Tracing:
    """One app's tracer provider and what it instruments."""

    def __init__(self) -> None:
        name = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
        self.provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))

    def instrument(self, app: FastAPI) -> None:
        """A server span for every request `app` serves, named by its route template;
        `app.state.tracing` is this object (tests add their span exporters to its provider)."""
        app.state.tracing = self
        # No spans of their own for each ASGI message sent or received: noise, and costly.
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, exclude_spans=["receive", "send"]
        )

    def http_trace_config(self) -> aiohttp.TraceConfig:
        """For the upstream session: a client span per call, and `traceparent` sent on."""
        return create_trace_config(tracer_provider=self.provider)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Export while the block runs (if a collector is named); flush and stop at its end."""
        if any(os.environ.get(variable) for variable in _ENDPOINT_VARIABLES):
            # Imported only when used: the exporter pulls in protobuf and requests.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        try:
            yield
        finally:
            # Flushing sends what is left, a blocking call: off the event loop.
            await asyncio.to_thread(self.provider.shutdown)
