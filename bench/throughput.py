"""Service throughput: real uvicorn in front of a real upstream, each in its own process.

Four targets answer `GET /items/1`: the template's service (one aiohttp session from the
lifespan), the same route with a session per request, with a shared httpx client, and the
upstream itself (the ceiling). Every server listens on 127.0.0.1 only, runs in its own
process group and is stopped (the whole group) whatever happens.
"""

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .common import ENV_PREFIX, PACKAGE, REPO, Server, clean_env, free_port
from .loadgen import Load, ensure_wrk, run_fallback, run_wrk

CONCURRENCIES = (1, 10, 50, 100)
# Each target is loaded ROUNDS times per concurrency, the targets taking turns, so that
# anything else the machine does at the time falls on all of them alike; the median counts.
ROUNDS = 3
DURATION = 3.0
WARM_UP = 3.0
# The same uvicorn options for every proxy: no access log (it would dominate), warnings only.
UVICORN_OPTIONS = ("--factory", "--no-access-log", "--log-level", "warning")


@dataclass(frozen=True)
class Target:
    """One server to load, and how to start it once the upstream listens on `upstream_port`."""

    key: str
    label: str
    app: str | None  # uvicorn's "module:factory"; None for the upstream itself


TARGETS = [
    Target("template", "template: shared lifespan aiohttp session", f"{PACKAGE}.app:create_app"),
    Target(
        "per_request",
        "aiohttp ClientSession per request",
        "bench.variant_apps:create_per_request_app",
    ),
    Target("httpx", "shared httpx.AsyncClient", "bench.variant_apps:create_httpx_app"),
    Target("ceiling", "upstream hit directly (ceiling)", None),
]


@dataclass
class ThroughputResult:
    """The median run of each target at each concurrency; and how they were made."""

    generator: str
    concurrencies: Sequence[int]
    duration: float
    rounds: int
    loads: dict[str, dict[int, Load]] = field(default_factory=dict)


def median_load(loads: Sequence[Load]) -> Load:
    """The run with the median rate (the lower middle one for an even count)."""
    ordered = sorted(loads, key=lambda load: load.requests_per_second)
    return ordered[(len(ordered) - 1) // 2]


def _load_function(project: Path) -> tuple[str, Callable[[str, int, float], Load]]:
    wrk = ensure_wrk()
    if wrk is not None:
        return "wrk -t1", lambda url, c, seconds: run_wrk(wrk, url, c, seconds)
    python = project / ".venv" / "bin" / "python"
    return "aiohttp fallback", lambda url, c, seconds: run_fallback(python, url, c, seconds)


def _start_proxy(project: Path, target: Target, upstream_port: int, port: int) -> Server:
    assert target.app is not None  # noqa: S101 - the ceiling has no proxy
    upstream = f"http://127.0.0.1:{upstream_port}/"
    uvicorn = project / ".venv" / "bin" / "uvicorn"
    command = [str(uvicorn), target.app, *UVICORN_OPTIONS, "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    env = clean_env(
        PYTHONPATH=str(REPO),
        BENCH_UPSTREAM_BASE_URL=upstream,
        **{f"{ENV_PREFIX}UPSTREAM_BASE_URL": upstream, f"{ENV_PREFIX}DOCS_ENABLED": "false"},
    )
    return Server(target.key, command, project, env)


def _start(project: Path, target: Target, upstream_port: int) -> tuple[Server | None, str]:
    if target.app is None:
        return None, f"http://127.0.0.1:{upstream_port}/items/1"
    port = free_port()
    proxy = _start_proxy(project, target, upstream_port, port)
    return proxy, f"http://127.0.0.1:{port}/items/1"


def run(
    project: Path,
    concurrencies: Sequence[int] = CONCURRENCIES,
    duration: float = DURATION,
    warm_up: float = WARM_UP,
    rounds: int = ROUNDS,
) -> ThroughputResult:
    """Load every target at every concurrency, taking turns; every server always stopped.

    All servers run at once (an idle one costs nothing), each is warmed up first, then each
    concurrency is measured in `rounds` rounds in which every target gets one run.
    """
    generator, load = _load_function(project)
    result = ThroughputResult(generator, tuple(concurrencies), duration, rounds)
    python = project / ".venv" / "bin" / "python"
    upstream_port = free_port()
    servers = [
        Server(
            "upstream",
            [str(python), "-m", "bench.upstream_server", "--port", str(upstream_port)],
            project,
            clean_env(PYTHONPATH=str(REPO)),
        )
    ]
    try:
        servers[0].wait_until_answering(f"http://127.0.0.1:{upstream_port}/health")
        urls = {}
        for target in TARGETS:
            proxy, urls[target.key] = _start(project, target, upstream_port)
            if proxy is not None:
                servers.append(proxy)
                proxy.wait_until_answering(urls[target.key])
        for target in TARGETS:
            load(urls[target.key], max(concurrencies), warm_up)
        for connections in concurrencies:
            runs: dict[str, list[Load]] = {target.key: [] for target in TARGETS}
            for _ in range(rounds):
                for target in TARGETS:
                    time.sleep(0.3)
                    runs[target.key].append(load(urls[target.key], connections, duration))
            for key, loads in runs.items():
                result.loads.setdefault(key, {})[connections] = median_load(loads)
            print(f"  throughput: {connections} connections done", file=sys.stderr)  # noqa: T201
    finally:
        for server in reversed(servers):
            server.stop()
    return result
