"""The liveness and readiness probes."""

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.shutdown import Drain

from .support import Serve


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    """/health answers 200 while the process serves requests."""
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_every_resource_ok(client: httpx.AsyncClient) -> None:
    """/ready answers 200 once the lifespan has opened what the service needs, each "ok"."""
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    checks = response.json()["checks"]
    assert checks["http_session"] == "ok"
    assert set(checks.values()) == {"ok"}


@pytest.mark.parametrize("path", ["/health", "/ready"])
async def test_probes_answer_head(client: httpx.AsyncClient, path: str) -> None:
    """Monitors and load balancers that probe with HEAD get a 200, as GET does."""
    response = await client.head(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


async def test_ready_is_503_once_the_drain_starts(app: FastAPI, serve: Serve) -> None:
    """From the moment shutdown begins, readiness fails (a load balancer stops choosing this
    replica) while liveness and every other route still answer."""
    async with serve(app) as client:
        client.resources.get(Drain).start()
        ready = await client.get("/ready")
        health = await client.get("/health")
    assert ready.status_code == 503
    assert ready.json()["checks"]["server"] == "shutting down"
    assert health.status_code == 200
