"""Who is calling: bearer tokens (JWTs) checked against the keys the issuer publishes.

`AuthPart` is the part of the service (see resources.py) that keeps the issuer's keys. It
fetches them (a JWKS) through the service's one HTTP session, never a blocking client: when
it opens, when a token names a key it does not know, and once the keys are old. One fetch
serves every request waiting for it, and fetches are at least `auth_keys_min_interval` apart
however many tokens name unknown keys. `/ready` says whether keys are loaded.

Routes take the caller as `CallerDep`, require scopes with `require_scopes(...)`, and whole
routers are put behind a token with `guarded(router)` (routes/__init__.py): each is one
`BearerCaller` dependency.
Refusals follow RFC 6750: 401 with `WWW-Authenticate: Bearer`, 403 `insufficient_scope`, and
a 503 while no keys could be fetched. Why a token was refused is logged, never the token.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aiohttp
import jwt
import structlog
from fastapi import APIRouter, Depends, FastAPI, Request, params, status
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict

from .config import Settings
from .errors import ErrorBody, ServiceError
from .resources import Resources
from .upstream import UpstreamClient, UpstreamError, read_capped

__all__ = [
    "AUTH_RESPONSES",
    "AuthPart",
    "BearerCaller",
    "Caller",
    "CallerDep",
    "IssuerKeys",
    "TokenVerifier",
    "guarded",
    "part",
    "require_scopes",
]

# Longer tokens are refused unread (issuers' access tokens are a few KiB at most).
MAX_TOKEN_BYTES = 8192
# The largest key set or discovery document read from the issuer.
_MAX_DOCUMENT_BYTES = 256 * 1024
# How many verified tokens TokenVerifier keeps (each at most MAX_TOKEN_BYTES).
VERIFIED_TOKENS = 1024
# What reading a route asks of a caller under `guarded`: a valid token, no scope.
READ_METHODS = frozenset({"GET", "HEAD"})
log = structlog.get_logger(__name__)

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {"model": ErrorBody, "description": "No valid bearer token"},
    status.HTTP_403_FORBIDDEN: {"model": ErrorBody, "description": "The token lacks a scope"},
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorBody,
        "description": "The issuer's keys could not be fetched",
    },
}


class Caller(BaseModel):
    """Who made the request, as their verified token says."""

    model_config = ConfigDict(frozen=True)

    subject: str
    scopes: frozenset[str]
    # Every claim of the token, for what the fields above leave out.
    claims: dict[str, Any]


class TokenRefused(Exception):  # noqa: N818 - a refusal, not a fault of the service
    """A token that does not prove who the caller is; `reason` is logged, never the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Exception):  # noqa: N818 - a state, named as the answer says it
    """No key of the issuer is known, and none could be fetched."""


class IssuerKeys:
    """The issuer's signing keys, each found by its id (`kid`) and algorithm; fetched through
    `session`, at most once at a time and once per `auth_keys_min_interval`."""

    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings
        self._jwks_url = None if settings.auth_jwks_url is None else str(settings.auth_jwks_url)
        self._keys: dict[tuple[str, str], jwt.PyJWK] = {}
        self._lock = asyncio.Lock()
        # Counts the fetches that changed the keys: a caller that waited for the lock
        # while another fetched finds the count moved, and does not fetch again.
        self._generation = 0
        self._fetched_at = -float("inf")
        self._next_fetch = -float("inf")

    @property
    def loaded(self) -> bool:
        """Whether any key is known."""
        return bool(self._keys)

    @property
    def generation(self) -> int:
        """How many fetches have changed the keys: what was checked against an older
        generation may name a key the issuer no longer publishes."""
        return self._generation

    async def key(self, kid: str, algorithm: str) -> jwt.PyJWK:
        """The key `kid` for `algorithm`, fetching the keys again if it is not known or the
        keys are old. TokenRefused if the issuer has no such key; KeysUnavailable if no key
        is known at all."""
        seen = self._generation
        found = self._keys.get((kid, algorithm))
        stale = time.monotonic() - self._fetched_at > self._settings.auth_keys_max_age
        if found is None or stale:
            await self.refresh(seen)
            found = self._keys.get((kid, algorithm))
        if found is not None:
            return found
        if not self._keys:
            raise KeysUnavailable
        raise TokenRefused("unknown key")

    async def refresh(self, seen: int | None = None) -> None:
        """Fetch the keys, unless a fetch ended since the caller saw generation `seen`, or
        the last one began less than `auth_keys_min_interval` ago. A failure keeps the keys
        known so far, and is logged."""
        async with self._lock:
            if seen is not None and seen != self._generation:
                return
            now = time.monotonic()
            if now < self._next_fetch:
                return
            self._next_fetch = now + self._settings.auth_keys_min_interval
            try:
                keys = await self._fetch()
            except (UpstreamError, aiohttp.ClientError, TimeoutError, ValueError, TypeError) as exc:
                log.warning(
                    "the issuer's keys could not be fetched",
                    error=exc.detail if isinstance(exc, UpstreamError) else type(exc).__name__,
                    keys_known=len(self._keys),
                )
                return
            self._keys = keys
            self._fetched_at = now
            self._generation += 1
            log.info("the issuer's keys were fetched", keys=len(keys))

    async def _fetch(self) -> dict[tuple[str, str], jwt.PyJWK]:
        if self._jwks_url is None:
            discovery = f"{self._settings.auth_issuer.rstrip('/')}/.well-known/openid-configuration"
            document = await self._get_json(discovery)
            if document.get("issuer") != self._settings.auth_issuer:
                # OpenID Connect Discovery, 4.3: the document is the issuer's own.
                raise ValueError("the discovery document names another issuer")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError("the discovery document names no jwks_uri")
            self._jwks_url = jwks_uri
        return _usable_keys(await self._get_json(self._jwks_url), self._settings.auth_algorithms)

    async def _get_json(self, url: str) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self._settings.auth_timeout)
        async with self._session.get(url, timeout=timeout, allow_redirects=False) as response:
            if response.status != status.HTTP_200_OK:
                raise ValueError(f"{url} answered {response.status}")
            document = json.loads(await read_capped(response, _MAX_DOCUMENT_BYTES))
        if not isinstance(document, dict):
            raise TypeError(f"{url} sent no JSON object")
        return document


