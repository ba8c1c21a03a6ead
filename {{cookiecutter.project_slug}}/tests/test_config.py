"""Settings and the application factory."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import AnyHttpUrl

from {{ cookiecutter.package_name }}.config import Settings

from .support import AppFactory, Serve

PREFIX = "{{ cookiecutter.package_name | upper }}_"


def test_settings_read_the_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each setting comes from its prefixed environment variable."""
    monkeypatch.setenv(f"{PREFIX}PORT", "9123")
    monkeypatch.setenv(f"{PREFIX}UPSTREAM_TIMEOUT", "2.5")
    settings = Settings(_env_file=None)
    assert (settings.port, settings.upstream_timeout) == (9123, 2.5)


def test_settings_read_a_dot_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `.env` file in the working directory is read."""
    (tmp_path / ".env").write_text(f"{PREFIX}UPSTREAM_MAX_CONNECTIONS=7\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert Settings().upstream_max_connections == 7


def test_upstream_base_url_gets_a_trailing_slash() -> None:
    """A base URL with a path keeps that path when relative paths are joined to it."""
    url = AnyHttpUrl("http://127.0.0.1:9000/api/v1")
    settings = Settings(_env_file=None, upstream_base_url=url)
    assert str(settings.upstream_base_url) == "http://127.0.0.1:9000/api/v1/"


def test_importing_reads_no_environment(tmp_path: Path) -> None:
    """Importing every module succeeds even when the environment holds invalid settings."""
    package = "{{ cookiecutter.package_name }}"
    code = f"import {package}.__main__, {package}.app, {package}.routes"
    env = {**os.environ, f"{PREFIX}PORT": "not a number"}
    result = subprocess.run(  # noqa: S603 - a fixed command line
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()


async def test_docs_can_be_switched_off(make_app: AppFactory, serve: Serve) -> None:
    """With docs_enabled off, neither the docs nor the OpenAPI schema are served."""
    async with serve(make_app(docs_enabled=False)) as client:
        responses = [await client.get(path) for path in ("/docs", "/redoc", "/openapi.json")]
    assert [response.status_code for response in responses] == [404, 404, 404]


async def test_openapi_carries_the_title(client: httpx.AsyncClient) -> None:
    """The OpenAPI schema is served by default, titled with the project's name."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == Settings.model_fields["title"].default
