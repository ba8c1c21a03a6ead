"""The application factory and the lifespan that owns the service's long-lived resources."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import aiohttp
from fastapi import FastAPI, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware

from . import __version__
from .bodies import BodyLimits
from .config import Settings
{%- if cookiecutter.database == "postgres" %}
from .db import Database, open_database
{%- endif %}
{%- if cookiecutter.database == "postgres" and cookiecutter.tracing %}
from .db_tracing import trace_statements
{%- endif %}
from .errors import JsonErrors, ServiceError, handle_service_error, handle_validation_error
from .logs import configure_logging
from .methods import HeadAsGet, handle_method_not_allowed
{%- if cookiecutter.metrics %}
from .metrics import Metrics
{%- endif %}
from .middleware import Drain, DuringShutdown, RequestId
from .routes import ROUTERS
{%- if cookiecutter.tracing %}
from .tracing import Tracing
{%- endif %}
from .upstream import open_http_session


class State(TypedDict):
    """What the lifespan yields; every request sees these same objects."""

    settings: Settings
    drain: Drain
    http_session: aiohttp.ClientSession
{%- if cookiecutter.database == "postgres" %}
    database: Database
{%- endif %}


def create_app(settings: Settings | None = None, drain: Drain | None = None) -> FastAPI:
    """Build the application; without `settings` they are read from the environment.

    `drain` is how the server tells the app it is shutting down (server.py)."""
    settings = Settings() if settings is None else settings
    drain = Drain() if drain is None else drain
    configure_logging(settings.log_level, settings.log_format)
    # What watches each upstream call, beside the request id.
    trace_configs: list[aiohttp.TraceConfig] = []
{%- if cookiecutter.tracing %}
    tracing = Tracing()
    trace_configs.append(tracing.http_trace_config())
{%- endif %}
{%- if cookiecutter.metrics %}
    metrics = Metrics()
    trace_configs.append(metrics.http_trace_config())
{%- endif %}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        async with (
{%- if cookiecutter.tracing %}
            tracing.running(),
{%- endif %}
            open_http_session(settings, trace_configs) as http_session,
{%- if cookiecutter.database == "postgres" %}
            open_database(settings) as database,
{%- endif %}
        ):
{%- if cookiecutter.database == "postgres" and cookiecutter.tracing %}
            trace_statements(database.engine, tracing.provider)
{%- endif %}
            yield {
                "settings": settings,
                "drain": drain,
                "http_session": http_session,
{%- if cookiecutter.database == "postgres" %}
                "database": database,
{%- endif %}
            }

    app = FastAPI(
        title=settings.title,
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes)
    app.add_middleware(DuringShutdown, drain=drain)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if settings.allowed_hosts:
        # Added last, so it runs first: a request for any other Host is a 400 before anything
        # (a redirect included) can echo that host back.
        app.add_middleware(
            TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False
        )
{%- if cookiecutter.metrics %}
    metrics.install(app)
{%- endif %}
    # Every answer JSON, and an unexpected exception a JSON 500, inside the request id (next),
    # so that every answer carries it, a refused host's 400 and a 500 included.
    app.add_middleware(JsonErrors)
    app.add_middleware(RequestId)
{%- if cookiecutter.tracing %}
    tracing.instrument(app)
{%- endif %}
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, handle_method_not_allowed)
    for router in ROUTERS:
        app.include_router(router)
    return app
