"""An example resource in the database: notes to create, read, list, update and delete."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from ..db import DATABASE_RESPONSES, DbSessionDep
from ..errors import ErrorBody
from ..models import Note
from ..models.note import TITLE_MAX_LENGTH

router = APIRouter(prefix="/notes", tags=["notes"])

NoteId = Annotated[int, Path(ge=1)]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX_LENGTH)]
Body = Annotated[str, Field(max_length=10_000)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {status.HTTP_404_NOT_FOUND: {"model": ErrorBody}}


class NoteIn(BaseModel):
    """A new note, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Body = ""


class NotePatch(BaseModel):
    """The fields of a note to change; those left out stay as they are."""

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


async def _note(session: DbSessionDep, note_id: int) -> Note:
    note = await session.get(Note, note_id)
    if note is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "note not found")
    return note


@router.post("", status_code=status.HTTP_201_CREATED, responses=DATABASE_RESPONSES)
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
    offset: Annotated[int, Query(ge=0)] = 0,
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
    return NoteOut.model_validate(await _note(session, note_id))


@router.patch("/{note_id}", responses={**DATABASE_RESPONSES, **NOT_FOUND})
async def update_note(note_id: NoteId, changes: NotePatch, session: DbSessionDep) -> NoteOut:
    """Change the fields given; a title that another note has is a 409."""
    note = await _note(session, note_id)
    for field, value in changes.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(note, field, value)
    await session.flush()
    return NoteOut.model_validate(note)


@router.delete(
    "/{note_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**DATABASE_RESPONSES, **NOT_FOUND},
)
async def delete_note(note_id: NoteId, session: DbSessionDep) -> Response:
    """Delete the note."""
    await session.delete(await _note(session, note_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
