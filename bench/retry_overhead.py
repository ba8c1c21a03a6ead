"""The retry layer's own cost on the happy path, timed in-process where no network adds noise.

A call that succeeds at once goes through the template's `UpstreamClient._exchange` and
through the one-attempt override of part 6 (bench/variant_upstream_apps.py), the attempt
itself stubbed out in both to return an answer at once: what is left is the code around the
attempt. The two take turns in several repeats, and each keeps its fastest (the least
disturbed by anything else on the machine), as timeit does.

Run inside the default project's environment: `python -m bench.retry_overhead`; it prints
the nanoseconds a call takes either way as JSON.
"""

import asyncio
import importlib
import json
import time
from typing import Any

from .variant_upstream_apps import PACKAGE, one_attempt_client

CALLS = 100_000
REPEATS = 7
_ANSWER = (200, b'{"id":1,"name":"widget"}')


def _stubbed(client: type) -> type:
    """`client` whose attempt answers at once, as a healthy upstream would, with no I/O."""

    class Stubbed(client):  # type: ignore[misc]
        __slots__ = ()

        async def _attempt(
            self, _method: str, _path: str, _payload: bytes | None
        ) -> tuple[int, bytes]:
            return _ANSWER

    return Stubbed


async def _per_call_ns(client: Any, calls: int) -> float:  # noqa: ANN401 - a class known at run time
    exchange = client._exchange  # noqa: SLF001 - the method under measurement
    started = time.perf_counter_ns()
    for _ in range(calls):
        await exchange("GET", "items/1", None, None, 0.0)
    return (time.perf_counter_ns() - started) / calls


async def _measure(calls: int, repeats: int) -> dict[str, float]:
    settings = importlib.import_module(f"{PACKAGE}.config").Settings()
    template = importlib.import_module(f"{PACKAGE}.upstream").UpstreamClient
    clients = {
        "with_ns": _stubbed(template)(None, settings),
        "without_ns": _stubbed(one_attempt_client())(None, settings),
    }
    fastest = dict.fromkeys(clients, float("inf"))
    for _ in range(repeats):
        for key, client in clients.items():
            fastest[key] = min(fastest[key], await _per_call_ns(client, calls))
    return fastest


def main() -> None:
    """Time both and print them as JSON."""
    print(json.dumps(asyncio.run(_measure(CALLS, REPEATS))))  # noqa: T201 - read by the caller


if __name__ == "__main__":
    main()
