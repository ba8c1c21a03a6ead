"""The service's own token for the upstream: client credentials, fetched once, renewed in time."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from {{ cookiecutter.package_name }}.errors import UpstreamError
from {{ cookiecutter.package_name }}.upstream import UpstreamClient

from .issuer import CLIENT_ID, CLIENT_SECRET, Issuer
from .support import AppFactory, Serve, make_settings, refused_url
from .upstream import Upstream


def credentials(issuer: Issuer, **changes: Any) -> dict[str, Any]:
    """Settings for an upstream that takes only the issuer's tokens (its /resource/)."""
    return {
        "upstream_base_url": f"{issuer.url}/resource/",
        "upstream_token_url": f"{issuer.url}/token",
        "upstream_client_id": CLIENT_ID,
        "upstream_client_secret": SecretStr(CLIENT_SECRET),
        "upstream_token_scope": "items:read",
        **changes,
    }


@pytest.fixture(name="upstream_client")
async def fixture_upstream_client(
    make_app: AppFactory, serve: Serve, issuer: Issuer
) -> AsyncIterator[UpstreamClient]:
    """The upstream client of an app that fetches its token from the issuer."""
    async with serve(make_app(**credentials(issuer))) as client:
        yield client.resources.get(UpstreamClient)


async def test_the_upstream_sees_a_token_from_the_token_endpoint(
    upstream_client: UpstreamClient, issuer: Issuer
) -> None:
    """No token is fetched before a call needs one; then the call carries it as a bearer
    token, and the next call the same one."""
    assert issuer.token_fetches == 0
    for _ in range(2):
        assert await upstream_client.get_json("items/1") == {"id": 1, "name": "widget"}
    (issued,) = issuer.issued
    assert issuer.seen == [f"Bearer {issued}"] * 2
    assert issuer.token_fetches == 1


async def test_concurrent_calls_fetch_one_token(
    upstream_client: UpstreamClient, issuer: Issuer
) -> None:
    """50 calls at once, with no token held yet: one is fetched, and all of them use it."""
    results = await asyncio.gather(*(upstream_client.get_json("items/1") for _ in range(50)))
    assert results == [{"id": 1, "name": "widget"}] * 50
    assert issuer.token_fetches == 1
    assert len(set(issuer.seen)) == 1


async def test_a_token_about_to_expire_is_renewed(
    upstream_client: UpstreamClient, issuer: Issuer
) -> None:
    """A token is renewed before it expires (here at half its one-second life), not sent
    until the upstream refuses it."""
    issuer.token_lifetime = 1
    await upstream_client.get_json("items/1")
    await asyncio.sleep(0.6)
    await upstream_client.get_json("items/1")
    assert issuer.token_fetches == 2
    assert len(set(issuer.seen)) == 2


async def test_a_401_fetches_a_new_token_and_retries_once(
    upstream_client: UpstreamClient, issuer: Issuer
) -> None:
    """The upstream stops taking the token (revoked): the call fetches a new one and is made
    once more, and succeeds; 20 calls refused at once fetch one new token between them."""
    await upstream_client.get_json("items/1")
    issuer.issued.clear()
    results = await asyncio.gather(*(upstream_client.get_json("items/1") for _ in range(20)))
    assert results == [{"id": 1, "name": "widget"}] * 20
    assert issuer.token_fetches == 2
    first, *_, last = issuer.seen
    assert first != last
    assert last is not None
    assert last.removeprefix("Bearer ") in issuer.issued


async def test_a_token_refused_again_is_a_502(
    make_app: AppFactory, serve: Serve, issuer: Issuer, upstream: Upstream
) -> None:
    """An upstream that refuses the new token too: a 502 "upstream answered 401" after one
    new token and one retry, not a loop (a 401 is not retried otherwise)."""
    refusing = credentials(issuer, upstream_base_url=upstream.url)
    async with serve(make_app(**refusing)) as client:
        with pytest.raises(UpstreamError) as raised:
            await client.resources.get(UpstreamClient).get_json("faults/status-401/items")
    assert (raised.value.status_code, raised.value.detail) == (502, "upstream answered 401")
    assert issuer.token_fetches == 2


async def test_a_refused_client_is_a_502_and_no_call(
    make_app: AppFactory, serve: Serve, issuer: Issuer
) -> None:
    """A wrong client secret: the token endpoint refuses it, the call is a 502 saying so,
    and the upstream is never called."""
    wrong = credentials(issuer, upstream_client_secret=SecretStr("wrong"))
    async with serve(make_app(**wrong)) as client:
        upstream = client.resources.get(UpstreamClient)
        with pytest.raises(UpstreamError) as raised:
            await upstream.get_json("items/1")
    assert raised.value.detail == "token endpoint answered 401"
    assert issuer.seen == []


async def test_a_token_endpoint_that_is_down_is_a_502(make_app: AppFactory, serve: Serve) -> None:
    """Nothing listens at the token URL: the call is a 502, like any upstream fault."""
    down = {"upstream_token_url": refused_url(), "upstream_client_id": "id"}
    async with serve(make_app(**down, upstream_client_secret=SecretStr("x"))) as client:
        with pytest.raises(UpstreamError) as raised:
            await client.resources.get(UpstreamClient).get_json("items/1")
    assert (raised.value.status_code, raised.value.detail) == (502, "token endpoint unreachable")


def test_a_token_url_needs_a_client_and_no_static_token(issuer: Issuer) -> None:
    """Client credentials need an id and a secret, and exclude `upstream_token`."""
    with pytest.raises(ValidationError, match="client id and a client secret"):
        make_settings(**credentials(issuer, upstream_client_secret=None))
    with pytest.raises(ValidationError, match="not both"):
        make_settings(**credentials(issuer, upstream_token=SecretStr("static")))
