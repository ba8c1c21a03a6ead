"""Part 7: the HTTP parser and the event loop `python -m` serves with.

The template's service as `python -m my_service` runs it (httptools with the template's cap
on a request's head, uvloop), and the same server with one thing changed at a time
(bench/project/serve.py): h11, the parser `python -m` used before, which caps a head itself;
httptools without the cap (what the cap costs); asyncio's own event loop instead of uvloop,
with either capped parser. `GET /items/1`, every server logging its access line to a file.
And the cap's own code timed in-process (bench/project/cap_overhead.py), where no network
blurs a fraction of a microsecond.
"""

from dataclasses import dataclass, field
from pathlib import Path

from .common import stopped_at_exit, timings_in
from .loadgen import Results, in_turns, warm_up
from .servers import start_service, start_upstream
from .throughput import CONCURRENCIES, DURATION, WARM_UP

# The options differ by a few percent: more rounds than part 2's.
ROUNDS = 5


@dataclass(frozen=True)
class Option:
    """One way to serve: bench.project.serve's --http and --loop ("" for `python -m` itself)."""

    key: str
    label: str
    http: str = ""
    loop: str = ""


OPTIONS = [
    Option("default", "httptools with the cap, uvloop (`python -m`)"),
    Option("h11", "h11, uvloop (`python -m` before)", "h11", "uvloop"),
    Option("uncapped", "httptools without the cap, uvloop", "httptools", "uvloop"),
    Option("asyncio", "httptools with the cap, asyncio", "capped", "asyncio"),
    Option("h11_asyncio", "h11, asyncio", "h11", "asyncio"),
]


@dataclass
class ServerResult:
    """Every figure of part 7."""

    loads: Results = field(default_factory=dict)
    # bench.project.cap_overhead: nanoseconds a request takes with and without the cap's code.
    cap_ns: dict[str, float] = field(default_factory=dict)


def run(
    project: Path,
    *,
    concurrencies: tuple[int, ...] = CONCURRENCIES,
    rounds: int = ROUNDS,
    duration: float = DURATION,
) -> ServerResult:
    """Load every option at every concurrency, taking turns, then time the cap in-process;
    every server always stopped."""
    result = ServerResult()
    with stopped_at_exit() as servers:
        base = start_upstream(servers, project)
        loaded = {
            option.key: start_service(
                servers, project, option.key, base, http=option.http, loop=option.loop
            )
            for option in OPTIONS
        }
        warm_up(list(loaded.values()), max(concurrencies), WARM_UP)
        result.loads = in_turns(
            loaded, concurrencies=concurrencies, rounds=rounds, duration=duration, label="part 7"
        )
    result.cap_ns = timings_in(project, "bench.project.cap_overhead")
    return result
