"""The queue and its workers, on a real Valkey server (tests/jobs.py), on the tests' loop.

The jobs here are the tests' own, registered on the app's queue by each test, so that these
tests hold whatever jobs the project has.
"""

import asyncio
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.jobs import (
    Jobs,
    JobsError,
    JobState,
    JobUpstream,
    TransientJobError,
)
from {{ cookiecutter.package_name }}.resources import Resources

from .jobs import running_worker, wait_for
from .support import AppFactory, LogLines, Serve, free_port, make_settings
from .upstream import Upstream

# What the tests' jobs did, by key: each test uses keys of its own.
runs: Counter[str] = Counter()
started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
keys = (f"key-{n}" for n in itertools.count())


async def count(key: str) -> int:
    """Count one run under `key`; the count so far."""
    runs[key] += 1
    return runs[key]


async def echo(value: Any) -> Any:
    """The value it was given, back as its result."""
    return value


async def fail_transiently(key: str, times: int) -> int:
    """Fail transiently `times` times under `key`, then succeed: its result is the runs."""
    made = await count(key)
    if made <= times:
        raise TransientJobError(f"run {made} of {key} failed")
    return made


async def fail_for_good(key: str) -> None:
    """Fail with an error that no retry can help."""
    await count(key)
    raise ValueError(f"{key} is not a thing this job can do")


async def sleep(key: str, seconds: float) -> str:
    """Sleep, counting the start and the end of each run."""
    await count(f"{key}:started")
    started[key].set()
    await asyncio.sleep(seconds)
    await count(f"{key}:ended")
    return key


async def read_item(item_id: int, upstream: JobUpstream) -> Any:
    """An upstream call through the worker's resources."""
    return await upstream.get_json(f"items/{item_id}")


TEST_JOBS = (count, echo, fail_transiently, fail_for_good, sleep, read_item)


def with_test_jobs(jobs: Jobs) -> Jobs:
    """The queue, with the tests' jobs registered on it."""
    for job in TEST_JOBS:
        jobs.register(job)
    return jobs


@pytest.fixture(name="queue")
def fixture_queue(jobs: Jobs) -> Jobs:
    """The queue of the app `client` talks to, with the tests' jobs."""
    return with_test_jobs(jobs)


@pytest.fixture(name="running")
async def fixture_running(queue: Jobs) -> AsyncIterator[Jobs]:
    """That queue, with a worker running it in this process."""
    async with running_worker(queue):
        yield queue


async def test_a_job_runs_in_the_worker_and_its_result_is_kept(running: Jobs) -> None:
    job_id = await running.enqueue(echo, {"some": ["json", 1, None]})
    done = await wait_for(running, job_id)
    assert done.state == JobState.SUCCEEDED
    assert done.result == {"some": ["json", 1, None]}
    assert done.job.endswith(":echo")
    assert done.error is None


async def test_a_job_reaches_the_upstream_through_the_resources(
    running: Jobs, upstream: Upstream, resources: Resources
) -> None:
    assert running is resources.get(Jobs)
    job_id = await running.enqueue(read_item, 1)
    done = await wait_for(running, job_id)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.result == {"id": 1, "name": "widget"}
    assert upstream.seen[-1] == "/items/1"


async def test_a_job_waits_queued_until_a_worker_runs_it(queue: Jobs) -> None:
    job_id = await queue.enqueue(echo, 1)
    await asyncio.sleep(0.2)
    found = await queue.status(job_id)
    assert found is not None
    assert found.state == JobState.QUEUED
    async with running_worker(queue):
        assert (await wait_for(queue, job_id)).result == 1


async def test_every_one_of_many_concurrent_jobs_runs_once(running: Jobs) -> None:
    names = [next(keys) for _ in range(50)]
    job_ids = await asyncio.gather(*(running.enqueue(count, name) for name in names))
    assert len(set(job_ids)) == 50
    done = await asyncio.gather(*(wait_for(running, job_id) for job_id in job_ids))
    assert {status.state for status in done} == {JobState.SUCCEEDED}
    assert [runs[name] for name in names] == [1] * 50


async def test_a_transient_fault_is_tried_again_until_the_job_succeeds(running: Jobs) -> None:
    key = next(keys)
    done = await wait_for(running, await running.enqueue(fail_transiently, key, 2))
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.result == 3
    assert runs[key] == 3


async def test_a_job_that_keeps_failing_transiently_is_recorded_failed_after_its_attempts(
    running: Jobs, log_lines: LogLines
) -> None:
    key = next(keys)
    job_id = await running.enqueue(fail_transiently, key, 100)
    done = await wait_for(running, job_id)
    assert done.state == JobState.FAILED
    assert done.error == f"TransientJobError: run 3 of {key} failed"
    assert runs[key] == running.settings.jobs_attempts == 3
    failed = [line for line in log_lines() if line["event"] == "job failed"]
    assert [line["job_id"] for line in failed] == [job_id]


async def test_a_job_that_fails_for_good_is_not_tried_again(running: Jobs) -> None:
    key = next(keys)
    done = await wait_for(running, await running.enqueue(fail_for_good, key))
    assert done.state == JobState.FAILED
    assert done.error == f"ValueError: {key} is not a thing this job can do"
    assert runs[key] == 1


