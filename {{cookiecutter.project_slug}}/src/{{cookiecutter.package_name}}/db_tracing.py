"""A client span for each database statement, on the app's tracer provider.

Listeners on this one engine, not a global instrumentation: each app traces its own pool.
The span has the statement's text (its parameters are sent apart and never recorded).
`StatementTracing` is the part of the service (see resources.py) that adds them, once the
database and the tracer are open.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from .config import Settings
from .db import Database
from .resources import Resources
from .tracing import Tracing

_SPAN = "tracing_span"  # where a connection keeps its statement's span (Connection.info)


class StatementTracing:
    """The part that traces the database's statements on the tracer provider."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def install(self, app: FastAPI) -> None:
        """Nothing to add to the app."""

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Trace every statement of the database opened before it."""
        trace_statements(resources.get(Database).engine, resources.get(Tracing).provider)
        yield


def part(settings: Settings) -> StatementTracing:
    """This module's part of the service (parts.py)."""
    return StatementTracing(settings)


def trace_statements(engine: AsyncEngine, provider: TracerProvider) -> None:
    """Trace every statement `engine` runs from now on."""
    tracer = provider.get_tracer(__name__)
    database = engine.url.database or ""

    def start(connection: Connection, _cursor: object, statement: str, *_args: object) -> None:
        operation = statement.split(maxsplit=1)[0].upper() if statement.strip() else "SQL"
        connection.info[_SPAN] = tracer.start_span(
            f"{operation} {database}".strip(),
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": "postgresql",
                "db.namespace": database,
                "db.operation.name": operation,
                "db.query.text": statement,
            },
        )

    def end(connection: Connection, *_args: object) -> None:
        span = connection.info.pop(_SPAN, None)
        if span is not None:
            span.end()

    def fail(context: ExceptionContext) -> None:
        if context.connection is None:
            return
        span = context.connection.info.pop(_SPAN, None)
        if span is not None:
            span.record_exception(context.original_exception)
            span.set_status(Status(StatusCode.ERROR, type(context.original_exception).__name__))
            span.end()

    event.listen(engine.sync_engine, "before_cursor_execute", start)
    event.listen(engine.sync_engine, "after_cursor_execute", end)
    event.listen(engine.sync_engine, "handle_error", fail)
