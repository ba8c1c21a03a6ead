"""The docker option: the Dockerfile and .dockerignore checked with hadolint and read (fast
tier), and the image's recipe run for real where this machine allows (slow tier).

No Docker engine is available here, so the image's recipe is replayed step by step, read from
the rendered Dockerfile: the build stage's COPY sources into a fresh build context, its ENV
and its RUN (uv from this machine standing in for uv's image), then the final stage's CMD and
HEALTHCHECK with the listening address moved to loopback.
"""

import json
import re
import shutil
import signal
from pathlib import Path

import pytest

from ..conftest import Renders
from ..docker_replay import exec_form, replay_build, stage_env, stages
from ..helpers import Service, bake, free_port, python_in, run, uv_executable
from .common import PYTHONS, renders_with, run_tool


def test_dockerfile_is_hadolint_clean_for_every_python(renders: Renders, tmp_path: Path) -> None:
    """hadolint finds nothing, down to style, in the Dockerfile rendered for each Python."""
    dockerfiles = {}
    for version in PYTHONS:
        _, project = renders_with(renders, docker=True, python_version=version)[0]
        dockerfiles[version] = project / "Dockerfile"
    assert set(dockerfiles) == set(PYTHONS)
    result = run_tool(
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
    result = run_tool("hadolint", "--no-color", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "DL3006" in result.stdout


def test_dockerfile_builds_in_two_stages_and_serves_as_non_root(renders: Renders) -> None:
    """A slim build stage that installs with uv (from the lock when there is one), a slim
    final stage without build tools, a non-root user, a health check with urllib, and
    `python -m` so that every setting applies."""
    for answers, project in renders_with(renders, docker=True):
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
    for _, project in renders_with(renders, docker=True):
        ignored = set((project / ".dockerignore").read_text("utf-8").splitlines())
        for entry in (".env", ".venv/", ".git/", "**/__pycache__/", ".mypy_cache/"):
            assert entry in ignored
        assert {".pytest_cache/", ".ruff_cache/", ".uv-cache/"} <= ignored


# slow tier: the image's recipe, replayed


@pytest.fixture(name="docker_project", scope="module")
def fixture_docker_project(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> Path:
    """The default project, as rendered: no uv.lock yet."""
    return bake(tmp_path_factory.mktemp("docker"), cookiecutter_config)


@pytest.mark.slow
@pytest.mark.parametrize("lock", ["without uv.lock", "with uv.lock"])
def test_image_recipe_serves_and_its_health_check_passes(
    docker_project: Path, tmp_path: Path, lock: str
) -> None:
    """The build stage installs the project (from the lock when there is one); the final
    stage's CMD serves it from that virtualenv alone, and the HEALTHCHECK passes against it,
    then fails once it is stopped."""
    project = tmp_path / "project"
    shutil.copytree(docker_project, project)
    if lock == "with uv.lock":
        locked = run([uv_executable(), "lock", "--quiet"], project)
        assert locked.returncode == 0, locked.stderr
    built, venv = replay_build(project, tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (project / "uv.lock").exists() == (lock == "with uv.lock")
    bin_dir = python_in(venv).parent
    for absent in ("pip", "uv", "pytest", "mypy"):
        assert not (bin_dir / absent).exists(), absent
    _, final = stages((project / "Dockerfile").read_text("utf-8"))
    env = stage_env(final)
    assert (env["MY_SERVICE_HOST"], env["MY_SERVICE_PORT"]) == ("0.0.0.0", "8000")  # noqa: S104
    port = str(free_port())
    env.update(MY_SERVICE_HOST="127.0.0.1", MY_SERVICE_PORT=port)
    env["PATH"] = env["PATH"].replace("/opt/venv/bin", str(bin_dir))
    command = exec_form(final, "CMD")
    assert command == ["python", "-m", "my_service"]
    health = exec_form(final, "HEALTHCHECK")
    health[-1] = health[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    service = Service(command, tmp_path, **env)
    try:
        assert service.get(f"http://127.0.0.1:{port}/health", timeout=120)[0] == 200
        healthy = run(health, tmp_path, PATH=env["PATH"])
    finally:
        code = service.stop(signal.SIGTERM)
    assert healthy.returncode == 0, healthy.stderr
    assert code == -signal.SIGTERM, service.output
    assert "Traceback" not in service.output
    unhealthy = run(health, tmp_path, PATH=env["PATH"])
    assert unhealthy.returncode == 1
    assert "Connection refused" in unhealthy.stderr


@pytest.mark.slow
def test_image_build_stops_on_a_stale_lock(docker_project: Path, tmp_path: Path) -> None:
    """A uv.lock that no longer matches pyproject.toml fails the build instead of being
    quietly re-resolved."""
    project = tmp_path / "project"
    shutil.copytree(docker_project, project)
    locked = run([uv_executable(), "lock", "--quiet"], project)
    assert locked.returncode == 0, locked.stderr
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text("utf-8")
    added = text.replace("dependencies = [\n", 'dependencies = [\n  "idna>=3",\n', 1)
    assert added != text
    pyproject.write_text(added, "utf-8")
    built, _ = replay_build(project, tmp_path)
    assert built.returncode != 0
    assert "--locked" in built.stderr