def _usable_keys(
    jwks: dict[str, Any], algorithms: Sequence[str]
) -> dict[tuple[str, str], jwt.PyJWK]:
    """The signing keys of a JWKS, by id and algorithm: each key with an `alg` under that
    one alone, a key without one under every accepted algorithm its type can do."""
    keys: dict[tuple[str, str], jwt.PyJWK] = {}
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise TypeError("the key set has no list of keys")
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str):
            continue
        named = entry.get("alg")
        for algorithm in [named] if isinstance(named, str) else algorithms:
            if algorithm not in algorithms:
                continue
            try:
                key = jwt.PyJWK(entry, algorithm)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
                # A key of another type, or one this algorithm cannot use.
                log.debug("a key of the set was skipped", kid=kid, error=type(exc).__name__)
                continue
            if _fits(entry, algorithm):
                keys[kid, algorithm] = key
    return keys


def _fits(entry: dict[str, Any], algorithm: str) -> bool:
    """Whether a key of this type (and curve) signs with `algorithm`."""
    kty = entry.get("kty")
    if algorithm.startswith(("RS", "PS")):
        return kty == "RSA"
    if algorithm == "EdDSA":
        return kty == "OKP"
    curves = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
    return kty == "EC" and entry.get("crv") == curves.get(algorithm)


class TokenVerifier:
    """Checks a bearer token: signed by a key of the issuer, for this audience, in time.

    A client sends the same token with request after request, and checking it costs more
    than a request to the example route (docs/benchmarks.md of the template): the callers of
    the last VERIFIED_TOKENS tokens that passed are kept, each until its token expires or the
    issuer's keys change, whichever comes first. A token that failed is checked every time.
    """

    def __init__(self, keys: IssuerKeys, settings: Settings) -> None:
        self.keys = keys
        self._settings = settings
        # token -> (its caller, when it expires as time.time() counts, the keys' generation)
        self._verified: dict[str, tuple[Caller, float, int]] = {}

    async def caller(self, token: str) -> Caller:
        """Who `token` says the caller is; TokenRefused if it proves nothing."""
        kept = self._verified.get(token)
        if kept is not None:
            caller, expires, generation = kept
            if time.time() < expires and generation == self.keys.generation:
                return caller
            del self._verified[token]
        caller = await self._check(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # the one kept longest
        expires = float(caller.claims["exp"]) + self._settings.auth_leeway
        self._verified[token] = (caller, expires, self.keys.generation)
        return caller

    async def _check(self, token: str) -> Caller:
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRefused("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("malformed token") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self._settings.auth_algorithms:
            raise TokenRefused("algorithm not accepted")
        if not isinstance(kid, str):
            raise TokenRefused("no key id")
        key = await self.keys.key(kid, algorithm)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._settings.auth_audience,
                issuer=self._settings.auth_issuer,
                leeway=self._settings.auth_leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRefused(_reason(exc)) from None
        subject = claims["sub"]
        if not isinstance(subject, str):
            raise TokenRefused("subject is not a string")
        return Caller(subject=subject, scopes=_scopes(claims), claims=claims)


def _reason(exc: jwt.PyJWTError) -> str:
    """Why PyJWT refused a token, in a few words for the log."""
    reasons: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.ImmatureSignatureError, "token not yet valid"),
        (jwt.InvalidAudienceError, "wrong audience"),
        (jwt.InvalidIssuerError, "wrong issuer"),
        (jwt.MissingRequiredClaimError, "a required claim is missing"),
        (jwt.InvalidSignatureError, "bad signature"),
        (jwt.InvalidAlgorithmError, "algorithm not accepted"),
        (jwt.DecodeError, "malformed token"),
    ]
    return next((text for kind, text in reasons if isinstance(exc, kind)), "invalid token")


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """The token's scopes: `scope` (RFC 9068, space-separated) or `scp` (a string or a list,
    as Microsoft Entra ID and Okta send them)."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(item for item in value if isinstance(item, str))
    return frozenset(found)


class AuthPart:
    """The part that keeps the issuer's keys and checks tokens against them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def install(self, app: FastAPI) -> None:
        """Nothing to add to the app: routes take the caller as `CallerDep`."""

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Fetch the keys through the upstream's session (a failure is logged, and requests
        get 503 until a fetch succeeds), add the verifier and a check for /ready."""
        keys = IssuerKeys(resources.get(UpstreamClient).session, self.settings)
        await keys.refresh()
        resources.add(TokenVerifier(keys, self.settings))

        async def problem() -> str | None:
            # A service started while the issuer was down would stay unready for good if
            # only requests it is not sent fetched the keys: the probe tries too.
            if not keys.loaded:
                await keys.refresh()
            return None if keys.loaded else "no keys from the issuer"

        resources.checks["auth_keys"] = problem
        yield


def part(settings: Settings) -> AuthPart:
    """This module's part of the service (parts.py)."""
    return AuthPart(settings)


