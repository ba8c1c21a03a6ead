"""Dependency overrides, as FastAPI teaches them, on an app run through its real lifespan."""

import aiohttp
import httpx
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.dependencies import get_http_session

from .support import Serve


async def _closed_session() -> aiohttp.ClientSession:
    session = aiohttp.ClientSession()
    await session.close()
    return session


async def test_an_override_replaces_what_a_handler_gets(app: FastAPI, serve: Serve) -> None:
    """/ready reports on the session an override hands it (here, one already closed), while
    the lifespan still runs and its own session stays open."""
    app.dependency_overrides[get_http_session] = _closed_session
    async with serve(app) as client:
        response = await client.get("/ready")
        assert not client.state["http_session"].closed
    assert response.status_code == 503
    assert response.json()["checks"]["http_session"] == "closed"


async def test_an_override_stays_with_its_app(
    app: FastAPI, serve: Serve, client: httpx.AsyncClient
) -> None:
    """An override set on a test's own app leaves the shared `client`'s app untouched."""
    app.dependency_overrides[get_http_session] = _closed_session
    async with serve(app) as own_client:
        overridden = await own_client.get("/ready")
    shared = await client.get("/ready")
    assert (overridden.status_code, shared.status_code) == (503, 200)
