"""An example resource in the database: notes to create, read, list, update and delete."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select, update

from ..bodies import BODY_RESPONSES
from ..db import DATABASE_RESPONSES, INT4_MAX, INT8_MAX, DbSessionDep, StoredText
from ..errors import ErrorBody
from ..models import Note
from ..models.note import TITLE_MAX_LENGTH

router = APIRouter(prefix="/notes", tags=["notes"])

# Every value is bounded where it enters by what its column holds: the client gets a 422
# naming the field, never a database error.
NoteId = Annotated[int, Path(ge=1, le=INT4_MAX)]
Title = Annotated[StoredText, Field(min_length=1, max_length=TITLE_MAX_LENGTH)]
Body = Annotated[StoredText, Field(max_length=10_000)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {status.HTTP_404_NOT_FOUND: {"model": ErrorBody}}


class NoteIn(BaseModel):
    """A new note, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Body = ""


class NotePatch(BaseModel):
    """The fields of a note to change; those left out (or null) stay as they are."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None


class NoteOut(BaseModel):
    """A note, as the service answers with it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


class NotePage(BaseModel):
    """One page of notes, oldest first, and how many there are in all."""

    items: list[NoteOut]
    total: int
    limit: int
    offset: int


def _found(note: Note | None) -> Note:
    if note is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "note not found")
    return note


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**DATABASE_RESPONSES, **BODY_RESPONSES}
)
async def create_note(new: NoteIn, session: DbSessionDep) -> NoteOut:
    """Store a new note; a title that is taken already is a 409."""
    note = Note(title=new.title, body=new.body)
    session.add(note)
    await session.flush()
    return NoteOut.model_validate(note)


@router.get("", responses=DATABASE_RESPONSES)
async def list_notes(
    session: DbSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=INT8_MAX)] = 0,
) -> NotePage:
    """A page of notes, oldest first."""
    total = await session.scalar(select(func.count()).select_from(Note))
    notes = await session.scalars(select(Note).order_by(Note.id).limit(limit).offset(offset))
    return NotePage(
        items=[NoteOut.model_validate(note) for note in notes],
        total=total or 0,
        limit=limit,
        offset=offset,
    )


@router.get("/{note_id}", responses={**DATABASE_RESPONSES, **NOT_FOUND})
async def read_note(note_id: NoteId, session: DbSessionDep) -> NoteOut:
    """The note with this id."""
    return NoteOut.model_validate(_found(await session.get(Note, note_id)))


# Changes and deletions are one statement each, whose RETURNING says what happened: a note
# that another request deleted meanwhile is a 404, never an error. (Reading the note first,
# then changing the object, would race: the row can go between the two statements.)
@router.patch("/{note_id}", responses={**DATABASE_RESPONSES, **NOT_FOUND, **BODY_RESPONSES})
async def update_note(note_id: NoteId, changes: NotePatch, session: DbSessionDep) -> NoteOut:
    """Change the fields given; a title that another note has is a 409."""
    values = changes.model_dump(exclude_unset=True, exclude_none=True)
    if not values:
        return NoteOut.model_validate(_found(await session.get(Note, note_id)))
    changed = update(Note).where(Note.id == note_id).values(**values).returning(Note)
    return NoteOut.model_validate(_found(await session.scalar(changed)))


@router.delete(
    "/{note_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**DATABASE_RESPONSES, **NOT_FOUND},
)
async def delete_note(note_id: NoteId, session: DbSessionDep) -> Response:
    """Delete the note; one that is gone already is a 404."""
    deleted = await session.scalar(delete(Note).where(Note.id == note_id).returning(Note.id))
    if deleted is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "note not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
