"""Background jobs: a queue on Valkey (or Redis), run by workers that own the same resources.

`JobsPart` is the part of the service (see resources.py) that holds the queue open. The app
only enqueues (`JobsDep`); a worker (`python -m {{ cookiecutter.package_name }}.worker`) opens the same
resources as the app and runs the jobs from the queue with them.

- A job is an `async def` function listed in tasks/__init__.py. It reaches the resources
  through typed dependencies (`JobUpstream`, `JobResources`), never through globals.
- Delivery is at least once. A job is acknowledged after it ran and its result was saved; a
  job whose worker died (killed, out of memory) is delivered again to another worker once it
  has been pending for `jobs_visibility_timeout` seconds, which is longer than a job may run
  (`jobs_timeout`). So a job may run twice: make it idempotent (see the README).
- Transient faults (`TransientJobError`, an upstream's 502 or 504, a database that is busy,
  unreachable or changed meanwhile) are tried again with backoff, up to `jobs_attempts` in
  all, within the job's timeout; then the job is recorded as failed, never dropped.
- A worker stopped with SIGTERM takes no new job, lets the running ones finish for up to
  `jobs_drain_timeout` seconds, and leaves any still running to be delivered again. A job it
  read as it stopped but never began goes back on the queue at once.
- A job's entry is deleted from the stream once acknowledged: the stream holds only jobs
  still to do.
"""

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Annotated, Any, cast

import stamina
import structlog
from fastapi import Depends, FastAPI, status
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import (
    AckableMessage,
    BrokerMessage,
    TaskiqDepends,
    TaskiqMessage,
    TaskiqMiddleware,
    TaskiqResult,
)
from taskiq.acks import AcknowledgeType
from taskiq.exceptions import SendTaskError
from taskiq.receiver import Receiver
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from .config import Settings
from .dependencies import ResourcesDep
from .errors import ErrorBody, ServiceError
from .request_id import carry_request_id, current_request_id
from .resources import Resources
from .upstream import UpstreamClient

log = structlog.get_logger(__name__)

# How long /ready waits for the queue's server to answer PING.
READY_TIMEOUT_SECONDS = 2.0
# How long a worker's read waits for a new job before it looks for abandoned ones again.
READ_BLOCK_SECONDS = 1.0
# The statuses a route that enqueues can answer besides its own: the queue is down.
JOBS_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorBody},
}
# What the queue's client raises when its server cannot be reached or answer, and what
# taskiq raises for those when it sends a job.
QUEUE_FAULTS = (RedisError, OSError)
SEND_FAULTS = (SendTaskError, *QUEUE_FAULTS)
# Faults of a job's resources that are worth another attempt (see ServiceError's statuses).
_TRANSIENT_STATUSES = frozenset({409, 502, 503, 504})

Job = Callable[..., Awaitable[Any]]
# What XREADGROUP and XAUTOCLAIM hand back: entries, each an id and its fields.
Entries = list[tuple[bytes, dict[bytes, bytes] | None]]


class TransientJobError(Exception):
    """Raise it from a job for a fault that may pass: the job is tried again, with backoff."""


class JobsError(ServiceError):
    """The queue cannot take a job: a JSON 503."""


class JobState(StrEnum):
    """Where a job is: waiting in the queue, running, or done one way or the other."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobStatus(BaseModel):
    """A job's state; its result once it succeeded, or why it failed."""

    id: str
    job: str
    state: JobState
    result: Any = None
    error: str | None = None


def is_transient(exc: Exception) -> bool:
    """Whether a job's fault is worth another attempt."""
    if isinstance(exc, TransientJobError):
        return True
    return isinstance(exc, ServiceError) and exc.status_code in _TRANSIENT_STATUSES


