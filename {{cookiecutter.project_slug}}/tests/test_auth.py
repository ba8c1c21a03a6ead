"""Bearer tokens: checked against the issuer's keys, refused by RFC 6750, keys fetched on the loop."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, FastAPI

from {{ cookiecutter.package_name }}.auth import MAX_TOKEN_BYTES, Caller, CallerDep, guarded, require_scopes

from .auth import Mint, without_token
from .issuer import AUDIENCE, Issuer
from .support import AppClient, AppFactory, LogLines, Serve

LEEWAY = 30.0


def with_probes(app: FastAPI) -> FastAPI:
    """`app` with routes of the test's own: `/things` behind `guarded`, `/whoami` and
    `/admin` (which needs the scopes `admin` and `things:write`)."""
    things = APIRouter(prefix="/things")

    @things.get("")
    async def read_things() -> dict[str, str]:
        return {"read": "yes"}

    @things.post("")
    async def write_things() -> dict[str, str]:
        return {"written": "yes"}

    @app.get("/whoami")
    async def whoami(caller: CallerDep) -> dict[str, Any]:
        return {"subject": caller.subject, "scopes": sorted(caller.scopes)}

    @app.get("/admin")
    async def admin(caller: Annotated[Caller, require_scopes("admin", "things:write")]) -> str:
        return caller.subject

    app.include_router(guarded(things))
    return app


@pytest.fixture(name="probe", scope="module")
async def fixture_probe(make_app: AppFactory, serve: Serve) -> AsyncIterator[AppClient]:
    """A client of an app with the probe routes, its keys fetched from the issuer."""
    async with serve(with_probes(make_app())) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None = None) -> str:
    """A token signed by hand: with HMAC-SHA256 under `key`, or not at all."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return f"{signing_input}."
    digest = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


def _claims(issuer: Issuer, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer.url, "aud": AUDIENCE, "sub": "user-1", "exp": now + 600, **changes}


def _tampered(token: str) -> str:
    """`token` with its subject changed and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


async def test_a_valid_token_names_the_caller_and_its_scopes(probe: AppClient, mint: Mint) -> None:
    """A valid token gives the caller's subject and scopes, from `scope` (space-separated)
    or `scp` (a list, as some issuers send them)."""
    for token in (
        mint(sub="alice", scope="things:write admin"),
        mint(sub="alice", scp=["things:write", "admin"], scope=None),
    ):
        response = await probe.get("/whoami", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert response.json() == {"subject": "alice", "scopes": ["admin", "things:write"]}


async def test_the_ec_key_signs_valid_tokens_too(probe: AppClient, issuer: Issuer) -> None:
    """The issuer's ES256 key is as good as its RS256 one."""
    ec_key = next(key for key in issuer.keys if key.algorithm == "ES256")
    response = await probe.get("/whoami", headers=bearer(issuer.mint(ec_key, sub="bob")))
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "bob"


async def test_a_token_expired_within_the_leeway_is_accepted(probe: AppClient, mint: Mint) -> None:
    """A clock a little behind the issuer's is forgiven: expired less than the leeway ago."""
    now = int(time.time())
    token = mint(exp=now - int(LEEWAY / 2), iat=now - 600, nbf=now - 600)
    assert (await probe.get("/whoami", headers=bearer(token))).status_code == 200


async def test_no_token_is_a_401_with_a_bearer_challenge(probe: AppClient) -> None:
    """Without an Authorization header: 401, `WWW-Authenticate: Bearer` with no error code
    (RFC 6750, 3.1), a JSON detail and the request id."""
    response = await probe.send(without_token(probe, "GET", "/whoami"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "a bearer token is required"}
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer   ", "Token abc", ""]
)
async def test_an_authorization_that_is_not_a_bearer_token_is_a_401(
    probe: AppClient, value: str
) -> None:
    """Another scheme, or no token after `Bearer`, is no token at all."""
    response = await probe.get("/whoami", headers={"Authorization": value})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def refused_tokens(issuer: Issuer) -> dict[str, str]:
    """Tokens that must each be refused, by what is wrong with them."""
    now = int(time.time())
    first = issuer.keys[0]
    public_pem = first.private.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "not a JWT": "not-a-token",
        "three parts, none JSON": "a.b.c",
        "alg none": _unsigned({"alg": "none", "kid": first.kid}, _claims(issuer)),
        "HS256 signed with the public key": _unsigned(
            {"alg": "HS256", "typ": "JWT", "kid": first.kid}, _claims(issuer), public_pem
        ),
        "expired": issuer.mint(exp=now - int(LEEWAY) - 60, iat=now - 600, nbf=now - 600),
        "not yet valid": issuer.mint(nbf=now + int(LEEWAY) + 60),
        "issued in the future": issuer.mint(iat=now + int(LEEWAY) + 60),
        "wrong audience": issuer.mint(aud="another-service"),
        "wrong issuer": issuer.mint(iss="http://127.0.0.1:1"),
        "no subject": issuer.mint(sub=None),
        "no expiry": issuer.mint(exp=None),
        "a subject that is not a string": issuer.mint(sub=42),
        "tampered payload": _tampered(issuer.mint()),
        "no key id": issuer.mint(headers={"kid": None}),
        "a key of another algorithm": issuer.mint(headers={"alg": "RS512"}),
        "oversized": issuer.mint(padding="x" * MAX_TOKEN_BYTES),
    }


