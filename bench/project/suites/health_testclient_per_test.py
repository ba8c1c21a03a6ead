"""Part 1's (d): a `TestClient` with the app's lifespan for every test."""

import os
from collections.abc import Iterator

import pytest
from my_service.app import create_app
from starlette.testclient import TestClient
from tests.support import make_settings

TESTS = int(os.environ.get("BENCH_TESTS", "500"))
# Nothing listens here; /health never calls the upstream.
UNUSED_UPSTREAM = "http://127.0.0.1:9/"


@pytest.fixture(name="fresh_sync_client")
def fixture_fresh_sync_client() -> Iterator[TestClient]:
    """A new app for the test, its lifespan on the TestClient's own thread and loop."""
    with TestClient(create_app(make_settings(upstream_base_url=UNUSED_UPSTREAM))) as client:
        yield client


@pytest.mark.parametrize("n", range(TESTS))
def test_health(fresh_sync_client: TestClient, n: int) -> None:
    """GET /health answers ok."""
    response = fresh_sync_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
