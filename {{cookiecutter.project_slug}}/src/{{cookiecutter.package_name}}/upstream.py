"""Calls to the upstream service: one shared session, bounded in time and size, faults as JSON.

`UpstreamPart` is the part of the service (see resources.py) that holds the session open;
handlers call the upstream through the `UpstreamClient` it makes (`UpstreamDep`). The session
itself carries no credentials: the client adds its `Authorization` to each of its calls.
"""

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import structlog
from fastapi import FastAPI, status
from pydantic import BaseModel, SecretStr, ValidationError

from .config import Settings
from .errors import HTTP_422, ErrorBody, ProblemsBody, UpstreamError
from .request_id import REQUEST_ID_HEADER, current_request_id
from .resources import Resources
from .retries import IDEMPOTENT, RETRIED_STATUSES, retried, seconds_to_wait

__all__ = [
    "UPSTREAM_RESPONSES",
    "Credentials",
    "StaticToken",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamPart",
    "open_http_session",
    "part",
    "read_capped",
]

_CHUNK_BYTES = 64 * 1024
# aiohttp would type an empty POST, PUT or PATCH application/octet-stream: a call says its
# Content-Type itself, and only when it sends a body.
_NO_DEFAULT_TYPE = ("Content-Type",)
M = TypeVar("M", bound=BaseModel)
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
log = structlog.get_logger(__name__)

# Upstream answers passed on with a status of their own: the client can act on them. Any
# other 4xx or 5xx, and any redirect, is a 502 "upstream answered <status>".
PASSED_ON = {
    status.HTTP_404_NOT_FOUND: "not found upstream",
    status.HTTP_409_CONFLICT: "conflict upstream",
    HTTP_422: "refused upstream",  # the upstream would not take the body it was sent
}

# Pass as `responses=` to a route that calls the upstream, so its OpenAPI lists the faults
# (the upstream's 422 has the shape of the service's own validation errors).
UPSTREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorBody},
    status.HTTP_409_CONFLICT: {"model": ErrorBody},
    HTTP_422: {"model": ProblemsBody},
    status.HTTP_502_BAD_GATEWAY: {"model": ErrorBody},
    status.HTTP_504_GATEWAY_TIMEOUT: {"model": ErrorBody},
}


