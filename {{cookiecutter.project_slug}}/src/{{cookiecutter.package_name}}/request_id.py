"""Every request's id: kept from the caller or made, returned, logged, and sent upstream."""

import re
import uuid
from contextvars import ContextVar

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept when it is this: short, printable, nothing a log or header would mangle.
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, or None outside one."""
    return _request_id.get()


def carry_request_id(request_id: str | None) -> None:
    """Make `request_id` the current one for the rest of this task, outside a request (a job
    run for the request that enqueued it): logged with every line, and sent upstream."""
    _request_id.set(request_id)
    structlog.contextvars.bind_contextvars(request_id=request_id)


class RequestId:
    """Pure ASGI middleware that gives every request an id: the caller's `X-Request-ID` when it
    is well formed, else a new one. The id is returned in the response's header, bound to every
    log line written while the request is served, and sent on to the upstream (upstream.py)."""

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
