"""UpstreamClient: JSON in every method, typed answers, and every fault an UpstreamError."""

import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.resources import Resources
from {{ cookiecutter.package_name }}.upstream import UpstreamClient, UpstreamError

from .support import AppFactory, LogLines, Serve, upstream_client
from .upstream import FAULTS, ITEMS, STALLED_BYTES, Fault, Upstream

METHODS: list[Literal["GET", "POST", "PUT", "PATCH", "DELETE"]] = [
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
]


class _Item(BaseModel):
    id: int
    name: str


class _Note(BaseModel):
    text: str


class _Echo(BaseModel):
    method: str
    body: _Note | None


# A body cap above the 64 KiB the client reads at a time: a body near it comes in several chunks.
BODY_CAP = 100_000
# Far below the upstream's SLOW_SECONDS; a healthy loopback answer comes well within it.
SHORT_TIMEOUT = 0.5


def _failure_line(log_lines: LogLines) -> dict[str, Any]:
    """The one line the test's failed upstream call logged."""
    lines = [line for line in log_lines() if line["event"] == "upstream call failed"]
    assert len(lines) == 1, lines
    return lines[0]


async def test_get_validates_the_body(resources: Resources) -> None:
    """A body of the expected shape comes back as the model."""
    item = await resources.get(UpstreamClient).call("GET", "items/1", _Item)
    assert item == _Item.model_validate(ITEMS[1])


async def test_get_json_decodes_any_shape(resources: Resources) -> None:
    """get_json gives the decoded JSON as it is."""
    assert await resources.get(UpstreamClient).get_json("items/1") == ITEMS[1]


@pytest.mark.parametrize("method", METHODS)
async def test_every_method_sends_its_body_as_json(
    resources: Resources,
    upstream: Upstream,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
) -> None:
    """Each method reaches the upstream as itself, with the model as a JSON body."""
    echo = await resources.get(UpstreamClient).call(method, "echo", _Echo, body=_Note(text="hi"))
    assert echo == _Echo(method=method, body=_Note(text="hi"))
    assert upstream.received[-1].headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", METHODS)
async def test_send_takes_an_answer_without_a_body(
    resources: Resources,
    upstream: Upstream,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
) -> None:
    """`send` wants no body back: a 204 is a success."""
    before = len(upstream.received)
    await resources.get(UpstreamClient).send(method, "no-content")
    assert [(r.method, r.path) for r in upstream.received[before:]] == [(method, "/no-content")]


async def test_a_404_stays_a_404(resources: Resources) -> None:
    """An upstream 404 is the client's 404."""
    with pytest.raises(UpstreamError) as caught:
        await resources.get(UpstreamClient).call("GET", "items/2", _Item)
    assert (caught.value.status_code, caught.value.detail) == (404, "not found upstream")


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.mode != "slow"], ids=lambda f: f.mode)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_faults_map_to_their_status(
    resources: Resources, fault: Fault, method: Literal["GET", "POST"]
) -> None:
    """Each way the upstream can fail gives its documented status and message, for a read
    and a write alike."""
    body = _Note(text="x") if method == "POST" else None
    with pytest.raises(UpstreamError) as caught:
        await resources.get(UpstreamClient).call(
            method, f"faults/{fault.mode}/items", _Item, body=body
        )
    assert (caught.value.status_code, caught.value.detail) == (fault.status_code, fault.detail)


async def test_a_wrong_shape_is_502(resources: Resources) -> None:
    """JSON of another shape is a 502, not a validation error that would become a 500."""
    with pytest.raises(UpstreamError) as caught:
        await resources.get(UpstreamClient).call("GET", "faults/wrong-shape/items/1", _Item)
    assert (caught.value.status_code, caught.value.detail) == (
        502,
        "upstream sent a body of the wrong shape",
    )


@pytest.mark.parametrize(
    "path",
    [
        "http://127.0.0.2/items/1",
        "HTTP://127.0.0.2/",
        "http:items/1",
        "//127.0.0.2/items/1",
        "/items/1",
    ],
)
async def test_paths_that_leave_the_base_url_are_refused(
    resources: Resources, upstream: Upstream, path: str
) -> None:
    """Absolute URLs and rooted paths are refused before any connection is made."""
    before = len(upstream.received)
    with pytest.raises(ValueError, match="must be relative"):
        await resources.get(UpstreamClient).call("GET", path, _Item)
    assert upstream.received[before:] == []


@pytest.mark.parametrize("method", METHODS)
async def test_send_delivers_its_body_as_json(
    resources: Resources,
    upstream: Upstream,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
) -> None:
    """What the upstream receives from `send` is the body's JSON, said to be JSON."""
    await resources.get(UpstreamClient).send(method, "echo", body=_Note(text="sent"))
    received = upstream.received[-1]
    assert (received.method, json.loads(received.body)) == (method, {"text": "sent"})
    assert received.headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", METHODS)
async def test_a_call_without_a_body_sends_no_content_type(
    resources: Resources,
    upstream: Upstream,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
) -> None:
    """A call with no body sends no Content-Type (aiohttp's own default would call an empty
    POST, PUT or PATCH application/octet-stream, which an upstream may refuse)."""
    await resources.get(UpstreamClient).send(method, "no-content")
    received = upstream.received[-1]
    assert (received.method, received.body, received.headers.get("content-type")) == (
        method,
        b"",
        None,
    )


