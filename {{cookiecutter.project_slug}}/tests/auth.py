"""The tests' issuer of tokens (tests/issuer.py) on 127.0.0.1, and tokens from it.

Every app of the tests checks tokens against this issuer, and every client of them sends a
token with each example resource's write scope (`auth_headers`), so that the other tests
read as they would without authentication. A test of refusals sends its own header, or
removes it with `without_token`.

- `issuer`: the issuer, as it was at the start of each test (its first keys, up).
- `mint(**claims)`: a token from it, with these claims.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from {{ cookiecutter.package_name }}.config import Settings

from .issuer import AUDIENCE, Issuer, run_issuer

# The scopes of the token every client sends: writing every example resource.
ALL_SCOPES = "items:write notes:write jobs:write"
# A token: `mint(scope="items:write")`.
Mint = Callable[..., str]


@pytest.fixture(name="_issuer_for_the_run", scope="session")
async def fixture_issuer_for_the_run() -> AsyncIterator[Issuer]:
    async with run_issuer() as issuer:
        yield issuer


@pytest.fixture(name="_issuer_in_the_environment", scope="session", autouse=True)
def fixture_issuer_in_the_environment(
    _environment_left_out: None, _issuer_for_the_run: Issuer
) -> Iterator[None]:
    """The issuer and audience have no default: settings read from the environment (as
    `Settings()` and the tests of reading it do) find the tests' issuer there."""
    prefix = Settings.model_config.get("env_prefix", "")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(f"{prefix}AUTH_ISSUER", _issuer_for_the_run.url)
        patch.setenv(f"{prefix}AUTH_AUDIENCE", AUDIENCE)
        yield


@pytest.fixture(name="issuer")
def fixture_issuer(_issuer_for_the_run: Issuer) -> Iterator[Issuer]:
    """The issuer, for a test that changes or counts what it does; as it was, afterwards."""
    _issuer_for_the_run.reset()
    yield _issuer_for_the_run
    _issuer_for_the_run.reset()


@pytest.fixture(name="auth_settings", scope="session")
def fixture_auth_settings(_issuer_for_the_run: Issuer) -> dict[str, Any]:
    """What points the tests' apps at the issuer (conftest.py's base_settings). The keys may
    be fetched again at once: a test of the interval between fetches sets its own."""
    return {
        "auth_issuer": _issuer_for_the_run.url,
        "auth_audience": AUDIENCE,
        "auth_keys_min_interval": 1e-6,
        "auth_timeout": 2.0,
    }


@pytest.fixture(name="auth_headers", scope="session")
def fixture_auth_headers(_issuer_for_the_run: Issuer) -> dict[str, str]:
    """The bearer token every client of the tests' apps sends (conftest.py's client_headers)."""
    return {"Authorization": f"Bearer {_issuer_for_the_run.mint(scope=ALL_SCOPES)}"}


@pytest.fixture(name="mint", scope="session")
def fixture_mint(_issuer_for_the_run: Issuer) -> Mint:
    """`mint(**claims)`: a token of the issuer's first key, with these claims."""
    return _issuer_for_the_run.mint


def without_token(client: httpx.AsyncClient, method: str, url: str) -> httpx.Request:
    """A request from `client` that carries no Authorization header at all."""
    request = client.build_request(method, url)
    del request.headers["Authorization"]
    return request
