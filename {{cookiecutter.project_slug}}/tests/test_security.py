"""Security defaults: no wildcard CORS, secrets kept secret, the caller never picks the host."""

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.upstream import get_json

from .support import MAX_BODY_BYTES, ClientFactory, lifespan_state, make_settings, serve

ORIGIN = "https://app.example.com"


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    """Without configured origins, no cross-origin caller is allowed."""
    response = await client.get("/health", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


async def test_configured_origin_is_allowed_and_no_other(
    client_for: ClientFactory, upstream_url: str
) -> None:
    """A listed origin gets CORS headers; any other origin gets none."""
    async with client_for(upstream_url, cors_origins=[ORIGIN]) as client:
        allowed = await client.get("/health", headers={"Origin": ORIGIN})
        other = await client.get("/health", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in other.headers


def test_wildcard_origin_is_refused() -> None:
    """'*' is not accepted as a CORS origin."""
    with pytest.raises(ValidationError, match="'\\*' is not allowed"):
        Settings(_env_file=None, cors_origins=["*"])


def test_no_secret_has_a_default() -> None:
    """Every secret setting is a SecretStr and starts unset."""
    secrets = {
        name: info
        for name, info in Settings.model_fields.items()
        if info.annotation is not None and SecretStr in getattr(info.annotation, "__args__", ())
    }
    assert secrets.keys() == {"upstream_token"}
    assert all(info.default is None for info in secrets.values())


def test_token_does_not_leak_into_repr() -> None:
    """The upstream token is masked wherever settings are printed."""
    settings = Settings(_env_file=None, upstream_token=SecretStr("s3cret-token"))
    assert "s3cret-token" not in repr(settings)
    assert "s3cret-token" not in str(settings.model_dump())


async def test_token_is_sent_to_the_upstream(upstream_url: str) -> None:
    """With a token set, every upstream call carries it as a bearer token."""
    settings = make_settings(upstream_url, upstream_token=SecretStr("s3cret-token"))
    async with serve(settings) as (_, manager):
        http_session = lifespan_state(manager)["http_session"]
        body = await get_json(http_session, "headers", max_bytes=MAX_BODY_BYTES)
    assert body == {"authorization": "Bearer s3cret-token"}
