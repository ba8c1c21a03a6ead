"""Tracing: a server span, a client span for the upstream call with `traceparent` sent on,
one tracer provider per app, flushed when its lifespan ends, in bounded time."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from {{ cookiecutter.package_name }}.resources import Resources
from {{ cookiecutter.package_name }}.tracing import DEFAULT_SERVICE_NAME, Tracing

from .support import AppFactory, Serve, calling_upstream, make_settings, refused_url
from .upstream import Upstream


def _record(resources: Resources) -> InMemorySpanExporter:
    """Keep every span a served app finishes from now on in memory, as it finishes."""
    exporter = InMemorySpanExporter()
    resources.get(Tracing).provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_the_trace_crosses_the_upstream_hop(
    app: FastAPI, serve: Serve, upstream: Upstream
) -> None:
    """The upstream call is a client span inside the request's server span, and the
    `traceparent` the upstream received names that trace and that client span."""
    async with serve(calling_upstream(app)) as client:
        spans = _record(client.resources)
        response = await client.get("/probe/items/1", headers={"X-Request-ID": "traced-1"})
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    (server,) = [span for span in finished if span.kind == SpanKind.SERVER]
    (call,) = [span for span in finished if span.kind == SpanKind.CLIENT]
    assert server.name == "GET /probe/{path:path}"
    assert call.parent is not None
    assert (call.context.trace_id, call.parent.span_id) == (
        server.context.trace_id,
        server.context.span_id,
    )
    (received,) = upstream.with_header("X-Request-ID", "traced-1")
    version, trace_id, parent_id, _flags = received.headers["traceparent"].split("-")
    assert version == "00"
    assert int(trace_id, 16) == server.context.trace_id
    assert int(parent_id, 16) == call.context.span_id


async def test_each_app_keeps_its_own_spans(make_app: AppFactory, serve: Serve) -> None:
    """Two apps in one run: each provider sees its own app's requests, never the other's."""
    async with serve(make_app()) as first_client, serve(make_app()) as second_client:
        first_spans = _record(first_client.resources)
        second_spans = _record(second_client.resources)
        await first_client.get("/health")
        await first_client.get("/ready")
        await second_client.get("/health")
    names = [
        sorted(span.name for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER)
        for exporter in (first_spans, second_spans)
    ]
    assert names == [["GET /health", "GET /ready"], ["GET /health"]]


async def test_shutdown_flushes_what_is_left(app: FastAPI, serve: Serve) -> None:
    """Spans still waiting in a batch when the lifespan ends are exported, not dropped."""
    exporter = InMemorySpanExporter()
    async with serve(app) as client:
        # A batch that would wait a minute: only the shutdown's flush can send it sooner.
        batch = BatchSpanProcessor(exporter, schedule_delay_millis=60_000)
        client.resources.get(Tracing).provider.add_span_processor(batch)
        await client.get("/health")
        assert exporter.get_finished_spans() == ()
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /health"]


@asynccontextmanager
async def _collector() -> AsyncIterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """A stand-in for an OpenTelemetry collector on 127.0.0.1: it keeps what it is sent."""
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        received.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(content_type="application/x-protobuf")

    collector = web.Application()
    collector.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(collector, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/v1/traces", received
    finally:
        await runner.cleanup()


async def test_spans_go_where_the_otel_variables_say(
    make_app: AppFactory, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, the spans reach that collector over OTLP,
    under the service's name. (The server's spans are those of requests: calls the app's
    parts made while it started have client spans.)"""
    async with _collector() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
        async with serve(make_app()) as client:
            await client.get("/health")
        await asyncio.sleep(0)
    spans = [
        (resource.resource, span.name)
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
        if span.kind == span.SPAN_KIND_SERVER
    ]
    assert [name for _, name in spans] == ["GET /health"]
    attributes = {item.key: item.value.string_value for item in spans[0][0].attributes}
    assert attributes["service.name"] == DEFAULT_SERVICE_NAME


async def test_nothing_is_exported_without_a_collector() -> None:
    """With no OTEL_EXPORTER_OTLP_* endpoint set, no exporter starts: an exporting batch
    would run a thread of its own."""
    settings = make_settings()
    before = set(threading.enumerate())
    async with Tracing(settings).open(Resources(settings)):
        during = set(threading.enumerate())
    assert during == before


@asynccontextmanager
async def _hanging_collector() -> AsyncIterator[str]:
    """A collector that takes every export and never answers."""

    async def hang(_request: web.Request) -> web.Response:
        await asyncio.Event().wait()
        return web.Response()  # pragma: no cover - never reached

    collector = web.Application()
    collector.router.add_post("/v1/traces", hang)
    runner = web.AppRunner(collector, access_log=None, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/v1/traces"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("collector", ["refused", "hanging"])
async def test_a_collector_that_is_down_delays_shutdown_by_close_timeout_at_most(
    make_app: AppFactory, serve: Serve, monkeypatch: pytest.MonkeyPatch, collector: str
) -> None:
    """Spans left to export to a collector that refuses connections, or never answers, hold
    up shutdown for CLOSE_TIMEOUT at most: the exporter's own retries would take 10 s."""
    async with _hanging_collector() as hanging:
        endpoint = refused_url() + "v1/traces" if collector == "refused" else hanging
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
        async with serve(make_app(close_timeout=1.0)) as client:
            await client.get("/health")  # a span left in the batch
            leaving = time.perf_counter()
        took = time.perf_counter() - leaving
    # 1 s of budget; the exporter alone would retry for 10 s. 4 s leaves a busy machine room.
    assert took < 4.0, took
