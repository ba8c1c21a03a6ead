"""A fake upstream: aiohttp.web on 127.0.0.1, with an item to serve and a path for every fault.

The tests start it on a free port. To try the service by hand, run it at the address the
service's settings give for the upstream (http://127.0.0.1:9000/ unless set otherwise):

    uv run python -m tests.upstream
"""

import asyncio
import contextlib
import itertools
import json
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from {{ cookiecutter.package_name }}.config import Settings

# The upstream's items; any other id is a 404.
ITEMS = {1: {"id": 1, "name": "widget"}}
# Bodies larger than this are refused: the tests' setting for upstream_max_body_bytes.
MAX_BODY_BYTES = 1024
# How long the "slow" fault keeps a request waiting; far above the timeout the tests set.
SLOW_SECONDS = 30.0
# The length the "stalled" fault announces, of which it sends only the first 8 bytes.
STALLED_BYTES = 100
# Headers the upstream sends that must never reach the service's clients.
PRIVATE_HEADERS = {"Set-Cookie": "upstream-session=secret", "X-Upstream-Internal": "secret"}


class Fault(NamedTuple):
    """An upstream misbehaviour and what the service must answer to it."""

    mode: str
    status_code: int
    detail: str

    def body(self) -> object:
        """The JSON the service answers: `{"detail": ...}`, a list of problems for a 422."""
        if self.status_code == 422:
            return {"detail": [{"loc": ["body"], "msg": self.detail, "type": "upstream_refused"}]}
        return {"detail": self.detail}


FAULTS = [
    Fault("status-500", 502, "upstream answered 500"),
    Fault("status-400", 502, "upstream answered 400"),
    Fault("status-409", 409, "conflict upstream"),
    Fault("status-422", 422, "refused upstream"),
    Fault("status-503", 502, "upstream answered 503"),
    Fault("redirect", 502, "upstream answered 302"),
    Fault("not-json", 502, "upstream sent invalid JSON"),
    Fault("cut-short", 502, "upstream connection failed"),
    Fault("too-large", 502, "upstream response too large"),
    Fault("too-large-chunked", 502, "upstream response too large"),
    Fault("slow", 504, "upstream timed out"),
]


class Received(NamedTuple):
    """A request the fake upstream received: its path and query, headers, method and body."""

    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""


@dataclass
class Trouble:
    """What the fake upstream does to the next `times` requests, whatever their path, before
    it answers as usual again: answer `status` (an int, with `Retry-After` if given), or
    "drop" the connection unanswered, or "hang" for SLOW_SECONDS."""

    times: int = 0
    status: int | Literal["drop", "hang"] = 503
    retry_after: str | None = None


@dataclass
class Upstream:
    """The running fake upstream: its base URL, every request it received, in order, and the
    trouble it is told to make, in turn."""

    url: str
    received: list[Received] = field(default_factory=list)
    troubles: list[Trouble] = field(default_factory=list)

    @property
    def seen(self) -> list[str]:
        """The path and query of every request received, in order."""
        return [request.path for request in self.received]

    def with_header(self, name: str, value: str) -> list[Received]:
        """The requests received with header `name` set to `value` (a test's request id, say)."""
        wanted = name.lower()
        return [request for request in self.received if request.headers.get(wanted) == value]

    @contextlib.contextmanager
    def failing(
        self,
        times: int,
        status: int | Literal["drop", "hang"] = 503,
        retry_after: str | None = None,
    ) -> Iterator[None]:
        """Within the block, the next `times` requests get `Trouble(times, status, retry_after)`."""
        with self.failing_in_turn(Trouble(times, status, retry_after)):
            yield

    @contextlib.contextmanager
    def failing_in_turn(self, *troubles: Trouble) -> Iterator[None]:
        """Within the block, the next requests get each trouble in turn: the first's `times`
        requests get the first, the requests after them the second, and so on."""
        self.troubles = list(troubles)
        try:
            yield
        finally:
            self.troubles = []


async def _headers(request: web.Request) -> web.Response:
    return web.json_response({"authorization": request.headers.get("Authorization")})


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"method": request.method, "body": json.loads(body or "null")})


async def _no_content(_request: web.Request) -> web.Response:
    return web.Response(status=204)


