"""The token issuer for part 9: aiohttp.web on 127.0.0.1, in a process of its own, its keys
made when it starts.

    python -m bench.project.auth_issuer --port PORT --audience AUDIENCE

It serves what the service reads from an identity provider: the discovery document
(`/.well-known/openid-configuration`), the key set (`/jwks`: an RSA 2048 key for RS256 and a
P-256 key for ES256), and a token endpoint for the client-credentials grant (`/token`, the
client authenticated with HTTP Basic). `CACHED_CLIENT` is given tokens for an hour,
`RENEWING_CLIENT` tokens for `RENEWING_LIFETIME` seconds (a JSON number, as RFC 6749 allows),
so that a service using it fetches a new one for every upstream call. The access tokens it
issues are random strings: the bench's upstream takes any.

For the orchestrator: `GET /bench/tokens` gives one token for the service's audience signed
with each key, minted when the issuer starts and valid for an hour; `GET /bench/stats` counts
the fetches of the key set and of tokens, by client.
"""

import argparse
import base64
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .aio_serve import run, serve_until_stopped

CACHED_CLIENT = "bench-cached"
RENEWING_CLIENT = "bench-renewing"
CLIENT_SECRET = "bench-secret"  # noqa: S105 - the bench's own client, on loopback
TOKEN_LIFETIME = 3600  # seconds: the signed tokens, and the cached client's access tokens
RENEWING_LIFETIME = 0.001  # seconds: renewed at half of it, so before every upstream call
LIFETIMES: dict[str, float] = {CACHED_CLIENT: TOKEN_LIFETIME, RENEWING_CLIENT: RENEWING_LIFETIME}
ALGORITHMS = ("RS256", "ES256")


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


def new_key(algorithm: str) -> SigningKey:
    """A key made now: RSA 2048 for RS256, P-256 for ES256."""
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(f"bench-{algorithm.lower()}", algorithm, private)


def mint(key: SigningKey, issuer: str, audience: str) -> str:
    """An access token as an identity provider issues one (RFC 9068's claims), signed by
    `key`, valid from now for `TOKEN_LIFETIME` seconds."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": "bench-user",
        "client_id": "bench-caller",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME,
        "jti": secrets.token_hex(16),
        "scope": "items:read",
    }
    return jwt.encode(claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid})


@dataclass
class Issuer:
    """What the issuer publishes and what it was asked."""

    url: str
    audience: str
    keys: list[SigningKey]
    jwks_fetches: int = 0
    token_fetches: Counter[str] = field(default_factory=Counter)


def _client(authorization: str) -> str | None:
    """The client id, if `authorization` is HTTP Basic with a known client and the secret
    (each form-encoded, RFC 6749 2.3.1)."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(encoded, validate=True).decode()
    except ValueError:
        return None
    client, _, secret = pair.partition(":")
    client, secret = unquote(client), unquote(secret)
    if client not in LIFETIMES or not secrets.compare_digest(secret, CLIENT_SECRET):
        return None
    return client


def application(issuer: Issuer) -> web.Application:
    """The issuer's routes, on `issuer`'s state."""

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
        return web.json_response({"keys": [key.public_jwk() for key in issuer.keys]})

    async def token(request: web.Request) -> web.Response:
        client = _client(request.headers.get("Authorization", ""))
        form = await request.post()
        if client is None:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        issuer.token_fetches[client] += 1
        answer = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": LIFETIMES[client],
        }
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    tokens = {key.algorithm: mint(key, issuer.url, issuer.audience) for key in issuer.keys}

    async def minted(_request: web.Request) -> web.Response:
        return web.json_response(tokens)

    async def stats(_request: web.Request) -> web.Response:
        fetches = {client: issuer.token_fetches[client] for client in LIFETIMES}
        return web.json_response({"jwks_fetches": issuer.jwks_fetches, "token_fetches": fetches})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks", jwks)
    app.router.add_post("/token", token)
    app.router.add_get("/bench/tokens", minted)
    app.router.add_get("/bench/stats", stats)
    return app


async def serve(port: int, audience: str) -> None:
    """Serve on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    # An issuer's identifier has no trailing slash; the tokens' `iss` is exactly this.
    issuer = Issuer(f"http://127.0.0.1:{port}", audience, [new_key(name) for name in ALGORITHMS])
    await serve_until_stopped(web.AppRunner(application(issuer), access_log=None), port)


def main() -> None:
    """Parse the port and the audience and serve, on uvloop as the bench's upstream does."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--audience", required=True, help="the `aud` of the minted tokens")
    args = parser.parse_args()
    run(serve(args.port, args.audience))


if __name__ == "__main__":
    main()
