"""The example route built the ways the template avoids, to measure what that costs.

Both apps answer `GET /items/{item_id}` like the generated service's example route (the same
path validation, timeouts, connection limit, size cap, status mapping and response model) and
differ only in how they reach the upstream:

- `create_per_request_app`: a new aiohttp.ClientSession (and connector) for every request;
- `create_httpx_app`: one httpx.AsyncClient shared by all requests, owned by the lifespan.

Serve them with `uvicorn bench.variant_apps:create_httpx_app --factory` inside the rendered
project's environment; the upstream's base URL comes from `BENCH_UPSTREAM_BASE_URL`.
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, TypedDict

import aiohttp
import httpx
from fastapi import Depends, FastAPI, HTTPException, Path, Request, status
from pydantic import BaseModel, ValidationError

TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3.0
MAX_CONNECTIONS = 100
MAX_BODY_BYTES = 1_048_576

ItemId = Annotated[int, Path(ge=1)]


class Item(BaseModel):
    """An item as the upstream describes it."""

    id: int
    name: str


def _base_url() -> str:
    url = os.environ.get("BENCH_UPSTREAM_BASE_URL", "http://127.0.0.1:9000/")
    return url if url.endswith("/") else f"{url}/"


def _item_from(status_code: int, body: bytes) -> Item:
    if status_code == status.HTTP_404_NOT_FOUND:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found upstream")
    if status_code != status.HTTP_200_OK:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"upstream answered {status_code}")
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "upstream response too large")
    try:
        return Item.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "upstream sent a bad item") from exc


def create_per_request_app() -> FastAPI:
    """The example route with a ClientSession opened and closed inside every request."""
    base_url = _base_url()
    app = FastAPI(title="per-request session")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/items/{item_id}")
    async def read_item(item_id: ItemId) -> Item:
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=MAX_CONNECTIONS)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session,
                session.get(f"items/{item_id}", allow_redirects=False) as response,
            ):
                body = await response.content.read(MAX_BODY_BYTES + 1)
                status_code = response.status
        except TimeoutError as exc:
            raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, "upstream timed out") from exc
        except aiohttp.ClientError as exc:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, "upstream failed") from exc
        return _item_from(status_code, body)

    return app


class _HttpxState(TypedDict):
    client: httpx.AsyncClient


def _get_client(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.state.client
    return client


ClientDep = Annotated[httpx.AsyncClient, Depends(_get_client)]


def create_httpx_app() -> FastAPI:
    """The example route through one httpx.AsyncClient that the lifespan owns."""
    base_url = _base_url()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[_HttpxState]:
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        )
        timeout = httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
            yield {"client": client}

    app = FastAPI(title="shared httpx client", lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/items/{item_id}")
    async def read_item(item_id: ItemId, client: ClientDep) -> Item:
        try:
            async with client.stream("GET", f"items/{item_id}") as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        break
                status_code = response.status_code
        except httpx.TimeoutException as exc:
            raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, "upstream timed out") from exc
        except httpx.HTTPError as exc:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, "upstream failed") from exc
        return _item_from(status_code, body)

    return app
