"""Every combination of the options renders a complete, clean project (fast tier)."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from .helpers import DEFAULTS, combination_id, combinations, project_files, settings_fields

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
    "src/{package}/bodies.py",
    "src/{package}/config.py",
    "src/{package}/dependencies.py",
    "src/{package}/errors.py",
    "src/{package}/logs.py",
    "src/{package}/methods.py",
    "src/{package}/parts.py",
    "src/{package}/py.typed",
    "src/{package}/request_id.py",
    "src/{package}/resources.py",
    "src/{package}/retries.py",
    "src/{package}/routes/__init__.py",
    "src/{package}/routes/health.py",
    "src/{package}/server.py",
    "src/{package}/shutdown.py",
    "src/{package}/upstream.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/support.py",
    "tests/test_api.py",
    "tests/test_config.py",
    "tests/test_errors.py",
    "tests/test_health.py",
    "tests/test_lifespan.py",
    "tests/test_logging.py",
    "tests/test_overrides.py",
    "tests/test_retries.py",
    "tests/test_security.py",
    "tests/test_shutdown.py",
    "tests/test_upstream.py",
    "tests/upstream.py",
]
EXAMPLE = ["src/{package}/items.py", "src/{package}/routes/items.py", "tests/test_items.py"]
POSTGRES = [
    "src/{package}/db.py",
    "src/{package}/migrate.py",
    "src/{package}/migrations/env.py",
    "src/{package}/migrations/script.py.mako",
    "src/{package}/migrations/versions/.gitkeep",
    "src/{package}/models/__init__.py",
    "scripts/dev_database.py",
    "tests/database.py",
    "tests/test_database.py",
    "tests/test_migrations.py",
]
POSTGRES_EXAMPLE = [
    "src/{package}/migrations/versions/0001_create_notes.py",
    "src/{package}/models/note.py",
    "src/{package}/routes/notes.py",
    "tests/test_notes.py",
]
# compose.yaml: with docker, for the database or the jobs (or both).
COMPOSE = ["compose.yaml"]
JOBS = [
    "src/{package}/jobs.py",
    "src/{package}/worker.py",
    "src/{package}/tasks/__init__.py",
    "tests/jobs.py",
    "tests/test_jobs.py",
]
JOBS_EXAMPLE = [
    "src/{package}/routes/jobs.py",
    "src/{package}/tasks/items.py",
    "tests/test_job_examples.py",
]
JOBS_POSTGRES_EXAMPLE = ["src/{package}/tasks/notes.py", "tests/test_note_jobs.py"]
JOBS_KUBERNETES = ["deploy/kubernetes/worker.yaml"]
JOBS_METRICS = ["src/{package}/job_metrics.py", "tests/test_job_metrics.py"]
JOBS_TRACING = ["src/{package}/job_tracing.py", "tests/test_job_tracing.py"]
AUTH = [
    "src/{package}/auth.py",
    "src/{package}/upstream_token.py",
    "tests/auth.py",
    "tests/issuer.py",
    "tests/test_auth.py",
    "tests/test_upstream_token.py",
]
TRACING = ["src/{package}/tracing.py", "tests/test_tracing.py"]
METRICS = ["src/{package}/metrics.py", "tests/test_metrics.py"]
POSTGRES_TRACING = ["src/{package}/db_tracing.py", "tests/test_db_tracing.py"]
DOCKER = ["Dockerfile", ".dockerignore"]
KUBERNETES = [
    "deploy/kubernetes/autoscaler.yaml",
    "deploy/kubernetes/deployment.yaml",
    "deploy/kubernetes/disruption-budget.yaml",
    "deploy/kubernetes/kustomization.yaml",
    "deploy/kubernetes/service.yaml",
]
POSTGRES_KUBERNETES = [
    "deploy/kubernetes/migrate/job.yaml",
    "deploy/kubernetes/migrate/kustomization.yaml",
]
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
TEMPLATE_NAME = "cookiecutter-fastapi-async"
NEWEST_PYTHON = DEFAULTS["python_version"][-1]


def _files(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in project_files(project)}


@pytest.mark.parametrize("name", [combination_id(a) for a in COMBINATIONS])
def test_render_has_exactly_the_expected_files(
    renders: dict[str, tuple[dict[str, Any], Path]], name: str
) -> None:
    """The files every project has are there, and each option's only when it is on (those
    of the database or the jobs with the example, Docker or Kubernetes, only when both are)."""
    answers, project = renders[name]
    expected = ALWAYS + (EXAMPLE if answers["include_example_route"] else [])
    expected += (DOCKER if answers["docker"] else []) + CI[answers["ci"]]
    expected += KUBERNETES if answers["kubernetes"] else []
    expected += PRE_COMMIT if answers["pre_commit"] else []
    expected += (TRACING if answers["tracing"] else []) + (METRICS if answers["metrics"] else [])
    if answers["database"] == "postgres":
        expected += POSTGRES + (POSTGRES_EXAMPLE if answers["include_example_route"] else [])
        expected += POSTGRES_TRACING if answers["tracing"] else []
        expected += POSTGRES_KUBERNETES if answers["kubernetes"] else []
    if answers["jobs"]:
        expected += JOBS + (JOBS_KUBERNETES if answers["kubernetes"] else [])
        expected += JOBS_EXAMPLE if answers["include_example_route"] else []
        expected += JOBS_METRICS if answers["metrics"] else []
        expected += JOBS_TRACING if answers["tracing"] else []
        if answers["include_example_route"] and answers["database"] == "postgres":
            expected += JOBS_POSTGRES_EXAMPLE
    if answers["docker"] and (answers["database"] == "postgres" or answers["jobs"]):
        expected += COMPOSE
    expected += AUTH if answers["auth"] == "jwt" else []
    package = DEFAULTS["project_name"].lower().replace(" ", "_")
    assert _files(project) == {path.format(package=package) for path in expected}


@pytest.mark.parametrize("name", [combination_id(a) for a in COMBINATIONS])
def test_render_leaves_nothing_unrendered(
    renders: dict[str, tuple[dict[str, Any], Path]], name: str
) -> None:
    """No file keeps template syntax or mentions cookiecutter (GitHub's own `${{ x }}` aside,
    and the template's own name, which the project records with the release it follows)."""
    _, project = renders[name]
    leftovers = [
        f"{path.relative_to(project)}: {marker}"
        for path in project_files(project)
        for marker in UNRENDERED
        if marker in GITHUB_EXPRESSION.sub("", path.read_text("utf-8")).replace(TEMPLATE_NAME, "")
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


# One render of each database with each value of the example route.
DOCUMENTED = list(
    {(a["database"], a["include_example_route"]): combination_id(a) for a in COMBINATIONS}.values()
)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_setting_is_documented(
    renders: dict[str, tuple[dict[str, Any], Path]], name: str
) -> None:
    """Each field of Settings has its row in the README's Configure table and its line in
    .env.example, and neither lists a variable that does not exist."""
    _, project = renders[name]
    fields = settings_fields(project)
    assert {"port", "allowed_hosts", "max_header_bytes", "upstream_timeout"} <= fields
    variables = {f"MY_SERVICE_{field.upper()}" for field in fields}
    readme = (project / "README.md").read_text("utf-8")
    table = readme.split("## Configure", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| `(MY_SERVICE_[A-Z_]+)` \|", table, re.MULTILINE)) == variables
    example = (project / ".env.example").read_text("utf-8")
    assert set(re.findall(r"^(?:# )?(MY_SERVICE_[A-Z_]+)=", example, re.MULTILINE)) == variables


@pytest.mark.parametrize("name", DOCUMENTED)
def test_readme_testing_examples_are_the_tested_code(
    renders: dict[str, tuple[dict[str, Any], Path]], name: str
) -> None:
    """The README's override example is, word for word, a test the project runs; its way to
    point a test at another upstream is the one the example route's tests use."""
    answers, project = renders[name]
    readme = (project / "README.md").read_text("utf-8")
    override = readme.split("### Override a dependency", 1)[1].split("\n### ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", override, re.DOTALL)
    assert example in (project / "tests" / "test_overrides.py").read_text("utf-8")
    elsewhere = readme.split("### Point a test at another upstream", 1)[1].split("\n### ", 1)[0]
    (usage,) = re.findall(r"```python\n(.*?)\n", elsewhere)
    assert usage.startswith("async with serve(make_app(")
    if answers["include_example_route"]:
        assert usage in (project / "tests" / "test_items.py").read_text("utf-8")
