"""Part 4, the template's default: each test's writes rolled back after it."""

import os

import httpx
import pytest

TESTS = int(os.environ.get("BENCH_TESTS", "300"))


@pytest.mark.parametrize("n", range(TESTS))
async def test_note(client: httpx.AsyncClient, n: int) -> None:
    """A note created through the service reads back."""
    created = await client.post("/notes", json={"title": f"note {n}"})
    assert created.status_code == 201
    read = await client.get(f"/notes/{created.json()['id']}")
    assert read.json()["title"] == f"note {n}"