class JobStream(RedisStreamBroker):
    """taskiq's stream broker, reading one job at a time and reclaiming abandoned ones.

    A job is read only when the worker has a free slot for it, so none waits in a worker's
    hands long enough to look abandoned. Jobs delivered to a worker that died are claimed
    again every `reclaim_every` seconds, whether or not new jobs arrive.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings.jobs_url.get_secret_value(),
            queue_name=settings.jobs_queue,
            consumer_group_name=settings.jobs_queue,
            # A group made after jobs were enqueued starts from the first of them.
            consumer_id="0",
            xread_block=round(READ_BLOCK_SECONDS * 1000),
            xread_count=1,
            idle_timeout=round(settings.jobs_visibility_timeout * 1000),
            max_connection_pool_size=settings.jobs_concurrency + 10,
            socket_connect_timeout=settings.jobs_connect_timeout,
            socket_timeout=settings.jobs_connect_timeout + READ_BLOCK_SECONDS,
        )
        self.reclaim_every = min(settings.jobs_visibility_timeout / 4, 30.0)
        self.result_ttl = settings.jobs_result_ttl
        # One client for every command (each takes a connection from the pool): a client
        # made per command costs more than the command's round trip.
        self.redis = Redis(connection_pool=self.connection_pool)
        # The entries this worker handed to its jobs and has not acknowledged yet.
        self._held: set[bytes] = set()

    def key(self, name: str, job_id: str) -> str:
        """Where this queue keeps something of one job."""
        return f"{self.queue_name}:{name}:{job_id}"

    async def kick(self, message: BrokerMessage) -> None:
        """Record the job as queued and put it on the stream, in one round trip."""
        key = self.key("state", message.task_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, items=["state", JobState.QUEUED.value, "job", message.task_name])
        pipe.expire(key, self.result_ttl)
        pipe.xadd(self.queue_name, {b"data": message.message})
        await pipe.execute()

    async def set_state(self, job_id: str, state: JobState, error: str = "") -> None:
        """Record where the job is, in one round trip."""
        key = self.key("state", job_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, items=["state", state.value, "error", error])
        pipe.expire(key, self.result_ttl)
        await pipe.execute()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Jobs given up by a dead worker first, then new ones, one at a time."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            next_reclaim = 0.0
            while True:
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + self.reclaim_every
                    while claimed := await self._claim_one(redis):
                        yield claimed
                fetched = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=1,
                )
                for _, entries in cast(list[tuple[bytes, Entries]], fetched or []):
                    for entry_id, fields in entries:
                        if fields:
                            yield self._message(entry_id, fields)

    async def _claim_one(self, redis: Redis) -> AckableMessage | None:
        claimed = await redis.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            count=1,
        )
        for entry_id, fields in cast(Entries, claimed[1]):
            if fields:  # None for an entry deleted meanwhile
                log.warning("job delivered again: its worker gave it up", entry=entry_id)
                return self._message(entry_id, fields)
        return None

    def _message(self, entry_id: bytes, fields: dict[bytes, bytes]) -> AckableMessage:
        self._held.add(entry_id)

        async def ack() -> None:
            # Acknowledged and deleted at once: the stream holds only jobs still to do.
            pipe = self.redis.pipeline(transaction=True)
            pipe.xack(self.queue_name, self.consumer_group_name, entry_id)
            pipe.xdel(self.queue_name, entry_id)
            await pipe.execute()
            self._held.discard(entry_id)

        return AckableMessage(data=fields[b"data"], ack=ack)

    async def give_back(self) -> None:
        """Once this worker has stopped: put back on the queue, at once, each job it read but
        never began (a read the stop cut short, whose answer was lost), and leave the group
        if it holds nothing else. A job still running past the drain stays held, for another
        worker to claim after the visibility timeout."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            pending = await redis.xpending_range(
                self.queue_name,
                self.consumer_group_name,
                min="-",
                max="+",
                count=10_000,
                consumername=self.consumer_name,
            )
            entry_ids = [entry["message_id"] for entry in pending]
            for entry_id in (found for found in entry_ids if found not in self._held):
                for _, fields in cast(
                    Entries, await redis.xrange(self.queue_name, entry_id, entry_id)
                ):
                    pipe = redis.pipeline(transaction=True)
                    if fields:
                        pipe.xadd(self.queue_name, {b"data": fields[b"data"]})
                    pipe.xack(self.queue_name, self.consumer_group_name, entry_id)
                    pipe.xdel(self.queue_name, entry_id)
                    await pipe.execute()
                log.info("a job read as the worker stopped was put back on the queue")
            if not self._held:
                await redis.xgroup_delconsumer(
                    self.queue_name, self.consumer_group_name, self.consumer_name
                )


