"""The notes resource, and the tests' database isolation it relies on."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select, text

from {{ cookiecutter.package_name }}.db import INT4_MAX, INT8_MAX, Database, DbSessionDep
from {{ cookiecutter.package_name }}.models import Note
from {{ cookiecutter.package_name }}.resources import Resources

from .support import AppFactory, Serve

# How often, 50 ms apart, to look for a request waiting on a row lock: 30 s in all.
LOCK_POLLS = 600


async def _create(client: httpx.AsyncClient, title: str, body: str = "") -> dict[str, object]:
    response = await client.post("/notes", json={"title": title, "body": body})
    assert response.status_code == 201, response.text
    note: dict[str, object] = response.json()
    return note


async def _rows_outside_the_test(resources: Resources) -> int:
    """How many notes a connection of its own sees: only what was really committed."""
    async with resources.get(Database).engine.connect() as connection:
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


@pytest.mark.parametrize("field", ["title", "body"])
async def test_text_the_database_cannot_store_is_422(client: httpx.AsyncClient, field: str) -> None:
    """PostgreSQL's text holds no NUL character: a 422 names the field, on create and on
    change alike, and nothing is stored."""
    note = await _create(client, "clean")
    created = await client.post("/notes", json={"title": "fine", field: "nul \x00 inside"})
    changed = await client.patch(f"/notes/{note['id']}", json={field: "nul \x00 inside"})
    for response in (created, changed):
        assert response.status_code == 422
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["body", field]
        assert "NUL" in problem["msg"]
    assert (await client.get("/notes")).json()["total"] == 1


async def test_half_a_surrogate_pair_is_400(client: httpx.AsyncClient) -> None:
    """A JSON escape that spells no character is refused before the handler runs."""
    response = await client.post(
        "/notes", content=b'{"title": "\\ud800"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_ids_past_the_column_are_422(client: httpx.AsyncClient, method: str) -> None:
    """The id column is a 32-bit integer: a bigger id is a 422 naming it, the biggest it
    holds an ordinary 404."""
    body = {"body": "x"} if method == "PATCH" else None
    past = await client.request(method, f"/notes/{INT4_MAX + 1}", json=body)
    largest = await client.request(method, f"/notes/{INT4_MAX}", json=body)
    assert past.status_code == 422
    assert past.json()["detail"][0]["loc"] == ["path", "note_id"]
    assert largest.status_code == 404


@pytest.mark.parametrize(
    ("params", "status_code"),
    [
        ({"limit": 100}, 200),
        ({"limit": 101}, 422),
        ({"limit": 0}, 422),
        ({"offset": -1}, 422),
        ({"offset": INT8_MAX}, 200),
        ({"offset": INT8_MAX + 1}, 422),
    ],
)
async def test_paging_is_bounded(
    client: httpx.AsyncClient, params: dict[str, int], status_code: int
) -> None:
    """A page holds 1 to 100 notes; the offset is what PostgreSQL's OFFSET takes (64 bits)."""
    response = await client.get("/notes", params=params)
    assert response.status_code == status_code, response.text


async def test_the_list_is_in_id_order_not_storage_order(client: httpx.AsyncClient) -> None:
    """Changing a note moves its row in PostgreSQL's storage; the list stays oldest first."""
    first, *_ = [await _create(client, f"note {number}") for number in range(3)]
    await client.patch(f"/notes/{first['id']}", json={"body": "changed, so stored anew"})
    titles = [note["title"] for note in (await client.get("/notes")).json()["items"]]
    assert titles == ["note 0", "note 1", "note 2"]


async def test_a_null_in_a_patch_leaves_the_field(client: httpx.AsyncClient) -> None:
    """`null` for a field is the same as leaving it out: the field keeps its value."""
    note = await _create(client, "kept", "as it was")
    response = await client.patch(f"/notes/{note['id']}", json={"title": None, "body": "new"})
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["body"]) == ("kept", "new")
    untouched = await client.patch(f"/notes/{note['id']}", json={"title": None})
    assert untouched.json() == response.json()


