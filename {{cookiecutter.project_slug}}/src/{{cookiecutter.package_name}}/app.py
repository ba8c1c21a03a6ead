"""The application factory: the service's parts, served over HTTP by FastAPI."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware

from . import __version__
from .bodies import BodyLimits
from .config import Settings
from .errors import JsonErrors, ServiceError, handle_service_error, handle_validation_error
from .logs import configure_logging
from .methods import HeadAsGet, handle_method_not_allowed
from .parts import make_parts
from .request_id import RequestId
from .resources import Resources, open_resources
from .routes import ROUTERS
from .shutdown import Drain


class State(TypedDict):
    """What the lifespan yields: every request of the app sees the same resources."""

    resources: Resources


def create_app(settings: Settings | None = None, drain: Drain | None = None) -> FastAPI:
    """Build the application; without `settings` they are read from the environment.

    `drain` is how the server tells the app it is shutting down (server.py)."""
    settings = Settings() if settings is None else settings
    configure_logging(settings.log_level, settings.log_format)
    parts = make_parts(settings, drain)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        async with open_resources(settings, parts) as resources:
            yield {"resources": resources}

    app = FastAPI(
        title=settings.title,
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    # Middleware, innermost first (each one added wraps those before it).
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if settings.allowed_hosts:
        # A request for any other Host is a 400 before anything (a redirect included) can
        # echo that host back.
        app.add_middleware(
            TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False
        )
    for part in parts:
        part.install(app)
    # Every answer JSON, and an unexpected exception a JSON 500, inside the request id (next),
    # so that every answer carries it, a refused host's 400 and a 500 included.
    app.add_middleware(JsonErrors)
    app.add_middleware(RequestId)
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, handle_method_not_allowed)
    for router in ROUTERS:
        app.include_router(router)
    return app
