"""The generated service under upstream faults, load and SIGTERM: real processes on 127.0.0.1.

The upstream is tests/fault_upstream.py in its own process; the service is the rendered
project under real uvicorn; the load comes from tests/load.py (slow tier).
"""

import asyncio
import collections
import re
import signal
import time
from pathlib import Path

import pytest

from ..fault_upstream import MODES
from ..helpers import FaultUpstream, Service, free_port, python_in
from ..load import Outcome, run_load

pytestmark = pytest.mark.slow

PACKAGE = "my_service"
PREFIX = "MY_SERVICE_"
# The service's upstream timeout here. Each fault that must give a 504 holds its answer back
# far longer (fault_upstream.py: "hang" forever, "slow-body" for 50 s) and each healthy answer
# takes milliseconds, so however busy the machine, no request crosses from one side to the
# other: the timeout only has to sit far from both.
UPSTREAM_TIMEOUT = 2.0
CONCURRENCY = 50
# One pooled connection for every request in flight. aiohttp's total timeout also runs while a
# request waits for a pooled connection, so with fewer, a healthy request queued behind hanging
# ones could time out. The pool's limit has a test of its own, with healthy requests only.
MAX_CONNECTIONS = CONCURRENCY
SMALL_POOL = 5
# What the service must answer for each upstream behaviour.
EXPECTED = {
    "ok": (200, None),
    "status-500": (502, "upstream answered 500"),
    "not-json": (502, "upstream sent invalid JSON"),
    "cut-short": (502, "upstream connection failed"),
    "too-large": (502, "upstream response too large"),
    "too-large-chunked": (502, "upstream response too large"),
    "slow-body": (504, "upstream timed out"),
    "hang": (504, "upstream timed out"),
}
# The service logs JSON lines (its stderr is no terminal); uvicorn's supervisor, text.
NEVER_IN_THE_LOG = (
    "Traceback",
    "Exception",
    "ERROR",
    '"level": "error"',
    '"level": "critical"',
    "Unclosed",
    "ResourceWarning",
    " 500 ",
    '\\" 500"',
)


def _expected(target: str) -> tuple[int, object]:
    number = int(target.rsplit("/", 1)[1])
    status, detail = EXPECTED[MODES[number % 10]]
    body = {"id": number, "name": f"item {number}"} if status == 200 else {"detail": detail}
    return status, body


def _assert_clean_log(service: Service, *, supervisor_port: int | None = None) -> None:
    output = service.output
    if supervisor_port is not None:
        # uvicorn's --workers supervisor binds the listening socket and never closes it
        # (uvicorn/main.py, Multiprocess(config, sockets=[sock]).run()): that one warning is
        # uvicorn's own, at the parent's exit, and is taken out by its exact address.
        leak = re.compile(
            r"sys:1: ResourceWarning: unclosed <socket\.socket fd=\d+, family=2, type=1, "
            rf"proto=0, laddr=\('127\.0\.0\.1', {supervisor_port}\)>\n"
            r"ResourceWarning: Enable tracemalloc to get the object allocation traceback\n"
        )
        output, found = leak.subn("", output)
        assert found == 1, service.output
    for bad in NEVER_IN_THE_LOG:
        assert bad not in output, service.output


