"""Liveness and readiness probes."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from ..dependencies import ResourcesDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The process is up and serving."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the service can do its work, and what each resource it needs says."""

    status: Literal["ready", "not ready"]
    # Each resource: "ok", or why it cannot serve now.
    checks: dict[str, str]


# Uptime monitors and load balancers often probe with HEAD: every GET route answers it too
# (methods.HeadAsGet).
@router.get("/health")
async def health() -> Health:
    """Liveness: answers as long as the process serves requests."""
    return Health(status="ok")


@router.get(
    "/ready",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Readiness}},
)
async def ready(response: Response, resources: ResourcesDep) -> Readiness:
    """Readiness: 503 unless every resource the service needs can serve, and from the moment
    the server begins to shut down."""
    names = list(resources.checks)
    problems = await asyncio.gather(*(check() for check in resources.checks.values()))
    checks = {name: problem or "ok" for name, problem in zip(names, problems, strict=True)}
    if any(problems):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(status="not ready", checks=checks)
    return Readiness(status="ready", checks=checks)
