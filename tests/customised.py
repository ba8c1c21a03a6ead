"""What a user has built on a rendered project after a few weeks, written into it: a route
module and its tests, a setting, a model and its migration (with the database), an edited
README paragraph and a dependency. The upgrade test applies this to a project rendered at an
earlier release, then updates it."""

from pathlib import Path

from .helpers import run, uv_executable

ROUTE = '''\
"""Orders, listed a page at a time, with a link to the next page."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from yarl import URL

from ..dependencies import SettingsDep

router = APIRouter(prefix="/orders", tags=["orders"])


class Order(BaseModel):
    """One order, by its number."""

    number: int


class OrderPage(BaseModel):
    """A page of orders, and where the next one is."""

    orders: list[Order]
    next: str


@router.get("")
async def list_orders(
    request: Request,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> OrderPage:
    """A page of `orders_page_size` orders from `offset`."""
    size = settings.orders_page_size
    following = URL(str(request.url)).update_query(offset=offset + size)
    return OrderPage(
        orders=[Order(number=number) for number in range(offset, offset + size)],
        next=str(following),
    )
'''
ROUTE_TESTS = '''\
"""The orders route: pages of the configured size, each linking to the next."""

import httpx

from .support import AppFactory, Serve


async def test_orders_come_a_page_at_a_time(client: httpx.AsyncClient) -> None:
    """Without an offset the first page comes, and its link names the next one."""
    response = await client.get("/orders")
    assert response.status_code == 200
    body = response.json()
    assert [order["number"] for order in body["orders"]] == list(range(20))
    assert body["next"] == "http://test/orders?offset=20"


async def test_page_size_is_a_setting(make_app: AppFactory, serve: Serve) -> None:
    """The orders_page_size setting is how many orders a page holds."""
    async with serve(make_app(orders_page_size=3)) as client:
        response = await client.get("/orders", params={"offset": 6})
    assert [order["number"] for order in response.json()["orders"]] == [6, 7, 8]
'''
SETTING = """\
    # Orders on one page of GET /orders.
    orders_page_size: Annotated[int, Field(ge=1, le=100)] = 20

"""
README_BEFORE = "An async FastAPI service: one `aiohttp.ClientSession`"
README_PARAGRAPH = """\
The shop's order service: it lists orders a page at a time and reads items from the catalogue
upstream. Ask the shop team before changing what it answers.
"""
MODEL = '''\
"""The orders table."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class Order(Base):
    """An order: a number and who placed it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(100))
'''
MIGRATION = '''\
"""Create the orders table.

Revision ID: 0002
Revises: 0001
Created: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )


def downgrade() -> None:
    op.drop_table("orders")
'''
DEPENDENCY = "yarl>=1.17"
# The files the user wrote whole: each must come through an update unchanged.
WRITTEN = {
    "src/my_service/routes/orders.py": ROUTE,
    "tests/test_orders.py": ROUTE_TESTS,
}
WRITTEN_WITH_DATABASE = {
    "src/my_service/models/order.py": MODEL,
    "src/my_service/migrations/versions/0002_create_orders.py": MIGRATION,
}
# The files the user edited, beside those they wrote.
EDITED = (
    "README.md",
    "pyproject.toml",
    "src/my_service/config.py",
    "src/my_service/routes/__init__.py",
)
EDITED_WITH_DATABASE = ("src/my_service/models/__init__.py",)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert text.count(old) == 1, f"{path.name}: {old!r} is not there once"
    path.write_text(text.replace(old, new), "utf-8")


def written(database: bool) -> dict[str, str]:
    return {**WRITTEN, **(WRITTEN_WITH_DATABASE if database else {})}


def touched(database: bool) -> set[str]:
    """Every file the user wrote or edited."""
    return {*written(database), *EDITED, *(EDITED_WITH_DATABASE if database else ())}


def customise(project: Path, database: bool) -> None:
    """Make the changes a user would; the dependency is added with `uv add`, which also
    writes uv.lock and syncs .venv."""
    for name, text in written(database).items():
        (project / name).write_text(text, "utf-8")
    package = project / "src/my_service"
    routers = "health, items, notes" if database else "health, items"
    _edit(
        package / "routes/__init__.py",
        f"from . import {routers}\n",
        f"from . import {routers}, orders\n",
    )
    _edit(package / "routes/__init__.py", "\n]\n", "\n    orders.router,\n]\n")
    # The new setting goes last among the fields, before the first validator.
    config = package / "config.py"
    text = config.read_text("utf-8")
    first_validator = text.index("\n    @field_validator") + 1
    config.write_text(text[:first_validator] + SETTING + text[first_validator:], "utf-8")
    readme = project / "README.md"
    paragraph = readme.read_text("utf-8").split("\n\n")[2]
    assert paragraph.startswith(README_BEFORE), paragraph
    _edit(readme, paragraph + "\n", README_PARAGRAPH)
    if database:
        _edit(
            package / "models/__init__.py",
            "from .note import Note\n",
            "from .note import Note\nfrom .order import Order\n",
        )
        _edit(package / "models/__init__.py", '__all__ = ["Note"]', '__all__ = ["Note", "Order"]')
    added = run([uv_executable(), "add", "--quiet", DEPENDENCY], project)
    assert added.returncode == 0, added.stderr


def check_intact(project: Path, database: bool) -> None:
    """The user's work is all there after an update."""
    for name, text in written(database).items():
        assert (project / name).read_text("utf-8") == text, f"{name} changed"
    package = project / "src/my_service"
    assert "orders.router," in (package / "routes/__init__.py").read_text("utf-8")
    assert SETTING in (package / "config.py").read_text("utf-8")
    readme = (project / "README.md").read_text("utf-8")
    assert README_PARAGRAPH in readme
    assert README_BEFORE not in readme
    assert f'"{DEPENDENCY}"' in (project / "pyproject.toml").read_text("utf-8")
    if database:
        assert "from .order import Order\n" in (package / "models/__init__.py").read_text("utf-8")