async def _body_of_size(request: web.Request) -> web.StreamResponse:
    """A JSON string of exactly `size` bytes, with its Content-Length, or at `.../chunked`
    without one, written in three pieces."""
    size = int(request.match_info["size"])
    body = b'"' + b"x" * (size - 2) + b'"'
    if not request.match_info["chunked"]:
        return web.Response(body=body, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    piece = size // 3 + 1
    for start in range(0, size, piece):
        await response.write(body[start : start + piece])
    await response.write_eof()
    return response


async def _fault(request: web.Request) -> web.StreamResponse:  # noqa: PLR0911 - one branch per fault
    mode = request.match_info["mode"]
    if mode.startswith("status-"):
        return web.Response(status=int(mode.removeprefix("status-")), text="upstream failed")
    if mode == "redirect":
        return web.Response(status=302, headers={"Location": "http://127.0.0.2/"})
    if mode.startswith("moved-"):
        # To an item the upstream has: followed, the redirect would end in a 200.
        code = int(mode.removeprefix("moved-"))
        return web.Response(status=code, headers={"Location": "/items/1"})
    if mode == "not-json":
        return web.Response(text="<html>not json</html>", content_type="text/html")
    if mode == "wrong-shape":
        return web.json_response({"unexpected": True})
    if mode == "too-large":
        return web.json_response({"name": "x" * MAX_BODY_BYTES})
    if mode == "too-large-chunked":
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(4):
            await response.write(json.dumps({"name": "x" * (MAX_BODY_BYTES // 2)}).encode())
        await response.write_eof()
        return response
    if mode == "cut-short":
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 100
        await response.prepare(request)
        await response.write(b'{"id": 1, "na')
        if request.transport is not None:
            request.transport.close()
        return response
    if mode == "slow":
        await asyncio.sleep(SLOW_SECONDS)
        return web.json_response(ITEMS[1])
    if mode == "stalled":
        # A 200 announcing STALLED_BYTES: its status line and a few bytes come, the rest never.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = STALLED_BYTES
        await response.prepare(request)
        await response.write(b'{"id": 1')
        await asyncio.sleep(SLOW_SECONDS)
        return response
    raise web.HTTPNotFound


def build_upstream(upstream: Upstream) -> web.Application:
    """The fake upstream's aiohttp application: it records each request in
    `upstream.received` and makes the troubles `upstream.troubles` asks for, in turn."""
    # Items made by POST get ids from 1000 on: the ids the tests expect to be missing stay so.
    items = dict(ITEMS)
    made = itertools.count(1000)

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = await request.read()
        upstream.received.append(Received(request.path_qs, headers, request.method, body))
        troubles = upstream.troubles
        while troubles and troubles[0].times <= 0:
            troubles.pop(0)
        if not troubles:
            return await handler(request)
        trouble = troubles[0]
        trouble.times -= 1
        if trouble.status == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response()  # never sent: the connection is gone
        if trouble.status == "hang":
            await asyncio.sleep(SLOW_SECONDS)
            return web.Response(status=504)
        headers = {} if trouble.retry_after is None else {"Retry-After": trouble.retry_after}
        return web.Response(status=trouble.status, text="upstream in trouble", headers=headers)

    async def read_item(request: web.Request) -> web.Response:
        item = items.get(int(request.match_info["item_id"]))
        if item is None:
            raise web.HTTPNotFound
        return web.json_response(item, headers=PRIVATE_HEADERS)

    async def create_item(request: web.Request) -> web.Response:
        draft = await request.json()
        if any(item["name"] == draft["name"] for item in items.values()):
            return web.json_response({"error": "name taken"}, status=409)
        item = {"id": next(made), "name": draft["name"]}
        items[item["id"]] = item
        return web.json_response(item, status=201)

    app = web.Application(middlewares=[record])
    app.router.add_get("/headers", _headers)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_route("*", "/no-content", _no_content)
    app.router.add_get("/bodies/{size:\\d+}{chunked:(/chunked)?}", _body_of_size)
    app.router.add_get("/items/{item_id:\\d+}", read_item)
    app.router.add_post("/items", create_item)
    app.router.add_route("*", "/faults/{mode}/items{tail:.*}", _fault)
    return app


@asynccontextmanager
async def run_upstream(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Upstream]:
    """Serve the fake upstream at `host`:`port` (a free port by default) until the block ends."""
    upstream = Upstream("")
    # handler_cancellation: a request the client gave up on stops waiting at once.
    runner = web.AppRunner(build_upstream(upstream), handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        upstream.url = f"http://{bound_host}:{bound_port}/"
        yield upstream
    finally:
        await runner.cleanup()


async def until_stopped() -> None:
    """Wait for SIGINT or SIGTERM: a server of the tests run by hand serves until then."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Also when started in the background by a shell, which leaves SIGINT ignored. Windows
        # has no signal handlers on the loop: Ctrl-C raises KeyboardInterrupt there.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _serve_forever() -> None:
    url = urlsplit(str(Settings().upstream_base_url))
    async with run_upstream(url.hostname or "127.0.0.1", url.port or 80) as upstream:
        print(f"Fake upstream on {upstream.url} (Ctrl-C stops)", flush=True)  # noqa: T201
        await until_stopped()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever())
