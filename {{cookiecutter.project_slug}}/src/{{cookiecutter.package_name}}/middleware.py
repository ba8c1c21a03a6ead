"""Pure ASGI middleware: it wraps the application without buffering or re-reading requests."""

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STOPPED_BODY = json.dumps(
    {"detail": "the service stopped before the request was done"}, separators=(",", ":")
).encode()


class AnswerCancelledRequests:
    """A request cancelled before its answer started gets a 503 with a JSON detail.

    uvicorn cancels the requests still running when its graceful-shutdown timeout runs out.
    Left alone, each would end as a 500 and a traceback in the log; uvicorn ends the task
    either way, so the cancellation is answered here instead of being raised further.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
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
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _STOPPED_BODY})
