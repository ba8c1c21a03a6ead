"""The service's long-lived resources: opened in order from the settings, closed in reverse.

Each part of the service that holds something open for the life of the process (the HTTP
session, the database's pool, the tracer's export) is a class in a module of its own, made
from the settings by that module's `part(settings)`; `parts.py` lists them in the order they
open. A part has two methods:

- `install(app)`: what it adds to an app when the app is built (middleware, routes);
- `open(resources)`: opens what it holds, adds it to `resources` (and, if it can fail, a
  check for `/ready`), and closes it when the block ends.

`open_resources` opens the parts in order and yields one `Resources`, where each resource is
found by its type (`resources.get(UpstreamClient)`). The app's lifespan enters it (app.py),
and so can anything else that needs the same resources without an app, such as a worker or a
script. A request reaches a resource through its dependency (`UpstreamDep`), never a global.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Protocol, TypeVar, cast

import aiohttp
import structlog
from fastapi import FastAPI

from .config import Settings

T = TypeVar("T")
log = structlog.get_logger(__name__)

# How /ready asks a resource whether it can serve: None when it can, else why not.
Check = Callable[[], Awaitable[str | None]]


class Resources:
    """What the parts opened, each found by its type, and how to ask each if it can serve."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # For /ready: each resource's name and its check, in the order they opened.
        self.checks: dict[str, Check] = {}
        # What watches every call through the HTTP session besides the request id (tracing,
        # metrics): parts that open before it add theirs.
        self.http_trace_configs: list[aiohttp.TraceConfig] = []
        self._by_type: dict[type, object] = {}

    def add(self, resource: object) -> None:
        """Keep `resource`, to be found by its type."""
        kind = type(resource)
        if kind in self._by_type:
            raise ValueError(f"a {kind.__name__} was opened already")
        self._by_type[kind] = resource

    def get(self, kind: type[T]) -> T:
        """The resource of this type; LookupError when no part opened one."""
        try:
            return cast(T, self._by_type[kind])
        except KeyError:
            raise LookupError(f"no part of the service opened a {kind.__name__}") from None


class Part(Protocol):
    """A part of the service that holds something open (see the module's doc)."""

    def install(self, app: FastAPI) -> None:
        """Add what the part serves to `app`, when the app is built."""

    def open(self, resources: Resources) -> AbstractAsyncContextManager[None]:
        """Open what the part holds and add it to `resources`; close it when the block ends."""


# What each part's module offers parts.py: the part, made from the settings.
PartFactory = Callable[[Settings], Part]


@asynccontextmanager
async def open_resources(settings: Settings, parts: Sequence[Part]) -> AsyncIterator[Resources]:
    """Open every part in order and yield what they opened; when the block ends, close them
    in reverse, each within `settings.close_timeout` (a part that takes longer is logged and
    left behind, so the process still stops in time)."""
    resources = Resources(settings)
    async with AsyncExitStack() as stack:
        for part in parts:
            opened = part.open(resources)
            await opened.__aenter__()
            stack.push_async_callback(_close, opened, type(part).__name__, settings.close_timeout)
        yield resources


async def _close(opened: AbstractAsyncContextManager[None], name: str, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await opened.__aexit__(None, None, None)
    except TimeoutError:
        log.warning("a resource took too long to close, and was left", part=name, seconds=seconds)
