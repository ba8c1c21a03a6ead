"""Two replicas of the generated service behind HAProxy, restarted in turn under steady load.

Each replica is a real uvicorn process (`python -m my_service`) with an upstream of its own,
so what a stopped replica leaves open upstream can be counted. HAProxy health-checks
`/ready`; a replica told to stop drains first (readiness 503, answers closing their
connections) for DRAIN_DELAY, longer than HAProxy takes to see it, and only then closes its
port. The load never stops while the replicas are restarted, and no request may fail.
"""

import asyncio
import collections
import concurrent.futures
import signal
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from ..balancer import Balancer, haproxy_executable, running_haproxy
from ..helpers import FaultUpstream, Service, free_port, python_in, running_fault_upstream
from ..load import run_load

pytestmark = pytest.mark.slow

PACKAGE = "my_service"
PREFIX = "MY_SERVICE_"
REPLICAS = 2
ROUNDS = 3
CONCURRENCY = 8
# HAProxy takes a replica out after two failed checks 200 ms apart: ten times that.
DRAIN_DELAY = 4.0
# Steady load on both replicas between one restart and the next.
BETWEEN_RESTARTS = 1.0
# Longer than HAProxy keeps an idle connection to a replica, so the replica never closes
# one just as HAProxy sends a request on it.
KEEP_ALIVE_TIMEOUT = 75


class Stopped(NamedTuple):
    """A replica that was stopped: its number, exit code, upstream connections it left open
    and everything it logged."""

    number: int
    code: int
    left_open: int
    output: str


class _Replicas:
    """The replicas, each on its port with its upstream; restarted in place."""

    def __init__(self, project: Path, upstreams: list[FaultUpstream]) -> None:
        self.project = project
        self.upstreams = upstreams
        self.ports = [free_port() for _ in upstreams]
        self.running = [self._start(number) for number in range(len(upstreams))]

    def _start(self, number: int) -> Service:
        port = self.ports[number]
        replica = Service(
            [str(python_in(self.project / ".venv")), "-m", PACKAGE],
            self.project,
            PYTHONWARNINGS="always::ResourceWarning",
            **{
                f"{PREFIX}PORT": str(port),
                f"{PREFIX}UPSTREAM_BASE_URL": self.upstreams[number].url,
                f"{PREFIX}DRAIN_DELAY": str(DRAIN_DELAY),
                f"{PREFIX}KEEP_ALIVE_TIMEOUT": str(KEEP_ALIVE_TIMEOUT),
            },
        )
        replica.wait_until_up(f"http://127.0.0.1:{port}/ready")
        return replica

    def restart_each_in_turn(self, balancer: Balancer) -> list[Stopped]:
        """ROUNDS times, each replica in turn: SIGTERM, wait for its exit, count what it left
        open upstream, start it again, wait until HAProxy sends it requests again."""
        stopped = []
        for _ in range(ROUNDS):
            for number, replica in enumerate(self.running):
                time.sleep(BETWEEN_RESTARTS)
                code = replica.stop(signal.SIGTERM)
                left = self.upstreams[number].wait_for_no_connections(timeout=30)
                stopped.append(Stopped(number, code, left["open"], replica.output))
                self.running[number] = self._start(number)
                balancer.wait_until(f"replica{number}", "UP")
        time.sleep(BETWEEN_RESTARTS)
        return stopped

    def stop_all(self) -> None:
        for replica in self.running:
            if replica.process.poll() is None:
                replica.stop()


def test_rolling_restarts_under_load_fail_no_request(project: Path, tmp_path: Path) -> None:
    """Every replica restarted three times in turn while requests keep coming through
    HAProxy: every request is answered 200 in full, every replica stops cleanly, and none
    leaves a connection open to its upstream."""
    executable = haproxy_executable()
    if executable is None:
        pytest.skip(
            "HAProxy is not installed, and it can only be installed here as root on a "
            "system with apt-get (Debian's `haproxy` package)"
        )
    with running_fault_upstream() as first, running_fault_upstream() as second:
        replicas = _Replicas(project, [first, second])
        try:
            with (
                running_haproxy(executable, tmp_path, replicas.ports) as balancer,
                concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool,
            ):
                for number in range(REPLICAS):
                    balancer.wait_until(f"replica{number}", "UP")
                started = time.monotonic()
                restarts = pool.submit(replicas.restart_each_in_turn, balancer)
                outcomes = asyncio.run(
                    run_load(
                        balancer.port,
                        ["/items/1"] * 1_000_000,
                        concurrency=CONCURRENCY,
                        deadline_seconds=900,
                        until=restarts.done,
                    )
                )
                stops = restarts.result()
                elapsed = time.monotonic() - started
        finally:
            replicas.stop_all()
    statuses = collections.Counter(
        "partial" if outcome.partial else outcome.status for outcome in outcomes
    )
    print(  # noqa: T201
        f"\nrolling restarts: {len(stops)} restarts, {len(outcomes)} requests in {elapsed:.1f} s "
        f"at concurrency {CONCURRENCY}; answers {dict(statuses)}; upstream connections "
        f"left open by stopped replicas {[stop.left_open for stop in stops]}"
    )
    assert len(stops) == REPLICAS * ROUNDS
    assert statuses == {200: len(outcomes)}
    assert len(outcomes) >= 100 * len(stops)
    for stop in stops:
        assert stop.code == -signal.SIGTERM, f"replica{stop.number}:\n{stop.output}"
        for expected in ("draining before shutdown", "Application shutdown complete"):
            assert expected in stop.output, stop.output
        for unexpected in ("Unclosed", "Traceback", '"level": "error"'):
            assert unexpected not in stop.output, stop.output
        assert stop.left_open == 0