async def test_each_bad_token_is_a_401_invalid_token(
    probe: AppClient, issuer: Issuer, log_lines: LogLines
) -> None:
    """Every token in `refused_tokens` is a 401 with `error="invalid_token"`; the reason is
    logged with the request id, and no token ever reaches the log."""
    tokens = refused_tokens(issuer)
    for what, token in tokens.items():
        response = await probe.get("/whoami", headers=bearer(token))
        assert response.status_code == 401, what
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"'), what
        assert response.json() == {"detail": "invalid token"}, what
    refusals = [line for line in log_lines() if line["event"] == "token refused"]
    assert len(refusals) == len(tokens)
    assert all(line["request_id"] and line["reason"] for line in refusals)
    logged = json.dumps(log_lines())
    assert not any(token in logged for token in tokens.values() if len(token) > 20)


async def test_a_token_in_the_query_string_is_not_read(probe: AppClient, mint: Mint) -> None:
    """`?access_token=` is ignored (RFC 6750 allows it; logs and caches keep URLs)."""
    request = without_token(probe, "GET", f"/whoami?access_token={mint()}")
    response = await probe.send(request)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_writing_needs_the_write_scope(probe: AppClient, mint: Mint) -> None:
    """Under `guarded`, a GET takes any valid token; a POST a token with `things:write`, else
    a 403 `insufficient_scope` naming the scope."""
    reader = bearer(mint(scope="things:read"))
    assert (await probe.get("/things", headers=reader)).status_code == 200
    refused = await probe.post("/things", headers=reader)
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="things:write"'
    )
    assert refused.json() == {"detail": "the token lacks the scope things:write"}
    writer = bearer(mint(scope="things:write"))
    assert (await probe.post("/things", headers=writer)).status_code == 200
    assert (await probe.send(without_token(probe, "POST", "/things"))).status_code == 401


async def test_require_scopes_needs_every_scope(probe: AppClient, mint: Mint) -> None:
    """`require_scopes("admin", "things:write")` refuses a token with only one of them."""
    one = await probe.get("/admin", headers=bearer(mint(scope="admin")))
    assert one.status_code == 403
    assert 'scope="admin things:write"' in one.headers["WWW-Authenticate"]
    both = await probe.get("/admin", headers=bearer(mint(sub="root", scope="admin things:write")))
    assert both.status_code == 200
    assert both.json() == "root"


async def test_an_unknown_key_is_fetched_once_then_refused(
    probe: AppClient, issuer: Issuer
) -> None:
    """A token naming a key the issuer does not publish: the keys are fetched once more, then
    the token is a 401."""
    stranger = issuer.rotate()
    issuer.keys.remove(stranger)
    response = await probe.get("/whoami", headers=bearer(issuer.mint(stranger)))
    assert response.status_code == 401
    assert 'error_description="unknown key"' in response.headers["WWW-Authenticate"]
    assert issuer.jwks_fetches == 1


async def test_a_rotated_key_is_picked_up(probe: AppClient, issuer: Issuer) -> None:
    """The issuer publishes a new key and signs with it: the first token of it makes the
    service fetch the keys, and it is accepted; tokens of the old key still are."""
    new = issuer.rotate("ES256")
    old_token = issuer.mint(issuer.keys[1])
    assert (await probe.get("/whoami", headers=bearer(issuer.mint(new)))).status_code == 200
    assert issuer.jwks_fetches == 1
    assert (await probe.get("/whoami", headers=bearer(old_token))).status_code == 200
    assert issuer.jwks_fetches == 1


async def test_many_requests_with_a_new_key_fetch_the_keys_once(
    probe: AppClient, issuer: Issuer
) -> None:
    """100 requests at once, each with a token of a key just published: one fetch of the
    keys serves them all, and all are accepted."""
    issuer.jwks_delay = 0.2
    new = issuer.rotate()
    tokens = [issuer.mint(new, sub=f"user-{n}") for n in range(100)]
    responses = await asyncio.gather(
        *(probe.get("/whoami", headers=bearer(token)) for token in tokens)
    )
    assert [response.status_code for response in responses] == [200] * 100
    assert issuer.jwks_fetches == 1


async def test_keys_are_fetched_at_most_once_per_interval(
    make_app: AppFactory, serve: Serve, issuer: Issuer
) -> None:
    """With a minimum interval, tokens naming unknown keys make no more fetches than one."""
    async with serve(with_probes(make_app(auth_keys_min_interval=60.0))) as client:
        fetched_at_start = issuer.jwks_fetches
        stranger = issuer.rotate()
        issuer.keys.remove(stranger)
        for _ in range(5):
            response = await client.get("/whoami", headers=bearer(issuer.mint(stranger)))
            assert response.status_code == 401
    assert fetched_at_start == 1
    assert issuer.jwks_fetches == fetched_at_start


