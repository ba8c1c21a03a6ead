"""Prometheus metrics at `/metrics`, on a registry owned by the app.

Never the process's default registry: several apps built in one process (the tests build
many) would collide on the same time series. Requests are labelled by route template
(`/items/{item_id}`, never the path a client sent) so the series stay few. `Metrics` is the
part of the service (see resources.py) that holds the registry.
"""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import aiohttp
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Settings
from .dependencies import ResourcesDep
from .resources import Resources

UNMATCHED = "<unmatched>"  # the route label of a request no route took (a 404)


class Metrics:
    """The part that measures (see resources.py): one app's registry and the series the
    service keeps."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "Requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "Requests being served now.", registry=self.registry
        )
        self.upstream_seconds = Histogram(
            "upstream_request_duration_seconds",
            "Time to the upstream's answer (status and headers), by method and outcome: "
            "the status, or the class of the error.",
            ["method", "outcome"],
            registry=self.registry,
        )

    def install(self, app: FastAPI) -> None:
        """Measure every request `app` serves, and serve the registry at `/metrics`."""
        app.add_middleware(MeasureRequests, metrics=self)
        app.add_api_route("/metrics", serve_metrics, include_in_schema=False)

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Measure the calls through the HTTP session (it opens later); serve `/metrics`."""
        resources.add(self)
        resources.http_trace_configs.append(self.http_trace_config())
        yield

    def http_trace_config(self) -> aiohttp.TraceConfig:
        """For the upstream session: the time of each call, by outcome."""

        async def start(
            _session: aiohttp.ClientSession,
            context: SimpleNamespace,
            _params: aiohttp.TraceRequestStartParams,
        ) -> None:
            context.started = time.perf_counter()

        async def end(
            _session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self._observe_upstream(context, params.method, str(params.response.status))

        async def fail(
            _session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            self._observe_upstream(context, params.method, type(params.exception).__name__)

        config = aiohttp.TraceConfig()
        config.on_request_start.append(start)
        config.on_request_end.append(end)
        config.on_request_exception.append(fail)
        return config

    def _observe_upstream(self, context: SimpleNamespace, method: str, outcome: str) -> None:
        elapsed = time.perf_counter() - context.started
        self.upstream_seconds.labels(method=method, outcome=outcome).observe(elapsed)


def part(settings: Settings) -> Metrics:
    """This module's part of the service (parts.py)."""
    return Metrics(settings)


async def serve_metrics(resources: ResourcesDep) -> Response:
    """The app's series in Prometheus's text format."""
    registry = resources.get(Metrics).registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    """The template of the route that took the request, such as `/items/{item_id}`.

    From FastAPI 0.137 an included router's routes keep their own path: the one with every
    prefix given to `include_router` is FastAPI's effective route context, when there is one.
    """
    effective = scope.get("fastapi", {}).get("effective_route_context")
    route = effective if effective is not None else scope.get("route")
    return str(getattr(route, "path", UNMATCHED))


class MeasureRequests:
    """Pure ASGI middleware: count, time and gauge the requests in flight."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.in_flight.dec()
            template = route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method=method, route=template, status=status).inc()
            self.metrics.request_seconds.labels(method=method, route=template).observe(
                time.perf_counter() - started
            )