async def test_concurrent_requests_in_one_test(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    """Twenty requests at once through the shared app all succeed (one more, with a title
    taken, is a 409), all inside this test's transaction: nothing is committed outside it."""
    responses = await asyncio.gather(
        *(client.post("/notes", json={"title": f"at once {n}"}) for n in range(20)),
        client.post("/notes", json={"title": "at once 7"}),
    )
    assert sorted(response.status_code for response in responses) == [201] * 20 + [409]
    assert (await client.get("/notes")).json()["total"] == 20
    assert await _rows_outside_the_test(resources) == 0


async def test_what_the_app_commits_stays_inside_the_test(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    """The app commits each request's session; in a test that commit is a SAVEPOINT of the
    test's transaction: visible to the app, invisible outside, gone after the test."""
    await _create(client, "kept only here")
    assert (await client.get("/notes")).json()["total"] == 1
    assert await _rows_outside_the_test(resources) == 0


@pytest.mark.committed
async def test_two_transactions_race_for_a_title(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    """Marked committed: the app's sessions are real transactions, so two requests for the
    same title race at the database itself, and exactly one wins. The tables are emptied
    after the test."""
    responses = await asyncio.gather(
        *(client.post("/notes", json={"title": "only one"}) for _ in range(2))
    )
    assert sorted(response.status_code for response in responses) == [201, 409]
    assert await _rows_outside_the_test(resources) == 1


async def _until_a_request_waits_on_a_lock(resources: Resources) -> None:
    """Return once a request's statement waits for a row lock the test holds."""
    async with resources.get(Database).engine.connect() as watcher:
        for _ in range(LOCK_POLLS):
            waiting = await watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            # PostgreSQL reads pg_stat_activity once a transaction: end it to look again.
            await watcher.rollback()
            await asyncio.sleep(0.05)
    raise AssertionError("no request came to wait on the row lock")


async def _race_a_deletion(
    client: httpx.AsyncClient, resources: Resources, method: str, body: dict[str, str] | None
) -> httpx.Response:
    """Send `method` to a note while the test holds its row; delete the row and commit once
    the request waits on it; the request's answer."""
    note = await _create(client, "contested")
    async with resources.get(Database).engine.connect() as holder:
        await holder.execute(
            text("SELECT 1 FROM notes WHERE id = :id FOR UPDATE"), {"id": note["id"]}
        )
        request = asyncio.create_task(client.request(method, f"/notes/{note['id']}", json=body))
        await _until_a_request_waits_on_a_lock(resources)
        await holder.execute(delete(Note).where(Note.id == note["id"]))
        await holder.commit()
        return await request


@pytest.mark.committed
async def test_a_note_deleted_under_a_change_is_404(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    """Marked committed: a PATCH whose note another transaction deletes while it waits is a
    404, not an error."""
    response = await _race_a_deletion(client, resources, "PATCH", {"body": "too late"})
    assert response.status_code == 404
    assert response.json() == {"detail": "note not found"}


@pytest.mark.committed
async def test_a_note_deleted_twice_at_once_is_404(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    """Marked committed: a DELETE that loses the race to another is a 404, with no warning
    (the suite's warnings are errors)."""
    response = await _race_a_deletion(client, resources, "DELETE", None)
    assert response.status_code == 404


@pytest.mark.committed
async def test_two_renames_to_one_title_race(client: httpx.AsyncClient) -> None:
    """Marked committed: two notes renamed to the same title at once: one wins, the other
    is a 409."""
    first, second = await _create(client, "first"), await _create(client, "second")
    responses = await asyncio.gather(
        *(client.patch(f"/notes/{n['id']}", json={"title": "same"}) for n in (first, second))
    )
    assert sorted(response.status_code for response in responses) == [200, 409]


@pytest.mark.committed
async def test_an_object_changed_after_its_row_went_is_409(
    make_app: AppFactory, serve: Serve
) -> None:
    """Marked committed (its app commits the note). A handler that changes an object the ORM
    loaded, after its row is gone, gets a 409 (SQLAlchemy's StaleDataError), not a 500."""
    app: FastAPI = make_app()

    @app.patch("/probe/stale/{note_id}")
    async def stale(note_id: int, session: DbSessionDep) -> None:
        note = await session.get(Note, note_id)
        assert note is not None
        await session.execute(text("DELETE FROM notes WHERE id = :id"), {"id": note_id})
        note.body = "changed"
        await session.flush()

    async with serve(app) as own:
        note = await _create(own, "stale")
        response = await own.patch(f"/probe/stale/{note['id']}")
    assert response.status_code == 409
    assert response.json() == {"detail": "changed by another request meanwhile: read it again"}
