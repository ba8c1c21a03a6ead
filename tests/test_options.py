"""The docker, ci, pre_commit and git_init options, checked with the real tools (fast tier).

Every rendered combination comes from the shared `renders` fixture: the full product of
python_version x license x include_example_route, with the values of docker, ci, pre_commit
and git_init spread across it so that every pair of values of any two options meets once.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.generate import generate_context, generate_files
from cookiecutter.prompt import prompt_for_config
from ruamel.yaml import YAML

from .conftest import Renders
from .helpers import DEFAULTS, MATRIX, SPREAD, TEMPLATE, bake, combinations, cookiecutter_cli

SCRIPTS = Path(sysconfig.get_path("scripts"))
PYTHONS = DEFAULTS["python_version"]
GITHUB_FILES = (".github/workflows/ci.yml", ".github/workflows/newest.yml")
# How the lint and test jobs install: from the lock once one is committed (run for real in
# tests/test_options_installed.py).
LOCKED_SYNC = "if [ -f uv.lock ]; then uv sync --locked; else uv sync; fi"


def _tool(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool installed beside this interpreter (the template's dev group)."""
    return subprocess.run(
        [str(SCRIPTS / name), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def _yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text("utf-8"))


def _with(renders: Renders, **wanted: Any) -> list[tuple[dict[str, Any], Path]]:
    """The renders whose answers include every `wanted` value."""
    found = [
        (answers, project)
        for answers, project in renders.values()
        if all(answers[key] == value for key, value in wanted.items())
    ]
    assert found, f"no render has {wanted}"
    return found


def _versions_from(minimum: str) -> list[str]:
    return [version for version in PYTHONS if version >= minimum]


def test_matrix_meets_every_pair_of_option_values() -> None:
    """Every value of every option is rendered, and every pair of values of two options meets.

    The full product of all eleven options would be 12,288 renders; the 32 of the first three,
    with the other eight spread across them, keep the fast tier fast and still meet each pair.
    """
    options = {**MATRIX, **SPREAD}
    rows = list(combinations())
    assert len(rows) == 32
    assert set(SPREAD) == {
        "database",
        "tracing",
        "metrics",
        "docker",
        "kubernetes",
        "ci",
        "pre_commit",
        "git_init",
    }
    assert SPREAD["database"] == ["none", "postgres"]
    assert SPREAD["ci"] == ["github", "gitlab", "none"]
    for first, second in itertools.combinations(options, 2):
        met = {(row[first], row[second]) for row in rows}
        wanted = set(itertools.product(options[first], options[second]))
        assert met == wanted, (first, second, wanted - met)


# docker


def test_dockerfile_is_hadolint_clean_for_every_python(renders: Renders, tmp_path: Path) -> None:
    """hadolint finds nothing, down to style, in the Dockerfile rendered for each Python."""
    dockerfiles = {}
    for version in PYTHONS:
        _, project = _with(renders, docker=True, python_version=version)[0]
        dockerfiles[version] = project / "Dockerfile"
    assert set(dockerfiles) == set(PYTHONS)
    result = _tool(
        "hadolint",
        "--no-color",
        "--failure-threshold",
        "style",
        "--disable-ignore-pragma",
        *map(str, dockerfiles.values()),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for version, path in dockerfiles.items():
        assert f"ARG PYTHON_VERSION={version}\n" in path.read_text("utf-8")


def test_hadolint_does_fail_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint above can fail: an unpinned base image running as root is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nCMD python app.py\n", "utf-8")
    result = _tool("hadolint", "--no-color", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "DL3006" in result.stdout


def test_dockerfile_builds_in_two_stages_and_serves_as_non_root(renders: Renders) -> None:
    """A slim build stage that installs with uv (from the lock when there is one), a slim
    final stage without build tools, a non-root user, a health check with urllib, and
    `python -m` so that every setting applies."""
    for answers, project in _with(renders, docker=True):
        text = (project / "Dockerfile").read_text("utf-8")
        froms = re.findall(r"^FROM (.+)$", text, re.MULTILINE)
        assert froms == ["python:${PYTHON_VERSION}-slim AS build", "python:${PYTHON_VERSION}-slim"]
        build, final = text.split("\nFROM ")[1:]
        assert "COPY pyproject.toml README.md LICENSE uv.lock* ./" in build
        assert "uv sync --locked --no-dev --no-editable" in build
        assert "COPY --from=build /opt/venv /opt/venv" in final
        for tool in ("pip install", "apt-get", "gcc", "build-essential", "curl", "uv "):
            assert tool not in final, tool
        user = re.findall(r"^USER (\S+)$", final, re.MULTILINE)
        assert len(user) == 1
        assert user[0].split(":")[0] not in {"0", "root"}
        health = re.search(r"^HEALTHCHECK .*\\\n\s+CMD (\[.*\])$", final, re.MULTILINE)
        assert health is not None
        assert json.loads(health.group(1))[:2] == ["python", "-c"]
        assert "urllib.request.urlopen('http://127.0.0.1:8000/health'" in health.group(1)
        command = re.search(r"^CMD (\[.*\])$", final, re.MULTILINE)
        assert command is not None
        assert json.loads(command.group(1)) == ["python", "-m", "my_service"]
        # Inside the container, as a container must.
        assert "    MY_SERVICE_HOST=0.0.0.0 \\\n    MY_SERVICE_PORT=8000\n" in final
        assert answers["docker"] is True


def test_dockerignore_keeps_secrets_environments_and_caches_out(renders: Renders) -> None:
    """The build context leaves out .env, .venv, .git and every cache."""
    for _, project in _with(renders, docker=True):
        ignored = set((project / ".dockerignore").read_text("utf-8").splitlines())
        for entry in (".env", ".venv/", ".git/", "**/__pycache__/", ".mypy_cache/"):
            assert entry in ignored
        assert {".pytest_cache/", ".ruff_cache/", ".uv-cache/"} <= ignored


# ci


def test_ci_files_are_valid_against_their_schemas(renders: Renders) -> None:
    """check-jsonschema's bundled schemas accept every rendered CI and dependabot file."""
    by_schema: dict[str, list[str]] = {
        "vendor.github-workflows": [],
        "vendor.dependabot": [],
        "vendor.gitlab-ci": [],
    }
    for _, project in _with(renders, ci="github"):
        by_schema["vendor.github-workflows"] += [str(project / name) for name in GITHUB_FILES]
        by_schema["vendor.dependabot"].append(str(project / ".github/dependabot.yml"))
    for _, project in _with(renders, ci="gitlab"):
        by_schema["vendor.gitlab-ci"].append(str(project / ".gitlab-ci.yml"))
    for schema, files in by_schema.items():
        assert files
        result = _tool("check-jsonschema", "--builtin-schema", schema, *files)
        assert result.returncode == 0, f"{schema}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    ("schema", "document"),
    [
        ("vendor.github-workflows", "on: push\njobs:\n  test:\n    steps: []\n"),
        ("vendor.dependabot", "version: 2\nupdates:\n  - package-ecosystem: uv\n"),
        ("vendor.gitlab-ci", "test:\n  script: 3\n  when: sometimes\n"),
    ],
)
def test_schema_check_does_fail_a_broken_file(tmp_path: Path, schema: str, document: str) -> None:
    """The schema checks above can fail: a file missing required keys is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text(document, "utf-8")
    result = _tool("check-jsonschema", "--builtin-schema", schema, str(broken))
    assert result.returncode == 1, result.stdout


def _run_lines(steps: list[dict[str, Any]]) -> list[str]:
    return [step["run"] for step in steps if "run" in step]


def test_github_ci_checks_each_python_from_the_chosen_one(renders: Renders) -> None:
    """ci.yml lints once and tests on each Python from the minimum to 3.14, all with uv."""
    for answers, project in _with(renders, ci="github"):
        workflow = _yaml(project / ".github/workflows/ci.yml")
        jobs = workflow["jobs"]
        matrix = jobs["test"]["strategy"]["matrix"]["python-version"]
        assert matrix == _versions_from(answers["python_version"])
        setup = [step for step in jobs["test"]["steps"] if "setup-uv" in step.get("uses", "")]
        assert setup[0]["with"]["python-version"] == "${{ matrix.python-version }}"
        assert _run_lines(jobs["lint"]["steps"]) == [
            LOCKED_SYNC,
            "uv run ruff check .",
            "uv run ruff format --check .",
            "uv run mypy",
        ]
        assert _run_lines(jobs["test"]["steps"]) == [LOCKED_SYNC, "uv run pytest"]
        assert "uv sync --resolution lowest-direct" in _run_lines(jobs["lowest"]["steps"])
        assert set(workflow["on"]) == {"push", "pull_request", "workflow_dispatch"}


def test_github_newest_runs_weekly_on_the_newest_releases(renders: Renders) -> None:
    """newest.yml is scheduled weekly and upgrades every dependency before testing."""
    for answers, project in _with(renders, ci="github"):
        workflow = _yaml(project / ".github/workflows/newest.yml")
        (cron,) = [entry["cron"] for entry in workflow["on"]["schedule"]]
        fields = cron.split()
        assert fields[2:4] == ["*", "*"]
        assert fields[4].isdigit()
        job = workflow["jobs"]["test"]
        versions = job["strategy"]["matrix"]["python-version"]
        assert versions == sorted({answers["python_version"], PYTHONS[-1]})
        runs = _run_lines(job["steps"])
        assert runs[0] == "uv sync --upgrade --resolution highest"
        assert "uv run --no-sync pytest" in runs


def test_dependabot_watches_python_packages_and_actions(renders: Renders) -> None:
    """dependabot.yml updates the uv-managed dependencies and the GitHub actions weekly."""
    for _, project in _with(renders, ci="github"):
        config = _yaml(project / ".github/dependabot.yml")
        ecosystems = {update["package-ecosystem"] for update in config["updates"]}
        assert ecosystems == {"uv", "github-actions"}
        assert {update["schedule"]["interval"] for update in config["updates"]} == {"weekly"}


def test_gitlab_ci_checks_each_python_and_the_newest_on_schedule(renders: Renders) -> None:
    """.gitlab-ci.yml mirrors the GitHub jobs; `newest` runs in scheduled pipelines only."""
    for answers, project in _with(renders, ci="gitlab"):
        config = _yaml(project / ".gitlab-ci.yml")
        minimum = answers["python_version"]
        assert config["default"]["image"] == f"ghcr.io/astral-sh/uv:python{minimum}-bookworm-slim"
        (matrix,) = config["test"]["parallel"]["matrix"]
        assert matrix["PYTHON"] == _versions_from(minimum)
        assert config["test"]["script"] == [LOCKED_SYNC, "uv run pytest"]
        assert config["lint"]["script"][0] == LOCKED_SYNC
        assert "uv run mypy" in config["lint"]["script"]
        assert "uv sync --resolution lowest-direct" in config["lowest"]["script"]
        assert config["newest"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
        assert config["newest"]["script"][0] == "uv sync --upgrade --resolution highest"
        for job in ("lint", "test", "lowest"):
            assert config[job]["rules"] == [{"if": '$CI_PIPELINE_SOURCE != "schedule"'}]


def test_ci_none_leaves_no_ci_files(renders: Renders) -> None:
    """With ci=none there is neither a .github folder nor a .gitlab-ci.yml."""
    for _, project in _with(renders, ci="none"):
        assert not (project / ".github").exists()
        assert not (project / ".gitlab-ci.yml").exists()


# pre_commit


def test_pre_commit_config_is_valid_and_runs_ruff_and_mypy(renders: Renders) -> None:
    """pre-commit accepts the config, whose hooks are ruff check, ruff format and mypy."""
    configs = [
        project / ".pre-commit-config.yaml" for _, project in _with(renders, pre_commit=True)
    ]
    result = _tool("pre-commit", "validate-config", *map(str, configs))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in configs:
        hooks = [hook for repo in _yaml(path)["repos"] for hook in repo["hooks"]]
        assert [hook["id"] for hook in hooks] == ["ruff-check", "ruff-format", "mypy"]
        assert [hook["entry"].split()[0] for hook in hooks] == [".venv/bin/ruff"] * 2 + [
            ".venv/bin/mypy"
        ]


def test_pre_commit_validation_does_fail_a_broken_config(tmp_path: Path) -> None:
    """The validation above can fail: a hook without an entry is refused."""
    broken = tmp_path / ".pre-commit-config.yaml"
    broken.write_text("repos:\n  - repo: local\n    hooks:\n      - id: x\n", "utf-8")
    result = _tool("pre-commit", "validate-config", str(broken))
    assert result.returncode != 0


# git_init


def _git(project: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git is not None
    result = subprocess.run([git, *args], cwd=project, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_git_init_makes_one_clean_commit_that_ignores_env(renders: Renders) -> None:
    """With git_init the project is a repository with one commit by the author, nothing left
    uncommitted, and a .env file would be ignored."""
    for answers, project in _with(renders, git_init=True):
        assert _git(project, "rev-list", "--count", "HEAD").strip() == "1"
        assert _git(project, "status", "--porcelain", "--untracked-files=all") == ""
        assert _git(project, "log", "-1", "--format=%an <%ae>").strip() == (
            f"{DEFAULTS['author_name']} <{DEFAULTS['author_email']}>"
        )
        assert _git(project, "check-ignore", ".env", ".venv/bin/python").split() == [
            ".env",
            ".venv/bin/python",
        ]
        tracked = set(_git(project, "ls-files").split())
        assert "pyproject.toml" in tracked
        assert ("Dockerfile" in tracked) is answers["docker"]


def test_without_git_init_there_is_no_repository(renders: Renders) -> None:
    """git_init off leaves no .git folder."""
    for _, project in _with(renders, git_init=False):
        assert not (project / ".git").exists()


def test_git_init_without_git_says_so_and_keeps_the_project(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    """When git is not on PATH the hook says so, and the project is still rendered."""
    empty = tmp_path / "no-tools"
    empty.mkdir()
    result = cookiecutter_cli(
        tmp_path / "out",
        cookiecutter_config,
        "git_init=true",
        env={**os.environ, "PATH": str(empty)},
    )
    assert result.returncode == 0, result.stderr
    assert "git_init: git was not found on PATH" in result.stderr
    project = tmp_path / "out" / "my-service"
    assert (project / "pyproject.toml").exists()
    assert not (project / ".git").exists()


def test_git_init_is_left_to_the_user_in_a_cruft_render(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Rendered the way cruft renders (its `_commit` in the context), git_init makes no
    repository, so cruft's re-renders for an update hold no .git to diff, and says so."""
    context = generate_context(
        context_file=str(TEMPLATE / "cookiecutter.json"), extra_context={"git_init": True}
    )
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
    context["cookiecutter"]["_commit"] = "0" * 40
    project = Path(
        generate_files(repo_dir=str(TEMPLATE), context=context, output_dir=str(tmp_path))
    )
    assert (project / "pyproject.toml").exists()
    assert not (project / ".git").exists()
    assert "git_init: skipped under cruft" in capfd.readouterr().err


# database


def test_compose_file_is_valid_and_migrates_before_serving(renders: Renders) -> None:
    """compose.yaml passes the compose-spec schema (offline), runs the migrations once with the
    package's own command after PostgreSQL is healthy, and starts the service after that."""
    found = [
        project / "compose.yaml" for _, project in _with(renders, database="postgres", docker=True)
    ]
    result = _tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", *map(str, found))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in found:
        services = _yaml(path)["services"]
        assert services["migrate"]["command"] == ["python", "-m", "my_service.migrate"]
        assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert services["app"]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
        url = services["app"]["environment"]["MY_SERVICE_DATABASE_URL"]
        assert url == services["migrate"]["environment"]["MY_SERVICE_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://")
        assert "@db:5432/" in url


def test_compose_schema_does_fail_a_bad_file(tmp_path: Path) -> None:
    """The compose check can fail: a service with an unknown key is refused."""
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  app:\n    image: x\n    restart_policy: always\n", "utf-8")
    result = _tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(bad))
    assert result.returncode == 1


def test_ci_runs_the_suite_against_a_postgres_container_with_the_database(
    renders: Renders,
) -> None:
    """With the database, CI adds a job on a PostgreSQL service container, reached through
    TEST_DATABASE_URL; without it, no such job."""
    for answers, project in _with(renders, ci="github"):
        jobs = _yaml(project / ".github/workflows/ci.yml")["jobs"]
        if answers["database"] == "none":
            assert "postgres" not in jobs
            continue
        job = jobs["postgres"]
        assert job["services"]["postgres"]["image"].startswith("postgres:")
        assert job["env"]["TEST_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert _run_lines(job["steps"]) == [LOCKED_SYNC, "uv run pytest -n 2"]
    for answers, project in _with(renders, ci="gitlab"):
        config = _yaml(project / ".gitlab-ci.yml")
        if answers["database"] == "none":
            assert "test-postgres" not in config
            continue
        job = config["test-postgres"]
        assert job["services"][0]["name"].startswith("postgres:")
        assert "@postgres:5432/" in job["variables"]["TEST_DATABASE_URL"]
        assert job["script"] == [LOCKED_SYNC, "uv run pytest -n 2"]


# README


@pytest.mark.parametrize(
    ("answers", "sections"),
    [
        ({"docker": True, "ci": "github", "pre_commit": True}, ["pre-commit", "Docker", "CI"]),
        (
            {"docker": True, "ci": "github", "pre_commit": False, "database": "postgres"},
            ["Database", "Docker", "CI"],
        ),
        ({"docker": False, "ci": "gitlab", "pre_commit": False}, ["CI"]),
        ({"docker": True, "ci": "none", "pre_commit": False}, ["Docker"]),
        (
            {"docker": False, "ci": "none", "pre_commit": False, "kubernetes": True},
            ["Kubernetes"],
        ),
        ({"docker": False, "ci": "none", "pre_commit": False}, []),
    ],
)
def test_readme_has_a_section_per_option_that_is_on(
    tmp_path: Path, cookiecutter_config: Path, answers: dict[str, Any], sections: list[str]
) -> None:
    """The README explains the database, Docker, Kubernetes, CI and pre-commit exactly when
    they are there."""
    project = bake(tmp_path, cookiecutter_config, **answers)
    readme = (project / "README.md").read_text("utf-8")
    headings = re.findall(r"^## (.+)$", readme, re.MULTILINE)
    found = [
        short
        for heading, short in (
            ("Database", "Database"),
            ("pre-commit", "pre-commit"),
            ("Docker", "Docker"),
            ("Kubernetes", "Kubernetes"),
            ("Continuous integration", "CI"),
        )
        if heading in headings
    ]
    assert found == sections
    assert re.findall(r"[^\n]\n## |\n\n\n## ", readme) == []
    if answers["ci"] == "gitlab":
        assert "`.gitlab-ci.yml`" in readme
        assert ".github" not in readme
