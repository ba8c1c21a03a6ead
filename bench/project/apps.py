"""The same proxy as the template's `GET /items/{item_id}`, built other ways, to compare.

Each reads the item from the upstream whose base URL `BENCH_UPSTREAM_BASE_URL` names, and is
served by uvicorn inside the default project's environment, e.g.
`uvicorn bench.project.apps:create_plain_app --factory`.

- `create_plain_app`: plain FastAPI, the fair yardstick: the template's route and response
  model, one aiohttp session made by the lifespan, no dependency, no middleware.
- `create_floor_app`: bare Starlette, the floor: no validation, no response model; the
  upstream's bytes handed on.
- `create_per_request_app` and `create_httpx_app`: what the template avoids, a session made
  for every request and a shared httpx client.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, TypedDict

import aiohttp
import httpx
from fastapi import FastAPI, HTTPException, Path, Request, status
from my_service.items import Item
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

ItemId = Annotated[int, Path(ge=1)]
TIMEOUT = aiohttp.ClientTimeout(total=10.0, connect=3.0)


def _base_url() -> str:
    url = os.environ.get("BENCH_UPSTREAM_BASE_URL", "http://127.0.0.1:9000/")
    return url if url.endswith("/") else f"{url}/"


def _item(status_code: int, body: bytes) -> Item:
    """The item in an upstream's answer; its faults as a plain app would answer them."""
    if status_code == status.HTTP_404_NOT_FOUND:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found upstream")
    if status_code != status.HTTP_200_OK:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"upstream answered {status_code}")
    return Item.model_validate_json(body)


class _SessionState(TypedDict):
    session: aiohttp.ClientSession


@asynccontextmanager
async def _session_lifespan(_app: Starlette) -> AsyncIterator[_SessionState]:
    async with aiohttp.ClientSession(_base_url(), timeout=TIMEOUT) as session:
        yield {"session": session}


def create_plain_app() -> FastAPI:
    """Plain FastAPI: the route reads the lifespan's session from the request's state."""
    app = FastAPI(lifespan=_session_lifespan, openapi_url=None)

    @app.get("/items/{item_id}")
    async def read_item(item_id: ItemId, request: Request) -> Item:
        session: aiohttp.ClientSession = request.state.session
        async with session.get(f"items/{item_id}") as answer:
            return _item(answer.status, await answer.read())

    return app


async def _floor_item(request: Request) -> Response:
    session: aiohttp.ClientSession = request.state.session
    async with session.get(f"items/{request.path_params['item_id']}") as answer:
        body = await answer.read()
        return Response(body, status_code=answer.status, media_type="application/json")


def create_floor_app() -> Starlette:
    """Bare Starlette: its routing around one upstream call, the bytes handed on."""
    routes = [Route("/items/{item_id:int}", _floor_item, methods=["GET"])]
    return Starlette(routes=routes, lifespan=_session_lifespan)


def create_per_request_app() -> FastAPI:
    """Plain FastAPI with a new session (and connection pool) for every request."""
    app = FastAPI(openapi_url=None)

    @app.get("/items/{item_id}")
    async def read_item(item_id: ItemId) -> Item:
        async with (
            aiohttp.ClientSession(_base_url(), timeout=TIMEOUT) as session,
            session.get(f"items/{item_id}") as answer,
        ):
            return _item(answer.status, await answer.read())

    return app


class _HttpxState(TypedDict):
    client: httpx.AsyncClient


@asynccontextmanager
async def _httpx_lifespan(_app: FastAPI) -> AsyncIterator[_HttpxState]:
    timeout = httpx.Timeout(10.0, connect=3.0)
    # As many kept-alive connections as the aiohttp sessions keep (httpx keeps 20).
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=_base_url(), timeout=timeout, limits=limits) as client:
        yield {"client": client}


def create_httpx_app() -> FastAPI:
    """Plain FastAPI with one httpx.AsyncClient that the lifespan owns."""
    app = FastAPI(lifespan=_httpx_lifespan, openapi_url=None)

    @app.get("/items/{item_id}")
    async def read_item(item_id: ItemId, request: Request) -> Item:
        client: httpx.AsyncClient = request.state.client
        answer = await client.get(f"items/{item_id}")
        return _item(answer.status_code, answer.content)

    return app
