"""Part 6: what the template's upstream calls cost, when the upstream is up and when it is down.

All through real uvicorn (the same options as part 2) in front of bench.upstream_server, on
127.0.0.1, in the default project's environment:

1. The retry layer on the happy path: `GET /items/1` through the template with `get_upstream`
   overridden by a client that makes its one attempt with no retry code around it, and by
   the template's own client (an override costs FastAPI more than the retry layer does:
   both pay it), taking turns (bench/variant_upstream_apps.py); and the layer's own code
   timed in-process, where no network blurs a difference of nanoseconds
   (bench/retry_overhead.py).
2. The upstream down (bench/upstream_down.py): the template in front of an upstream that
   answers 503 to everything (the template's default limits) and one that never answers (a
   2 s deadline, 0.5 s an attempt), with real backoff: answer times against the deadline.
3. The cost of the template's structure: the same proxy as a bare Starlette app (the floor),
   beside the template and the upstream alone, in the same turns as 1.
4. Where the template's CPU goes: py-spy samples its process under load, and the floor's
   (bench/cpu_profile.py), each beside the CPU it used per request.
"""

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import cpu_profile, upstream_down
from .common import PACKAGE, REPO, Server, clean_env
from .loadgen import Load
from .throughput import measure_in_turns, median_load, start_proxy, start_upstream

# Parts 1 and 3 compare rates that differ by a few percent: more rounds at this concurrency.
CONNECTIONS = 10
ROUNDS = 5
PROFILE_SECONDS = 10.0

LoadFunction = Callable[[str, int, float], Load]


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
    faults: dict[str, upstream_down.FaultResult] = field(default_factory=dict)
    profiles: dict[str, cpu_profile.Profile | str] = field(default_factory=dict)
    # bench.retry_overhead: nanoseconds a call's exchange takes with and without the layer.
    retry_ns: dict[str, float] = field(default_factory=dict)


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


def _rounds(
    result: UpstreamResult, urls: dict[str, str], load: cpu_profile.CpuMeter, duration: float
) -> None:
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
                server = start_proxy(project, proxy.key, proxy.app, f"http://127.0.0.1:{port}/")
                servers.append(server)
                server.wait_until_answering(server.url)
                urls[proxy.key] = server.url
                pids[server.url] = server.process.pid
        urls = {proxy.key: urls[proxy.key] for proxy in PROXIES}
        for url in urls.values():
            load_function(url, CONNECTIONS, warm_up)
        metered = cpu_profile.CpuMeter(load_function, pids)
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
    for fault in upstream_down.FAULTS:
        _progress(f"the upstream down: {fault.label} ...")
        result.faults[fault.mode] = upstream_down.measure(project, fault, CONNECTIONS)
    return result


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)  # noqa: T201 - progress goes to stderr
