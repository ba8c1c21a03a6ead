"""Fixtures for the template's tests: a private cookiecutter config and rendered projects."""

from pathlib import Path
from typing import Any

import pytest

from .helpers import bake, combination_id, combinations, write_cookiecutter_config


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
