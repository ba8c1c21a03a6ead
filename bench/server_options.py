"""Part 7: the HTTP parser and the event loop `python -m` serves with.

The template's service as `python -m my_service` runs it (httptools with the template's cap
on a request's head, uvloop), and the same server with one thing changed at a time
(bench/project/serve.py): h11, the parser `python -m` used before, which caps a head itself;
httptools without the cap (what the cap costs); asyncio's own event loop instead of uvloop,
with either capped parser. `GET /items/1`, every server logging its access line to a file.
"""

from dataclasses import dataclass
from pathlib import Path

from .common import stopped_at_exit
from .loadgen import Results, in_turns, warm_up
from .servers import start_service, start_upstream
from .throughput import CONCURRENCIES, DURATION, ROUNDS, WARM_UP


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


def run(
    project: Path,
    *,
    concurrencies: tuple[int, ...] = CONCURRENCIES,
    rounds: int = ROUNDS,
    duration: float = DURATION,
) -> Results:
    """Load every option at every concurrency, taking turns; every server always stopped."""
    with stopped_at_exit() as servers:
        base = start_upstream(servers, project)
        loaded = {
            option.key: start_service(
                servers, project, option.key, base, http=option.http, loop=option.loop
            )
            for option in OPTIONS
        }
        warm_up(list(loaded.values()), max(concurrencies), WARM_UP)
        return in_turns(
            loaded, concurrencies=concurrencies, rounds=rounds, duration=duration, label="part 7"
        )
