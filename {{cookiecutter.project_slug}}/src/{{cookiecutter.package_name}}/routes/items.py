"""Example routes: read an item from the upstream service, and create one there."""

from typing import Annotated

from fastapi import APIRouter, Path, status

from ..bodies import BODY_RESPONSES
from ..dependencies import UpstreamDep
from ..items import Item, NewItem
from ..upstream import UPSTREAM_RESPONSES

router = APIRouter(prefix="/items", tags=["items"])


@router.get("/{item_id}", responses=UPSTREAM_RESPONSES)
async def read_item(item_id: Annotated[int, Path(ge=1)], upstream: UpstreamDep) -> Item:
    """The item with this id, as the upstream has it."""
    return await upstream.call("GET", f"items/{item_id}", Item)


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**UPSTREAM_RESPONSES, **BODY_RESPONSES}
)
async def create_item(new_item: NewItem, upstream: UpstreamDep) -> Item:
    """Create an item upstream; a name it already has is a 409. Never retried: a POST
    that timed out may have created the item."""
    return await upstream.call("POST", "items", Item, body=new_item)
