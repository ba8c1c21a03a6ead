"""Part 4's yardstick: no isolation at all, the rows left behind."""

import os

import httpx
import pytest

TESTS = int(os.environ.get("BENCH_TESTS", "300"))


@pytest.fixture(name="_database_isolation")
def fixture_no_isolation() -> None:
    """In place of the project's isolation: none."""


@pytest.mark.parametrize("n", range(TESTS))
async def test_note(client: httpx.AsyncClient, n: int) -> None:
    """A note created through the service reads back."""
    created = await client.post("/notes", json={"title": f"note {n}"})
    assert created.status_code == 201
    read = await client.get(f"/notes/{created.json()['id']}")
    assert read.json()["title"] == f"note {n}"
