"""Service throughput: real uvicorn in front of a real upstream, each in its own process.

Four targets answer `GET /items/1`: the template's service (one aiohttp session from the
lifespan), the same route with a session per request, with a shared httpx client, and the
upstream itself (the ceiling). The first two are loaded again with the upstream behind TLS
(when openssl can make a certificate), where a new connection costs a handshake. Every
server listens on 127.0.0.1 only, runs in its own process group and is stopped (the whole
group) whatever happens.
"""

import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port

from .common import ENV_PREFIX, PACKAGE, REPO, Server, clean_env
from .loadgen import Load, ensure_wrk, run_fallback, run_wrk
from .tls import make_certificate

CONCURRENCIES = (1, 10, 100)
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
    tls: bool = False  # the proxy reaches the upstream over TLS
    baseline: str = "template"  # the target whose rate this one is compared with


TARGETS = [
    Target("template", "template: shared lifespan aiohttp session", f"{PACKAGE}.app:create_app"),
    Target(
        "per_request",
        "aiohttp ClientSession per request",
        "bench.variant_apps:create_per_request_app",
    ),
    Target("httpx", "shared httpx.AsyncClient", "bench.variant_apps:create_httpx_app"),
    Target("ceiling", "upstream hit directly (ceiling)", None),
    Target(
        "template_tls",
        "template, upstream over TLS",
        f"{PACKAGE}.app:create_app",
        tls=True,
        baseline="template_tls",
    ),
    Target(
        "per_request_tls",
        "session per request, upstream over TLS",
        "bench.variant_apps:create_per_request_app",
        tls=True,
        baseline="template_tls",
    ),
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


def measure_in_turns(  # noqa: PLR0913 - the knobs of one measurement
    urls: Mapping[str, str],
    load: Callable[[str, int, float], Load],
    *,
    concurrencies: Sequence[int],
    rounds: int,
    duration: float,
    label: str,
) -> dict[str, dict[int, Load]]:
    """Load each URL at each concurrency `rounds` times, the URLs taking turns, so that
    anything else the machine does falls on all alike; the median run of each."""
    medians: dict[str, dict[int, Load]] = {}
    for connections in concurrencies:
        runs: dict[str, list[Load]] = {key: [] for key in urls}
        for _ in range(rounds):
            for key, url in urls.items():
                time.sleep(0.3)
                runs[key].append(load(url, connections, duration))
        for key, loads in runs.items():
            medians.setdefault(key, {})[connections] = median_load(loads)
        print(f"  {label}: {connections} connections done", file=sys.stderr)  # noqa: T201
    return medians


def load_function(project: Path) -> tuple[str, Callable[[str, int, float], Load]]:
    wrk = ensure_wrk()
    if wrk is not None:
        return "wrk -t1", lambda url, c, seconds: run_wrk(wrk, url, c, seconds)
    python = project / ".venv" / "bin" / "python"
    return "aiohttp fallback", lambda url, c, seconds: run_fallback(python, url, c, seconds)


def _start(project: Path, target: Target, upstream: str, cert: Path | None) -> Server:
    assert target.app is not None  # noqa: S101 - the ceiling has no proxy
    port = free_port()
    uvicorn = project / ".venv" / "bin" / "uvicorn"
    command = [str(uvicorn), target.app, *UVICORN_OPTIONS, "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    extra = {} if cert is None else {"SSL_CERT_FILE": str(cert)}
    env = clean_env(
        PYTHONPATH=str(REPO),
        BENCH_UPSTREAM_BASE_URL=upstream,
        **{f"{ENV_PREFIX}UPSTREAM_BASE_URL": upstream, f"{ENV_PREFIX}DOCS_ENABLED": "false"},
        **extra,
    )
    server = Server(target.key, command, project, env)
    server.url = f"http://127.0.0.1:{port}/items/1"
    return server


def start_proxy(project: Path, name: str, app: str, upstream: str, **settings: str) -> Server:
    """uvicorn serving `app` ("module:factory") with UVICORN_OPTIONS in front of the base URL
    `upstream`, with the service's `settings` (by field name) in its environment. Its `url`
    is `GET /items/1`."""
    port = free_port()
    uvicorn = project / ".venv" / "bin" / "uvicorn"
    command = [str(uvicorn), app, *UVICORN_OPTIONS, "--host", "127.0.0.1", "--port", str(port)]
    env = clean_env(
        PYTHONPATH=str(REPO),
        BENCH_UPSTREAM_BASE_URL=upstream,
        **{f"{ENV_PREFIX}UPSTREAM_BASE_URL": upstream, f"{ENV_PREFIX}DOCS_ENABLED": "false"},
        **{f"{ENV_PREFIX}{key.upper()}": value for key, value in settings.items()},
    )
    server = Server(name, command, project, env)
    server.url = f"http://127.0.0.1:{port}/items/1"
    return server


def start_upstream(
    project: Path, name: str, tls: tuple[Path, Path] | None, mode: str = "ok"
) -> tuple[Server, int]:
    """bench.upstream_server in its own process (over TLS when given a certificate and key;
    with items down in any `mode` but "ok"). Its `url` is the one to poll until it answers."""
    port = free_port()
    python = project / ".venv" / "bin" / "python"
    command = [str(python), "-m", "bench.upstream_server", "--port", str(port)]
    if tls is not None:
        command += ["--cert", str(tls[0]), "--key", str(tls[1])]
    if mode != "ok":
        command += ["--mode", mode]
    server = Server(name, command, project, clean_env(PYTHONPATH=str(REPO)))
    if tls is None:
        path = "items/1" if mode == "ok" else "health"
        server.url = f"http://127.0.0.1:{port}/{path}"
    return server, port


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
    generator, load = load_function(project)
    result = ThroughputResult(generator, tuple(concurrencies), duration, rounds)
    tls = make_certificate(project.parent)
    targets = [target for target in TARGETS if tls is not None or not target.tls]
    servers: list[Server] = []
    try:
        plain, plain_port = start_upstream(project, "upstream", None)
        servers.append(plain)
        plain.wait_until_answering(plain.url)
        bases = {False: f"http://127.0.0.1:{plain_port}/"}
        if tls is not None:
            secure, secure_port = start_upstream(project, "upstream-tls", tls)
            servers.append(secure)
            _wait_for_port(secure, secure_port)
            bases[True] = f"https://127.0.0.1:{secure_port}/"
        urls = {}
        for target in targets:
            if target.app is None:
                urls[target.key] = plain.url
                continue
            cert = tls[0] if tls is not None and target.tls else None
            proxy = _start(project, target, bases[target.tls], cert)
            servers.append(proxy)
            proxy.wait_until_answering(proxy.url)
            urls[target.key] = proxy.url
        for target in targets:
            load(urls[target.key], max(concurrencies), warm_up)
        in_order = {target.key: urls[target.key] for target in targets}
        result.loads = measure_in_turns(
            in_order,
            load,
            concurrencies=concurrencies,
            rounds=rounds,
            duration=duration,
            label="throughput",
        )
    finally:
        for server in reversed(servers):
            server.stop()
    return result


def _wait_for_port(server: Server, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
