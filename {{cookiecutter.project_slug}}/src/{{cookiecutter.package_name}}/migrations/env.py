"""Alembic's environment: the migrations run against the database the settings name, or on
the connection handed over in `config.attributes["connection"]`, as the tests do."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }} import models  # noqa: F401 - puts every table on Base.metadata
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.db import Base


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_settings_database() -> None:
    engine = create_async_engine(Settings().database_url.get_secret_value())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


def _write_sql() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    context.configure(
        url=Settings().database_url.get_secret_value(),
        target_metadata=Base.metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _write_sql()
elif (given := context.config.attributes.get("connection")) is not None:
    _migrate(given)
else:
    asyncio.run(_migrate_settings_database())