class JobTracking(TaskiqMiddleware):
    """Keeps each job's state, binds its request id to its log lines, and logs its end."""

    def __init__(self, broker: JobStream) -> None:
        super().__init__()
        self.stream = broker

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        """The job starts: bind its ids to the log lines of its run, record it as running."""
        carry_request_id(message.labels.get("request_id") or None)
        structlog.contextvars.bind_contextvars(job_id=message.task_id, job=message.task_name)
        log.info("job started")
        await self.stream.set_state(message.task_id, JobState.RUNNING)
        return message

    async def post_save(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        """The job's result is saved: log how it ended, then record it (in that order, so
        that whoever sees the job ended finds its line in the log)."""
        if result.is_err:
            error = _describe(result.error)
            log.error("job failed", error=error, seconds=result.execution_time)
            await self.stream.set_state(message.task_id, JobState.FAILED, error)
        else:
            log.info("job succeeded", seconds=result.execution_time)
            await self.stream.set_state(message.task_id, JobState.SUCCEEDED)


class Jobs:
    """The queue as the app and the workers use it: enqueue a job, read its status, run jobs."""

    def __init__(self, settings: Settings, resources: Resources) -> None:
        self.settings = settings
        self.broker = JobStream(settings)
        self.broker.with_result_backend(
            RedisAsyncResultBackend(
                settings.jobs_url.get_secret_value(),
                result_ex_time=settings.jobs_result_ttl,
                prefix_str=f"{settings.jobs_queue}:result",
                socket_connect_timeout=settings.jobs_connect_timeout,
                socket_timeout=settings.jobs_connect_timeout,
            )
        )
        self.broker.add_middlewares(JobTracking(self.broker))
        self.broker.add_dependency_context({Resources: resources})
        self._names: dict[Job, str] = {}

    def register(self, job: Job) -> None:
        """Make `job` one this queue can run: retried on transient faults, within the timeout."""
        name = f"{job.__module__}:{job.__qualname__}"
        retried = stamina.retry(
            on=is_transient,
            attempts=self.settings.jobs_attempts,
            wait_initial=self.settings.jobs_retry_wait,
            timeout=None,
        )(job)
        self.broker.register_task(retried, task_name=name, timeout=self.settings.jobs_timeout)
        self._names[job] = name

    async def enqueue(self, job: Job, *args: object, **kwargs: object) -> str:
        """Put `job(*args, **kwargs)` on the queue, its dependencies left out; its id. The
        request id goes with it. A queue that cannot take it is a JobsError (503)."""
        name = self._names.get(job)
        task = None if name is None else self.broker.find_task(name)
        if task is None:
            raise LookupError(f"{job.__qualname__} is not a job: list it in tasks/__init__.py")
        job_id = self.broker.id_generator()
        try:
            await (
                task.kicker()
                .with_task_id(job_id)
                .with_labels(request_id=current_request_id() or "")
                .kiq(*args, **kwargs)
            )
        except SEND_FAULTS as exc:
            log.warning("the job queue cannot take a job", error=_describe(exc.__cause__ or exc))
            raise JobsError(503, "job queue unreachable") from exc
        return job_id

    async def status(self, job_id: str) -> JobStatus | None:
        """The job's status, or None for a job this queue does not know (or has forgotten)."""
        try:
            key = self.broker.key("state", job_id)
            fields = cast(dict[bytes, bytes], await self.broker.redis.hgetall(key))
            if not fields:
                return None
            found = JobStatus(
                id=job_id, job=fields[b"job"].decode(), state=JobState(fields[b"state"].decode())
            )
            if found.state == JobState.SUCCEEDED:
                found.result = (await self.broker.result_backend.get_result(job_id)).return_value
            elif found.state == JobState.FAILED:
                found.error = fields[b"error"].decode()
        except QUEUE_FAULTS as exc:
            raise JobsError(503, "job queue unreachable") from exc
        return found

    async def problem(self) -> str | None:
        """Why the queue cannot take jobs now, or None when its server answers PING in time."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await self.broker.redis.ping()
        except TimeoutError:
            return "timed out"
        except QUEUE_FAULTS:
            return "unreachable"
        return None

    async def work(self, stop: asyncio.Event) -> None:
        """Run jobs from the queue, `jobs_concurrency` at a time, until `stop` is set; then
        take no new one and let the running ones finish for up to `jobs_drain_timeout`."""
        self.broker.is_worker_process = True
        # taskiq's own line for each job says what "job started" says.
        logging.getLogger("taskiq.receiver.receiver").setLevel(logging.WARNING)
        await self.broker.startup()
        receiver = Receiver(
            self.broker,
            max_async_tasks=self.settings.jobs_concurrency,
            ack_type=AcknowledgeType.WHEN_SAVED,
            wait_tasks_timeout=self.settings.jobs_drain_timeout,
            run_startup=False,
        )
        log.info(
            "worker started",
            queue=self.settings.jobs_queue,
            concurrency=self.settings.jobs_concurrency,
        )
        await receiver.listen(stop)
        try:
            await self.broker.give_back()
        except QUEUE_FAULTS as exc:
            log.warning("jobs read as the worker stopped wait to be claimed", error=_describe(exc))
        log.info("worker stopped")


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class JobsPart:
    """The part that holds the queue open (see resources.py)."""

    def __init__(self, settings: Settings) -> None:
        if settings.jobs_visibility_timeout <= settings.jobs_timeout:
            raise ValueError(
                "jobs_visibility_timeout must be longer than jobs_timeout, or a job still"
                " running would be delivered to another worker"
            )
        self.settings = settings

    def install(self, app: FastAPI) -> None:
        """Nothing to add to the app: handlers take the queue as `JobsDep`."""

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Make the queue's client (it connects on first use), register the jobs, add the
        queue and its check for /ready; close its connections at the end."""
        from .tasks import JOBS  # noqa: PLC0415 - the jobs import the service's modules

        jobs = Jobs(self.settings, resources)
        for job in JOBS:
            jobs.register(job)
        resources.add(jobs)
        resources.checks["jobs"] = jobs.problem
        try:
            yield
        finally:
            await jobs.broker.shutdown()


def part(settings: Settings) -> JobsPart:
    """This module's part of the service (parts.py)."""
    return JobsPart(settings)


async def get_jobs(resources: ResourcesDep) -> Jobs:
    """The queue the resources opened."""
    return resources.get(Jobs)


JobsDep = Annotated[Jobs, Depends(get_jobs)]


# What a job takes as a parameter to reach the resources of the worker that runs it.
JobResources = Annotated[Resources, TaskiqDepends()]


async def get_job_upstream(resources: JobResources) -> UpstreamClient:
    """The upstream client of the resources the job runs with."""
    return resources.get(UpstreamClient)


JobUpstream = Annotated[UpstreamClient, TaskiqDepends(get_job_upstream)]
