"""Part 6: what the template's upstream calls cost, when the upstream is up and when it is down.

All through real uvicorn (the same options as part 2) in front of bench.upstream_server, on
127.0.0.1, in the default project's environment:

1. The retry layer on the happy path: `GET /items/1` through the template with `get_upstream`
   overridden by a client that makes its one attempt with no retry code around it, and by
   the template's own client (an override costs FastAPI more than the retry layer does:
   both pay it), taking turns (bench/variant_upstream_apps.py); and the layer's own code
   timed in-process, where no network blurs a difference of nanoseconds
   (bench/retry_overhead.py).
2. The upstream down: the template in front of an upstream that answers 503 to everything
   (the template's default limits) and one that never answers (a 2 s deadline, 0.5 s an
   attempt), loaded with real backoff: the p50 and p99 answer times against the deadline,
   and the attempts the upstream saw per request (it counts the request ids the template
   sends on).
3. The cost of the template's structure: the same proxy as a bare Starlette app (the floor),
   beside the template and the upstream alone, in the same turns as 1.
4. Where the template's CPU goes: py-spy samples its process under load, and the floor's
   (bench/cpu_profile.py), each beside the CPU it used per request.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.helpers import free_port

from . import cpu_profile
from .common import ENV_PREFIX, PACKAGE, REPO, Server, clean_env
from .loadgen import Load, ensure_wrk, run_fallback, run_wrk
from .throughput import UVICORN_OPTIONS, measure_in_turns, median_load, start_upstream

# Parts 1 and 3 compare rates that differ by a few percent: more rounds at this concurrency.
CONNECTIONS = 10
ROUNDS = 5
PROFILE_SECONDS = 10.0

LoadFunction = Callable[[str, int, float], Load]


class _Metered:
    """A load function that also notes the CPU the loaded server used per request in each
    run (the steadier figure on a shared machine), from the kernel's count."""

    def __init__(self, load: LoadFunction, pids: dict[str, int]) -> None:
        self.load = load
        self.pids = pids  # by URL
        self.cpu_us: dict[tuple[str, int], list[float]] = {}

    def __call__(self, url: str, connections: int, seconds: float) -> Load:
        pid = self.pids.get(url)
        before = None if pid is None else cpu_profile.cpu_seconds(pid)
        load = self.load(url, connections, seconds)
        after = None if pid is None else cpu_profile.cpu_seconds(pid)
        if before is not None and after is not None and load.requests:
            used = (after - before) / load.requests * 1e6
            self.cpu_us.setdefault((url, connections), []).append(used)
        return load

    def last(self, url: str, connections: int) -> float:
        """The CPU per request of the last run at `url` (NaN when it was not measured)."""
        return self.cpu_us.get((url, connections), [float("nan")])[-1]

    def median(self, url: str, connections: int) -> float:
        """The median CPU per request over the runs at `url` (NaN when none was measured)."""
        runs = self.cpu_us.get((url, connections))
        return statistics.median(runs) if runs else float("nan")


@dataclass(frozen=True)
class Proxy:
    """One way to serve `GET /items/{id}` in front of the healthy upstream."""

    key: str
    label: str
    app: str | None  # uvicorn's "module:factory"; None for the upstream itself
    baseline: str = "template"  # the target whose rate this one is compared with


_VARIANTS = "bench.variant_upstream_apps"
PROXIES = [
    Proxy("template", "template", f"{PACKAGE}.app:create_app"),
    Proxy(
        "overridden",
        "template, get_upstream overridden by its twin",
        f"{_VARIANTS}:create_overridden_app",
    ),
    Proxy(
        "no_retry",
        "the same override, one attempt, no retry code",
        f"{_VARIANTS}:create_no_retry_app",
        baseline="overridden",
    ),
    Proxy("floor", "bare Starlette proxy (the floor)", f"{_VARIANTS}:create_floor_app"),
    Proxy("upstream", "upstream alone (for reference)", None),
]
# Loaded at the other concurrencies too: the pair that part 1 compares, which differ by the
# retry layer alone (both pay for FastAPI's dependency override).
RETRY_PAIR = ("overridden", "no_retry")
# Sampled by py-spy: the template, and the floor to set its figures against.
PROFILED = ("template", "floor")


