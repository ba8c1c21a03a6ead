"""Security defaults: no wildcard CORS, secrets kept secret, the caller never picks the host."""

from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.upstream import UpstreamClient

from .support import AppFactory, Serve

ORIGIN = "https://app.example.com"
HOST = "api.example.com"


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    """Without configured origins, no cross-origin caller is allowed."""
    response = await client.get("/health", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


async def test_configured_origin_is_allowed_and_no_other(
    make_app: AppFactory, serve: Serve
) -> None:
    """A listed origin gets CORS headers; any other origin gets none."""
    async with serve(make_app(cors_origins=[ORIGIN])) as client:
        allowed = await client.get("/health", headers={"Origin": ORIGIN})
        other = await client.get("/health", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in other.headers


def _allowed_headers(response: httpx.Response) -> set[str]:
    """The request headers a preflight answer lets the browser send, lowercased."""
    listed = response.headers.get("access-control-allow-headers", "")
    return {name.strip().lower() for name in listed.split(",") if name.strip()}


async def test_a_preflight_permits_only_the_listed_headers(
    make_app: AppFactory, serve: Serve
) -> None:
    """A preflight from a listed origin is granted Authorization and Content-Type; one that
    asks for any other header is refused, and no answer gives permission for it."""
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    async with serve(make_app(cors_origins=[ORIGIN])) as client:
        listed = await client.options(
            "/health",
            headers={**preflight, "Access-Control-Request-Headers": "authorization, content-type"},
        )
        other = await client.options(
            "/health",
            headers={**preflight, "Access-Control-Request-Headers": "content-type, x-api-key"},
        )
    assert listed.status_code == 200
    assert {"authorization", "content-type"} <= _allowed_headers(listed)
    assert other.status_code == 400
    assert "x-api-key" not in _allowed_headers(listed) | _allowed_headers(other)


async def test_any_host_is_answered_by_default(client: httpx.AsyncClient) -> None:
    """Without allowed_hosts, the service answers whatever Host a request names."""
    response = await client.get("/health", headers={"Host": "elsewhere.example.com"})
    assert response.status_code == 200


async def test_only_allowed_hosts_are_answered(make_app: AppFactory, serve: Serve) -> None:
    """With allowed_hosts set, another Host is a 400, and no redirect ever names it."""
    async with serve(make_app(allowed_hosts=[HOST])) as client:
        allowed = await client.get("/health", headers={"Host": HOST})
        redirect = await client.get("/health/", headers={"Host": HOST})
        other = await client.get("/health", headers={"Host": "evil.example.com"})
        other_redirect = await client.get("/health/", headers={"Host": "evil.example.com"})
    assert allowed.status_code == 200
    assert (redirect.status_code, redirect.headers["location"]) == (307, f"http://{HOST}/health")
    assert (other.status_code, other_redirect.status_code) == (400, 400)
    assert "location" not in other_redirect.headers


def test_wildcard_host_is_refused() -> None:
    """'*' is not accepted as an allowed host: an empty list already means any host."""
    with pytest.raises(ValidationError, match="'\\*' is not allowed"):
        Settings(_env_file=None, allowed_hosts=["*"])


def test_wildcard_origin_is_refused() -> None:
    """'*' is not accepted as a CORS origin."""
    with pytest.raises(ValidationError, match="'\\*' is not allowed"):
        Settings(_env_file=None, cors_origins=["*"])


def test_no_secret_has_a_real_default() -> None:
    """Every secret setting is a SecretStr that starts unset, or with a value that only
    reaches this machine (a local development database)."""
    secrets = {
        name: info
        for name, info in Settings.model_fields.items()
        if info.annotation is SecretStr or SecretStr in getattr(info.annotation, "__args__", ())
    }
    assert "upstream_token" in secrets
    for name, info in secrets.items():
        if info.default is not None:
            host = urlsplit(info.default.get_secret_value()).hostname
            assert host in {"127.0.0.1", "localhost"}, name


def test_token_does_not_leak_into_repr() -> None:
    """The upstream token is masked wherever settings are printed."""
    settings = Settings(_env_file=None, upstream_token=SecretStr("s3cret-token"))
    assert "s3cret-token" not in repr(settings)
    assert "s3cret-token" not in str(settings.model_dump())


async def test_token_is_sent_to_the_upstream(make_app: AppFactory, serve: Serve) -> None:
    """With a token set, every upstream call carries it as a bearer token."""
    async with serve(make_app(upstream_token=SecretStr("s3cret-token"))) as client:
        body = await client.resources.get(UpstreamClient).get_json("headers")
    assert body == {"authorization": "Bearer s3cret-token"}
