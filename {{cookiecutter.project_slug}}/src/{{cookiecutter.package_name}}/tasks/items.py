"""An example job: read an item from the upstream, later, in a worker."""

from typing import Any

from ..items import Item
from ..jobs import JobUpstream


async def fetch_item(item_id: int, upstream: JobUpstream) -> dict[str, Any]:
    """The item with this id, as the upstream has it: the job's result.

    Reading twice does no harm, so this job is idempotent as it is."""
    item = await upstream.call("GET", f"items/{item_id}", Item)
    return item.model_dump()
