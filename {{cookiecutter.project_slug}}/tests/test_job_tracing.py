"""A job continues the trace of the request that enqueued it: its span is a child of the
request's, and its upstream call a child of its own."""

from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from {{ cookiecutter.package_name }}.jobs import Job, Jobs, JobsDep, JobState, JobStatus, JobUpstream
from {{ cookiecutter.package_name }}.tracing import Tracing

from .jobs import running_worker, wait_for
from .support import Serve


async def read_item(item_id: int, upstream: JobUpstream) -> object:
    """A job that calls the upstream."""
    return await upstream.get_json(f"items/{item_id}")


async def refuse() -> None:
    """A job that fails."""
    raise ValueError("refused")


def _enqueuing(app: FastAPI) -> FastAPI:
    """Give `app` a route that enqueues `read_item(1)`, or `refuse()` with `?fail=1`."""

    @app.post("/enqueue")
    async def enqueue(jobs: JobsDep, fail: bool = False) -> str:
        return await (jobs.enqueue(refuse) if fail else jobs.enqueue(read_item, 1))

    return app


async def _run_traced(
    app: FastAPI, serve: Serve, job: Job, path: str
) -> tuple[str, JobStatus, Sequence[ReadableSpan]]:
    """Serve `app`, with `job` registered and a worker running, POST `path` (which enqueues
    it) and wait for the job: its id, how it ended, and every span finished meanwhile."""
    async with serve(_enqueuing(app)) as client:
        exporter = InMemorySpanExporter()
        client.resources.get(Tracing).provider.add_span_processor(SimpleSpanProcessor(exporter))
        jobs = client.resources.get(Jobs)
        jobs.register(job)
        async with running_worker(jobs):
            job_id = (await client.post(path)).json()
            done = await wait_for(jobs, job_id)
    return job_id, done, exporter.get_finished_spans()


async def test_the_job_continues_the_trace_of_the_request_that_enqueued_it(
    app: FastAPI, serve: Serve
) -> None:
    job_id, done, finished = await _run_traced(app, serve, read_item, "/enqueue")
    assert done.state == JobState.SUCCEEDED, done.error
    (server,) = [span for span in finished if span.kind == SpanKind.SERVER]
    (job,) = [span for span in finished if span.kind == SpanKind.CONSUMER]
    (call,) = [span for span in finished if span.kind == SpanKind.CLIENT]
    assert job.name == "job read_item"
    assert job.attributes is not None
    assert job.attributes["messaging.message.id"] == job_id
    assert job.parent is not None
    assert call.parent is not None
    assert {server.context.trace_id, job.context.trace_id, call.context.trace_id} == {
        server.context.trace_id
    }
    assert job.parent.span_id == server.context.span_id
    assert call.parent.span_id == job.context.span_id


async def test_a_failed_job_s_span_says_so(app: FastAPI, serve: Serve) -> None:
    _, done, finished = await _run_traced(app, serve, refuse, "/enqueue?fail=1")
    assert done.state == JobState.FAILED
    (job,) = [span for span in finished if span.kind == SpanKind.CONSUMER]
    assert job.status.status_code == StatusCode.ERROR
    assert job.status.description == "ValueError"
