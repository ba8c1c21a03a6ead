"""Part 8's measurements inside a jobs=yes project: fill queues, time a worker emptying one,
time jobs from enqueue to result. Each command prints one JSON object on stdout.

    python -m bench.project.job_driver fill COUNT TARGET...
    python -m bench.project.job_driver drain TARGET COUNT SERVER_PID
    python -m bench.project.job_driver latency JOB:IN_FLIGHT:COUNT...

A TARGET is a job on the template's queue, "noop" or "fetch_item" (job_kinds.py), each on a
stream of its own (`queue_of`), enqueued through `Jobs.enqueue` as the service's routes do;
or taskiq's own broker (bare_jobs.py), "bare" or "stored", enqueued through `kiq`. The server
is the one the service's settings name (`MY_SERVICE_JOBS_URL`).

- `fill` enqueues COUNT jobs on each target's stream while no worker reads it.
- `drain` watches a target's consumer group while a worker empties its stream: a job is done
  once delivered and acknowledged (both workers acknowledge a job after it ran and its result,
  if any, was saved). Once it watches, it prints "watching" and reads the pid of the worker
  (started only then) from stdin. It times the worker from the moment a tenth of the jobs are
  done (its start and first jobs left out) to the last one, and reads from /proc the CPU time
  the worker and the server SERVER_PID used meanwhile, with the processes under each.
- `latency` keeps IN_FLIGHT jobs in flight through `Jobs.enqueue` on the queue the settings
  name, a worker running, until COUNT are done, and times each from just before its enqueue
  until its state reads succeeded. The state is read when the server says the job's state
  hash changed (keyspace notifications), not polled. A few no-op jobs first, untimed, wait
  for the worker to start; of each run, the first tenth are left out.
"""

import argparse
import asyncio
import bisect
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from my_service.config import Settings
from my_service.jobs import Jobs, JobState
from my_service.logs import configure_logging
from my_service.parts import make_parts
from my_service.resources import open_resources
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ResponseError

from bench.project.bare_jobs import NOOP_TASK, bare_broker, stored_broker
from bench.project.job_kinds import KINDS, list_noop

TARGETS = (*KINDS, "bare", "stored")
FILL_IN_FLIGHT = 20  # enqueues at once while filling a queue
POLL_SECONDS = 0.005
DEADLINE_SECONDS = 300.0
WARM_UP_JOBS = 5
WATCHING = "watching"  # what `drain` prints once it watches, before the worker may start
_ENDED = frozenset({JobState.SUCCEEDED.value.encode(), JobState.FAILED.value.encode()})


def queue_of(job: str) -> str:
    """The template's stream for `job`'s runs, one a job so that each worker run has its own."""
    return f"bench-{job}"


async def _closed_loop(action: Callable[[], Awaitable[object]], count: int, at_once: int) -> None:
    """Run `action` `count` times, `at_once` at a time, each starting as one ends."""
    left = count

    async def lane() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await action()

    await asyncio.gather(*(lane() for _ in range(at_once)))


async def _fill_template(job_name: str, count: int) -> None:
    settings = Settings(jobs_queue=queue_of(job_name))
    job, args = KINDS[job_name]
    async with open_resources(settings, make_parts(settings)) as resources:
        jobs = resources.get(Jobs)
        await _closed_loop(lambda: jobs.enqueue(job, *args), count, FILL_IN_FLIGHT)


async def _fill_bare(target: str, count: int) -> None:
    broker = bare_broker() if target == "bare" else stored_broker()
    await broker.startup()  # makes the stream and its consumer group, as a client's does
    task = broker.find_task(NOOP_TASK)
    if task is None:
        raise LookupError(NOOP_TASK)
    try:
        await _closed_loop(task.kiq, count, FILL_IN_FLIGHT)
    finally:
        await broker.shutdown()


async def _fill(count: int, targets: list[str]) -> dict[str, float]:
    seconds = {}
    for target in targets:
        start = time.perf_counter()
        if target in KINDS:
            await _fill_template(target, count)
        else:
            await _fill_bare(target, count)
        seconds[target] = time.perf_counter() - start
    return seconds


