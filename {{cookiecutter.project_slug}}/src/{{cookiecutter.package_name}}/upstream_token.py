"""The service's own token for the upstream: OAuth 2 client credentials (RFC 6749, 4.4).

When `upstream_token_url` is set, `UpstreamTokenPart` gives the upstream client
`ClientCredentials`: a token fetched from that URL through the same session when a call first
needs one, kept until shortly before it expires, fetched once however many calls need it at
once, and fetched anew when the upstream answers 401 to it (the call is then made once more).
"""

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import aiohttp
from fastapi import FastAPI, status

from .config import Settings
from .errors import UpstreamError
from .resources import Resources
from .upstream import UpstreamClient, read_capped

# A token is renewed this long before it expires (or at half its life, if that is sooner),
# so that no call sends one that expires on the way.
RENEW_BEFORE_SECONDS = 30.0
# How long a token without `expires_in` is kept.
DEFAULT_LIFETIME_SECONDS = 300.0
_MAX_ANSWER_BYTES = 64 * 1024


class ClientCredentials:
    """The upstream client's `Authorization`: a bearer token from the token endpoint."""

    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        if settings.upstream_client_id is None or settings.upstream_client_secret is None:
            raise ValueError("client credentials need a client id and a client secret")
        self._session = session
        self._url = str(settings.upstream_token_url)
        # HTTP Basic, the id and secret each form-encoded first (RFC 6749, 2.3.1).
        pair = ":".join(
            quote(part, safe="")
            for part in (
                settings.upstream_client_id,
                settings.upstream_client_secret.get_secret_value(),
            )
        )
        self._headers = {
            "Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}",
            "Accept": "application/json",
        }
        self._form = {"grant_type": "client_credentials"}
        if settings.upstream_token_scope:
            self._form["scope"] = settings.upstream_token_scope
        self._value: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def authorization(self) -> str:
        """`Bearer <token>`: the one held, or a new one if it is due for renewal."""
        if self._value is not None and time.monotonic() < self._renew_at:
            return self._value
        async with self._lock:
            # Calls that waited here while another fetched take what it fetched.
            if self._value is None or time.monotonic() >= self._renew_at:
                self._value, self._renew_at = await self._fetch()
            return self._value

    async def rejected(self, authorization: str) -> bool:
        """The upstream refused this token: forget it, unless a newer one is held already."""
        if authorization == self._value:
            self._value = None
        return True

    async def _fetch(self) -> tuple[str, float]:
        asked = time.monotonic()
        try:
            async with self._session.post(
                self._url,
                data=self._form,
                headers=self._headers,
                allow_redirects=False,
            ) as response:
                if response.status != status.HTTP_200_OK:
                    raise _unavailable(
                        f"token endpoint answered {response.status}",
                        retryable=response.status >= status.HTTP_500_INTERNAL_SERVER_ERROR,
                    )
                answer = json.loads(await read_capped(response, _MAX_ANSWER_BYTES))
        except TimeoutError as exc:
            raise _unavailable("token endpoint timed out", retryable=True) from exc
        except aiohttp.ClientError as exc:
            raise _unavailable("token endpoint unreachable", retryable=True) from exc
        except ValueError as exc:
            raise _unavailable("token endpoint sent invalid JSON") from exc
        return _bearer(answer, asked)


def _bearer(answer: object, asked: float) -> tuple[str, float]:
    """The header's value and when to renew it, from the token endpoint's answer."""
    if not isinstance(answer, dict):
        raise _unavailable("token endpoint sent no JSON object")
    token, kind = answer.get("access_token"), answer.get("token_type")
    if not isinstance(token, str) or not token or not isinstance(kind, str):
        raise _unavailable("token endpoint sent no access token")
    if kind.lower() != "bearer":
        raise _unavailable("token endpoint sent a token that is not a bearer token")
    lifetime = answer.get("expires_in", DEFAULT_LIFETIME_SECONDS)
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        raise _unavailable("token endpoint sent an invalid expires_in")
    renew_in = max(lifetime - RENEW_BEFORE_SECONDS, lifetime / 2)
    return f"Bearer {token}", asked + renew_in


def _unavailable(detail: str, *, retryable: bool = False) -> UpstreamError:
    return UpstreamError(status.HTTP_502_BAD_GATEWAY, detail, retryable=retryable)


class UpstreamTokenPart:
    """The part that gives the upstream client its client-credentials token, when
    `upstream_token_url` is set (else the client sends `upstream_token`, if any)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def install(self, app: FastAPI) -> None:
        """Nothing to add to the app."""

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Have every call of the upstream client carry the token (none is fetched yet)."""
        if self.settings.upstream_token_url is not None:
            upstream = resources.get(UpstreamClient)
            credentials = ClientCredentials(upstream.session, self.settings)
            upstream.authorize_with(credentials)
            resources.add(credentials)
        yield


def part(settings: Settings) -> UpstreamTokenPart:
    """This module's part of the service (parts.py)."""
    return UpstreamTokenPart(settings)
