{%- set plugins = [
    "database" if cookiecutter.database == "postgres",
    "jobs" if cookiecutter.jobs,
    "auth" if cookiecutter.auth == "jwt",
] | select | list -%}
"""Fixtures: a real upstream, apps run through their real lifespan, async clients for them.

Everything here and every test share one event loop (see the asyncio settings in
pyproject.toml), so the aiohttp session a lifespan opens works in every test.

- `client`, `resources`: the app most tests use, started once for the whole run, and what
  its lifespan opened.
- `app`, `serve`: a new app for one test; change it (dependency overrides), then
  `async with serve(app) as client`.
- `make_app`: a new app with other settings, such as another upstream or a shorter timeout.
- `log_lines`: what the test logged, line by line, as the service writes it.
"""

import contextlib
import functools
import io
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import stamina
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.logs import formatter
from {{ cookiecutter.package_name }}.resources import Resources

from .support import AppClient, AppFactory, LogLines, Serve, make_settings, serve
from .upstream import Upstream, run_upstream

# The servers the tests start besides the upstream, each a module of tests/ that offers the
# settings pointing an app at its server as the fixture `<module>_settings`, and may offer
# headers every client sends to the tests' apps as `<module>_headers` (a token, say).
SERVERS: list[str] = {{ plugins | tojson }}
pytest_plugins = [f"tests.{name}" for name in SERVERS]


@pytest.fixture(name="_environment_left_out", scope="session", autouse=True)
def fixture_environment_left_out() -> Iterator[None]:
    """The tests' settings come from the tests alone: the service's variables (and
    OpenTelemetry's, which could send spans to a collector) are unset for the run. Tests of
    reading the environment set what they read (monkeypatch)."""
    prefixes = (Settings.model_config.get("env_prefix", "").upper(), "OTEL_")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.upper().startswith(prefixes):
                patch.delenv(name)
        yield


@pytest.fixture(name="_retries_without_waiting", scope="session", autouse=True)
def fixture_retries_without_waiting() -> Iterator[None]:
    """Retries happen as configured, but stamina's testing mode makes every wait between
    them none (a Retry-After included): a test of retrying never sleeps."""
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture(name="upstream", scope="session")
async def fixture_upstream() -> AsyncIterator[Upstream]:
    """The fake upstream (tests/upstream.py) on 127.0.0.1, for the whole run."""
    async with run_upstream() as upstream:
        yield upstream


@pytest.fixture(name="base_settings", scope="session")
def fixture_base_settings(
    _environment_left_out: None, upstream: Upstream, request: pytest.FixtureRequest
) -> dict[str, Any]:
    """Where the tests' apps find what they depend on, before a test changes any of it
    (built once the environment is left out, whichever fixture asks first)."""
    settings: dict[str, Any] = {"upstream_base_url": upstream.url}
    for name in SERVERS:
        settings.update(request.getfixturevalue(f"{name}_settings"))
    return settings


@pytest.fixture(name="client_headers", scope="session")
def fixture_client_headers(request: pytest.FixtureRequest) -> dict[str, str]:
    """What every client of the tests' apps sends, as the servers' modules ask."""
    headers: dict[str, str] = {}
    for name in SERVERS:
        with contextlib.suppress(pytest.FixtureLookupError):
            headers.update(request.getfixturevalue(f"{name}_headers"))
    return headers


@pytest.fixture(name="settings", scope="session")
def fixture_settings(base_settings: dict[str, Any]) -> Settings:
    """The settings of the tests' apps: the fake upstream, a 5 s timeout, a 1 KiB body cap."""
    return make_settings(**base_settings)


@pytest.fixture(name="client", scope="session")
async def fixture_client(settings: Settings, serve: Serve) -> AsyncIterator[AppClient]:
    """The client most tests use: one app, started through its lifespan once for the run."""
    async with serve(create_app(settings)) as client:
        yield client


@pytest.fixture(name="resources", scope="session")
def fixture_resources(client: AppClient) -> Resources:
    """What that app's lifespan opened: the very objects its requests use."""
    return client.resources


@pytest.fixture(name="make_app", scope="session")
def fixture_make_app(base_settings: dict[str, Any]) -> AppFactory:
    """Build a new app from the tests' settings with some changed: `make_app(upstream_timeout=0.3)`.

    To point an app at another upstream, give it `upstream_base_url`: the lifespan opens its
    session from the settings the app was built with, so that is the way to move it.
    """

    def make_app(**overrides: Any) -> FastAPI:
        return create_app(make_settings(**{**base_settings, **overrides}))

    return make_app


@pytest.fixture(name="app")
def fixture_app(make_app: AppFactory) -> FastAPI:
    """A new app for this test alone, not started yet: set `app.dependency_overrides`, then
    `async with serve(app) as client`. (`client` talks to another app, shared by the run.)"""
    return make_app()


@pytest.fixture(name="serve", scope="session")
def fixture_serve(client_headers: dict[str, str]) -> Serve:
    """`async with serve(app) as client`: run an app's lifespan around the block; the client
    sends `client_headers`."""
    return functools.partial(serve, headers=client_headers)


@pytest.fixture(name="log_lines")
def fixture_log_lines() -> Iterator[LogLines]:
    """`log_lines()`: the lines logged since the test began, each a dict, as the service
    writes them in JSON (with the request id bound while a request is served)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(as_json=True))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
