"""A real upstream for the tests: aiohttp.web on 127.0.0.1, with a path for every fault."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import httpx
from aiohttp import web
from aiohttp.typedefs import Handler
from asgi_lifespan import LifespanManager

from {{ cookiecutter.package_name }}.app import State, create_app
from {{ cookiecutter.package_name }}.config import Settings

# The upstream's items; any other id is a 404.
ITEMS = {1: {"id": 1, "name": "widget"}}
# Bodies larger than this are refused: the tests' setting for upstream_max_body_bytes.
MAX_BODY_BYTES = 1024
# How long the "slow" fault keeps a request waiting; far above the timeout the tests set.
SLOW_SECONDS = 30.0


class Fault(NamedTuple):
    """An upstream misbehaviour and what the service must answer to it."""

    mode: str
    status_code: int
    detail: str


FAULTS = [
    Fault("status-500", 502, "upstream answered 500"),
    Fault("status-503", 502, "upstream answered 503"),
    Fault("redirect", 502, "upstream answered 302"),
    Fault("not-json", 502, "upstream sent invalid JSON"),
    Fault("cut-short", 502, "upstream connection failed"),
    Fault("too-large", 502, "upstream response too large"),
    Fault("too-large-chunked", 502, "upstream response too large"),
    Fault("slow", 504, "upstream timed out"),
]

# client_for(base_url, **settings): a separately served app, for one `async with`.
ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


# Headers the upstream sends that must never reach the service's clients.
PRIVATE_HEADERS = {"Set-Cookie": "upstream-session=secret", "X-Upstream-Internal": "secret"}


@dataclass
class Upstream:
    """The running fake upstream: its base URL, and every path and query it was asked for."""

    url: str
    seen: list[str] = field(default_factory=list)


async def _item(request: web.Request) -> web.Response:
    item = ITEMS.get(int(request.match_info["item_id"]))
    if item is None:
        raise web.HTTPNotFound
    return web.json_response(item, headers=PRIVATE_HEADERS)


async def _headers(request: web.Request) -> web.Response:
    return web.json_response({"authorization": request.headers.get("Authorization")})


async def _fault(request: web.Request) -> web.StreamResponse:  # noqa: PLR0911 - one branch per fault
    mode = request.match_info["mode"]
    if mode.startswith("status-"):
        return web.Response(status=int(mode.removeprefix("status-")), text="upstream failed")
    if mode == "redirect":
        return web.Response(status=302, headers={"Location": "http://127.0.0.2/"})
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
    raise web.HTTPNotFound


@asynccontextmanager
async def run_upstream() -> AsyncIterator[Upstream]:
    """Serve the fake upstream on 127.0.0.1 at a free port."""
    seen: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(request.path_qs)
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.router.add_get("/headers", _headers)
    app.router.add_get("/items/{item_id:\\d+}", _item)
    app.router.add_get("/faults/{mode}/items/{item_id:\\d+}", _fault)
    # handler_cancellation: a request the client gave up on stops waiting at once.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield Upstream(f"http://{host}:{port}/", seen)
    finally:
        await runner.cleanup()


def refused_url() -> str:
    """A loopback URL where nothing listens: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def lifespan_state(manager: LifespanManager) -> State:
    """The state the app's lifespan yielded, as every request through `manager.app` sees it."""
    # asgi-lifespan keeps that dict here and puts this same object in each request's scope.
    return cast(State, manager._state)  # noqa: SLF001


def make_settings(upstream_url: str, **overrides: Any) -> Settings:
    """Settings for a test: nothing read from `.env`, the upstream at `upstream_url`."""
    values: dict[str, Any] = {
        "upstream_base_url": upstream_url,
        "upstream_timeout": 5.0,
        "upstream_max_body_bytes": MAX_BODY_BYTES,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, LifespanManager]]:
    """Run an app through its lifespan and talk to it in-process over httpx."""
    async with LifespanManager(create_app(settings)) as manager:
        # manager.app, not the bare app: it carries the lifespan's state into each request.
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, manager