@dataclass(frozen=True)
class Fault:
    """An upstream that is down one way, and the limits the template is given for it."""

    mode: str  # bench.upstream_server's --mode
    label: str
    deadline: float
    attempt_timeout: float
    attempts: int
    duration: float  # of the load: long enough for a few dozen answers at the deadline


FAULTS = [
    # The template's defaults, set all the same so that the report says what ran.
    Fault("unavailable", "503 to everything", 15.0, 10.0, 3, 5.0),
    # More attempts than fit: the deadline, not the count, ends each call.
    Fault("hang", "never answers", 2.0, 0.5, 5, 8.0),
]


@dataclass(frozen=True)
class FaultResult:
    """What one fault's load measured, what the service answered, what the upstream saw."""

    load: Load
    answer: str  # the status and detail of one probe request
    attempts: int  # requests the upstream received during the load
    requests: int  # distinct request ids among them


@dataclass
class UpstreamResult:
    """Parts 1 and 3 (the medians, and each round at CONNECTIONS), 2 and 4."""

    generator: str
    concurrencies: Sequence[int]
    duration: float
    rounds: int
    main_rounds: int
    loads: dict[str, dict[int, Load]] = field(default_factory=dict)
    # The CPU each server used per request (µs, from /proc), the median run's as for loads.
    cpu_us: dict[str, dict[int, float]] = field(default_factory=dict)
    rounds_at_main: list[dict[str, Load]] = field(default_factory=list)
    cpu_rounds_at_main: list[dict[str, float]] = field(default_factory=list)
    faults: dict[str, FaultResult] = field(default_factory=dict)
    profiles: dict[str, cpu_profile.Profile | str] = field(default_factory=dict)
    # bench.retry_overhead: nanoseconds a call's exchange takes with and without the layer.
    retry_ns: dict[str, float] = field(default_factory=dict)


def _serve(project: Path, name: str, app: str, upstream: str, **settings: str) -> Server:
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


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    """Status and body of a GET to a loopback URL, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _fault_load(project: Path) -> Callable[[str, int, float, float], Load]:
    """The load generator with a timeout: wrk's default (2 s) would cut the slow answers."""
    wrk = ensure_wrk()
    if wrk is not None:
        return lambda url, c, seconds, limit: run_wrk(wrk, url, c, seconds, timeout=limit)
    python = project / ".venv" / "bin" / "python"  # its own timeout, 30 s, is long enough
    return lambda url, c, seconds, _limit: run_fallback(python, url, c, seconds)


def _measure_fault(project: Path, fault: Fault) -> FaultResult:
    servers: list[Server] = []
    try:
        upstream, port = start_upstream(project, f"upstream-{fault.mode}", None, fault.mode)
        servers.append(upstream)
        upstream.wait_until_answering(upstream.url)
        stats = f"http://127.0.0.1:{port}/stats"
        proxy = _serve(
            project,
            f"template-{fault.mode}",
            f"{PACKAGE}.app:create_app",
            f"http://127.0.0.1:{port}/",
            upstream_deadline=f"{fault.deadline:g}",
            upstream_timeout=f"{fault.attempt_timeout:g}",
            upstream_retry_attempts=str(fault.attempts),
        )
        servers.append(proxy)
        proxy.wait_until_answering(proxy.url.replace("/items/1", "/health"))
        status, body = _get(proxy.url, timeout=fault.deadline + 10)
        answer = f"{status} {json.loads(body).get('detail', '')}"
        before = json.loads(_get(stats, timeout=5)[1])
        load = _fault_load(project)(proxy.url, CONNECTIONS, fault.duration, fault.deadline + 5)
        # The requests still in flight when the load stopped go on to their end.
        time.sleep(min(fault.deadline, 2 * load.p99_ms / 1000) + 0.5)
        after = json.loads(_get(stats, timeout=5)[1])
    finally:
        for server in reversed(servers):
            server.stop()
    return FaultResult(
        load,
        answer,
        attempts=after["attempts"] - before["attempts"],
        requests=after["requests"] - before["requests"],
    )


