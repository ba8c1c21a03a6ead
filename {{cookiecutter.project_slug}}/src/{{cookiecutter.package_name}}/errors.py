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


async def handle_service_error(_request: Request, exc: Exception) -> JSONResponse:
    """Answer a `ServiceError` with its status and a JSON body."""
    if not isinstance(exc, ServiceError):  # pragma: no cover - registered for ServiceError only
        raise exc
    return JSONResponse(ErrorBody(detail=exc.detail).model_dump(), status_code=exc.status_code)