async def test_a_job_past_its_timeout_is_stopped_and_recorded_failed(
    make_app: AppFactory, serve: Serve
) -> None:
    app = make_app(jobs_timeout=0.2, jobs_visibility_timeout=5.0)
    async with serve(app) as client:
        queue = with_test_jobs(client.resources.get(Jobs))
        key = next(keys)
        async with running_worker(queue):
            done = await wait_for(queue, await queue.enqueue(sleep, key, 30.0))
    assert done.state == JobState.FAILED
    assert done.error is not None
    assert done.error.startswith("TimeoutError")
    assert runs[f"{key}:started"] == 1
    assert runs[f"{key}:ended"] == 0


async def test_a_stopped_worker_finishes_its_running_job_and_takes_no_new_one(
    make_app: AppFactory, serve: Serve
) -> None:
    async with serve(make_app(jobs_concurrency=1)) as client:
        queue = with_test_jobs(client.resources.get(Jobs))
        key = next(keys)
        stop = asyncio.Event()
        working = asyncio.create_task(queue.work(stop))
        first = await queue.enqueue(sleep, f"{key}-first", 0.3)
        second = await queue.enqueue(sleep, f"{key}-second", 0.0)
        await asyncio.wait_for(started[f"{key}-first"].wait(), 10)
        stop.set()
        await working
        first_status = await queue.status(first)
        second_status = await queue.status(second)
    assert first_status is not None
    assert first_status.state == JobState.SUCCEEDED
    assert runs[f"{key}-first:ended"] == 1
    assert second_status is not None
    assert second_status.state == JobState.QUEUED
    assert runs[f"{key}-second:started"] == 0


async def test_a_job_given_up_by_a_dead_worker_is_delivered_again(
    make_app: AppFactory, serve: Serve, redis: Redis
) -> None:
    """A worker that read a job and died never acknowledges it: once the job has been pending
    for the visibility timeout, a live worker claims it and runs it."""
    app = make_app(jobs_timeout=0.1, jobs_visibility_timeout=0.5)
    async with serve(app) as client:
        queue = with_test_jobs(client.resources.get(Jobs))
        await queue.broker.startup()
        key = next(keys)
        job_id = await queue.enqueue(count, key)
        stream = queue.settings.jobs_queue
        # The dead worker: it read the job into its hands, and went away.
        await redis.xreadgroup(stream, "dead-worker", {stream: ">"}, count=1)
        assert (await redis.xpending(stream, stream))["pending"] == 1
        async with running_worker(queue):
            done = await wait_for(queue, job_id)
        pending = await redis.xpending(stream, stream)
    assert done.state == JobState.SUCCEEDED
    assert runs[key] == 1
    assert pending["pending"] == 0


async def test_a_job_read_as_the_worker_stopped_goes_back_at_once(
    queue: Jobs, redis: Redis
) -> None:
    """A read the stop cuts short can leave a job in the stopping worker's hands, unseen:
    the worker puts it back on the queue as it stops, so the next worker runs it at once,
    not after the visibility timeout, and the stopped worker leaves the group."""
    await queue.broker.startup()
    key = next(keys)
    job_id = await queue.enqueue(count, key)
    stream = queue.settings.jobs_queue
    # The read whose answer the stop lost: the job is in this worker's hands, unseen.
    await redis.xreadgroup(stream, queue.broker.consumer_name, {stream: ">"}, count=1)
    await queue.broker.give_back()
    assert (await redis.xpending(stream, stream))["pending"] == 0
    consumers = await redis.xinfo_consumers(stream, stream)
    assert queue.broker.consumer_name.encode() not in [c["name"] for c in consumers]
    async with asyncio.timeout(10), running_worker(queue):
        done = await wait_for(queue, job_id)
    assert done.state == JobState.SUCCEEDED
    assert runs[key] == 1
    # Done and acknowledged, the job's entry is gone from the stream.
    assert await redis.xlen(stream) == 0


async def test_an_unknown_job_has_no_status(queue: Jobs) -> None:
    assert await queue.status("0" * 32) is None


async def test_each_test_starts_with_an_empty_queue(queue: Jobs, redis: Redis) -> None:
    """Nothing an earlier test enqueued is left (tests/jobs.py empties the database); this
    one leaves a job behind for the next."""
    assert await redis.dbsize() == 0
    await queue.enqueue(echo, "left behind")
    assert await redis.dbsize() > 0


async def test_a_job_that_is_not_listed_cannot_be_enqueued(queue: Jobs) -> None:
    async def unlisted() -> None:
        pass

    with pytest.raises(LookupError, match="unlisted is not a job"):
        await queue.enqueue(unlisted)


async def test_a_queue_that_is_down_refuses_the_job_as_a_503(
    make_app: AppFactory, serve: Serve
) -> None:
    app = make_app(jobs_url=f"redis://127.0.0.1:{free_port()}/0", jobs_connect_timeout=1.0)
    async with serve(app) as client:
        queue = with_test_jobs(client.resources.get(Jobs))
        with pytest.raises(JobsError) as refused:
            await queue.enqueue(echo, 1)
        ready = await client.get("/ready")
    assert refused.value.status_code == 503
    assert refused.value.detail == "job queue unreachable"
    assert ready.status_code == 503
    assert ready.json()["checks"]["jobs"] == "unreachable"


async def test_ready_reports_the_queue(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["jobs"] == "ok"


def test_a_job_must_not_be_delivered_again_while_it_may_still_run(
    base_settings: dict[str, Any],
) -> None:
    """A visibility timeout no longer than the job's timeout is refused when the app is built."""
    settings = make_settings(**base_settings, jobs_timeout=60.0, jobs_visibility_timeout=60.0)
    with pytest.raises(ValueError, match="jobs_visibility_timeout must be longer"):
        create_app(settings)
