"""The lifespan: one aiohttp session, usable from tests, closed on shutdown."""

import asyncio

import httpx
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.resources import Resources
from {{ cookiecutter.package_name }}.upstream import UpstreamClient

from .support import Serve
from .upstream import ITEMS


async def test_lifespan_session_works_from_the_test_body(resources: Resources) -> None:
    """The session the lifespan opened serves a call made straight from a test.

    This is what breaks when fixtures and tests run on different event loops.
    """
    async with resources.get(UpstreamClient).session.get("items/1") as response:
        assert response.status == 200
        assert await response.json() == ITEMS[1]


async def test_requests_share_the_lifespan_session(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    """Concurrent requests through the app all use the session the lifespan owns."""
    responses = await asyncio.gather(*(client.get("/ready") for _ in range(20)))
    assert {response.status_code for response in responses} == {200}
    assert not resources.get(UpstreamClient).session.closed


async def test_session_is_closed_after_shutdown(app: FastAPI, serve: Serve) -> None:
    """Leaving the lifespan closes its session."""
    async with serve(app) as client:
        http_session = client.resources.get(UpstreamClient).session
        assert not http_session.closed
    assert http_session.closed


async def test_ready_is_503_once_the_session_is_closed(app: FastAPI, serve: Serve) -> None:
    """/ready answers 503 when the upstream session can no longer be used."""
    async with serve(app) as client:
        await client.resources.get(UpstreamClient).session.close()
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["checks"]["http_session"] == "closed"
