"""Part 4: the writes are real, the schema dropped and created again after each test."""

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from my_service.db import Base, Database
from tests.support import AppClient

TESTS = int(os.environ.get("BENCH_TESTS", "300"))


@pytest.fixture(name="_database_isolation")
async def fixture_schema_recreated(client: AppClient) -> AsyncIterator[None]:
    """In place of the project's isolation: every table dropped and created after the test."""
    yield
    async with client.resources.get(Database).engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)


@pytest.mark.parametrize("n", range(TESTS))
async def test_note(client: httpx.AsyncClient, n: int) -> None:
    """A note created through the service reads back."""
    created = await client.post("/notes", json={"title": f"note {n}"})
    assert created.status_code == 201
    read = await client.get(f"/notes/{created.json()['id']}")
    assert read.json()["title"] == f"note {n}"
