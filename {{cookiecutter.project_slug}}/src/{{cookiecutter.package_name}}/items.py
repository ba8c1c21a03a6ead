"""The example's items, as the upstream describes them: what its routes and its jobs share."""

from typing import Annotated

from pydantic import BaseModel, Field


class Item(BaseModel):
    """An item as the upstream describes it."""

    id: int
    name: str


class NewItem(BaseModel):
    """What it takes to create an item."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
