"""The notes example of database=postgres built the way the template avoids, to measure it.

`create_connection_per_request_app` answers `GET /notes/{note_id}` like the generated notes
route, through the same model and response model, but opens a new database connection for
every request instead of taking one from the pool the lifespan owns. Serve it inside a
database=postgres project's environment:
`uvicorn bench.project.db_apps:create_connection_per_request_app --factory`; the database
comes from the service's settings (`MY_SERVICE_DATABASE_URL`).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI, HTTPException, Request, status
from my_service.config import Settings
from my_service.models import Note
from my_service.routes.notes import NoteId, NoteOut
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool


class _State(TypedDict):
    engine: AsyncEngine


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[_State]:
    url = Settings().database_url.get_secret_value()
    engine = create_async_engine(url, poolclass=NullPool)  # no pool: a connection a session
    try:
        yield {"engine": engine}
    finally:
        await engine.dispose()


def create_connection_per_request_app() -> FastAPI:
    """The notes example's read route with no pool: every request connects anew."""
    app = FastAPI(lifespan=_lifespan, openapi_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/notes/{note_id}")
    async def read_note(note_id: NoteId, request: Request) -> NoteOut:
        engine: AsyncEngine = request.state.engine
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            note = await session.get(Note, note_id)
            if note is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "note not found")
            return NoteOut.model_validate(note)

    return app
