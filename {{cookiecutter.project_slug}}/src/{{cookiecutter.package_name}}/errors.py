"""Every fault answered as JSON with the status it deserves, and never a traceback.

- `ServiceError` (and its kinds): a fault the service knows, answered as its status and
  `{"detail": "..."}` (a 422 in the shape of a validation error).
- A request that fails validation: 422 `{"detail": [{"loc", "msg", "type"}, ...]}`, without the
  input echoed back (it may be huge, or text that cannot even be encoded).
- `JsonErrors`, the last line of defence: an exception no handler expected becomes a 500
  `{"detail": "internal error"}`, logged once with its traceback and the request id; an error
  some layer answered as plain text (a refused host, say) is answered as JSON instead.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

INTERNAL_ERROR = "internal error"
# Unprocessable Content, a number here: Starlette's name for it changed across versions.
HTTP_422 = 422


class ErrorBody(BaseModel):
    """What the service answers when a request cannot be served."""

    detail: str


class Problem(BaseModel):
    """One thing wrong with a request: where (`loc`), what (`msg`), of which kind (`type`)."""

    loc: list[str | int]
    msg: str
    type: str


class ProblemsBody(BaseModel):
    """What a 422 answers: each thing wrong with the request (FastAPI's validation errors)."""

    detail: list[Problem]


class ServiceError(Exception):
    """A fault the client gets as `status_code` and a JSON `detail`.

    A 422 is answered in the shape of a validation error (`ProblemsBody`), with `loc` and
    `kind` saying where and what, so that a client reads every 422 the same way. `headers`
    go with the answer (a 401's `WWW-Authenticate`, say).
    """

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        loc: Sequence[str | int] = (),
        kind: str = "refused",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.loc = list(loc)
        self.kind = kind
        self.headers = headers

    def body(self) -> dict[str, Any]:
        """The answer's JSON body."""
        if self.status_code == HTTP_422:
            return {"detail": [{"loc": self.loc, "msg": self.detail, "type": self.kind}]}
        return {"detail": self.detail}


class UpstreamError(ServiceError):
    """An upstream call that failed; the client gets `status_code` and `detail` as JSON.

    `retryable`: the same call may pass if made again (a refused or dropped connection, a
    timeout, a 502, 503 or 504). `retry_after`: the upstream's hint, in seconds.
    `upstream_status`: what the upstream answered, if it did. `attempts`: how many were made.
    """

    def __init__(  # noqa: PLR0913 - each is a fact about the fault, passed by keyword
        self,
        status_code: int,
        detail: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        upstream_status: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(status_code, detail, loc=("body",), kind="upstream_refused")
        self.retryable = retryable
        self.retry_after = retry_after
        self.upstream_status = upstream_status
        self.attempts = attempts


async def handle_service_error(_request: Request, exc: Exception) -> JSONResponse:
    """Answer a `ServiceError` with its status and JSON body."""
    if not isinstance(exc, ServiceError):  # pragma: no cover - registered for ServiceError only
        raise exc
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


async def handle_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """A 422 naming each field that was wrong and why. The input is not echoed back: it can
    be large, and it can hold text that no JSON encoder takes (a lone surrogate)."""
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for it only
        raise exc
    errors = [
        {
            "loc": [_printable(part) for part in error["loc"]],
            "msg": _printable(error["msg"]),
            "type": error["type"],
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=HTTP_422)


def _printable(value: object) -> str | int:
    """A location part or message as JSON can carry it: an int, or text that encodes as
    UTF-8 (a lone surrogate, which a client can send as `\\ud800`, becomes `?`)."""
    if isinstance(value, int):
        return value
    return str(value).encode("utf-8", "replace").decode("utf-8")


_JSON = b"application/json"
_INTERNAL_ERROR_BODY = json.dumps({"detail": INTERNAL_ERROR}).encode()


class JsonErrors:
    """Pure ASGI middleware, just inside the request id: every answer it lets through is
    JSON, and an unexpected exception is a JSON 500, never a traceback or a dropped connection.

    An error answered in another type (Starlette's plain-text refusals) is answered again as
    `{"detail": "<its text>"}`. An exception raised before the answer began is logged once, at
    error level with its traceback and the request id, and answered as a 500 whose body says
    nothing of it; the connection stays usable. Raised after the answer began, it is logged
    the same way and the answer is left unfinished, so the server closes the connection
    rather than pass off a partial body as whole.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        held: Message | None = None  # the start of an error answer that is not JSON
        held_body = bytearray()

        async def send_json(message: Message) -> None:
            nonlocal started, held
            if message["type"] == "http.response.start":
                started = True
                if message["status"] >= status.HTTP_400_BAD_REQUEST and not _is_json(message):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                held_body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                text = held_body.decode("utf-8", "replace").strip()
                body = json.dumps({"detail": text or "error"}).encode()
                await _answer(send, held["status"], body, _kept_headers(held))
                return
            await send(message)

        try:
            await self.app(scope, receive, send_json)
        except Exception:
            log.exception(
                "unhandled error", http_method=scope.get("method"), http_path=scope.get("path")
            )
            if not started:
                await _answer(send, status.HTTP_500_INTERNAL_SERVER_ERROR, _INTERNAL_ERROR_BODY)


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return bytes(value).split(b";")[0].strip().lower() == _JSON
    return False


def _kept_headers(start: Message) -> list[tuple[bytes, bytes]]:
    """The headers of an answer being made JSON, less those that described the old body."""
    dropped = {b"content-type", b"content-length"}
    return [
        (name, value) for name, value in start.get("headers", ()) if name.lower() not in dropped
    ]


async def _answer(
    send: Send, status_code: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                *headers,
                (b"content-type", _JSON),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
