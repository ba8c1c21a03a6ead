"""Liveness and readiness probes."""

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from ..dependencies import HttpSessionDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The process is up and serving."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the service can do its work."""

    status: Literal["ready", "not ready"]
    http_session_open: bool


# Uptime monitors and load balancers often probe with HEAD: both probes answer it too (the
# same handler, left out of the OpenAPI schema, where it would repeat the GET operation).
@router.get("/health")
@router.head("/health", include_in_schema=False)
async def health() -> Health:
    """Liveness: answers as long as the process serves requests."""
    return Health(status="ok")


@router.get(
    "/ready",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Readiness}},
)
@router.head("/ready", include_in_schema=False)
async def ready(http_session: HttpSessionDep, response: Response) -> Readiness:
    """Readiness: 503 unless the upstream session is open."""
    if http_session.closed:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(status="not ready", http_session_open=False)
    return Readiness(status="ready", http_session_open=True)
