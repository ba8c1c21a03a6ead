"""Every route against the app's own OpenAPI, with generated requests (property-based).

schemathesis builds requests from `/openapi.json`: valid ones, and invalid ones (wrong types,
values out of bounds, text of every script, missing and extra fields). Each is sent through the
tests' own client, so the app runs with its real lifespan on the tests' one event loop.
(schemathesis' own ASGI mode would run the app through a synchronous client on another
thread's loop, the very trap these tests are set up to avoid.) Every answer must have a status
the OpenAPI lists for that route, a body matching that status's schema, JSON, and the
request id; a 500 never.

The normal run sends API_EXAMPLES requests (100); before a release, send more:
`API_EXAMPLES=5000 uv run pytest tests/test_api.py`.
"""

import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth

EXAMPLES = int(os.environ.get("API_EXAMPLES", "100"))

Requests = st.SearchStrategy[schemathesis.Case[Any]]


@pytest.fixture(name="api_requests", scope="session")
async def fixture_api_requests(client: httpx.AsyncClient) -> Requests:
    """Requests for every route of the shared app, valid and invalid, from its OpenAPI."""
    response = await client.get("/openapi.json")
    schema = schemathesis.openapi.from_dict(response.json())
    valid = schema.as_strategy(generation_mode=GenerationMode.POSITIVE)
    invalid = schema.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    return valid | invalid


async def send(client: httpx.AsyncClient, case: schemathesis.Case[Any]) -> httpx.Response:
    """Send a generated request through `client`, with the headers it was generated with.

    Where the client sends a token (tests/auth.py, when there is authentication), a request
    whose headers were generated valid carries that token, so that it reaches the route; one
    whose headers were generated invalid carries only what was generated (it must be refused).
    """
    token = client.headers.get("Authorization")
    headers_made = None if case.meta is None else case.meta.components.get(ParameterLocation.HEADER)
    negative_headers = headers_made is not None and headers_made.mode.is_negative
    if token is not None and "Authorization" not in case.headers and not negative_headers:
        case.headers["Authorization"] = token
    sent = case.as_transport_kwargs(base_url=str(client.base_url))
    request = client.build_request(
        sent["method"],
        sent["url"],
        headers=sent.get("headers"),
        params=sent.get("params"),
        json=sent.get("json"),
        content=sent.get("data"),
    )
    if "Authorization" not in case.headers:
        request.headers.pop("Authorization", None)
    return await client.send(request)


# One example's requests run inside the test's own fixtures (its database transaction, when
# there is one), which is what the function-scoped check warns of: here it is the intent.
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_every_answer_is_documented(
    client: httpx.AsyncClient, api_requests: Requests, data: st.DataObject
) -> None:
    """Generated requests, valid and invalid, get only answers the OpenAPI documents: a
    listed status, a body of its schema, JSON, the request id; never a 500."""
    case = data.draw(api_requests)
    response = await send(client, case)
    # ignored_auth sends requests of its own, which cannot reach an app served in-process;
    # tests/test_auth.py checks that every guarded route refuses a missing or bad token.
    case.validate_response(response, excluded_checks=[ignored_auth])
    assert response.status_code != 500, response.text
    assert "x-request-id" in response.headers
    if response.status_code != 204:  # No Content: no body, so no type
        assert response.headers["content-type"] == "application/json"
