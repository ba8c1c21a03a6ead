"""Faults the service answers as JSON with a status of their own, never a 500."""

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class ErrorBody(BaseModel):
    """What the service answers when something it depends on fails."""

    detail: str


class ServiceError(Exception):
    """A fault the client gets as `status_code` and a JSON `detail`."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


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
        super().__init__(status_code, detail)
        self.retryable = retryable
        self.retry_after = retry_after
        self.upstream_status = upstream_status
        self.attempts = attempts


async def handle_service_error(_request: Request, exc: Exception) -> JSONResponse:
    """Answer a `ServiceError` with its status and a JSON body."""
    if not isinstance(exc, ServiceError):  # pragma: no cover - registered for ServiceError only
        raise exc
    return JSONResponse(ErrorBody(detail=exc.detail).model_dump(), status_code=exc.status_code)
