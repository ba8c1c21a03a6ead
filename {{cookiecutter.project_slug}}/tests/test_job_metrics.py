"""The jobs' series: enqueued, started, ended by outcome and their duration, at the app's
/metrics, and at a worker's own port when it runs without an app."""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.jobs import Jobs, JobState
from {{ cookiecutter.package_name }}.parts import make_parts
from {{ cookiecutter.package_name }}.resources import open_resources

from .jobs import running_worker, wait_for
from .support import AppFactory, Serve, free_port, make_settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def succeed() -> str:
    """A job that succeeds."""
    return "done"


async def fail() -> None:
    """A job that fails for good."""
    raise ValueError("not this time")


def _parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _name(job: object) -> str:
    return f"{__name__}:{getattr(job, '__qualname__', '')}"


async def test_jobs_are_counted_where_they_are_enqueued_and_where_they_run(
    make_app: AppFactory, serve: Serve
) -> None:
    async with serve(make_app()) as client:
        jobs = client.resources.get(Jobs)
        jobs.register(succeed)
        jobs.register(fail)
        async with running_worker(jobs):
            done = [await wait_for(jobs, await jobs.enqueue(job)) for job in (succeed, fail)]
        response = await client.get("/metrics")
    assert [status.state for status in done] == [JobState.SUCCEEDED, JobState.FAILED]
    samples = _parse(response.text)
    for job, outcome in ((succeed, "succeeded"), (fail, "failed")):
        name = _name(job)
        assert samples[("jobs_enqueued_total", (("job", name),))] == 1
        assert samples[("jobs_started_total", (("job", name),))] == 1
        labels = (("job", name), ("outcome", outcome))
        assert samples[("jobs_ended_total", labels)] == 1
        assert samples[("job_duration_seconds_count", labels)] == 1


async def test_a_worker_without_an_app_serves_its_metrics_on_its_port(
    base_settings: dict[str, object],
) -> None:
    port = free_port()
    settings = make_settings(**base_settings, jobs_metrics_port=port)
    async with open_resources(settings, make_parts(settings)) as resources:
        jobs = resources.get(Jobs)
        jobs.register(succeed)
        async with running_worker(jobs):
            await wait_for(jobs, await jobs.enqueue(succeed))
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    samples = _parse(response.text)
    assert samples[("jobs_started_total", (("job", _name(succeed)),))] == 1
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/metrics")
