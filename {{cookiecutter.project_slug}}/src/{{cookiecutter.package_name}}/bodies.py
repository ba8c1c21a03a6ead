"""What a request body may be: at most `max_body_bytes`, and JSON whose text is Unicode.

JSON lets a string escape half of a surrogate pair (`"\\ud800"`), which Python's parser
takes and no UTF-8 encoder gives back: such text would fail wherever it went next (the
database, the upstream, the answer). pydantic's own parser refuses it; bodies that hold
such an escape are checked with it, so every handler sees only text that can be encoded.
"""

import re

import pydantic_core
from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ErrorBody

# A \u escape into the surrogates (D800 to DFFF): the only way JSON can spell one. A body
# without it is not parsed twice.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

# Content Too Large (RFC 9110), a number here: Starlette's name for it changed across versions.
HTTP_413 = 413
# Pass as `responses=` to a route that reads a body, so its OpenAPI lists these faults.
BODY_RESPONSES: dict[int | str, dict[str, object]] = {
    status.HTTP_400_BAD_REQUEST: {"model": ErrorBody},
    HTTP_413: {"model": ErrorBody},
}


class BodyLimits:
    """Pure ASGI middleware: a body longer than `max_bytes` is a 413, one whose JSON holds a
    lone surrogate a 400; both raised when the handler reads the body, as FastAPI's own
    faults are. A declared length past the limit is refused before the app sees the request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send)
            return
        content_type = _header(scope, b"content-type") or b""
        json_body = content_type.split(b";")[0].strip().lower().endswith(b"json")
        received = bytearray()

        async def receive_checked() -> Message:
            message = await receive()
            if message["type"] != "http.request":
                return message
            received.extend(message.get("body", b""))
            if len(received) > self.max_bytes:
                # The rest of the body is never read: the connection cannot carry another request.
                raise HTTPException(HTTP_413, _TOO_LARGE, headers={"Connection": "close"})
            if json_body and not message.get("more_body", False):
                _check_unicode(received)
            return message

        await self.app(scope, receive_checked, send)


_TOO_LARGE = "request body too large"


def _check_unicode(body: bytearray) -> None:
    if not _SURROGATE_ESCAPE.search(body):
        return
    try:
        pydantic_core.from_json(bytes(body))
    except ValueError as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "the body is not JSON whose text is Unicode"
        ) from exc


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _too_large(send: Send) -> None:
    body = ErrorBody(detail=_TOO_LARGE).model_dump_json().encode()
    await send(
        {
            "type": "http.response.start",
            "status": HTTP_413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
