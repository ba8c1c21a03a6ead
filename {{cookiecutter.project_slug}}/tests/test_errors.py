"""No input or fault gets a 500 with a traceback: every answer is JSON with the request id.

The tests add probe routes to an app of their own, so they need no example route.
"""

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.errors import handle_validation_error

from .support import AppFactory, LogLines, Serve

HOST = "api.example.com"


class Thing(BaseModel):
    """A body to post to the probe route."""

    name: str


def _with_probes(app: FastAPI) -> FastAPI:
    """`app` with a route that fails as nothing expects, and one that takes a body."""

    @app.get("/probe/crash")
    async def crash() -> None:
        raise RuntimeError("secret detail of a bug")

    @app.post("/probe/things")
    async def things(thing: Thing) -> Thing:
        return thing

    return app


@pytest.fixture(name="probed")
async def fixture_probed(app: FastAPI, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app with the probe routes, started for this test."""
    async with serve(_with_probes(app)) as client:
        yield client


async def test_an_unexpected_exception_is_a_json_500(
    probed: httpx.AsyncClient, log_lines: LogLines
) -> None:
    """A bug is answered 500 `internal error`, nothing of the exception in it, with the request
    id; it is logged once, at error level, with its traceback and that id."""
    response = await probed.get("/probe/crash", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert response.headers["x-request-id"] == "crash-1"
    assert "secret detail" not in response.text
    errors = [line for line in log_lines() if line["level"] == "error"]
    assert len(errors) == 1, errors
    assert errors[0]["request_id"] == "crash-1"
    assert "RuntimeError: secret detail of a bug" in errors[0]["exception"]
    assert errors[0]["http_path"] == "/probe/crash"
    # The app goes on serving after it.
    assert (await probed.get("/health")).status_code == 200


async def test_a_refused_host_is_json_with_the_request_id(
    make_app: AppFactory, serve: Serve
) -> None:
    """With allowed hosts set, another Host gets a JSON 400 that carries the request id."""
    async with serve(make_app(allowed_hosts=[HOST])) as client:
        response = await client.get(
            "/health", headers={"Host": "evil.example.com", "X-Request-ID": "host-1"}
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Invalid host header"}
    assert response.headers["x-request-id"] == "host-1"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"name": 1e999}', ["body", "name"]),  # infinity: not a str, and no JSON for it
        (b'{"nom": "x"}', ["body", "name"]),
        (b"[]", ["body"]),
        (b'{"name": "ok"', ["body", 13]),  # where the JSON ends too soon
    ],
)
async def test_invalid_bodies_are_a_json_422(
    probed: httpx.AsyncClient, body: bytes, where: list[str | int]
) -> None:
    """Invalid JSON and bodies of the wrong shape are a 422 naming the place, the input not
    echoed (it may be huge, or something JSON cannot carry, like infinity)."""
    response = await probed.post(
        "/probe/things", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == where
    assert set(problem) == {"loc", "msg", "type"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\\ud800"}',  # half a surrogate pair: no text can hold it
        b'{"name": "ok", "\\udfff": 1}',
        b'{"name": "\\uDBFF"}',
    ],
)
async def test_text_that_is_not_unicode_is_a_json_400(
    probed: httpx.AsyncClient, body: bytes
) -> None:
    """JSON escapes that spell no character are refused before any handler sees them."""
    response = await probed.post(
        "/probe/things", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "the body is not JSON whose text is Unicode"}


async def test_a_whole_surrogate_pair_is_text(probed: httpx.AsyncClient) -> None:
    """An escaped pair is one character (here an emoji), taken as such."""
    response = await probed.post(
        "/probe/things",
        content=b'{"name": "\\ud83d\\ude00"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"name": "\U0001f600"}


async def test_a_body_that_is_not_utf8_is_a_json_400(probed: httpx.AsyncClient) -> None:
    response = await probed.post(
        "/probe/things",
        content=b'{"name": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"


async def test_a_validation_error_never_fails_to_encode() -> None:
    """Even a location holding half a surrogate pair (a key the client sent) is answered."""
    exc = RequestValidationError(
        [{"loc": ("body", "\ud800"), "msg": "Extra inputs are not permitted", "type": "extra"}]
    )
    response = await handle_validation_error(None, exc)  # type: ignore[arg-type]
    assert json.loads(bytes(response.body)) == {
        "detail": [{"loc": ["body", "?"], "msg": "Extra inputs are not permitted", "type": "extra"}]
    }


async def test_a_body_past_the_limit_is_a_json_413(make_app: AppFactory, serve: Serve) -> None:
    """A declared length past MAX_BODY_BYTES is refused before anything reads it; so is a
    body sent in chunks that grows past it."""
    app = _with_probes(make_app(max_body_bytes=100))

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 20
        yield b'"}'

    async with serve(app) as client:
        declared = await client.post("/probe/things", json={"name": "x" * 200})
        streamed = await client.post(
            "/probe/things", content=chunks(), headers={"Content-Type": "application/json"}
        )
        within = await client.post("/probe/things", json={"name": "x" * 50})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"detail": "request body too large"}
        assert response.headers["connection"] == "close"
    assert within.status_code == 200


async def test_a_405_lists_every_method_of_the_path(probed: httpx.AsyncClient) -> None:
    """A method the path does not have is a JSON 405 whose Allow lists all it does have."""
    for method in ("PUT", "DELETE", "OPTIONS", "TRACE"):
        response = await probed.request(method, "/probe/things")
        assert response.status_code == 405
        assert response.json() == {"detail": "Method Not Allowed"}
        assert response.headers["allow"] == "POST"
    response = await probed.post("/health")
    assert response.headers["allow"] == "GET, HEAD"


async def test_head_is_answered_wherever_get_is(probed: httpx.AsyncClient) -> None:
    """HEAD gets the GET's status and headers, length included, and no body."""
    get = await probed.get("/ready")
    head = await probed.head("/ready")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == get.headers["content-length"]
