"""A local token issuer: aiohttp.web on 127.0.0.1, with keys made for each run.

It serves what the service reads from a real identity provider: the discovery document
(`/.well-known/openid-configuration`), the key set (`/jwks`, an RSA and an EC key), and a
token endpoint for the client-credentials grant (`/token`). It also stands for an upstream
that takes only the tokens it issued (`/resource/items/{id}`). A test changes it through its
attributes (keys rotated, the key set down, tokens revoked) and reads what it counted.

To try the service by hand, run it where `.env.example` points the service
(http://127.0.0.1:9100); it prints a token with every example scope, valid for an hour:

    uv run python -m tests.issuer
"""

import asyncio
import base64
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .upstream import until_stopped

AUDIENCE = "{{ cookiecutter.project_slug }}-tests"
CLIENT_ID = "the-service"
CLIENT_SECRET = "s3cret:with/odd&chars"  # noqa: S105 - the tests' own client
TOKEN_LIFETIME = 3600
# Where `python -m tests.issuer` serves, for the audience .env.example names.
BY_HAND_PORT = 9100
BY_HAND_AUDIENCE = "{{ cookiecutter.project_slug }}"
_kids = itertools.count(1)


@dataclass(frozen=True)
class SigningKey:
    """One of the issuer's keys: its id, algorithm and private half."""

    kid: str
    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        """The key as the key set publishes it."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        published: dict[str, Any] = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**published, "kid": self.kid, "use": "sig", "alg": self.algorithm}


def new_key(algorithm: str = "RS256") -> SigningKey:
    """A key made now: RSA 2048 for RS256, P-256 for ES256."""
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(f"key-{next(_kids)}", algorithm, private)


@dataclass
class Issuer:
    """The issuer's state: what it publishes, what it has issued, what it was asked."""

    url: str
    keys: list[SigningKey]
    # The key set answers 503 while this is set.
    down: bool = False
    # Each fetch of the key set waits this long first (to let requests pile up on it).
    jwks_delay: float = 0.0
    jwks_fetches: int = 0
    token_fetches: int = 0
    # What /token gives as expires_in.
    token_lifetime: int = TOKEN_LIFETIME
    issued: set[str] = field(default_factory=set)
    # Authorization headers the protected resource saw, in order.
    seen: list[str | None] = field(default_factory=list)
    _original: list[SigningKey] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._original = list(self.keys)

    def reset(self) -> None:
        """As it was when it started: its first keys, up, nothing counted or issued."""
        self.keys = list(self._original)
        self.down = False
        self.jwks_delay = 0.0
        self.jwks_fetches = self.token_fetches = 0
        self.token_lifetime = TOKEN_LIFETIME
        self.issued.clear()
        self.seen.clear()

    def mint(
        self,
        key: SigningKey | None = None,
        *,
        headers: dict[str, Any] | None = None,
        lifetime: float = TOKEN_LIFETIME,
        **claims: Any,
    ) -> str:
        """A token signed by `key` (the first published key by default): for the tests'
        audience, from this issuer, valid from now for `lifetime` seconds; `claims` and
        `headers` are added or replace those (None removes one)."""
        key = self.keys[0] if key is None else key
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "user-1",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "scope": "",
            **claims,
        }
        header = {"kid": key.kid, **(headers or {})}
        return jwt.encode(
            {name: value for name, value in payload.items() if value is not None},
            key.private,
            algorithm=key.algorithm,
            headers={name: value for name, value in header.items() if value is not None},
        )

    def rotate(self, algorithm: str = "RS256") -> SigningKey:
        """Publish a new key first in the set (tokens are signed with it from now on), the
        old ones kept; returns it."""
        key = new_key(algorithm)
        self.keys.insert(0, key)
        return key


def _build(issuer: Issuer) -> web.Application:
    async def discovery(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": issuer.url,
                "jwks_uri": f"{issuer.url}/jwks",
                "token_endpoint": f"{issuer.url}/token",
            }
        )

    async def jwks(_request: web.Request) -> web.Response:
        issuer.jwks_fetches += 1
        if issuer.jwks_delay:
            await asyncio.sleep(issuer.jwks_delay)
        if issuer.down:
            return web.json_response({"error": "down"}, status=503)
        return web.json_response({"keys": [key.public_jwk() for key in issuer.keys]})

    async def token(request: web.Request) -> web.Response:
        issuer.token_fetches += 1
        expected = base64.b64encode(b"the-service:s3cret%3Awith%2Fodd%26chars").decode()
        form = await request.post()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        value = secrets.token_urlsafe(16)
        issuer.issued.add(value)
        return web.json_response(
            {"access_token": value, "token_type": "Bearer", "expires_in": issuer.token_lifetime}
        )

    async def resource(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        issuer.seen.append(authorization)
        if authorization is None or authorization.removeprefix("Bearer ") not in issuer.issued:
            return web.json_response({"error": "invalid_token"}, status=401)
        item_id = int(request.match_info["item_id"])
        return web.json_response({"id": item_id, "name": "widget"})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks", jwks)
    app.router.add_post("/token", token)
    app.router.add_get("/resource/items/{item_id:[0-9]+}", resource)
    return app


@asynccontextmanager
async def run_issuer(port: int = 0) -> AsyncIterator[Issuer]:
    """Serve a new issuer, with an RSA and an EC key, on 127.0.0.1 at `port` (a free one by
    default) until the block ends."""
    issuer = Issuer("", [new_key("RS256"), new_key("ES256")])
    runner = web.AppRunner(_build(issuer), handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        host, port = runner.addresses[0][:2]
        # An issuer's identifier has no trailing slash; the tokens' `iss` is exactly this.
        issuer.url = f"http://{host}:{port}"
        yield issuer
    finally:
        await runner.cleanup()


async def _serve_forever() -> None:
    async with run_issuer(BY_HAND_PORT) as issuer:
        token = issuer.mint(aud=BY_HAND_AUDIENCE, scope="items:write notes:write jobs:write")
        print(f"Issuer on {issuer.url} (Ctrl-C stops). A token:\n{token}", flush=True)  # noqa: T201
        await until_stopped()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever())