def _stream(target: str) -> tuple[str, str]:
    """The stream a target's worker reads, and its consumer group."""
    if target in KINDS:
        return queue_of(target), queue_of(target)  # JobStream names its group after its stream
    broker = bare_broker() if target == "bare" else stored_broker()
    return broker.queue_name, broker.consumer_group_name


def _tree(pid: int) -> list[int]:
    """`pid` and every process under it."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            todo += [int(child) for child in children.read_text().split()]
    return found


def _cpu(pid: int) -> float:
    """The user and system seconds `pid` and the processes under it have used."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in _tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


EntryId = tuple[int, int]


def _entry_id(text: bytes | str) -> EntryId:
    milliseconds, _, sequence = (text.decode() if isinstance(text, bytes) else text).partition("-")
    return int(milliseconds), int(sequence or 0)


async def _group(redis: "Redis", queue: str, group: str) -> tuple[EntryId, int] | None:
    """The group's last delivered entry and its count of pending ones (delivered, not yet
    acknowledged); None before the group exists."""
    try:
        groups = await redis.xinfo_groups(queue)
    except ResponseError:  # no stream yet
        return None
    for found in groups:
        name = found["name"]
        if (name.decode() if isinstance(name, bytes) else name) == group:
            return _entry_id(found["last-delivered-id"]), int(found["pending"])
    return None


class _Progress:
    """How many of the jobs put on a stream since its group's last delivery are done, that is
    delivered and acknowledged. Counted from the entries' ids: the group's lag cannot be told
    once acknowledged entries are deleted from the stream."""

    def __init__(self, redis: "Redis", queue: str, group: str) -> None:
        self.redis, self.queue, self.group = redis, queue, group
        self.entries: list[EntryId] = []

    async def start(self) -> int:
        """Note the jobs waiting for the group, none of them delivered yet; their number."""
        found = await _group(self.redis, self.queue, self.group)
        after = "-" if found is None else f"({found[0][0]}-{found[0][1]}"  # exclusive
        waiting = await self.redis.xrange(self.queue, min=after, max="+")
        self.entries = [_entry_id(cast(bytes, entry_id)) for entry_id, _ in waiting or []]
        return len(self.entries)

    async def done(self) -> int:
        """How many of the jobs `start` noted are done."""
        found = await _group(self.redis, self.queue, self.group)
        if found is None:
            return 0
        delivered, pending = bisect.bisect_right(self.entries, found[0]), found[1]
        return delivered - pending


async def _drain(target: str, count: int, server_pid: int) -> dict[str, Any]:
    queue, group = _stream(target)
    first = max(1, count // 10)
    start: tuple[int, float, list[float]] | None = None
    async with Redis.from_url(Settings().jobs_url.get_secret_value()) as redis:
        progress = _Progress(redis, queue, group)
        if await progress.start() != count:
            raise RuntimeError(f"{queue}: not the {count} jobs filled, or read before watched")
        print(WATCHING, flush=True)  # noqa: T201 - the worker starts now, its pid comes back
        pids = [int(await asyncio.to_thread(sys.stdin.readline)), server_pid]
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            done = await progress.done()
            if start is None and done >= first:
                start = (done, time.perf_counter(), [_cpu(pid) for pid in pids])
            if start is not None and done >= count:
                seconds = time.perf_counter() - start[1]
                jobs = done - start[0]
                if not jobs:
                    raise RuntimeError(f"{queue}: too few jobs to time ({count})")
                cpu_us = [
                    (_cpu(pid) - before) / jobs * 1e6
                    for pid, before in zip(pids, start[2], strict=True)
                ]
                return {"jobs": jobs, "seconds": seconds, "rate": jobs / seconds, "cpu_us": cpu_us}
            await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"{target}: the queue was not emptied in {DEADLINE_SECONDS:g} s")


