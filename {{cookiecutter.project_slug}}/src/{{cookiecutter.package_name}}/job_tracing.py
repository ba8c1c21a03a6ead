"""The trace of the request that enqueued a job, carried into the worker that runs it.

Enqueuing puts the current trace context (W3C `traceparent`) in the job's labels; the worker
runs the job inside a consumer span that continues that trace, so what the job calls (the
upstream, the database) is traced as its children. `JobTracing` is the part of the service
(see resources.py) that adds this, once the queue and the tracer are open.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry import context, propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from .config import Settings
from .jobs import Jobs
from .resources import Resources
from .tracing import Tracing

# The labels that carry the trace context (W3C Trace Context's headers).
_CARRIED = ("traceparent", "tracestate")


class TraceJobs(TaskiqMiddleware):
    """Sends the trace context with each job, and runs each job in a span that continues it."""

    def __init__(self, provider: TracerProvider) -> None:
        super().__init__()
        self.tracer = provider.get_tracer(__name__)
        # The span and the context token of each job running here, by the job's id.
        self._running: dict[str, tuple[Span, object]] = {}

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        """Put the current trace context in the job's labels."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        message.labels.update({key: carrier[key] for key in _CARRIED if key in carrier})
        return message

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        """Start the job's span, a child of the context it was sent with, and make it current."""
        carrier = {key: str(message.labels[key]) for key in _CARRIED if key in message.labels}
        span = self.tracer.start_span(
            f"job {message.task_name.rpartition(':')[2]}",
            context=propagate.extract(carrier),
            kind=SpanKind.CONSUMER,
            attributes={"messaging.message.id": message.task_id, "job.name": message.task_name},
        )
        token = context.attach(set_span_in_context(span))
        self._running[message.task_id] = (span, token)
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        """End the job's span, with the error if it failed."""
        span, token = self._running.pop(message.task_id, (None, None))
        if span is None:
            return
        if result.is_err and isinstance(result.error, BaseException):
            span.record_exception(result.error)
            span.set_status(Status(StatusCode.ERROR, type(result.error).__name__))
        span.end()
        context.detach(token)  # type: ignore[arg-type]


class JobTracing:
    """The part that traces the jobs on the tracer provider."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def install(self, app: FastAPI) -> None:
        """Nothing to add to the app."""

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Trace the jobs of the queue opened before it."""
        provider = resources.get(Tracing).provider
        resources.get(Jobs).broker.add_middlewares(TraceJobs(provider))
        yield


def part(settings: Settings) -> JobTracing:
    """This module's part of the service (parts.py)."""
    return JobTracing(settings)
