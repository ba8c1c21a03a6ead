"""Calls to the upstream service: one shared session, bounded in time and size, faults as JSON."""

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import structlog
from fastapi import status
from pydantic import BaseModel, ValidationError

from .config import Settings
from .errors import ErrorBody, ServiceError
from .middleware import REQUEST_ID_HEADER, current_request_id

_CHUNK_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)
log = structlog.get_logger(__name__)


# Pass as `responses=` to a route that calls the upstream, so its OpenAPI lists the faults.
UPSTREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorBody},
    status.HTTP_502_BAD_GATEWAY: {"model": ErrorBody},
    status.HTTP_504_GATEWAY_TIMEOUT: {"model": ErrorBody},
}


class UpstreamError(ServiceError):
    """An upstream call that failed; the client gets `status_code` and `detail` as JSON."""


@asynccontextmanager
async def open_http_session(
    settings: Settings, trace_configs: Sequence[aiohttp.TraceConfig] = ()
) -> AsyncIterator[aiohttp.ClientSession]:
    """Open the one session the service uses for the upstream, and close it on the way out.

    `trace_configs` watch every call made through it (tracing, metrics), beside the one that
    sends the request id."""
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
        trace_configs=[_request_id_config(), *trace_configs],
    ) as session:
        yield session


def _request_id_config() -> aiohttp.TraceConfig:
    """Every call made through the session while a request is served carries its id."""

    async def send_request_id(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        request_id = current_request_id()
        if request_id is not None:
            params.headers[REQUEST_ID_HEADER] = request_id

    config = aiohttp.TraceConfig()
    config.on_request_start.append(send_request_id)
    return config


async def get_json(session: aiohttp.ClientSession, path: str, *, max_bytes: int) -> object:
    """GET `path` below the upstream base URL and decode its JSON body.

    Raises `UpstreamError` for every fault: 404 when the upstream has no such thing,
    504 when it is too slow, 502 for anything else it gets wrong.
    """
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.startswith("/"):
        # Only relative paths stay below the configured base URL.
        raise ValueError(f"upstream paths must be relative, got {path!r}")
    started = time.perf_counter()
    answered: int | None = None
    try:
        try:
            async with session.get(path, allow_redirects=False) as response:
                answered = response.status
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
    except UpstreamError as fault:
        _log_fault(fault, path, answered, started)
        raise


async def get_model(
    session: aiohttp.ClientSession, path: str, model: type[M], *, max_bytes: int
) -> M:
    """Like `get_json`, then validated as `model`: a body of another shape is a 502."""
    started = time.perf_counter()
    data = await get_json(session, path, max_bytes=max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fault = UpstreamError(
            status.HTTP_502_BAD_GATEWAY, "upstream sent a body of the wrong shape"
        )
        _log_fault(fault, path, status.HTTP_200_OK, started)
        raise fault from exc


def _log_fault(fault: UpstreamError, path: str, answered: int | None, started: float) -> None:
    """One line per upstream fault, a warning (an info line for a 404, which is an answer):
    what was asked, what came back, how long it took. Never the token or a body; the
    request id comes from the request being served."""
    log.log(
        logging.INFO if fault.status_code == status.HTTP_404_NOT_FOUND else logging.WARNING,
        "upstream call failed",
        upstream_path=path,
        upstream_status=answered,
        error=None if fault.__cause__ is None else type(fault.__cause__).__name__,
        status_code=fault.status_code,
        detail=fault.detail,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )


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
