"""Prometheus series of the jobs, on the service's registry (metrics.py).

Jobs enqueued (where they are enqueued, the app), and started, ended by outcome and their
duration (where they run, a worker). The app serves them at `/metrics` with the rest; a
worker, which serves no HTTP of its own, serves its registry at `jobs_metrics_port` when one
is set. `JobMetrics` is the part of the service (see resources.py) that adds them.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from .config import Settings
from .jobs import Jobs
from .metrics import Metrics
from .resources import Resources


class JobMeasures(TaskiqMiddleware):
    """Counts each job as it is enqueued, starts and ends, and times its run."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.enqueued = Counter(
            "jobs_enqueued", "Jobs put on the queue, by job.", ["job"], registry=registry
        )
        self.started = Counter(
            "jobs_started", "Jobs a worker began to run, by job.", ["job"], registry=registry
        )
        self.ended = Counter(
            "jobs_ended",
            "Jobs that ended, by job and outcome (succeeded or failed).",
            ["job", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "job_duration_seconds",
            "Time a job ran, its retries included, by job and outcome.",
            ["job", "outcome"],
            registry=registry,
        )

    def post_send(self, message: TaskiqMessage) -> None:
        """The job is on the queue."""
        self.enqueued.labels(message.task_name).inc()

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        """A worker begins the job."""
        self.started.labels(message.task_name).inc()
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        """The job ended, one way or the other."""
        outcome = "failed" if result.is_err else "succeeded"
        self.ended.labels(message.task_name, outcome).inc()
        self.seconds.labels(message.task_name, outcome).observe(result.execution_time)


class JobMetrics:
    """The part that measures the jobs on the registry of the metrics part."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.in_an_app = False

    def install(self, app: FastAPI) -> None:
        """Nothing to add: the app's `/metrics` serves the jobs' series with the rest."""
        del app
        self.in_an_app = True

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Measure the queue's jobs; outside an app, serve the registry if a port is set."""
        registry = resources.get(Metrics).registry
        resources.get(Jobs).broker.add_middlewares(JobMeasures(registry))
        port = self.settings.jobs_metrics_port
        if self.in_an_app or port is None:
            yield
            return
        runner = web.AppRunner(_metrics_app(registry), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.settings.host, port).start()
            yield
        finally:
            await runner.cleanup()


def part(settings: Settings) -> JobMetrics:
    """This module's part of the service (parts.py)."""
    return JobMetrics(settings)


def _metrics_app(registry: CollectorRegistry) -> web.Application:
    async def serve(_request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", serve)
    return app
