"""UpstreamClient: JSON in every method, typed answers, and every fault an UpstreamError."""

from typing import Literal

import pytest
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.resources import Resources
from {{ cookiecutter.package_name }}.upstream import UpstreamClient, UpstreamError

from .upstream import FAULTS, ITEMS, Fault, Upstream

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
