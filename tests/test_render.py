"""Every combination of the options renders a complete, clean project (fast tier)."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from .helpers import DEFAULTS, combination_id, combinations, project_files

COMBINATIONS = list(combinations())
ALWAYS = [
    ".env.example",
    ".gitignore",
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "src/{package}/__init__.py",
    "src/{package}/__main__.py",
    "src/{package}/app.py",
    "src/{package}/config.py",
    "src/{package}/dependencies.py",
    "src/{package}/py.typed",
    "src/{package}/routes/__init__.py",
    "src/{package}/routes/health.py",
    "src/{package}/upstream.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/support.py",
    "tests/test_config.py",
    "tests/test_health.py",
    "tests/test_lifespan.py",
    "tests/test_security.py",
    "tests/test_upstream.py",
]
EXAMPLE = ["src/{package}/routes/items.py", "tests/test_items.py"]
DOCKER = ["Dockerfile", ".dockerignore"]
PRE_COMMIT = [".pre-commit-config.yaml"]
CI = {
    "github": [
        ".github/dependabot.yml",
        ".github/workflows/ci.yml",
        ".github/workflows/newest.yml",
    ],
    "gitlab": [".gitlab-ci.yml"],
    "none": [],
}
# GitHub Actions expressions are meant to reach the rendered workflows.
GITHUB_EXPRESSION = re.compile(r"\$\{\{ [a-z.-]+ \}\}")
LICENSE_MARKERS = {
    "MIT": "MIT License",
    "Apache-2.0": "Apache License",
    "BSD-3-Clause": "BSD 3-Clause License",
    "Proprietary": "All rights reserved.",
}
UNRENDERED = ("{{", "{%", "{#", "cookiecutter")
NEWEST_PYTHON = DEFAULTS["python_version"][-1]


def _files(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in project_files(project)}


@pytest.mark.parametrize("name", [combination_id(a) for a in COMBINATIONS])
def test_render_has_exactly_the_expected_files(
    renders: dict[str, tuple[dict[str, Any], Path]], name: str
) -> None:
    """The files every project has are there, and each option's only when it is on."""
    answers, project = renders[name]
    expected = ALWAYS + (EXAMPLE if answers["include_example_route"] else [])
    expected += (DOCKER if answers["docker"] else []) + CI[answers["ci"]]
    expected += PRE_COMMIT if answers["pre_commit"] else []
    package = DEFAULTS["project_name"].lower().replace(" ", "_")
    assert _files(project) == {path.format(package=package) for path in expected}


@pytest.mark.parametrize("name", [combination_id(a) for a in COMBINATIONS])
def test_render_leaves_nothing_unrendered(
    renders: dict[str, tuple[dict[str, Any], Path]], name: str
) -> None:
    """No file keeps template syntax or mentions cookiecutter (GitHub's own `${{ x }}` aside)."""
    _, project = renders[name]
    leftovers = [
        f"{path.relative_to(project)}: {marker}"
        for path in project_files(project)
        for marker in UNRENDERED
        if marker in GITHUB_EXPRESSION.sub("", path.read_text("utf-8"))
    ]
    assert leftovers == []


@pytest.mark.parametrize("name", [combination_id(a) for a in COMBINATIONS])
def test_render_python_compiles_and_toml_parses(
    renders: dict[str, tuple[dict[str, Any], Path]], name: str
) -> None:
    """Every .py file is valid Python 3.11, and pyproject.toml is valid TOML."""
    _, project = renders[name]
    sources = list(project.rglob("*.py"))
    assert len(sources) >= 15
    for path in sources:
        ast.parse(path.read_text("utf-8"), filename=str(path), feature_version=(3, 11))
    tomllib.loads((project / "pyproject.toml").read_text("utf-8"))


@pytest.mark.parametrize("name", [combination_id(a) for a in COMBINATIONS])
def test_render_follows_the_answers(
    renders: dict[str, tuple[dict[str, Any], Path]], name: str
) -> None:
    """The Python version and license chosen reach every place that depends on them."""
    answers, project = renders[name]
    version, license_name = answers["python_version"], answers["license"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert pyproject["tool"]["mypy"]["python_version"] == version
    classifiers = pyproject["project"]["classifiers"]
    supported = [c.rsplit(" ", 1)[1] for c in classifiers if c.count("::") == 2 and "3." in c]
    assert supported[0] == version
    assert supported[-1] == NEWEST_PYTHON
    expected_license = "LicenseRef-Proprietary" if license_name == "Proprietary" else license_name
    assert pyproject["project"]["license"] == expected_license
    assert LICENSE_MARKERS[license_name] in (project / "LICENSE").read_text("utf-8")


def test_every_render_passes_ruff(renders: dict[str, tuple[dict[str, Any], Path]]) -> None:
    """ruff check and ruff format --check pass on every render, each under its own config."""
    roots = [str(project) for _, project in renders.values()]
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *roots],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_matrix_covers_every_choice() -> None:
    """The rendered combinations cover every choice the prompts offer."""
    assert len(COMBINATIONS) == 4 * 4 * 2
    for option in ("python_version", "license"):
        assert {answers[option] for answers in COMBINATIONS} == set(DEFAULTS[option])