async def test_an_issuer_down_at_start_is_a_503_until_it_is_back(
    make_app: AppFactory, serve: Serve, issuer: Issuer, mint: Mint
) -> None:
    """The service starts while the key set cannot be fetched: requests get a JSON 503 and
    /ready says why; once the issuer is back, both recover without a restart."""
    issuer.down = True
    async with serve(with_probes(make_app())) as client:
        refused = await client.get("/whoami", headers=bearer(mint()))
        assert refused.status_code == 503
        assert refused.json() == {"detail": "the issuer's keys are not available"}
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["auth_keys"] == "no keys from the issuer"
        issuer.down = False
        assert (await client.get("/ready")).status_code == 200
        assert (await client.get("/whoami", headers=bearer(mint()))).status_code == 200


async def test_an_issuer_down_later_leaves_the_known_keys_in_use(
    probe: AppClient, issuer: Issuer, mint: Mint
) -> None:
    """Keys fetched before the issuer went down still verify tokens; a token of an unknown
    key is a 401, not a 503, and /ready stays ready."""
    issuer.down = True
    assert (await probe.get("/whoami", headers=bearer(mint()))).status_code == 200
    stranger = issuer.rotate()
    issuer.keys.remove(stranger)
    assert (await probe.get("/whoami", headers=bearer(issuer.mint(stranger)))).status_code == 401
    assert (await probe.get("/ready")).status_code == 200


async def test_a_token_checked_before_is_refused_once_it_expires(
    make_app: AppFactory, serve: Serve, mint: Mint
) -> None:
    """A token is checked once and its caller kept, but not past the token's expiry: the same
    token sent again after it expired is a 401 (here without leeway). The token lives two
    seconds at least, many times what its first request takes on a busy machine."""
    async with serve(with_probes(make_app(auth_leeway=0.0))) as client:
        expires = int(time.time()) + 3
        token = mint(exp=expires)
        assert (await client.get("/whoami", headers=bearer(token))).status_code == 200
        await asyncio.sleep(expires - time.time() + 0.05)
        response = await client.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert 'error_description="token expired"' in response.headers["WWW-Authenticate"]


async def test_a_token_checked_before_is_refused_once_its_key_is_withdrawn(
    make_app: AppFactory, serve: Serve, issuer: Issuer
) -> None:
    """A token whose key the issuer stops publishing is checked again when the keys change,
    and refused, though it passed before. (An app of its own: the shared one keeps every
    key the other tests sign with.)"""
    old_token = issuer.mint(sub="old")
    async with serve(with_probes(make_app())) as client:
        assert (await client.get("/whoami", headers=bearer(old_token))).status_code == 200
        new = issuer.rotate()
        issuer.keys = [new]
        fresh = bearer(issuer.mint(new))
        assert (await client.get("/whoami", headers=fresh)).status_code == 200
        response = await client.get("/whoami", headers=bearer(old_token))
    assert response.status_code == 401
    assert 'error_description="unknown key"' in response.headers["WWW-Authenticate"]


async def test_the_key_set_url_can_be_given(
    make_app: AppFactory, serve: Serve, issuer: Issuer, mint: Mint
) -> None:
    """With `auth_jwks_url` set, the keys come from there; no discovery document is read."""
    app = with_probes(make_app(auth_jwks_url=f"{issuer.url}/jwks", auth_issuer=issuer.url))
    async with serve(app) as client:
        assert (await client.get("/whoami", headers=bearer(mint()))).status_code == 200


async def test_a_discovery_document_of_another_issuer_is_refused(
    make_app: AppFactory, serve: Serve, issuer: Issuer, mint: Mint
) -> None:
    """The discovery document must name the configured issuer (OpenID Connect Discovery,
    4.3): an issuer set with a trailing slash that its tokens do not have loads no keys."""
    async with serve(with_probes(make_app(auth_issuer=f"{issuer.url}/"))) as client:
        response = await client.get("/whoami", headers=bearer(mint(iss=f"{issuer.url}/")))
        assert response.status_code == 503
    assert issuer.jwks_fetches == 0


async def test_open_routes_stay_open(client: httpx.AsyncClient) -> None:
    """/health and /ready take no token."""
    for path in ("/health", "/ready"):
        response = await client.send(without_token(client, "GET", path))
        assert response.status_code == 200, path


async def test_the_openapi_shows_the_bearer_scheme_on_guarded_routes(probe: AppClient) -> None:
    """/docs can authorize: the scheme is in the OpenAPI, on every guarded route with its
    401, 403 and 503, and on no open route."""
    spec = (await probe.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path, methods in spec["paths"].items():
        for operation in methods.values():
            secured = "security" in operation
            assert secured == (path not in ("/health", "/ready", "/metrics")), path
            if path.startswith("/things"):
                assert {"401", "403", "503"} <= set(operation["responses"]), path