def _start(
    project: Path,
    upstream_url: str,
    *uvicorn_args: str,
    timeout: float = UPSTREAM_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> tuple[Service, int]:
    port = free_port()
    command = [
        str(python_in(project / ".venv").parent / "uvicorn"),
        f"{PACKAGE}.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *uvicorn_args,
    ]
    service = Service(
        command,
        project,
        PYTHONWARNINGS="always::ResourceWarning",
        **{
            f"{PREFIX}UPSTREAM_BASE_URL": upstream_url,
            f"{PREFIX}UPSTREAM_TIMEOUT": str(timeout),
            # Room for one retry to start, not to finish: a fault that times out is answered
            # at the deadline, a little after the second attempt began.
            f"{PREFIX}UPSTREAM_DEADLINE": str(timeout * 1.5),
            f"{PREFIX}UPSTREAM_MAX_BODY_BYTES": "65536",
            f"{PREFIX}UPSTREAM_MAX_CONNECTIONS": str(max_connections),
        },
    )
    service.wait_until_up(f"http://127.0.0.1:{port}/health")
    return service, port


def _assert_answers(outcomes: list[Outcome]) -> collections.Counter[int | None]:
    """Every answered request got exactly its expected status and JSON body."""
    for outcome in outcomes:
        assert not outcome.partial, outcome
        if outcome.status is not None:
            assert (outcome.status, outcome.json()) == _expected(outcome.target), outcome
    return collections.Counter(outcome.status for outcome in outcomes)


def test_each_fault_gets_its_status(project: Path, upstream: FaultUpstream) -> None:
    """One request per upstream behaviour: each is answered with its status and JSON detail."""
    service, port = _start(project, upstream.url)
    try:
        targets = [f"/items/{number}" for number in range(10, 20)]
        outcomes = asyncio.run(run_load(port, targets, concurrency=1, deadline_seconds=300))
    finally:
        service.stop()
    assert len(outcomes) == 10
    assert all(outcome.status is not None for outcome in outcomes)
    _assert_answers(outcomes)
    _assert_clean_log(service)


def test_refused_upstream_is_a_502(project: Path) -> None:
    """An upstream that refuses connections is answered with 502 and a JSON detail."""
    service, port = _start(project, f"http://127.0.0.1:{free_port()}/")
    try:
        outcomes = asyncio.run(run_load(port, ["/items/1"], concurrency=1, deadline_seconds=300))
    finally:
        service.stop()
    assert [(o.status, o.json()) for o in outcomes] == [(502, {"detail": "upstream unreachable"})]
    _assert_clean_log(service)


def _slowest_healthy(outcomes: list[Outcome]) -> float:
    return max((o.seconds for o in outcomes if o.status == 200), default=0.0)


def test_load_with_faults_mixed_in(project: Path, upstream: FaultUpstream) -> None:
    """2,000 requests at concurrency 50, a fault in six of every ten: no 500, no leak."""
    before = upstream.stats()
    service, port = _start(project, upstream.url)
    try:
        targets = [f"/items/{number}" for number in range(1, 2001)]
        started = time.monotonic()
        outcomes = asyncio.run(
            run_load(port, targets, concurrency=CONCURRENCY, deadline_seconds=600)
        )
        elapsed = time.monotonic() - started
        during = upstream.wait_for_at_most(MAX_CONNECTIONS, timeout=60)
    finally:
        code = service.stop(signal.SIGTERM)
    after = upstream.wait_for_no_connections(timeout=60)
    statuses = _assert_answers(outcomes)
    print(  # noqa: T201 - the figures, for whoever reads the run
        f"\nload: {len(outcomes)} requests at concurrency {CONCURRENCY} in {elapsed:.1f} s; "
        f"statuses {dict(sorted(statuses.items(), key=str))}; slowest 200 "
        f"{_slowest_healthy(outcomes):.3f} s against a timeout of {UPSTREAM_TIMEOUT} s; "
        f"upstream connections open before {before['open']}, at most {during['max_open']} "
        f"(as the upstream counts, closing lags), accepted {during['accepted']}, open after "
        f"the load {during['open']}, after shutdown {after['open']}"
    )
    assert len(outcomes) == 2000
    assert None not in statuses
    assert statuses.keys() <= {200, 502, 504}
    assert before["open"] == 0
    # At rest, only the session's idle keep-alive pool is left open, within its limit.
    assert during["open"] <= MAX_CONNECTIONS
    assert after["open"] == 0
    assert code == -signal.SIGTERM
    _assert_clean_log(service)


def test_pool_limit_holds_under_load(project: Path, upstream: FaultUpstream) -> None:
    """500 healthy requests at concurrency 50 through a pool of 5: the upstream never sees a
    sixth connection, and every request waits its turn and gets its 200."""
    service, port = _start(project, upstream.url, timeout=30.0, max_connections=SMALL_POOL)
    try:
        ok = [number for number in range(1, 2001) if MODES[number % 10] == "ok"]
        targets = [f"/items/{number}" for number in ok[:500]]
        outcomes = asyncio.run(
            run_load(port, targets, concurrency=CONCURRENCY, deadline_seconds=600)
        )
        stats = upstream.stats()
    finally:
        code = service.stop(signal.SIGTERM)
    after = upstream.wait_for_no_connections(timeout=60)
    print(  # noqa: T201
        f"\npool: {len(outcomes)} requests at concurrency {CONCURRENCY} through a pool of "
        f"{SMALL_POOL}; upstream connections at most {stats['max_open']}, accepted "
        f"{stats['accepted']}; slowest 200 {_slowest_healthy(outcomes):.3f} s"
    )
    assert _assert_answers(outcomes) == {200: 500}
    # Healthy answers leave their connection in the pool, so the pool never opens more.
    assert stats["max_open"] <= SMALL_POOL
    assert stats["accepted"] <= SMALL_POOL
    assert after["open"] == 0
    assert code == -signal.SIGTERM
    _assert_clean_log(service)


def test_sigterm_during_load_finishes_cleanly(project: Path, upstream: FaultUpstream) -> None:
    """SIGTERM mid-load: in-flight requests are answered in full, the rest are turned away."""
    service, port = _start(project, upstream.url)
    signalled: list[float] = []

    def terminate_after_some(done: int) -> None:
        if done >= 300 and not signalled:
            signalled.append(time.monotonic())
            service.process.send_signal(signal.SIGTERM)

    try:
        targets = [f"/items/{number}" for number in range(1, 1501)]
        outcomes = asyncio.run(
            run_load(
                port,
                targets,
                concurrency=CONCURRENCY,
                deadline_seconds=600,
                on_progress=terminate_after_some,
            )
        )
    finally:
        code = service.stop(signal.SIGTERM)
    after = upstream.wait_for_no_connections(timeout=60)
    statuses = _assert_answers(outcomes)
    print(  # noqa: T201
        f"\nsigterm: after {len(outcomes)} outcomes, statuses "
        f"{dict(sorted(statuses.items(), key=str))} (None: turned away before any answer); "
        f"upstream connections after exit {after['open']}; exit {code}"
    )
    assert signalled
    assert statuses[None] > 0
    assert sum(count for status, count in statuses.items() if status is not None) >= 300
    assert statuses.keys() <= {200, 502, 504, None}
    assert code == -signal.SIGTERM
    assert "Application shutdown complete" in service.output
    assert after["open"] == 0
    _assert_clean_log(service)


def test_each_worker_owns_its_session(project: Path, upstream: FaultUpstream) -> None:
    """With --workers 2, each worker runs the lifespan: opens its session and closes it."""
    service, port = _start(project, upstream.url, "--workers", "2")
    try:
        service.wait_for(r"Application startup complete", timeout=120)
        deadline = time.monotonic() + 120
        while service.output.count("Application startup complete") < 2:
            assert time.monotonic() < deadline, service.output
            time.sleep(0.1)
        targets = [f"/items/{number}" for number in range(1, 401) if MODES[number % 10] == "ok"]
        outcomes = asyncio.run(run_load(port, targets, concurrency=10, deadline_seconds=300))
    finally:
        service.stop(signal.SIGTERM)
    after = upstream.wait_for_no_connections()
    assert _assert_answers(outcomes) == {200: len(targets)}
    workers = {
        line.split("[", 1)[1].split("]", 1)[0]
        for line in service.lines
        if "Started server process" in line
    }
    assert len(workers) == 2
    assert service.output.count("Application startup complete") == 2
    assert service.output.count("Application shutdown complete") == 2
    assert after["open"] == 0
    _assert_clean_log(service, supervisor_port=port)
