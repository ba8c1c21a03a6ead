"""Part 6: what the template's structure costs around its upstream calls, and what it does
when the upstream is down.

All through real uvicorn, every server logging an access line per request to a file, in
front of bench.project.upstream_server on 127.0.0.1, in the default project's environment:

1. The template (`python -m`) against plain FastAPI, the yardstick (the same route and
   response model, one session from the lifespan, no dependency, no middleware), and a bare
   Starlette proxy, the floor (bench/project/apps.py), beside the upstream alone, in the same
   turns; more rounds at 10 connections, where the targets are set.
2. Where each one's CPU goes: py-spy samples the three under load (bench/cpu_profile.py),
   each beside the CPU it used per request.
3. The retry layer's own code on the happy path, timed in-process, where no network blurs
   a difference of nanoseconds (bench/project/retry_overhead.py).
4. The upstream down (bench/upstream_down.py): an upstream that answers 503 to everything
   (the template's default limits) and one that never answers (a 2 s deadline, 0.5 s an
   attempt), with real backoff: answer times against the deadline.
"""

from dataclasses import dataclass, field
from pathlib import Path

from . import cpu_profile, upstream_down
from .common import progress, stopped_at_exit, timings_in
from .loadgen import Results, in_turns, merge, warm_up
from .servers import start_app, start_service, start_upstream
from .throughput import APPS, WARM_UP

CONNECTIONS = 10  # where the targets are set; the others get fewer rounds
ROUNDS = 7
OTHER_ROUNDS = 3
PROFILE_SECONDS = 10.0
# key, label, uvicorn's "module:factory" ("" for `python -m`, "upstream" for the upstream)
TARGETS = [
    ("template", "template (`python -m`)", ""),
    ("plain", "plain FastAPI (the yardstick)", f"{APPS}:create_plain_app"),
    ("floor", "bare Starlette proxy (the floor)", f"{APPS}:create_floor_app"),
    ("upstream", "upstream alone", "upstream"),
]
PROFILED = ("template", "plain", "floor")


@dataclass
class UpstreamResult:
    """Every figure of part 6."""

    loads: Results = field(default_factory=dict)
    profiles: dict[str, cpu_profile.Profile | str] = field(default_factory=dict)
    # bench.project.retry_overhead: nanoseconds a call's exchange takes with and without it.
    retry_ns: dict[str, float] = field(default_factory=dict)
    faults: dict[str, upstream_down.FaultResult] = field(default_factory=dict)


def run(
    project: Path,
    *,
    concurrencies: tuple[int, ...] = (1, 10, 100),
    duration: float = 3.0,
    rounds: int = ROUNDS,
    other_rounds: int = OTHER_ROUNDS,
) -> UpstreamResult:
    """Parts 1 to 3 against the healthy upstream, then 4; every server always stopped."""
    result = UpstreamResult()
    progress("the retry layer's own code, in-process ...", level=1)
    result.retry_ns = timings_in(project, "bench.project.retry_overhead")
    with stopped_at_exit() as servers:
        base = start_upstream(servers, project)
        loaded = {"upstream": servers[-1]}
        for key, _, app in TARGETS:
            if not app:
                loaded[key] = start_service(servers, project, key, base)
            elif app != "upstream":
                loaded[key] = start_app(servers, project, key, app, base)
        loaded = {key: loaded[key] for key, _, _ in TARGETS}
        warm_up(list(loaded.values()), CONNECTIONS, WARM_UP)
        result.loads = in_turns(
            loaded, concurrencies=[CONNECTIONS], rounds=rounds, duration=duration, label="part 6"
        )
        others = [c for c in concurrencies if c != CONNECTIONS]
        more = in_turns(
            loaded, concurrencies=others, rounds=other_rounds, duration=duration, label="part 6"
        )
        merge(result.loads, more)
        for key in PROFILED:
            progress(f"profiling {key} under load ...", level=1)
            result.profiles[key] = cpu_profile.profile(loaded[key], CONNECTIONS, PROFILE_SECONDS)
    for fault in upstream_down.FAULTS:
        progress(f"the upstream down: {fault.label} ...", level=1)
        result.faults[fault.mode] = upstream_down.measure(project, fault, CONNECTIONS)
    return result
