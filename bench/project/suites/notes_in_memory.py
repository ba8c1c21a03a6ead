"""Part 4: the same test of a service with no database, its notes kept in memory."""

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException

TESTS = int(os.environ.get("BENCH_TESTS", "300"))


@pytest.fixture(name="_database_isolation")
def fixture_no_database() -> None:
    """Nothing to isolate."""


@pytest.fixture(name="client", scope="session")
async def fixture_memory_client() -> AsyncIterator[httpx.AsyncClient]:
    """In place of the project's client: an app whose notes are a dict (no lifespan)."""
    app = FastAPI()
    notes: dict[int, dict[str, object]] = {}

    @app.post("/notes", status_code=201)
    async def create(note: dict[str, str]) -> dict[str, object]:
        stored: dict[str, object] = {"id": len(notes) + 1, "title": note["title"], "body": ""}
        notes[len(notes) + 1] = stored
        return stored

    @app.get("/notes/{note_id}")
    async def read(note_id: int) -> dict[str, object]:
        if note_id not in notes:
            raise HTTPException(404, "note not found")
        return notes[note_id]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("n", range(TESTS))
async def test_note(client: httpx.AsyncClient, n: int) -> None:
    """A note created through the service reads back."""
    created = await client.post("/notes", json={"title": f"note {n}"})
    assert created.status_code == 201
    read = await client.get(f"/notes/{created.json()['id']}")
    assert read.json()["title"] == f"note {n}"
