"""Dependency overrides, as FastAPI teaches them, on an app run through its real lifespan:
overriding a resource's dependency changes what every handler, and every dependency built on
it, gets."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.dependencies import HttpSessionDep, get_upstream
from {{ cookiecutter.package_name }}.upstream import UpstreamClient, open_http_session

from .support import Serve, calling_upstream, make_settings, refused_url


@pytest.fixture(name="elsewhere")
async def fixture_elsewhere() -> AsyncIterator[UpstreamClient]:
    """An upstream client of the test's own, for an upstream that refuses every connection."""
    settings = make_settings(upstream_base_url=refused_url())
    async with open_http_session(settings) as session:
        yield UpstreamClient(session, settings)


async def test_overriding_the_upstream_moves_everything_built_on_it(
    app: FastAPI, serve: Serve, elsewhere: UpstreamClient
) -> None:
    """With `get_upstream` overridden, handlers call the override's upstream, and
    `HttpSessionDep`, built on it, hands out the override's session; the app's own client,
    opened by its lifespan, is left as it was."""

    async def upstream_elsewhere() -> UpstreamClient:
        return elsewhere

    @app.get("/probe/session")
    async def session(http_session: HttpSessionDep) -> dict[str, bool]:
        return {"the override's": http_session is elsewhere.session}

    app.dependency_overrides[get_upstream] = upstream_elsewhere
    async with serve(calling_upstream(app)) as client:
        call = await client.get("/probe/items/1")
        given = await client.get("/probe/session")
        own = client.resources.get(UpstreamClient)
        assert own is not elsewhere
        assert not own.session.closed
    assert (call.status_code, call.json()) == (502, {"detail": "upstream unreachable"})
    assert given.json() == {"the override's": True}


async def test_an_override_stays_with_its_app(
    app: FastAPI, serve: Serve, client: httpx.AsyncClient, elsewhere: UpstreamClient
) -> None:
    """An override set on a test's own app leaves the shared `client`'s app untouched."""

    async def upstream_elsewhere() -> UpstreamClient:
        return elsewhere

    app.dependency_overrides[get_upstream] = upstream_elsewhere
    async with serve(calling_upstream(app)) as own_client:
        overridden = await own_client.get("/probe/items/1")
    shared = await client.get("/health")
    assert (overridden.status_code, shared.status_code) == (502, 200)
