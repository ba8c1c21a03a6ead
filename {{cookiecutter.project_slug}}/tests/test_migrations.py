"""The migrations: they go up, down and up again, and they build exactly what the models say."""

import os
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from {{ cookiecutter.package_name }} import models  # noqa: F401 - puts every table on Base.metadata
from {{ cookiecutter.package_name }}.db import Base, Database
from {{ cookiecutter.package_name }}.resources import Resources

from .database import create_database, drop_database, migrate


@pytest.fixture(name="scratch")
async def fixture_scratch() -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of this test's own, dropped afterwards."""
    name = f"migrations_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    engine = create_async_engine(await create_database(name))
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(name)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


async def test_migrations_go_up_down_and_up_again(scratch: AsyncEngine) -> None:
    """Upgrade to the newest revision, downgrade to nothing, upgrade again: each step leaves
    exactly the tables it should."""
    modelled = {table.name for table in Base.metadata.sorted_tables}
    await migrate(scratch, "head")
    assert await _tables(scratch) == modelled | {"alembic_version"}
    await migrate(scratch, "base")
    assert await _tables(scratch) == {"alembic_version"}
    await migrate(scratch, "head")
    assert await _tables(scratch) == modelled | {"alembic_version"}


async def test_models_and_migrations_agree(resources: Resources) -> None:
    """Alembic's autogenerate, run against the migrated database, finds nothing to add."""

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with resources.get(Database).engine.connect() as connection:
        assert await connection.run_sync(differences) == []
