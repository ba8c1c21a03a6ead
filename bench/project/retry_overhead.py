"""The retry layer's own cost on the happy path, timed in-process where no network adds noise.

A call that succeeds at once goes through the template's `UpstreamClient._exchange` and
through `OneAttemptClient._exchange`, the same cut down to its one attempt (no retry code
around it), the attempt itself stubbed out in both to answer at once: what is left is the
code around the attempt. The two take turns in several repeats, and each keeps its fastest
(the least disturbed by anything else on the machine), as timeit does.

Run inside the default project's environment: `python -m bench.project.retry_overhead`; it
prints the nanoseconds a call takes either way as JSON.
"""

import asyncio
import json
import time
from urllib.parse import urlsplit

import aiohttp
from my_service.config import Settings
from my_service.upstream import Method, UpstreamClient
from pydantic import BaseModel

CALLS = 100_000
REPEATS = 7
_ANSWER = (200, b'{"id":1,"name":"widget"}')


class StubbedClient(UpstreamClient):
    """The template's client, its attempt answering at once, as a healthy upstream would."""

    __slots__ = ()

    async def _attempt(self, method: Method, path: str, payload: bytes | None) -> tuple[int, bytes]:
        return _ANSWER


class OneAttemptClient(StubbedClient):
    """The same, its exchange cut down to the bare attempt: no retry code around it."""

    __slots__ = ()

    async def _exchange(
        self,
        method: Method,
        path: str,
        body: BaseModel | None,
        retry: bool | None,
        started: float,
    ) -> tuple[int, bytes]:
        parts = urlsplit(path)
        if parts.scheme or parts.netloc or path.startswith("/"):
            raise ValueError(f"upstream paths must be relative, got {path!r}")
        payload = None if body is None else body.model_dump_json().encode()
        return await self._attempt(method, path, payload)


async def _per_call_ns(client: UpstreamClient, calls: int) -> float:
    exchange = client._exchange  # noqa: SLF001 - the method under measurement
    started = time.perf_counter_ns()
    for _ in range(calls):
        await exchange("GET", "items/1", None, None, 0.0)
    return (time.perf_counter_ns() - started) / calls


async def measure(calls: int = CALLS, repeats: int = REPEATS) -> dict[str, float]:
    """The fastest nanoseconds per call of each client, over `repeats` turns of `calls`."""
    settings = Settings(_env_file=None)
    async with aiohttp.ClientSession() as session:  # never used: the attempt is stubbed
        clients = {
            "with_ns": StubbedClient(session, settings),
            "without_ns": OneAttemptClient(session, settings),
        }
        fastest = dict.fromkeys(clients, float("inf"))
        for _ in range(repeats):
            for key, client in clients.items():
                fastest[key] = min(fastest[key], await _per_call_ns(client, calls))
    return fastest


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))  # noqa: T201 - read by the caller
