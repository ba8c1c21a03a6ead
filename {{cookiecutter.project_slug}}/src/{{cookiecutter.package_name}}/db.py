"""The database: an engine and its pool, one session per request, faults as JSON.

`DatabasePart` is the part of the service (see resources.py) that holds the pool open;
handlers get a session through `DbSessionDep`, made from the `Database` it opens.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, status
from pydantic import AfterValidator, Field
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm.exc import StaleDataError

from .config import Settings
from .dependencies import ResourcesDep
from .errors import HTTP_422, ErrorBody, ProblemsBody, ServiceError
from .resources import Resources

# How long /ready waits for the database to answer `SELECT 1`.
READY_TIMEOUT_SECONDS = 2.0
# PostgreSQL's error codes (SQLSTATE): a cancelled statement, and three classes: data
# exceptions (a value out of range, a NUL in text), integrity violations, and transactions
# rolled back (a serialization failure, a deadlock).
_QUERY_CANCELED = "57014"
_DATA_CLASS = "22"
_INTEGRITY_CLASS = "23"
_ROLLBACK_CLASS = "40"

# What PostgreSQL's integer columns hold: bound every integer that reaches one where it enters
# (a path or query parameter, a field), so the client gets a 422 that names it.
INT4_MAX = 2**31 - 1  # Integer (int4), the default for an id
INT8_MAX = 2**63 - 1  # BigInteger (int8), and LIMIT and OFFSET


def storable_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL character (its text types cannot hold one)."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


# A str for a text column: `Annotated[StoredText, Field(max_length=...)]` in a model. The
# pattern says the same in the OpenAPI, for clients and for the tests that generate input.
StoredText = Annotated[
    str, AfterValidator(storable_text), Field(json_schema_extra={"pattern": "^[^\x00]*$"})
]

# Pass as `responses=` to a route that uses the database, so its OpenAPI lists the faults.
DATABASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"model": ErrorBody},
    HTTP_422: {"model": ProblemsBody},
    status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorBody},
    status.HTTP_504_GATEWAY_TIMEOUT: {"model": ErrorBody},
}


class Base(DeclarativeBase):
    """What every model derives from: its metadata is what the migrations must match."""

    # Constraints get names of their own, the same in the models and in every migration.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class DatabaseError(ServiceError):
    """A database fault the client gets as `status_code` and a JSON `detail`."""


class Database:
    """The engine, and the sessions requests get from it (made by `sessions`)."""

    def __init__(
        self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession] | None = None
    ) -> None:
        self.engine = engine
        self.sessions = sessions or async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session, connected before it is handed out, committed when the block ends
        without an error and rolled back when it raises; driver faults become DatabaseError."""
        async with self.sessions() as session:
            try:
                await session.connection()
            except PoolTimeoutError as exc:
                raise DatabaseError(503, "database busy: no connection free") from exc
            except (OSError, DBAPIError) as exc:
                raise DatabaseError(503, "database unreachable") from exc
            try:
                yield session
                await session.commit()
            except DBAPIError as exc:
                raise _translate(exc) from exc
            except StaleDataError as exc:
                # The ORM changed a row that another transaction changed or removed meanwhile.
                raise DatabaseError(409, CHANGED_MEANWHILE) from exc

    async def problem(self) -> str | None:
        """Why the database cannot serve now, or None when `SELECT 1` answers in time."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except TimeoutError:
            return "timed out"
        except OSError:
            return "unreachable"
        except SQLAlchemyError:
            return "unreachable"
        return None


CHANGED_MEANWHILE = "changed by another request meanwhile: read it again"


def _translate(exc: DBAPIError) -> Exception:
    """The answer for a driver's fault; any other is raised as it is (a 500)."""
    code = getattr(exc.orig, "sqlstate", None) or ""
    if code == _QUERY_CANCELED:
        return DatabaseError(504, "database statement timed out")
    if code.startswith(_INTEGRITY_CLASS):
        return DatabaseError(409, "conflicts with data already stored")
    if code.startswith(_ROLLBACK_CLASS):
        return DatabaseError(409, CHANGED_MEANWHILE)
    if code.startswith(_DATA_CLASS):
        # A value the route let through unbounded (an integer past its column's range, a
        # NUL in text): refused as the client's, though the field is not known here.
        return DatabaseError(
            HTTP_422, "a value the database cannot store", kind="value_not_storable"
        )
    if exc.connection_invalidated:
        return DatabaseError(503, "database unreachable")
    return exc


class DatabasePart:
    """The part that holds the engine and its pool open (see resources.py)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def install(self, app: FastAPI) -> None:
        """Nothing to add to the app: handlers take a session as `DbSessionDep`."""

    @asynccontextmanager
    async def open(self, resources: Resources) -> AsyncIterator[None]:
        """Create the engine and its pool, add the `Database` and its check for /ready;
        dispose of the pool at the end."""
        async with open_database(self.settings) as database:
            resources.add(database)
            resources.checks["database"] = database.problem
            yield


def part(settings: Settings) -> DatabasePart:
    """This module's part of the service (parts.py)."""
    return DatabasePart(settings)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Create the engine and its pool, and dispose of them on the way out."""
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.database_pool_timeout,
        connect_args={
            "timeout": settings.database_connect_timeout,
            "server_settings": {
                "statement_timeout": str(round(settings.database_statement_timeout * 1000)),
            },
        },
    )
    try:
        yield Database(engine)
    finally:
        await engine.dispose()


async def get_database(resources: ResourcesDep) -> Database:
    """The database the resources opened."""
    return resources.get(Database)


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_db_session(database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """One session for the request: committed after the handler returns, before the
    response is sent, or rolled back if it raised."""
    async with database.session() as session:
        yield session


# scope="function": the session ends (commits) before the response is sent, so a failed
# commit is the client's answer, not an error after a 200.
DbSessionDep = Annotated[AsyncSession, Depends(get_db_session, scope="function")]
