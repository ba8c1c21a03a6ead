"""Calls to the upstream service: one shared session, bounded in time and size, faults as JSON."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from fastapi import status
from pydantic import BaseModel, ValidationError

from .config import Settings
from .errors import ErrorBody, ServiceError

_CHUNK_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)


# Pass as `responses=` to a route that calls the upstream, so its OpenAPI lists the faults.
UPSTREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorBody},
    status.HTTP_502_BAD_GATEWAY: {"model": ErrorBody},
    status.HTTP_504_GATEWAY_TIMEOUT: {"model": ErrorBody},
}


class UpstreamError(ServiceError):
    """An upstream call that failed; the client gets `status_code` and `detail` as JSON."""


@asynccontextmanager
async def open_http_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """Open the one session the service uses for the upstream, and close it on the way out."""
    headers = {}
    if settings.upstream_token is not None:
        headers["Authorization"] = f"Bearer {settings.upstream_token.get_secret_value()}"
    connector = aiohttp.TCPConnector(
        limit=settings.upstream_max_connections,
        limit_per_host=settings.upstream_max_connections,
    )
    timeout = aiohttp.ClientTimeout(
        total=settings.upstream_timeout,
        connect=settings.upstream_connect_timeout,
    )
    async with aiohttp.ClientSession(
        base_url=str(settings.upstream_base_url),
        connector=connector,
        timeout=timeout,
        headers=headers,
        raise_for_status=False,
    ) as session:
        yield session


async def get_json(session: aiohttp.ClientSession, path: str, *, max_bytes: int) -> object:
    """GET `path` below the upstream base URL and decode its JSON body.

    Raises `UpstreamError` for every fault: 404 when the upstream has no such thing,
    504 when it is too slow, 502 for anything else it gets wrong.
    """
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.startswith("/"):
        # Only relative paths stay below the configured base URL.
        raise ValueError(f"upstream paths must be relative, got {path!r}")
    try:
        async with session.get(path, allow_redirects=False) as response:
            if response.status == status.HTTP_404_NOT_FOUND:
                raise UpstreamError(status.HTTP_404_NOT_FOUND, "not found upstream")
            if response.status != status.HTTP_200_OK:
                raise UpstreamError(
                    status.HTTP_502_BAD_GATEWAY, f"upstream answered {response.status}"
                )
            body = await _read_capped(response, max_bytes)
    except TimeoutError as exc:
        raise UpstreamError(status.HTTP_504_GATEWAY_TIMEOUT, "upstream timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamError(status.HTTP_502_BAD_GATEWAY, "upstream unreachable") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(status.HTTP_502_BAD_GATEWAY, "upstream connection failed") from exc
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UpstreamError(status.HTTP_502_BAD_GATEWAY, "upstream sent invalid JSON") from exc


async def get_model(
    session: aiohttp.ClientSession, path: str, model: type[M], *, max_bytes: int
) -> M:
    """Like `get_json`, then validated as `model`: a body of another shape is a 502."""
    data = await get_json(session, path, max_bytes=max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UpstreamError(
            status.HTTP_502_BAD_GATEWAY, "upstream sent a body of the wrong shape"
        ) from exc


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    too_large = UpstreamError(status.HTTP_502_BAD_GATEWAY, "upstream response too large")
    if response.content_length is not None and response.content_length > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