def _retry_overhead(project: Path) -> dict[str, float]:
    """bench.retry_overhead in the project's interpreter: its two timings."""
    python = project / ".venv" / "bin" / "python"
    answer = subprocess.run(  # noqa: S603 - this package's module, a fixed command line
        [str(python), "-m", "bench.retry_overhead"],
        cwd=project,
        env=clean_env(PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    timings: dict[str, float] = json.loads(answer.stdout)
    return timings


def _profile(server: Server, load: LoadFunction) -> cpu_profile.Profile | str:
    """py-spy on `server` while it is loaded at CONNECTIONS, with the CPU it used per request;
    or why there is no profile."""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        output = Path(folder) / "samples.txt"
        pid = server.process.pid
        before = cpu_profile.cpu_seconds(pid)
        recording = cpu_profile.start(pid, PROFILE_SECONDS, output)
        served = load(server.url, CONNECTIONS, PROFILE_SECONDS + 2)  # covers py-spy's start-up
        after = cpu_profile.cpu_seconds(pid)
        profile = cpu_profile.finish(recording, output, PACKAGE)
    if isinstance(profile, str) or before is None or after is None or not served.requests:
        return profile
    return replace(profile, cpu_per_request_us=(after - before) / served.requests * 1e6)


def _rounds(result: UpstreamResult, urls: dict[str, str], load: _Metered, duration: float) -> None:
    """Each URL loaded once a round at CONNECTIONS, taking turns; every round's figures and
    their medians into `result`."""
    keys = list(urls)
    for turn in range(result.main_rounds):
        # Each round starts with another target, so that none is always first.
        order = keys[turn % len(keys) :] + keys[: turn % len(keys)]
        medians = measure_in_turns(
            {key: urls[key] for key in order},
            load,
            concurrencies=[CONNECTIONS],
            rounds=1,
            duration=duration,
            label=f"upstream calls, round {turn + 1} of {result.main_rounds}",
        )
        result.rounds_at_main.append({key: runs[CONNECTIONS] for key, runs in medians.items()})
        result.cpu_rounds_at_main.append({key: load.last(urls[key], CONNECTIONS) for key in keys})
    for key in keys:
        runs = [round_[key] for round_ in result.rounds_at_main]
        result.loads[key] = {CONNECTIONS: median_load(runs)}
        result.cpu_us[key] = {CONNECTIONS: load.median(urls[key], CONNECTIONS)}


def run(  # noqa: PLR0913 - the knobs of `make bench`
    project: Path,
    load: tuple[str, LoadFunction],
    *,
    concurrencies: Sequence[int],
    duration: float,
    warm_up: float,
    rounds: int,
    main_rounds: int = ROUNDS,
) -> UpstreamResult:
    """Parts 1, 3 and 4 against the healthy upstream, then part 2; every server stopped."""
    generator, load_function = load
    others = [c for c in concurrencies if c != CONNECTIONS]
    result = UpstreamResult(generator, [CONNECTIONS, *others], duration, rounds, main_rounds)
    _progress("the retry layer's own code, in-process ...")
    result.retry_ns = _retry_overhead(project)
    servers: list[Server] = []
    try:
        upstream, port = start_upstream(project, "upstream-ok", None)
        servers.append(upstream)
        upstream.wait_until_answering(upstream.url)
        urls = {"upstream": upstream.url}
        pids = {upstream.url: upstream.process.pid}
        for proxy in PROXIES:
            if proxy.app is not None:
                server = _serve(project, proxy.key, proxy.app, f"http://127.0.0.1:{port}/")
                servers.append(server)
                server.wait_until_answering(server.url)
                urls[proxy.key] = server.url
                pids[server.url] = server.process.pid
        urls = {proxy.key: urls[proxy.key] for proxy in PROXIES}
        for url in urls.values():
            load_function(url, CONNECTIONS, warm_up)
        metered = _Metered(load_function, pids)
        _rounds(result, urls, metered, duration)
        if others:
            pair = measure_in_turns(
                {key: urls[key] for key in RETRY_PAIR},
                metered,
                concurrencies=others,
                rounds=rounds,
                duration=duration,
                label="retry layer",
            )
            for key, medians_by_connections in pair.items():
                result.loads[key].update(medians_by_connections)
                for connections in others:
                    result.cpu_us[key][connections] = metered.median(urls[key], connections)
        missing = cpu_profile.prepare()
        for server in servers:
            if server.name in PROFILED:
                _progress(f"profiling {server.name} under load ...")
                result.profiles[server.name] = missing or _profile(server, load_function)
    finally:
        for server in reversed(servers):
            server.stop()
    for fault in FAULTS:
        _progress(f"the upstream down: {fault.label} ...")
        result.faults[fault.mode] = _measure_fault(project, fault)
    return result


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)  # noqa: T201 - progress goes to stderr
