"""The notes resource, and the tests' database isolation it relies on."""

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from {{ cookiecutter.package_name }}.app import State
from {{ cookiecutter.package_name }}.models import Note


async def _create(client: httpx.AsyncClient, title: str, body: str = "") -> dict[str, object]:
    response = await client.post("/notes", json={"title": title, "body": body})
    assert response.status_code == 201, response.text
    note: dict[str, object] = response.json()
    return note


async def _rows_outside_the_test(state: State) -> int:
    """How many notes a connection of its own sees: only what was really committed."""
    async with state["database"].engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Note)) or 0)


async def test_create_then_read(client: httpx.AsyncClient) -> None:
    """A created note comes back with its id and timestamps, and reads back the same."""
    created = await _create(client, "groceries", "milk, eggs")
    assert created["title"] == "groceries"
    assert created["body"] == "milk, eggs"
    assert {"id", "created_at", "updated_at"} <= created.keys()
    response = await client.get(f"/notes/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_list_pages_oldest_first(client: httpx.AsyncClient) -> None:
    """The list comes in pages of `limit`, oldest first, with the total."""
    for number in range(5):
        await _create(client, f"note {number}")
    response = await client.get("/notes", params={"limit": 2, "offset": 1})
    assert response.status_code == 200
    page = response.json()
    assert [note["title"] for note in page["items"]] == ["note 1", "note 2"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)


async def test_update_changes_only_what_is_given(client: httpx.AsyncClient) -> None:
    """PATCH changes the fields given and leaves the others."""
    note = await _create(client, "draft", "first words")
    response = await client.patch(f"/notes/{note['id']}", json={"title": "final"})
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["body"]) == ("final", "first words")


async def test_delete_then_404(client: httpx.AsyncClient) -> None:
    """A deleted note is gone: reading, changing or deleting it again is a 404."""
    note = await _create(client, "short-lived")
    assert (await client.delete(f"/notes/{note['id']}")).status_code == 204
    for response in (
        await client.get(f"/notes/{note['id']}"),
        await client.patch(f"/notes/{note['id']}", json={"body": "x"}),
        await client.delete(f"/notes/{note['id']}"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "note not found"}


async def test_a_taken_title_is_409(client: httpx.AsyncClient) -> None:
    """Titles are unique: creating or renaming to one that is taken is a 409."""
    first = await _create(client, "taken")
    second = await _create(client, "free")
    created = await client.post("/notes", json={"title": "taken"})
    renamed = await client.patch(f"/notes/{second['id']}", json={"title": first["title"]})
    for response in (created, renamed):
        assert response.status_code == 409
        assert response.json() == {"detail": "conflicts with data already stored"}


@pytest.mark.parametrize(
    "payload",
    [{}, {"title": ""}, {"title": "x" * 201}, {"title": 3}, {"title": "ok", "extra": 1}],
)
async def test_bad_input_is_422(client: httpx.AsyncClient, payload: dict[str, object]) -> None:
    """A missing, empty, too long or mistyped title, or an unknown field, is a 422."""
    response = await client.post("/notes", json=payload)
    assert response.status_code == 422


async def test_concurrent_requests_in_one_test(client: httpx.AsyncClient, state: State) -> None:
    """Twenty requests at once through the shared app all succeed (one more, with a title
    taken, is a 409), all inside this test's transaction: nothing is committed outside it."""
    responses = await asyncio.gather(
        *(client.post("/notes", json={"title": f"at once {n}"}) for n in range(20)),
        client.post("/notes", json={"title": "at once 7"}),
    )
    assert sorted(response.status_code for response in responses) == [201] * 20 + [409]
    assert (await client.get("/notes")).json()["total"] == 20
    assert await _rows_outside_the_test(state) == 0


async def test_what_the_app_commits_stays_inside_the_test(
    client: httpx.AsyncClient, state: State
) -> None:
    """The app commits each request's session; in a test that commit is a SAVEPOINT of the
    test's transaction: visible to the app, invisible outside, gone after the test."""
    await _create(client, "kept only here")
    assert (await client.get("/notes")).json()["total"] == 1
    assert await _rows_outside_the_test(state) == 0


@pytest.mark.committed
async def test_two_transactions_race_for_a_title(client: httpx.AsyncClient, state: State) -> None:
    """Marked committed: the app's sessions are real transactions, so two requests for the
    same title race at the database itself, and exactly one wins. The tables are emptied
    after the test."""
    responses = await asyncio.gather(
        *(client.post("/notes", json={"title": "only one"}) for _ in range(2))
    )
    assert sorted(response.status_code for response in responses) == [201, 409]
    assert await _rows_outside_the_test(state) == 1
