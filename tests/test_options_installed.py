"""The docker and pre_commit options, run for real where this machine allows (slow tier).

No Docker engine is available here, so the image's recipe is replayed step by step, read from
the rendered Dockerfile: the build stage's COPY sources into a fresh build context, its ENV
and its RUN (uv from this machine standing in for uv's image), then the final stage's CMD and
HEALTHCHECK with the listening address moved to loopback.
"""

import os
import re
import shutil
import signal
import subprocess
import sysconfig
from pathlib import Path

import pytest

from .docker_replay import exec_form, replay_build, stage_env, stages
from .helpers import Service, bake, free_port, python_in, run, uv_executable

pytestmark = pytest.mark.slow

PRE_COMMIT = str(Path(sysconfig.get_path("scripts")) / "pre-commit")


@pytest.fixture(name="docker_project", scope="module")
def fixture_docker_project(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> Path:
    """The default project, as rendered: no uv.lock yet."""
    return bake(tmp_path_factory.mktemp("docker"), cookiecutter_config)


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


def test_ci_install_line_follows_the_lock_once_there_is_one(
    docker_project: Path, tmp_path: Path
) -> None:
    """The CI jobs' install line: without uv.lock it resolves and installs; with a lock that
    matches it installs from the lock unchanged; with a stale lock it fails the job."""
    ci = (docker_project / ".github/workflows/ci.yml").read_text("utf-8")
    line = re.search(r"- run: (if \[ -f uv\.lock \].*)$", ci, re.MULTILINE)
    assert line is not None
    project = tmp_path / "project"
    shutil.copytree(docker_project, project)
    path = f"{Path(uv_executable()).parent}{os.pathsep}{os.environ['PATH']}"

    def install() -> subprocess.CompletedProcess[str]:
        return run(["sh", "-c", line.group(1)], project, PATH=path)

    unlocked = install()
    assert unlocked.returncode == 0, unlocked.stderr
    lock = (project / "uv.lock").read_text("utf-8")
    relocked = install()
    assert relocked.returncode == 0, relocked.stderr
    assert (project / "uv.lock").read_text("utf-8") == lock
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text("utf-8")
    added = text.replace("dependencies = [\n", 'dependencies = [\n  "idna>=3",\n', 1)
    assert added != text
    pyproject.write_text(added, "utf-8")
    stale = install()
    assert stale.returncode != 0
    assert "--locked" in stale.stderr


@pytest.fixture(name="committed_project", scope="module")
def fixture_committed_project(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> Path:
    """A project rendered with pre_commit and git_init, its .venv synced by uv."""
    project = bake(
        tmp_path_factory.mktemp("pre-commit"), cookiecutter_config, pre_commit=True, git_init=True
    )
    result = run([uv_executable(), "sync", "--quiet"], project)
    assert result.returncode == 0, result.stderr
    return project


def _pre_commit(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [PRE_COMMIT, "run", "--all-files", "--color", "never"],
        project,
        PRE_COMMIT_HOME=str(home),
    )


def test_pre_commit_hooks_pass_on_the_rendered_project(
    committed_project: Path, tmp_path: Path
) -> None:
    """ruff check, ruff format and mypy, run by pre-commit from .venv, all pass."""
    result = _pre_commit(committed_project, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for hook in ("ruff check", "ruff format", "mypy"):
        assert re.search(rf"^{hook}\.+Passed$", result.stdout, re.MULTILINE), result.stdout


def test_pre_commit_hooks_catch_a_lint_and_a_type_error(
    committed_project: Path, tmp_path: Path
) -> None:
    """A file with an unused import and a wrong return type fails ruff and mypy."""
    package = committed_project / "src" / "my_service"
    bad = package / "zz_bad.py"
    bad.write_text('import os\n\n\ndef answer() -> int:\n    return "42"\n', "utf-8")
    git = shutil.which("git")
    assert git is not None
    try:
        run([git, "add", str(bad)], committed_project)
        result = _pre_commit(committed_project, tmp_path)
    finally:
        run([git, "rm", "--cached", "--quiet", str(bad)], committed_project)
        bad.unlink()
    assert result.returncode == 1
    assert re.search(r"^ruff check\.+Failed$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^mypy\.+Failed$", result.stdout, re.MULTILINE), result.stdout
    assert "F401" in result.stdout
    assert "Incompatible return value type" in result.stdout