class _Ends:
    """When each job's state first read succeeded or failed, after the server told of a
    change to its state hash."""

    def __init__(self, redis: "Redis", prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix  # of a job's state key, before its id
        self.ended: dict[str, float] = {}  # jobs that ended before their enqueue returned
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self._reads: set[asyncio.Task[None]] = set()

    async def follow(self, pubsub: PubSub) -> None:
        """Read the state of each job whose state hash changed, as the changes come."""
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                key = cast(bytes, message["channel"]).decode().partition(":")[2]
                read = asyncio.create_task(self._read(key))
                self._reads.add(read)
                read.add_done_callback(self._reads.discard)

    async def _read(self, key: str) -> None:
        if await self.redis.hget(key, "state") not in _ENDED:
            return
        now = time.perf_counter()
        job_id = key.removeprefix(self.prefix)
        waiter = self.waiting.pop(job_id, None)
        if waiter is None:
            self.ended.setdefault(job_id, now)
        elif not waiter.done():
            waiter.set_result(now)

    async def end_of(self, job_id: str) -> float:
        """When the job ended (`time.perf_counter`)."""
        if job_id in self.ended:
            return self.ended.pop(job_id)
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[job_id] = waiter
        async with asyncio.timeout(DEADLINE_SECONDS):
            return await waiter


async def _timed(
    jobs: Jobs, ends: _Ends, job_name: str, in_flight: int, count: int
) -> dict[str, float]:
    job, args = KINDS[job_name]
    seconds: list[float] = []

    async def one() -> None:
        start = time.perf_counter()
        job_id = await jobs.enqueue(job, *args)
        seconds.append(await ends.end_of(job_id) - start)

    started = time.perf_counter()
    await _closed_loop(one, count, in_flight)
    wall = time.perf_counter() - started
    kept = sorted(seconds[len(seconds) // 10 :])
    return {
        "p50_ms": statistics.median(kept) * 1000,
        "p99_ms": kept[min(len(kept) - 1, int(len(kept) * 0.99))] * 1000,
        "rate": count / wall,
        "jobs": len(kept),
    }


async def _latency(specs: list[tuple[str, int, int]]) -> dict[str, Any]:
    settings = Settings()
    url = settings.jobs_url.get_secret_value()
    figures = {}
    async with (
        open_resources(settings, make_parts(settings)) as resources,
        # A pool that waits for a free connection: the state reads come in bursts, more at
        # once than a plain pool's hundred connections when 50 jobs end together.
        Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=20)) as redis,
        redis.pubsub() as pubsub,
    ):
        jobs = resources.get(Jobs)
        await redis.config_set("notify-keyspace-events", "Kh")  # hash commands, by key
        database = redis.connection_pool.connection_kwargs.get("db", 0)
        ends = _Ends(redis, jobs.broker.key("state", ""))
        await pubsub.psubscribe(f"__keyspace@{database}__:{jobs.broker.key('state', '*')}")
        follower = asyncio.create_task(ends.follow(pubsub))
        try:
            await _timed(jobs, ends, "noop", 1, WARM_UP_JOBS)  # the worker is up, untimed
            for job_name, in_flight, count in specs:
                figures[f"{job_name}:{in_flight}"] = await _timed(
                    jobs, ends, job_name, in_flight, count
                )
        finally:
            follower.cancel()
    return figures


def _spec(text: str) -> tuple[str, int, int]:
    job, in_flight, count = text.split(":")
    if job not in KINDS:
        raise argparse.ArgumentTypeError(f"no job {job!r}: one of {', '.join(KINDS)}")
    return job, int(in_flight), int(count)


def main() -> None:
    """Parse the command and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.project.job_driver")
    commands = parser.add_subparsers(dest="command", required=True)
    fill = commands.add_parser("fill")
    fill.add_argument("count", type=int)
    fill.add_argument("targets", choices=TARGETS, nargs="+")
    drain = commands.add_parser("drain")
    drain.add_argument("target", choices=TARGETS)
    drain.add_argument("count", type=int)
    drain.add_argument("server_pid", type=int)
    latency = commands.add_parser("latency")
    latency.add_argument("specs", type=_spec, nargs="+")
    args = parser.parse_args()
    configure_logging("WARNING", "json")  # stderr: stdout is for the figures
    list_noop()
    figures: object
    if args.command == "fill":
        figures = asyncio.run(_fill(args.count, args.targets))
    elif args.command == "drain":
        figures = asyncio.run(_drain(args.target, args.count, args.server_pid))
    else:
        figures = asyncio.run(_latency(args.specs))
    print(json.dumps(figures), flush=True)  # noqa: T201 - the figures are the output


if __name__ == "__main__":
    main()
