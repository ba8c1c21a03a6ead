"""Fixtures: a real upstream, the app run through its lifespan, and an async client for it.

Everything here and every test share one event loop (see the asyncio settings in
pyproject.toml), so the aiohttp session the lifespan opens works in every test.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from {{ cookiecutter.package_name }}.app import State
from {{ cookiecutter.package_name }}.config import Settings

from .support import (
    ClientFactory,
    Upstream,
    lifespan_state,
    make_settings,
    run_upstream,
    serve,
)


@pytest.fixture(name="upstream", scope="session")
async def fixture_upstream() -> AsyncIterator[Upstream]:
    async with run_upstream() as upstream:
        yield upstream


@pytest.fixture(name="upstream_url", scope="session")
def fixture_upstream_url(upstream: Upstream) -> str:
    return upstream.url


@pytest.fixture(name="settings", scope="session")
def fixture_settings(upstream_url: str) -> Settings:
    return make_settings(upstream_url)


@pytest.fixture(name="served", scope="session")
async def fixture_served(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, LifespanManager]]:
    async with serve(settings) as served:
        yield served


@pytest.fixture(name="client", scope="session")
def fixture_client(served: tuple[httpx.AsyncClient, LifespanManager]) -> httpx.AsyncClient:
    """The client most tests use: one app, one lifespan, for the whole session."""
    return served[0]


@pytest.fixture(name="state", scope="session")
def fixture_state(served: tuple[httpx.AsyncClient, LifespanManager]) -> State:
    """What that app's lifespan yielded: the very objects its requests use."""
    return lifespan_state(served[1])


@pytest.fixture(name="client_for", scope="session")
def fixture_client_for() -> ClientFactory:
    """Serve a separate app for one `async with`, with its own upstream URL and settings."""

    @asynccontextmanager
    async def client_for(base_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with serve(make_settings(base_url, **overrides)) as (client, _):
            yield client

    return client_for
