"""The database: owned by the lifespan, checked by /ready, and every fault a JSON answer.

The fault tests add a probe route to an app of their own, so they need no model.
"""

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from {{ cookiecutter.package_name }}.db import Database, DbSessionDep
from {{ cookiecutter.package_name }}.resources import Resources

from .database import embedded_server, server_url
from .support import AppFactory, Serve, free_port

# Far above any statement timeout given here: only the timeout can end it.
SLEEP_SECONDS = 30


def _with_probes(app: FastAPI) -> FastAPI:
    """`app` with routes that run a query, a statement that sleeps, and a duplicate key."""

    @app.get("/probe/query")
    async def query(session: DbSessionDep) -> int:
        return int(await session.scalar(text("SELECT 1")) or 0)

    @app.get("/probe/sleep")
    async def sleep(session: DbSessionDep) -> None:
        await session.execute(text(f"SELECT pg_sleep({SLEEP_SECONDS})"))

    @app.get("/probe/duplicate")
    async def duplicate(session: DbSessionDep) -> None:
        await session.execute(text("CREATE TEMP TABLE probe (x int UNIQUE) ON COMMIT DROP"))
        await session.execute(text("INSERT INTO probe VALUES (1), (1)"))

    @app.get("/probe/duplicate-at-commit")
    async def duplicate_at_commit(session: DbSessionDep) -> dict[str, str]:
        # A deferred constraint is checked by COMMIT, after the handler has returned.
        await session.execute(
            text(
                "CREATE TEMP TABLE probe (x int UNIQUE DEFERRABLE INITIALLY DEFERRED) "
                "ON COMMIT DROP"
            )
        )
        await session.execute(text("INSERT INTO probe VALUES (1), (1)"))
        return {"status": "handler done"}

    @app.get("/probe/raise/{sqlstate}")
    async def raise_sqlstate(sqlstate: str, session: DbSessionDep) -> None:
        # PL/pgSQL raises any error code asked for, as the server would.
        await session.execute(
            text(f"DO $$ BEGIN RAISE EXCEPTION 'probe' USING ERRCODE = '{sqlstate}'; END $$")
        )

    return app


def _nowhere() -> str:
    """A database URL where nothing listens."""
    url = server_url().set(host="127.0.0.1", port=free_port(), query={})
    return url.render_as_string(hide_password=False)


async def test_ready_checks_the_database(client: httpx.AsyncClient) -> None:
    """/ready asks the database, which answers."""
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


async def test_a_session_works_from_the_test_body(resources: Resources) -> None:
    """The lifespan's database serves a session opened straight from a test."""
    async with resources.get(Database).session() as session:
        assert await session.scalar(text("SELECT 40 + 2")) == 42


async def test_the_service_starts_and_says_not_ready_without_a_database(
    make_app: AppFactory, serve: Serve
) -> None:
    """With no database to reach, the service still starts: /health is 200, /ready a 503
    that names the database."""
    async with serve(make_app(database_url=_nowhere())) as client:
        health = await client.get("/health")
        ready = await client.get("/ready")
        resources_checked = list(client.resources.checks)
    assert health.status_code == 200
    assert ready.status_code == 503
    # Every resource the app opened is named: the database unreachable, every other fine.
    expected = dict.fromkeys(resources_checked, "ok") | {"database": "unreachable"}
    assert {"server", "http_session", "database"} <= expected.keys()
    assert ready.json() == {"status": "not ready", "checks": expected}


async def test_shutdown_closes_every_connection(
    make_app: AppFactory, serve: Serve, resources: Resources
) -> None:
    """Leaving the lifespan disposes of the pool: its connections are gone from the server."""
    async with serve(make_app()) as client, client.resources.get(Database).session() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
    async with resources.get(Database).engine.connect() as connection:
        for _ in range(600):
            if not await connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ):
                break
            # PostgreSQL reads pg_stat_activity once a transaction: end it to look again.
            await connection.rollback()
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"backend {pid} is still connected after shutdown")


