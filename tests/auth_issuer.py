"""A token issuer for the auth end-to-end tests: aiohttp.web on 127.0.0.1, keys made at start.

Run as a script by a render's interpreter (its virtualenv has aiohttp, PyJWT and cryptography;
this one's has none of them), with the audience of its tokens as the one argument. It binds a
free port, prints `ISSUER http://127.0.0.1:<n>` and serves until SIGTERM or SIGINT what the
service reads from an identity provider:

- `GET /.well-known/openid-configuration`: the issuer's identifier and its `jwks_uri`;
- `GET /jwks`: its public keys, an RSA key (RS256) and an EC key (ES256) at first; counted.

and, for the test alone:

- `POST /control/tokens` `{"kid", "claims", "headers", "count"}`: `count` tokens (1 unless
  given) signed by the key `kid`, each from this issuer, for the audience, valid for an hour
  from now, with a `jti` of its own; `claims` and `headers` are added or replace those, and a
  null removes one. Answers `{"tokens": [...]}`.
- `POST /control/rotate` `{"algorithm"}`: a new key made and published first in the key set,
  the old ones kept (as an issuer rotates); answers `{"kid": ...}`.
- `GET /control/keys/{kid}.pem`: a key's public half, PEM (SubjectPublicKeyInfo).
- `GET /control/stats`: `{"jwks_fetches": n}`, the fetches of `/jwks` so far.
"""

import asyncio
import itertools
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# The render's virtualenv has these; the template's own, where mypy reads this file, has not.
import jwt  # type: ignore[import-not-found,unused-ignore]
from aiohttp import web  # type: ignore[import-not-found,unused-ignore]
from cryptography.hazmat.primitives.asymmetric import (  # type: ignore[import-not-found,unused-ignore]
    ec,
    rsa,
)
from cryptography.hazmat.primitives.serialization import (  # type: ignore[import-not-found,unused-ignore]
    Encoding,
    PublicFormat,
)

TOKEN_LIFETIME_SECONDS = 3600
# The most tokens one call mints: the test's pools are a few dozen.
MAX_COUNT = 1000


@dataclass
class Key:
    """One of the issuer's keys: its id, algorithm and private half."""

    kid: str
    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        """The key as the key set publishes it."""
        published: dict[str, Any] = jwt.get_algorithm_by_name(self.algorithm).to_jwk(
            self.private.public_key(), as_dict=True
        )
        return {**published, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def public_pem(self) -> bytes:
        """The public half, as PEM."""
        pem: bytes = self.private.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        return pem


@dataclass
class Issuer:
    """What the issuer publishes, and how often its key set was fetched."""

    audience: str
    url: str = ""
    # Published in this order: the newest first.
    keys: list[Key] = field(default_factory=list)
    jwks_fetches: int = 0
    _token_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_key(self, algorithm: str) -> Key:
        """A key made now (RSA 2048 for RS256, P-256 for ES256), published first."""
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if algorithm == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            kind = "rsa"
        elif algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
            kind = "ec"
        else:
            raise ValueError(f"no key for {algorithm}")
        key = Key(f"{kind}-{len(self.keys) + 1}", algorithm, private)
        self.keys.insert(0, key)
        return key

    def key(self, kid: object) -> Key | None:
        """The published key `kid`, if there is one."""
        return next((key for key in self.keys if key.kid == kid), None)

    def mint(self, key: Key, claims: dict[str, Any], headers: dict[str, Any]) -> str:
        """A token signed by `key`, its default claims and header changed as given."""
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": self.audience,
            "sub": "user-1",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": f"token-{next(self._token_numbers)}",
            "scope": "",
            **claims,
        }
        header = {"kid": key.kid, **headers}
        token: str = jwt.encode(
            {name: value for name, value in payload.items() if value is not None},
            key.private,
            algorithm=key.algorithm,
            headers={name: value for name, value in header.items() if value is not None},
        )
        return token


def build(issuer: Issuer) -> web.Application:
    """The issuer's web application."""

    async def discovery(_request: web.Request) -> web.Response:
        return web.json_response({"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"})

    async def jwks(_request: web.Request) -> web.Response:
        issuer.jwks_fetches += 1
        return web.json_response({"keys": [key.public_jwk() for key in issuer.keys]})

    async def tokens(request: web.Request) -> web.Response:
        asked = await request.json()
        key, count = issuer.key(asked.get("kid")), asked.get("count", 1)
        if key is None:
            return web.json_response({"error": f"no key {asked.get('kid')!r}"}, status=404)
        if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
            return web.json_response({"error": f"count must be 1 to {MAX_COUNT}"}, status=400)
        claims, headers = asked.get("claims", {}), asked.get("headers", {})
        minted = [issuer.mint(key, claims, headers) for _ in range(count)]
        return web.json_response({"tokens": minted})

    async def rotate(request: web.Request) -> web.Response:
        asked = await request.json()
        key = issuer.new_key(asked.get("algorithm", "RS256"))
        return web.json_response({"kid": key.kid})

    async def pem(request: web.Request) -> web.Response:
        key = issuer.key(request.match_info["kid"])
        if key is None:
            return web.json_response({"error": "no such key"}, status=404)
        return web.Response(body=key.public_pem(), content_type="application/x-pem-file")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"jwks_fetches": issuer.jwks_fetches})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks", jwks)
    app.router.add_post("/control/tokens", tokens)
    app.router.add_post("/control/rotate", rotate)
    app.router.add_get("/control/keys/{kid}.pem", pem)
    app.router.add_get("/control/stats", stats)
    return app


async def main(audience: str) -> None:
    """Serve a new issuer on a free loopback port until SIGTERM or SIGINT."""
    issuer = Issuer(audience)
    issuer.new_key("RS256")
    issuer.new_key("ES256")
    runner = web.AppRunner(build(issuer), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        # An issuer's identifier has no trailing slash; its tokens' `iss` is exactly this.
        issuer.url = f"http://{host}:{port}"
        print(f"ISSUER {issuer.url}", flush=True)  # noqa: T201 - how the test learns it
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: auth_issuer.py AUDIENCE")
    asyncio.run(main(sys.argv[1]))