@asynccontextmanager
async def open_http_session(
    settings: Settings, trace_configs: Sequence[aiohttp.TraceConfig] = ()
) -> AsyncIterator[aiohttp.ClientSession]:
    """Open the one session the service uses for the upstream, and close it on the way out.

    `trace_configs` watch every call made through it (tracing, metrics), beside the one that
    sends the request id."""
    connector = aiohttp.TCPConnector(
        limit=settings.upstream_max_connections,
        limit_per_host=settings.upstream_max_connections,
    )
    timeout = aiohttp.ClientTimeout(
        # One attempt never outlives the deadline of the whole call.
        total=min(settings.upstream_timeout, settings.upstream_deadline),
        connect=settings.upstream_connect_timeout,
    )
    async with aiohttp.ClientSession(
        base_url=str(settings.upstream_base_url),
        connector=connector,
        timeout=timeout,
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


class UpstreamPart:
    """The part that holds the HTTP session open: every call to the upstream goes through it,
    by the `UpstreamClient` this part makes once, when it opens."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def install(self, app: FastAPI) -> None:
        """Nothing to add to the app: handlers take the client as `UpstreamDep`."""

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Open the session (watched by what `resources` has to watch it with), add the
        client and a check of the session for /ready; close the session at the end."""
        async with open_http_session(self.settings, resources.http_trace_configs) as session:
            resources.add(UpstreamClient(session, self.settings))

            async def problem() -> str | None:
                return "closed" if session.closed else None

            resources.checks["http_session"] = problem
            yield


def part(settings: Settings) -> UpstreamPart:
    """This module's part of the service (parts.py)."""
    return UpstreamPart(settings)


class Credentials(Protocol):
    """What gives each call to the upstream its `Authorization` header."""

    async def authorization(self) -> str | None:
        """The header's value for the next call; None to send none."""

    async def rejected(self, authorization: str) -> bool:
        """The upstream answered 401 to `authorization`: True when the call is worth making
        once more with the value `authorization()` gives next."""


class StaticToken:
    """`Authorization: Bearer <token>` on every call, the same token always (or no header)."""

    def __init__(self, token: SecretStr | None) -> None:
        self._value = None if token is None else f"Bearer {token.get_secret_value()}"

    async def authorization(self) -> str | None:
        """The token, as a header's value."""
        return self._value

    async def rejected(self, authorization: str) -> bool:
        """A fixed token refused once is refused again: never worth a retry."""
        return False


class UpstreamClient:
    """JSON calls to the upstream through one session, within `settings`' limits.

    Every fault raises `UpstreamError` with the status the client gets (PASSED_ON, else 502,
    or 504 for time). GET, PUT and DELETE are retried on transient faults; POST and PATCH
    only with `retry=True`. All attempts and waits of one call fit in `upstream_deadline`.
    Each call carries the `Authorization` its `credentials` give (by default the settings'
    `upstream_token`); a 401 to it is tried once more if they have a new one.
    """

    __slots__ = ("_credentials", "_session", "_settings")

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        credentials: Credentials | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._credentials = (
            StaticToken(settings.upstream_token) if credentials is None else credentials
        )

    def authorize_with(self, credentials: Credentials) -> None:
        """Give every call from now on the `Authorization` that `credentials` give."""
        self._credentials = credentials

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session the calls go through."""
        return self._session

    async def call(
        self,
        method: Method,
        path: str,
        model: type[M],
        *,
        body: BaseModel | None = None,
        retry: bool | None = None,
    ) -> M:
        """Send `body` (if any) as JSON to `path`; the 2xx answer's JSON, validated as `model`
        (another shape is a 502, never a validation error that would become a 500)."""
        started = time.perf_counter()
        answered, answer = await self._exchange(method, path, body, retry, started)
        try:
            return model.model_validate_json(answer)
        except ValidationError as exc:
            invalid_json = any(error["type"] == "json_invalid" for error in exc.errors())
            detail = "invalid JSON" if invalid_json else "a body of the wrong shape"
            fault = _unreadable(f"upstream sent {detail}", answered, exc)
            _log_fault(fault, method, path, started)
            raise fault from exc

    async def send(
        self, method: Method, path: str, *, body: BaseModel | None = None, retry: bool | None = None
    ) -> None:
        """Like `call`, where no answer's body is wanted (a 204, say): any 2xx will do."""
        await self._exchange(method, path, body, retry, time.perf_counter())

    async def get_json(self, path: str) -> object:
        """GET `path` and decode its JSON, whatever its shape."""
        started = time.perf_counter()
        answered, answer = await self._exchange("GET", path, None, None, started)
        try:
            return json.loads(answer)
        except ValueError as exc:
            fault = _unreadable("upstream sent invalid JSON", answered, exc)
            _log_fault(fault, "GET", path, started)
            raise fault from exc

    async def _exchange(
        self, method: Method, path: str, body: BaseModel | None, retry: bool | None, started: float
    ) -> tuple[int, bytes]:
        """The upstream's 2xx status and body, after retries where they are allowed."""
        parts = urlsplit(path)
        if parts.scheme or parts.netloc or path.startswith("/"):
            # Only relative paths stay below the configured base URL.
            raise ValueError(f"upstream paths must be relative, got {path!r}")
        payload = None if body is None else body.model_dump_json().encode()
        try:
            try:
                # The first attempt runs bare: a call that succeeds pays nothing for retries.
                return await self._attempt(method, path, payload)
            except UpstreamError as fault:
                allowed = method in IDEMPOTENT if retry is None else retry
                if not (fault.retryable and allowed and self._settings.upstream_retry_attempts > 1):
                    raise
                return await self._retry(method, path, payload, fault, started)
        except UpstreamError as fault:
            _log_fault(fault, method, path, started)
            raise

    async def _retry(
        self, method: Method, path: str, payload: bytes | None, first: UpstreamError, started: float
    ) -> tuple[int, bytes]:
        """Attempts after the first, which failed with `first`. (A method of its own: a lambda
        in `_exchange` would make its variables closure cells on every call, retried or not.)"""
        settings = self._settings
        return await retried(
            lambda: self._attempt(method, path, payload),
            first,
            attempts=settings.upstream_retry_attempts,
            seconds_left=settings.upstream_deadline - (time.perf_counter() - started),
            retry_after_max=settings.upstream_retry_after_max,
        )

    async def _attempt(self, method: Method, path: str, payload: bytes | None) -> tuple[int, bytes]:
        """One request with the credentials' `Authorization`, and once more with a new one
        if the upstream answered 401 and the credentials have one."""
        authorization = await self._credentials.authorization()
        try:
            return await self._request(method, path, payload, authorization)
        except UpstreamError as fault:
            if not (
                fault.upstream_status == status.HTTP_401_UNAUTHORIZED
                and authorization is not None
                and await self._credentials.rejected(authorization)
            ):
                raise
        return await self._request(method, path, payload, await self._credentials.authorization())

    async def _request(
        self, method: Method, path: str, payload: bytes | None, authorization: str | None
    ) -> tuple[int, bytes]:
        """One request: the status and body of a 2xx answer, or an UpstreamError."""
        headers = {} if payload is None else {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        answered = None
        try:
            async with self._session.request(
                method,
                path,
                data=payload,
                headers=headers,
                skip_auto_headers=_NO_DEFAULT_TYPE,
                allow_redirects=False,
            ) as response:
                answered = response.status
                if answered < status.HTTP_300_MULTIPLE_CHOICES:
                    body = await read_capped(response, self._settings.upstream_max_body_bytes)
                    return answered, body
                raise _fault_for(response)
        except TimeoutError as exc:
            raise _transient(
                status.HTTP_504_GATEWAY_TIMEOUT, "upstream timed out", answered
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise _transient(status.HTTP_502_BAD_GATEWAY, "upstream unreachable", answered) from exc
        except aiohttp.ServerDisconnectedError as exc:
            # Closed before any answer (an idle pooled connection the upstream dropped, say).
            raise _transient(
                status.HTTP_502_BAD_GATEWAY, "upstream connection failed", answered
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                status.HTTP_502_BAD_GATEWAY, "upstream connection failed", upstream_status=answered
            ) from exc


def _transient(status_code: int, detail: str, answered: int | None) -> UpstreamError:
    return UpstreamError(status_code, detail, retryable=True, upstream_status=answered)


def _unreadable(detail: str, answered: int, cause: Exception) -> UpstreamError:
    """A 2xx answer whose body the service cannot use."""
    fault = UpstreamError(status.HTTP_502_BAD_GATEWAY, detail, upstream_status=answered)
    fault.__cause__ = cause  # logged before it is raised
    return fault


def _fault_for(response: aiohttp.ClientResponse) -> UpstreamError:
    """The fault for an answer that is not a 2xx."""
    code = response.status
    if code in PASSED_ON:
        return UpstreamError(code, PASSED_ON[code], upstream_status=code)
    return UpstreamError(
        status.HTTP_502_BAD_GATEWAY,
        f"upstream answered {code}",
        retryable=code in RETRIED_STATUSES,
        retry_after=seconds_to_wait(response.headers.get("Retry-After")),
        upstream_status=code,
    )


def _log_fault(fault: UpstreamError, method: str, path: str, started: float) -> None:
    """One line per failed call, a warning (info for a 404, which is an answer): what was
    asked, what came back, in how many attempts and how long. Never the token or a body;
    the request id comes from the request being served."""
    log.log(
        logging.INFO if fault.status_code == status.HTTP_404_NOT_FOUND else logging.WARNING,
        "upstream call failed",
        upstream_method=method,
        upstream_path=path,
        upstream_status=fault.upstream_status,
        error=None if fault.__cause__ is None else type(fault.__cause__).__name__,
        status_code=fault.status_code,
        detail=fault.detail,
        attempts=fault.attempts,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )


async def read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The answer's body, or a 502 UpstreamError if it is longer than `max_bytes`."""
    too_large = UpstreamError(
        status.HTTP_502_BAD_GATEWAY,
        "upstream response too large",
        upstream_status=response.status,
    )
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
