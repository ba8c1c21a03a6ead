"""Pure ASGI middleware: it wraps the application without buffering or re-reading requests."""

import asyncio
import json
import re
import uuid
from contextvars import ContextVar

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept when it is this: short, printable, nothing a log or header would mangle.
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

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


def current_request_id() -> str | None:
    """The id of the request being served, or None outside one."""
    return _request_id.get()


class RequestId:
    """Give every request an id: the caller's `X-Request-ID` when it is well formed, else a new
    one. The id is returned in the response's header, bound to every log line written while
    the request is served, and sent on to the upstream (`upstream.open_http_session`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (value for name, value in scope["headers"] if name == b"x-request-id"), b""
        ).decode("latin-1")
        request_id = incoming if _WELL_FORMED_ID.fullmatch(incoming) else uuid.uuid4().hex

        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = _request_id.set(request_id)
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**bound)
            _request_id.reset(token)
