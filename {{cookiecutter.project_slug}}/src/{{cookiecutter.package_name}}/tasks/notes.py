"""An example job that writes: a note made from an upstream's item, at most once."""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from ..db import Database
from ..items import Item
from ..jobs import JobResources, JobUpstream
from ..models import Note


async def note_from_item(item_id: int, upstream: JobUpstream, resources: JobResources) -> int:
    """Store the upstream's item as a note titled after it; the note's id is the result.

    A job may run twice (see jobs.py), so the write is keyed by what the job is about: the
    title is unique, a second run finds the note the first one made and changes nothing."""
    item = await upstream.call("GET", f"items/{item_id}", Item)
    title = f"item {item.id}: {item.name}"[:200]
    async with resources.get(Database).session() as session:
        await session.execute(
            insert(Note).values(title=title, body=item.name).on_conflict_do_nothing()
        )
        note_id = await session.scalar(select(Note.id).where(Note.title == title))
    if note_id is None:
        raise LookupError(f"the note {title!r} was removed meanwhile")
    return note_id
