"""Part 1's floor: direct ASGI calls to one app whose lifespan runs once, no client at all."""

import json
import os
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from my_service.app import create_app
from my_service.config import Settings
from starlette.types import ASGIApp, Message, Scope

TESTS = int(os.environ.get("BENCH_TESTS", "500"))


@pytest.fixture(name="asgi_app", scope="session")
async def fixture_asgi_app(settings: Settings) -> AsyncIterator[ASGIApp]:
    """One app started once, as the template's `client` fixture does; `manager.app` carries
    the lifespan's state into each request."""
    async with LifespanManager(create_app(settings)) as manager:
        yield manager.app


async def _get(app: ASGIApp, path: str) -> tuple[int, bytes]:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@pytest.mark.parametrize("n", range(TESTS))
async def test_health(asgi_app: ASGIApp, n: int) -> None:
    """GET /health answers ok."""
    status, body = await _get(asgi_app, "/health")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
