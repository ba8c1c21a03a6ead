"""The example route: an item from the upstream, and a JSON error for every fault."""

import json

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.dependencies import get_settings, get_upstream
from {{ cookiecutter.package_name }}.upstream import UpstreamClient, open_http_session

from .support import AppFactory, Serve, make_settings, refused_url
from .upstream import FAULTS, ITEMS, PRIVATE_HEADERS, Fault, Upstream

# Far below upstream.SLOW_SECONDS, far above a loopback round trip.
SHORT_TIMEOUT = 0.3


async def test_read_item_returns_the_upstream_item(client: httpx.AsyncClient) -> None:
    """An item the upstream has comes back as it is."""
    response = await client.get("/items/1")
    assert response.status_code == 200
    assert response.json() == ITEMS[1]


async def test_read_item_is_404_when_the_upstream_has_none(client: httpx.AsyncClient) -> None:
    """An id the upstream does not know is a 404 with a JSON detail."""
    response = await client.get("/items/2")
    assert response.status_code == 404
    assert response.json() == {"detail": "not found upstream"}


@pytest.mark.parametrize(
    ("item_id", "status_code"),
    [("0", 422), ("-1", 422), ("abc", 422), ("1.5", 422), ("1%2F..%2F..%2Fadmin", 404)],
)
async def test_read_item_rejects_bad_ids(
    client: httpx.AsyncClient, item_id: str, status_code: int
) -> None:
    """Ids that are not positive integers are refused before the upstream is called."""
    response = await client.get(f"/items/{item_id}")
    assert response.status_code == status_code
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.mode)
async def test_upstream_faults_become_json_errors(
    make_app: AppFactory, serve: Serve, upstream: Upstream, fault: Fault
) -> None:
    """Each upstream fault is answered with its status and a JSON detail, never a 500."""
    # Only the fault that must time out gets the short timeout: every other one keeps the
    # tests' 5 s, which no scheduling delay on a busy machine comes near. One attempt: a
    # timed-out read would otherwise be tried again (test_retries.py covers that).
    timeout = (
        {"upstream_timeout": SHORT_TIMEOUT, "upstream_retry_attempts": 1}
        if fault.status_code == 504
        else {}
    )
    app = make_app(upstream_base_url=f"{upstream.url}faults/{fault.mode}/", **timeout)
    async with serve(app) as client:
        response = await client.get("/items/1")
    assert response.status_code == fault.status_code
    assert response.json() == fault.body()


async def test_unexpected_item_shape_is_502(
    make_app: AppFactory, serve: Serve, upstream: Upstream
) -> None:
    """JSON that is not an item is a 502, not a validation error leaking out."""
    async with serve(make_app(upstream_base_url=f"{upstream.url}faults/wrong-shape/")) as client:
        response = await client.get("/items/1")
    assert response.status_code == 502
    assert response.json() == {"detail": "upstream sent a body of the wrong shape"}


async def test_refused_connection_is_502(make_app: AppFactory, serve: Serve) -> None:
    """An upstream that refuses connections is a 502; this is how a test points an app at
    another upstream."""
    async with serve(make_app(upstream_base_url=refused_url())) as client:
        response = await client.get("/items/1")
    assert response.status_code == 502
    assert response.json() == {"detail": "upstream unreachable"}


async def test_upstream_headers_are_not_forwarded(client: httpx.AsyncClient) -> None:
    """Cookies and internal headers the upstream sends stay between it and the service."""
    response = await client.get("/items/1")
    assert response.status_code == 200
    for name in PRIVATE_HEADERS:
        assert name.lower() not in response.headers


@pytest.mark.parametrize(
    "target",
    [
        "/items/1?url=http://127.0.0.2/&host=127.0.0.2",
        "/items/1?item_id=2",
        "/items/1#http://127.0.0.2/",
    ],
)
async def test_query_cannot_move_the_upstream_call(
    client: httpx.AsyncClient, upstream: Upstream, target: str
) -> None:
    """Whatever the caller adds, the upstream is asked for exactly items/1 and nothing else."""
    before = len(upstream.seen)
    response = await client.get(target)
    assert response.status_code == 200
    assert upstream.seen[before:] == ["/items/1"]


