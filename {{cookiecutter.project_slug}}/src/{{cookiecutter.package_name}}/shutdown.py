"""Shutting down without failing a request: the drain, and what the service answers meanwhile.

`Drain` is the part of the service (see resources.py) that knows whether the process has
begun to stop; `server.DrainingServer` starts it at SIGTERM.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .resources import Resources

_CLOSE = (b"connection", b"close")
_STOPPED_BODY = json.dumps(
    {"detail": "the service stopped before the request was done"}, separators=(",", ":")
).encode()


class Drain:
    """Whether the process has begun to shut down. Once it has, readiness answers 503 and
    every answer closes its connection, so load balancers and keep-alive clients move to
    other replicas while this one finishes what it has."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False

    def start(self) -> None:
        """Begin draining (safe to call from a signal handler: it only sets a flag)."""
        self.started = True

    def install(self, app: FastAPI) -> None:
        """Answer as `DuringShutdown` says, once the drain starts."""
        app.add_middleware(DuringShutdown, drain=self)

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Report to /ready, as `server`, whether shutdown has begun."""
        resources.add(self)
        resources.checks["server"] = self._problem
        yield

    async def _problem(self) -> str | None:
        return "shutting down" if self.started else None


class DuringShutdown:
    """What the service answers while it shuts down.

    Once `drain` has started, each answer carries `Connection: close`: the client reads it
    in full, then opens its next connection elsewhere. And a request cancelled before its
    answer started gets a 503 with a JSON detail: uvicorn cancels the requests still running
    when its graceful-shutdown timeout runs out, and each would otherwise end as a 500 and a
    traceback in the log (uvicorn ends the task either way, so it is answered here).
    """

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if self.drain.started:
                    message["headers"] = [*message.get("headers", ()), _CLOSE]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except asyncio.CancelledError:
            if started:
                raise
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_STOPPED_BODY)).encode()),
                        _CLOSE,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _STOPPED_BODY})
