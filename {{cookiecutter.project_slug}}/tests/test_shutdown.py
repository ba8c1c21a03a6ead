"""What the service answers while it shuts down, tested on a bare ASGI app."""

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from {{ cookiecutter.package_name }}.shutdown import Drain, DuringShutdown


async def test_a_request_cancelled_before_its_answer_gets_a_json_503() -> None:
    """What uvicorn's graceful-shutdown timeout does to a request still running: the client
    gets a 503 with a JSON detail, not a 500."""
    entered = asyncio.Event()

    async def never_answers(scope: Scope, receive: Receive, send: Send) -> None:
        entered.set()
        await asyncio.Event().wait()

    transport = httpx.ASGITransport(app=DuringShutdown(never_answers, Drain()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        request = asyncio.create_task(client.get("/anything"))
        await entered.wait()
        request.cancel()
        response = await request
    assert response.status_code == 503
    assert response.json() == {"detail": "the service stopped before the request was done"}
    assert response.headers["connection"] == "close"


async def test_a_request_answered_in_full_passes_through() -> None:
    """Requests that finish are not touched."""

    async def answers(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=DuringShutdown(answers, Drain()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/anything")
    assert response.status_code == 204
    assert "connection" not in response.headers


async def test_once_draining_every_answer_closes_its_connection() -> None:
    """After the drain starts, answers are whole and say `Connection: close`, so a keep-alive
    client opens its next connection to another replica."""

    async def answers(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    drain = Drain()
    transport = httpx.ASGITransport(app=DuringShutdown(answers, drain))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        before = await client.get("/anything")
        drain.start()
        after = await client.get("/anything")
    assert "connection" not in before.headers
    assert (after.status_code, after.text, after.headers["connection"]) == (200, "done", "close")