def _challenge(error: str | None = None, **fields: str) -> dict[str, str]:
    """The `WWW-Authenticate` header of RFC 6750."""
    params = {"error": error, **fields} if error else fields
    value = ", ".join(f'{name}="{text}"' for name, text in params.items())
    return {"WWW-Authenticate": f"Bearer {value}" if value else "Bearer"}


class BearerCaller(SecurityBase):
    """A dependency: the caller whose bearer token is valid and has the scopes asked for.

    `needs`: scopes every request must have; `writes_need`: scopes a request that is not a
    read (GET, HEAD) must have as well. One dependency does it all (FastAPI's cost is per
    dependency, and a guarded request pays it), and the OpenAPI shows it as the bearer
    scheme, so that /docs can authorize. A token in the query string is not read.
    """

    def __init__(
        self, needs: frozenset[str] = frozenset(), writes_need: frozenset[str] = frozenset()
    ) -> None:
        self.model = HTTPBearerModel(bearerFormat="JWT")
        self.scheme_name = "HTTPBearer"
        self.needs = needs
        self.writes_need = writes_need

    async def __call__(self, request: Request) -> Caller:
        """The caller; 401 without a valid token, 403 without the scopes, 503 while no keys
        of the issuer are known."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ServiceError(
                status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers=_challenge()
            )
        resources: Resources = request.state.resources
        try:
            caller = await resources.get(TokenVerifier).caller(token)
        except TokenRefused as refused:
            log.info("token refused", reason=refused.reason)
            raise ServiceError(
                status.HTTP_401_UNAUTHORIZED,
                "invalid token",
                headers=_challenge("invalid_token", error_description=refused.reason),
            ) from None
        except KeysUnavailable:
            log.warning("token not checked: no keys from the issuer")
            raise ServiceError(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the issuer's keys are not available"
            ) from None
        needed = self.needs if request.method in READ_METHODS else self.needs | self.writes_need
        if not needed <= caller.scopes:
            _refuse_scope(needed)
        return caller


def _refuse_scope(wanted: frozenset[str]) -> None:
    needed = " ".join(sorted(wanted))
    log.info("token refused", reason="insufficient scope", scope=needed)
    raise ServiceError(
        status.HTTP_403_FORBIDDEN,
        f"the token lacks the scope {needed}",
        headers=_challenge("insufficient_scope", scope=needed),
    )


CallerDep = Annotated[Caller, Depends(BearerCaller())]


def require_scopes(*scopes: str) -> params.Depends:
    """A dependency: the caller, if their token has every one of `scopes`; else a 403.
    Use it as `caller: Annotated[Caller, require_scopes("notes:write")]`."""
    marker: params.Depends = Depends(BearerCaller(needs=frozenset(scopes)))
    return marker


def guarded(router: APIRouter, resource: str | None = None) -> APIRouter:
    """`router`'s routes behind a bearer token: reading them (GET, HEAD) takes a valid token,
    any other method one with the scope `<resource>:write` too, where `resource` is the
    router's prefix unless given (`items:write` for the router of /items)."""
    name = router.prefix.strip("/").replace("/", ":") if resource is None else resource
    if not name:
        raise ValueError("a router without a prefix needs the resource its scope names")
    access = BearerCaller(writes_need=frozenset({f"{name}:write"}))
    outer = APIRouter(dependencies=[Depends(access)], responses=AUTH_RESPONSES)
    outer.include_router(router)
    return outer
