"""What checking one bearer token costs, step by step, timed in-process where no network adds
noise.

For a token signed with each of the issuer's keys (RS256 with RSA 2048, ES256 with P-256),
the keys cached as the service holds them (`IssuerKeys`, loaded once):

- `first`: `TokenVerifier.caller(token)` for a token the verifier has not seen, the whole
  check: the token's header read, its key looked up, `jwt.decode` (the signature, `aud`,
  `iss`, the times, the required claims), the `Caller` built.
- `caller`: the same for a token it checked before, which it keeps until the token expires
  (what a client sending its token with every request meets).
- `decode`: `jwt.decode` alone, with the same key and options.
- `signature`: the signature alone, as PyJWT checks it (its algorithm's `verify`, OpenSSL
  through cryptography underneath).
- `header`: `jwt.get_unverified_header` alone.
- `caller_model`: `Caller(...)` built from the decoded claims (pydantic).

Each step in turns over several repeats, each keeping its fastest, as timeit does. Run inside
an auth=jwt project's environment: `python -m bench.project.auth_cost`; it prints the
nanoseconds of each step as JSON (`RS256_caller_ns`...).
"""

import asyncio
import base64
import json
import time
from collections.abc import Callable

import aiohttp
import jwt
from my_service.auth import Caller, IssuerKeys, TokenVerifier
from my_service.config import Settings
from my_service.logs import configure_logging

from .auth_issuer import ALGORITHMS, SigningKey, mint, new_key

CALLS = 500
REPEATS = 7
ISSUER = "http://127.0.0.1:1"
AUDIENCE = "bench-audience"


class LoadedKeys(IssuerKeys):
    """The service's key cache, its one fetch answered from `keys` instead of the network."""

    def __init__(
        self, session: aiohttp.ClientSession, settings: Settings, keys: list[SigningKey]
    ) -> None:
        super().__init__(session, settings)
        self._published = keys

    async def _fetch(self) -> dict[tuple[str, str], jwt.PyJWK]:
        return {
            (key.kid, key.algorithm): jwt.PyJWK(key.public_jwk(), key.algorithm)
            for key in self._published
        }


def _per_call_ns(step: Callable[[], object], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        step()
    return (time.perf_counter_ns() - started) / calls


async def _caller_ns(verifier: TokenVerifier, token: str, calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        await verifier.caller(token)
    return (time.perf_counter_ns() - started) / calls


async def _first_ns(keys: LoadedKeys, settings: Settings, token: str, calls: int) -> float:
    """A verifier of its own for each call: the token never seen before."""
    verifiers = [TokenVerifier(keys, settings) for _ in range(calls)]
    started = time.perf_counter_ns()
    for verifier in verifiers:
        await verifier.caller(token)
    return (time.perf_counter_ns() - started) / calls


def _steps(
    settings: Settings, key: SigningKey, public: jwt.PyJWK, token: str
) -> dict[str, Callable[[], object]]:
    """The parts of the check, each a call to time."""
    signing_input, _, encoded = token.rpartition(".")
    signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    algorithm = jwt.get_algorithm_by_name(key.algorithm)
    claims = jwt.decode(token, public, algorithms=[key.algorithm], audience=AUDIENCE, issuer=ISSUER)
    scopes = frozenset(str(claims["scope"]).split())

    def decode() -> object:
        return jwt.decode(
            token,
            public,
            algorithms=[key.algorithm],
            audience=settings.auth_audience,
            issuer=settings.auth_issuer,
            leeway=settings.auth_leeway,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )

    return {
        "decode": decode,
        "signature": lambda: algorithm.verify(signing_input.encode(), public.key, signature),
        "header": lambda: jwt.get_unverified_header(token),
        "caller_model": lambda: Caller(subject=claims["sub"], scopes=scopes, claims=claims),
    }


async def measure(calls: int = CALLS, repeats: int = REPEATS) -> dict[str, float]:
    """The fastest nanoseconds per call of each step for each algorithm."""
    configure_logging("WARNING", "json")  # to stderr: stdout is the answer
    settings = Settings(_env_file=None, auth_issuer=ISSUER, auth_audience=AUDIENCE)
    keys = [new_key(name) for name in ALGORITHMS]
    async with aiohttp.ClientSession() as session:  # never used: the fetch is answered above
        cache = LoadedKeys(session, settings, keys)
        await cache.refresh()
        verifier = TokenVerifier(cache, settings)
        fastest: dict[str, float] = {}
        for key in keys:
            token = mint(key, ISSUER, AUDIENCE)
            public = await cache.key(key.kid, key.algorithm)
            steps = _steps(settings, key, public, token)
            for name in ["first", "caller", *steps]:
                fastest[f"{key.algorithm}_{name}_ns"] = float("inf")
            for _ in range(repeats):
                found = await _caller_ns(verifier, token, calls)
                name = f"{key.algorithm}_caller_ns"
                fastest[name] = min(fastest[name], found)
                found = await _first_ns(cache, settings, token, calls)
                name = f"{key.algorithm}_first_ns"
                fastest[name] = min(fastest[name], found)
                for step, call in steps.items():
                    name = f"{key.algorithm}_{step}_ns"
                    fastest[name] = min(fastest[name], _per_call_ns(call, calls))
    return fastest


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))  # noqa: T201 - read by the caller