@pytest.mark.parametrize("framing", ["", "/chunked"], ids=["content-length", "chunked"])
async def test_a_body_of_exactly_the_cap_arrives_whole(resources: Resources, framing: str) -> None:
    """A body of upstream_max_body_bytes, announced or chunked, is taken, every chunk of it."""
    client = upstream_client(resources, upstream_max_body_bytes=BODY_CAP)
    assert await client.get_json(f"bodies/{BODY_CAP}{framing}") == "x" * (BODY_CAP - 2)


@pytest.mark.parametrize("framing", ["", "/chunked"], ids=["content-length", "chunked"])
async def test_one_byte_past_the_cap_is_refused(resources: Resources, framing: str) -> None:
    """One byte more than upstream_max_body_bytes, announced or counted as the chunks come
    (none of them past the cap alone), is a 502."""
    client = upstream_client(resources, upstream_max_body_bytes=BODY_CAP)
    with pytest.raises(UpstreamError) as caught:
        await client.get_json(f"bodies/{BODY_CAP + 1}{framing}")
    fault = caught.value
    assert (fault.status_code, fault.detail, fault.upstream_status) == (
        502,
        "upstream response too large",
        200,
    )


async def test_a_length_announced_past_the_cap_is_refused_before_the_body(
    resources: Resources,
) -> None:
    """A Content-Length above the cap is refused as it arrives: an upstream that sends a few
    bytes and then stalls cannot hold the call until the timeout."""
    client = upstream_client(resources, upstream_max_body_bytes=STALLED_BYTES // 2)
    with pytest.raises(UpstreamError) as caught:
        await client.get_json("faults/stalled/items/1")
    assert (caught.value.status_code, caught.value.detail) == (502, "upstream response too large")


@pytest.mark.parametrize("code", [300, 301, 303, 307, 308])
async def test_a_redirect_is_not_followed(
    resources: Resources, upstream: Upstream, code: int
) -> None:
    """Any 3xx, here one pointing at an item the upstream has, is a 502 that names it: the
    upstream sees the one request, never the redirect's."""
    before = len(upstream.received)
    with pytest.raises(UpstreamError) as caught:
        await resources.get(UpstreamClient).call("GET", f"faults/moved-{code}/items", _Item)
    fault = caught.value
    assert (fault.status_code, fault.detail, fault.upstream_status) == (
        502,
        f"upstream answered {code}",
        code,
    )
    assert upstream.seen[before:] == [f"/faults/moved-{code}/items"]


async def test_get_json_refuses_invalid_json_in_one_warning(
    resources: Resources, log_lines: LogLines
) -> None:
    """get_json of a body that is not JSON: a 502, and one warning saying what was asked and
    what came back."""
    with pytest.raises(UpstreamError) as caught:
        await resources.get(UpstreamClient).get_json("faults/not-json/items/1")
    assert (caught.value.status_code, caught.value.detail) == (502, "upstream sent invalid JSON")
    line = _failure_line(log_lines)
    assert (line["level"], line["upstream_method"], line["upstream_path"]) == (
        "warning",
        "GET",
        "faults/not-json/items/1",
    )
    assert (line["upstream_status"], line["error"], line["attempts"]) == (200, "JSONDecodeError", 1)
    assert (line["status_code"], line["detail"]) == (502, "upstream sent invalid JSON")


@pytest.mark.parametrize(
    ("mode", "error", "detail"),
    [
        ("wrong-shape", "ValidationError", "upstream sent a body of the wrong shape"),
        ("too-large", None, "upstream response too large"),
        ("too-large-chunked", None, "upstream response too large"),
    ],
    ids=["wrong-shape", "too-large", "too-large-chunked"],
)
async def test_an_unusable_2xx_is_logged_with_its_status(
    resources: Resources, log_lines: LogLines, mode: str, error: str | None, detail: str
) -> None:
    """A 200 whose body cannot be used: the warning says the upstream answered 200, and what
    stood in the way (the validation error; no error under a body too large: the cap refused it)."""
    path = f"faults/{mode}/items/1"
    with pytest.raises(UpstreamError):
        await resources.get(UpstreamClient).call("POST", path, _Item, body=_Note(text="x"))
    line = _failure_line(log_lines)
    assert (line["upstream_method"], line["upstream_path"]) == ("POST", path)
    assert (line["upstream_status"], line["error"]) == (200, error)
    assert (line["status_code"], line["detail"]) == (502, detail)


async def test_a_body_that_stalls_is_a_504_after_the_status_came(
    make_app: AppFactory, serve: Serve, log_lines: LogLines
) -> None:
    """An upstream that sends its status line and then stalls the body: the timeout ends the
    call with a 504 that keeps the status that came, and the warning says how long it took (at
    least the timeout, far less than a hundred times it)."""
    app = make_app(upstream_timeout=SHORT_TIMEOUT, upstream_retry_attempts=1)
    async with serve(app) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.resources.get(UpstreamClient).call("GET", "faults/stalled/items/1", _Item)
    fault = caught.value
    assert (fault.status_code, fault.detail, fault.upstream_status) == (
        504,
        "upstream timed out",
        200,
    )
    line = _failure_line(log_lines)
    assert (line["upstream_status"], line["status_code"], line["attempts"]) == (200, 504, 1)
    assert SHORT_TIMEOUT * 1000 <= line["elapsed_ms"] < 100 * SHORT_TIMEOUT * 1000
