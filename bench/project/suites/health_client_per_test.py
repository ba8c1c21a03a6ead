"""Part 1's (b): an `httpx.AsyncClient` and the app's lifespan for every test."""

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from my_service.app import create_app
from tests.support import make_settings, serve

TESTS = int(os.environ.get("BENCH_TESTS", "500"))
# Nothing listens here; /health never calls the upstream.
UNUSED_UPSTREAM = "http://127.0.0.1:9/"


@pytest.fixture(name="fresh_client")
async def fixture_fresh_client() -> AsyncIterator[httpx.AsyncClient]:
    """A new app for the test, its lifespan run around it (/health never calls upstream)."""
    async with serve(create_app(make_settings(upstream_base_url=UNUSED_UPSTREAM))) as client:
        yield client


@pytest.mark.parametrize("n", range(TESTS))
async def test_health(fresh_client: httpx.AsyncClient, n: int) -> None:
    """GET /health answers ok."""
    response = await fresh_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
