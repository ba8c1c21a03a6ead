"""Fixtures for the template's tests: a private cookiecutter config and rendered projects."""

from pathlib import Path

import pytest

from .helpers import write_cookiecutter_config


@pytest.fixture(name="cookiecutter_config", scope="session")
def fixture_cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cookiecutter config that writes nothing outside the test's temporary folders."""
    return write_cookiecutter_config(tmp_path_factory.mktemp("cookiecutter"))
