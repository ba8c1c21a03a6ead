"""An example route: read an item from the upstream service through the shared session."""

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from ..dependencies import HttpSessionDep, SettingsDep
from ..upstream import UPSTREAM_RESPONSES, get_model

router = APIRouter(prefix="/items", tags=["items"])


class Item(BaseModel):
    """An item as the upstream describes it."""

    id: int
    name: str


@router.get("/{item_id}", responses=UPSTREAM_RESPONSES)
async def read_item(
    item_id: Annotated[int, Path(ge=1)],
    http_session: HttpSessionDep,
    settings: SettingsDep,
) -> Item:
    """The item with this id, as the upstream has it."""
    return await get_model(
        http_session, f"items/{item_id}", Item, max_bytes=settings.upstream_max_body_bytes
    )