@pytest.mark.parametrize(
    "target",
    [
        "/items/%2F%2F127.0.0.2%2Fitems%2F1",
        "/items/..%2F..%2Fheaders",
        "/items/http:%2F%2F127.0.0.2",
        "/items//127.0.0.2/items/1",
    ],
)
async def test_crafted_paths_never_reach_the_upstream(
    client: httpx.AsyncClient, upstream: Upstream, target: str
) -> None:
    """Ids that smuggle a host or a path are refused before any upstream call."""
    before = len(upstream.seen)
    response = await client.get(target)
    assert response.status_code in {404, 422}
    assert upstream.seen[before:] == []


async def test_an_upstream_override_is_what_the_route_calls(
    app: FastAPI, serve: Serve, settings: Settings
) -> None:
    """An override of get_upstream is the client the route calls through: here, one with a
    body cap of 10 bytes, on a session of the test's own."""
    tiny = settings.model_copy(update={"upstream_max_body_bytes": 10})
    async with open_http_session(tiny) as session:

        async def tiny_body_cap() -> UpstreamClient:
            return UpstreamClient(session, tiny)

        app.dependency_overrides[get_upstream] = tiny_body_cap
        async with serve(app) as client:
            response = await client.get("/items/1")
    assert response.status_code == 502
    assert response.json() == {"detail": "upstream response too large"}


async def test_a_settings_override_does_not_move_the_upstream(
    app: FastAPI, serve: Serve, upstream: Upstream
) -> None:
    """The upstream client was made once, from the settings the app was built with, when its
    resources opened: overriding get_settings leaves its upstream, token, timeouts and limits
    where they were (override get_upstream, or build the app from other settings)."""
    elsewhere = make_settings(upstream_base_url=refused_url())

    async def other_upstream() -> Settings:
        return elsewhere

    app.dependency_overrides[get_settings] = other_upstream
    before = len(upstream.seen)
    async with serve(app) as client:
        response = await client.get("/items/1")
    assert response.status_code == 200
    assert upstream.seen[before:] == ["/items/1"]


async def test_create_item_returns_the_new_item(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    """A POST creates the item upstream, which received the body as JSON; the answer is a
    201 with the item the upstream made."""
    response = await client.post("/items", json={"name": "gadget"})
    assert response.status_code == 201
    assert response.json()["name"] == "gadget"
    assert (upstream.received[-1].method, upstream.received[-1].path) == ("POST", "/items")
    assert json.loads(upstream.received[-1].body) == {"name": "gadget"}
    created = await client.get(f"/items/{response.json()['id']}")
    assert created.json() == response.json()


async def test_create_item_passes_a_conflict_on(client: httpx.AsyncClient) -> None:
    """A name the upstream already has is the client's 409, not a 502."""
    response = await client.post("/items", json={"name": ITEMS[1]["name"]})
    assert response.status_code == 409
    assert response.json() == {"detail": "conflict upstream"}


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": 5}])
async def test_create_item_refuses_a_bad_body(
    client: httpx.AsyncClient, upstream: Upstream, body: dict[str, object]
) -> None:
    """A body that is not a new item is a 422 before the upstream is called."""
    before = len(upstream.received)
    response = await client.post("/items", json=body)
    assert response.status_code == 422
    assert upstream.received[before:] == []


async def test_create_item_is_not_retried(client: httpx.AsyncClient, upstream: Upstream) -> None:
    """A POST that met a 503 may have been done: it is answered 502, after one attempt."""
    before = len(upstream.received)
    with upstream.failing(1, 503):
        response = await client.post("/items", json={"name": "sprocket"})
    assert response.status_code == 502
    assert len(upstream.received) - before == 1


async def test_read_item_is_retried(client: httpx.AsyncClient, upstream: Upstream) -> None:
    """A GET that met a 503 is tried again: the client sees the item."""
    before = len(upstream.received)
    with upstream.failing(1, 503):
        response = await client.get("/items/1")
    assert (response.status_code, response.json()) == (200, ITEMS[1])
    assert upstream.seen[before:] == ["/items/1", "/items/1"]
