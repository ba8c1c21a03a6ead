"""get_json and get_model: every upstream fault becomes an UpstreamError with its status."""

import pytest
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.app import State
from {{ cookiecutter.package_name }}.upstream import UpstreamError, get_json, get_model

from .upstream import FAULTS, ITEMS, MAX_BODY_BYTES, Fault


async def test_get_json_decodes_the_body(state: State) -> None:
    """A 200 with a JSON body is decoded."""
    assert await get_json(state["http_session"], "items/1", max_bytes=MAX_BODY_BYTES) == ITEMS[1]


async def test_get_json_maps_404_to_404(state: State) -> None:
    """An upstream 404 stays a 404."""
    with pytest.raises(UpstreamError) as caught:
        await get_json(state["http_session"], "items/2", max_bytes=MAX_BODY_BYTES)
    assert (caught.value.status_code, caught.value.detail) == (404, "not found upstream")


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.mode != "slow"], ids=lambda f: f.mode)
async def test_get_json_maps_faults(state: State, fault: Fault) -> None:
    """Each way the upstream can fail gives its documented status and message."""
    with pytest.raises(UpstreamError) as caught:
        await get_json(
            state["http_session"], f"faults/{fault.mode}/items/1", max_bytes=MAX_BODY_BYTES
        )
    assert (caught.value.status_code, caught.value.detail) == (fault.status_code, fault.detail)


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
async def test_get_json_refuses_paths_that_leave_the_base_url(state: State, path: str) -> None:
    """Absolute URLs and rooted paths are refused before any connection is made."""
    with pytest.raises(ValueError, match="must be relative"):
        await get_json(state["http_session"], path, max_bytes=MAX_BODY_BYTES)


class _Item(BaseModel):
    id: int
    name: str


async def test_get_model_validates_the_body(state: State) -> None:
    """A body of the expected shape comes back as the model."""
    item = await get_model(state["http_session"], "items/1", _Item, max_bytes=MAX_BODY_BYTES)
    assert item == _Item.model_validate(ITEMS[1])


async def test_get_model_maps_a_wrong_shape_to_502(state: State) -> None:
    """JSON of another shape is a 502, not a validation error that would become a 500."""
    with pytest.raises(UpstreamError) as caught:
        await get_model(
            state["http_session"], "faults/wrong-shape/items/1", _Item, max_bytes=MAX_BODY_BYTES
        )
    assert (caught.value.status_code, caught.value.detail) == (
        502,
        "upstream sent a body of the wrong shape",
    )
