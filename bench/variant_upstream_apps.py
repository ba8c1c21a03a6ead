"""The example route without the retry layer, and the same proxy with no framework, for part 6.

- `create_no_retry_app`: the generated app, built by its own `create_app`, whose `get_upstream`
  dependency is overridden by a client that makes one attempt and nothing else: no
  try/except around it, no retry decision, no deadline, no fault log line.
- `create_overridden_app`: the same override, but returning the template's own client. Once
  an app has any dependency override, FastAPI rebuilds every sub-dependency of a route on
  every request, which costs far more than the retry layer: this twin pays that too, so that
  the two differ by the retry layer alone.
- `create_floor_app`: a bare Starlette app (no FastAPI, no dependency, no validation, no
  middleware): one aiohttp session made by its lifespan and kept at module level, one route
  that GETs `items/{id}` from the upstream and hands its bytes on as JSON.

Serve them inside the default project's environment, e.g.
`uvicorn bench.variant_upstream_apps:create_floor_app --factory`; the template reads its
settings from the environment as usual, the floor its upstream from `BENCH_UPSTREAM_BASE_URL`.
"""

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import urlsplit

import aiohttp
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The rendered project's package, importable where this runs (not where it is type-checked).
PACKAGE = "my_service"


def one_attempt_client() -> type:
    """The rendered project's `UpstreamClient`, its exchange cut down to the bare attempt."""
    upstream_client: Any = importlib.import_module(f"{PACKAGE}.upstream").UpstreamClient

    # The template's class is only known at run time: Any to mypy, which forbids that as a base.
    class OneAttemptClient(upstream_client):  # type: ignore[misc]
        """`UpstreamClient` whose exchange is the bare attempt."""

        __slots__ = ()

        async def _exchange(
            self,
            method: str,
            path: str,
            body: BaseModel | None,
            _retry: bool | None,  # what the retry layer would go by: unused here
            _started: float,
        ) -> tuple[int, bytes]:
            parts = urlsplit(path)
            if parts.scheme or parts.netloc or path.startswith("/"):
                raise ValueError(f"upstream paths must be relative, got {path!r}")
            payload = None if body is None else body.model_dump_json().encode()
            answer: tuple[int, bytes] = await self._attempt(method, path, payload)
            return answer

    return OneAttemptClient


def _overriding_upstream(client: type) -> FastAPI:
    """The template's app with `get_upstream` overridden by a provider of the same shape (the
    same two sub-dependencies) that returns a `client`."""
    dependencies = importlib.import_module(f"{PACKAGE}.dependencies")

    async def get_overriding_upstream(
        http_session: Annotated[aiohttp.ClientSession, Depends(dependencies.get_http_session)],
        settings: Annotated[object, Depends(dependencies.get_settings)],
    ) -> object:
        return client(http_session, settings)

    app: FastAPI = importlib.import_module(f"{PACKAGE}.app").create_app()
    app.dependency_overrides[dependencies.get_upstream] = get_overriding_upstream
    return app


def create_no_retry_app() -> FastAPI:
    """The template's app, its upstream calls made once with no retry code around them."""
    return _overriding_upstream(one_attempt_client())


def create_overridden_app() -> FastAPI:
    """The template's app with the same override as `create_no_retry_app`, retries and all."""
    upstream_client: type = importlib.import_module(f"{PACKAGE}.upstream").UpstreamClient
    return _overriding_upstream(upstream_client)


# The floor keeps its session where the template never would: in a module-level global.
_session: aiohttp.ClientSession | None = None


@asynccontextmanager
async def _floor_lifespan(_app: Starlette) -> AsyncIterator[None]:
    global _session  # noqa: PLW0603 - the floor: no state, no dependency, a global
    base_url = os.environ.get("BENCH_UPSTREAM_BASE_URL", "http://127.0.0.1:9000/")
    async with aiohttp.ClientSession(base_url) as session:
        _session = session
        yield
        _session = None


async def _floor_item(request: Request) -> Response:
    assert _session is not None  # noqa: S101 - set by the lifespan before any request
    async with _session.get(f"items/{request.path_params['item_id']}") as answer:
        body = await answer.read()
        return Response(body, status_code=answer.status, media_type="application/json")


def create_floor_app() -> Starlette:
    """The proxy with nothing but Starlette's routing around one upstream call."""
    routes = [Route("/items/{item_id:int}", _floor_item, methods=["GET"])]
    return Starlette(routes=routes, lifespan=_floor_lifespan)
