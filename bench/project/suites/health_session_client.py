"""Part 1's (a), the template's way: the session-scoped `client` of the project's conftest
(one app, its lifespan run once, an `httpx.AsyncClient` over `ASGITransport`)."""

import os

import httpx
import pytest

TESTS = int(os.environ.get("BENCH_TESTS", "500"))


@pytest.mark.parametrize("n", range(TESTS))
async def test_health(client: httpx.AsyncClient, n: int) -> None:
    """GET /health answers ok."""
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