async def test_a_statement_past_its_timeout_is_504(make_app: AppFactory, serve: Serve) -> None:
    """A statement that runs longer than DATABASE_STATEMENT_TIMEOUT is cancelled: 504."""
    app = _with_probes(make_app(database_statement_timeout=0.2))
    async with serve(app) as client:
        response = await client.get("/probe/sleep")
    assert response.status_code == 504
    assert response.json() == {"detail": "database statement timed out"}


async def test_a_constraint_violation_is_409(make_app: AppFactory, serve: Serve) -> None:
    """A unique violation is a 409, and the session's work is rolled back."""
    async with serve(_with_probes(make_app())) as client:
        response = await client.get("/probe/duplicate")
    assert response.status_code == 409
    assert response.json() == {"detail": "conflicts with data already stored"}


async def test_a_failed_commit_is_the_answer(make_app: AppFactory, serve: Serve) -> None:
    """The session commits before the response is sent: a commit that fails is the client's
    answer (here a 409), never a 200 for work that was then lost."""
    async with serve(_with_probes(make_app())) as client:
        response = await client.get("/probe/duplicate-at-commit")
    assert response.status_code == 409
    assert response.json() == {"detail": "conflicts with data already stored"}


@pytest.mark.parametrize(
    ("sqlstate", "status_code", "detail"),
    [
        ("22003", 422, None),  # numeric value out of range
        ("22021", 422, None),  # a character the encoding cannot hold (a NUL)
        ("40001", 409, "changed by another request meanwhile: read it again"),  # serialization
        ("40P01", 409, "changed by another request meanwhile: read it again"),  # deadlock
        ("23505", 409, "conflicts with data already stored"),  # unique violation
    ],
)
async def test_database_faults_are_answered(
    make_app: AppFactory, serve: Serve, sqlstate: str, status_code: int, detail: str | None
) -> None:
    """A value the database cannot store is a 422 (in the shape of a validation error);
    a transaction the database rolled back for a conflicting write, a 409."""
    async with serve(_with_probes(make_app())) as client:
        response = await client.get(f"/probe/raise/{sqlstate}")
    assert response.status_code == status_code
    if detail is not None:
        assert response.json() == {"detail": detail}
    else:
        (problem,) = response.json()["detail"]
        assert problem["type"] == "value_not_storable"


async def test_an_unknown_database_error_is_a_json_500(make_app: AppFactory, serve: Serve) -> None:
    """An error no rule answers (here a syntax error, a bug) is the last line of defence's
    500, with the request id."""
    async with serve(_with_probes(make_app())) as client:
        response = await client.get("/probe/raise/42601")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "x-request-id" in response.headers


async def test_an_exhausted_pool_is_503(make_app: AppFactory, serve: Serve) -> None:
    """With every pooled connection taken, a request waits DATABASE_POOL_TIMEOUT, then 503."""
    app = _with_probes(make_app(database_pool_size=1, database_pool_timeout=0.2))
    async with serve(app) as client, client.resources.get(Database).engine.connect() as held:
        await held.execute(text("SELECT 1"))
        response = await client.get("/probe/query")
    assert response.status_code == 503
    assert response.json() == {"detail": "database busy: no connection free"}


async def test_an_unreachable_database_is_503(make_app: AppFactory, serve: Serve) -> None:
    """A database nobody answers for is a 503."""
    async with serve(_with_probes(make_app(database_url=_nowhere()))) as client:
        response = await client.get("/probe/query")
    assert response.status_code == 503
    assert response.json() == {"detail": "database unreachable"}


async def test_a_server_that_stops_is_503(make_app: AppFactory, serve: Serve) -> None:
    """A server that stops under a running service: each request is a 503 (the pooled
    connection it had, then a new one refused) and /ready says so."""
    with embedded_server() as server:
        async with serve(_with_probes(make_app(database_url=server.url))) as client:
            before = await client.get("/probe/query")
            await asyncio.to_thread(server.stop)
            after = [await client.get("/probe/query") for _ in range(2)]
            ready = await client.get("/ready")
    assert before.status_code == 200
    assert [(r.status_code, r.json()) for r in after] == [
        (503, {"detail": "database unreachable"})
    ] * 2
    assert ready.json()["checks"]["database"] == "unreachable"
