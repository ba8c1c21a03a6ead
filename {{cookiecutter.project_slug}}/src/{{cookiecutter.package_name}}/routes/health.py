"""Liveness and readiness probes."""

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

{% if cookiecutter.database == "postgres" -%}
from ..db import DatabaseDep
{% endif -%}
from ..dependencies import DrainDep, HttpSessionDep

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
async def ready(
    response: Response,
    drain: DrainDep,
    http_session: HttpSessionDep,
{%- if cookiecutter.database == "postgres" %}
    database: DatabaseDep,
{%- endif %}
) -> Readiness:
    """Readiness: 503 unless every resource the service needs can serve, and from the moment
    the server begins to shut down."""
    problems = {
        "server": "shutting down" if drain.started else None,
        "http_session": "closed" if http_session.closed else None,
{%- if cookiecutter.database == "postgres" %}
        "database": await database.problem(),
{%- endif %}
    }
    checks = {name: problem or "ok" for name, problem in problems.items()}
    if any(problems.values()):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(status="not ready", checks=checks)
    return Readiness(status="ready", checks=checks)
