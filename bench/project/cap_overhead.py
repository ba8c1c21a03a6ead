"""The cap on a request's head, its own cost, timed in-process where no network adds noise.

`HeadCappedHttpTools` adds three methods around uvicorn's httptools protocol: each request
passes through all three once (its data received, its headers complete, its end). Here they
run with uvicorn's own methods underneath stubbed out, against uvicorn's class with the same
stubs: what is left is the cap's code. The two take turns, each keeping its fastest repeat.

Run inside the default project's environment: `python -m bench.project.cap_overhead`; it
prints the nanoseconds a request takes either way as JSON.
"""

import json
import time

import uvicorn
from my_service.server import HeadCappedHttpTools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REQUESTS = 200_000
REPEATS = 7
_REQUEST = b"GET /items/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class _Transport:
    def is_closing(self) -> bool:
        return False


def _stub_uvicorn() -> None:
    """uvicorn's three methods do nothing (in this process only)."""

    def nothing(*_args: object) -> None:
        return None

    for name in ("data_received", "on_headers_complete", "on_message_complete"):
        setattr(HttpToolsProtocol, name, nothing)


def _per_request_ns(protocol: HttpToolsProtocol, requests: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(requests):
        protocol.data_received(_REQUEST)
        protocol.on_headers_complete()
        protocol.on_message_complete()
    return (time.perf_counter_ns() - started) / requests


def measure(requests: int = REQUESTS, repeats: int = REPEATS) -> dict[str, float]:
    """The fastest nanoseconds per request through each class's methods."""
    _stub_uvicorn()
    config = uvicorn.Config(app="unused", h11_max_incomplete_event_size=16_384)
    protocols: dict[str, HttpToolsProtocol] = {}
    for key, kind in (("with_ns", HeadCappedHttpTools), ("without_ns", HttpToolsProtocol)):
        protocol = object.__new__(kind)  # no connection: only the methods are timed
        protocol.config = config
        protocol.transport = _Transport()  # type: ignore[assignment]
        protocols[key] = protocol
    fastest = dict.fromkeys(protocols, float("inf"))
    for _ in range(repeats):
        for key, protocol in protocols.items():
            fastest[key] = min(fastest[key], _per_request_ns(protocol, requests))
    return fastest


if __name__ == "__main__":
    print(json.dumps(measure()))  # noqa: T201 - read by the caller
