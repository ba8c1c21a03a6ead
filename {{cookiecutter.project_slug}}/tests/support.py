"""What the fixtures are made of: settings for a test, and an app served in-process."""

import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from typing import Any, cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from starlette.types import Receive, Scope, Send

from {{ cookiecutter.package_name }}.app import State
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.dependencies import UpstreamDep
from {{ cookiecutter.package_name }}.resources import Resources
from {{ cookiecutter.package_name }}.upstream import UpstreamClient

from .upstream import MAX_BODY_BYTES


class AppClient(httpx.AsyncClient):
    """An httpx client for one app served in-process: the app, and the resources its
    lifespan opened."""

    app: FastAPI
    resources: Resources


# log_lines(): every line logged so far in the test, as the service writes it in JSON, parsed.
LogLines = Callable[[], list[dict[str, Any]]]
# make_app(**settings): a new app built from the tests' settings with these changed.
AppFactory = Callable[..., FastAPI]
# serve(app): `async with serve(app) as client` starts the app's lifespan, then stops it.
Serve = Callable[[FastAPI], AbstractAsyncContextManager[AppClient]]


def make_settings(**values: Any) -> Settings:
    """Settings for a test: a 5 s upstream timeout and a 1 KiB body cap, `values` on top,
    no `.env`. The environment is left out by the autouse fixture in conftest.py, so a
    variable the developer exported cannot change what a test sees."""
    defaults: dict[str, Any] = {"upstream_timeout": 5.0, "upstream_max_body_bytes": MAX_BODY_BYTES}
    return Settings(_env_file=None, **{**defaults, **values})


@asynccontextmanager
async def serve(app: FastAPI, headers: Mapping[str, str] | None = None) -> AsyncIterator[AppClient]:
    """Start `app` through its lifespan, yield a client that talks to it (sending `headers`
    with every request), then stop it."""
    states: list[dict[str, Any]] = []

    async def record_state(scope: Scope, receive: Receive, send: Send) -> None:
        # ASGI's lifespan scope carries the "state" dict that the app fills with what its
        # lifespan yields and that the server then hands to every request: keep a reference.
        if scope["type"] == "lifespan":
            states.append(scope["state"])
        await app(scope, receive, send)

    async with LifespanManager(record_state) as manager:
        # manager.app, not the bare app: it carries the lifespan's state into each request.
        transport = httpx.ASGITransport(app=manager.app)
        async with AppClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            client.app = app
            client.resources = cast(State, states[0])["resources"]
            yield client


def upstream_client(resources: Resources, **changes: Any) -> UpstreamClient:
    """A client on the served app's session, with these settings changed."""
    session = resources.get(UpstreamClient).session
    return UpstreamClient(session, resources.settings.model_copy(update=changes))


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def refused_url() -> str:
    """A loopback URL where nothing listens: connecting to it is refused."""
    return f"http://127.0.0.1:{free_port()}/"


def calling_upstream(app: FastAPI) -> FastAPI:
    """Give `app` a route, `GET /probe/<path>`, that asks the upstream for <path> through the
    app's session: a test of what happens around an upstream call, with or without the example.
    It comes in a router included with a prefix, as a versioned API's routes would (from
    FastAPI 0.137, the route a middleware sees leaves that prefix out of its path)."""
    router = APIRouter()

    @router.get("/{path:path}")
    async def probe(path: str, upstream: UpstreamDep) -> object:
        return await upstream.get_json(path)

    app.include_router(router, prefix="/probe")
    return app


def serve_for_the_run(
    config: pytest.Config, variable: str, start: Callable[[ExitStack], str]
) -> None:
    """In the main pytest process, start a server for the whole run unless the environment
    `variable` names one already. `start` starts it, leaves on the stack what stops it, and
    returns its URL, which goes in `variable` for pytest-xdist's workers to inherit. The
    server stops when the run ends."""
    if os.environ.get(variable) or hasattr(config, "workerinput"):
        return
    stack = ExitStack()
    config.add_cleanup(stack.close)
    os.environ[variable] = start(stack)
    stack.callback(os.environ.pop, variable)
