"""The notes example of database=postgres built the way the template avoids, to measure it.

`create_notes_connection_per_request_app` answers `GET /notes/{note_id}` like the generated
notes route, through the same ORM path and response model, but opens a new database
connection for every request instead of taking one from a pool the lifespan owns. It runs in
a database=postgres project's environment (SQLAlchemy and asyncpg come from there); the
database comes from `MY_SERVICE_DATABASE_URL`.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, String, Text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool


class _Base(DeclarativeBase):
    pass


class _Note(_Base):
    """The notes table, as the rendered project's migrations create it."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NoteOut(BaseModel):
    """A note, as the example answers with it (the shape of the generated `NoteOut`)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


def create_notes_connection_per_request_app() -> FastAPI:
    """The notes example's read route with no pool: every request connects anew."""
    url = os.environ["MY_SERVICE_DATABASE_URL"]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, AsyncEngine]]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            yield {"engine": engine}
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/notes/{note_id}")
    async def read_note(note_id: Annotated[int, Path(ge=1)], request: Request) -> NoteOut:
        engine: AsyncEngine = request.state.engine
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            note = await session.get(_Note, note_id)
            if note is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "note not found")
            return NoteOut.model_validate(note)

    return app
