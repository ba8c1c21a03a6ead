"""The docker and pre_commit options, run for real where this machine allows (slow tier).

No Docker engine is available here, so the image's recipe is replayed step by step: the build
stage's pip install into a virtualenv without pip, then the final stage's CMD and HEALTHCHECK,
read from the rendered Dockerfile, with the listening address moved to loopback.
"""

import json
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .helpers import Service, bake, free_port, python_in, run, uv_executable

pytestmark = pytest.mark.slow

PRE_COMMIT = str(Path(sysconfig.get_path("scripts")) / "pre-commit")


def _exec_form(dockerfile: str, instruction: str) -> list[str]:
    """The JSON (exec form) arguments of the final stage's CMD, or of HEALTHCHECK's CMD."""
    final = dockerfile.rsplit("\nFROM ", maxsplit=1)[-1]
    pattern = r"^CMD (\[.*\])$" if instruction == "CMD" else r"^HEALTHCHECK .*\\\n\s+CMD (\[.*\])$"
    match = re.search(pattern, final, re.MULTILINE)
    assert match is not None, instruction
    arguments: list[str] = json.loads(match.group(1))
    return arguments


@pytest.fixture(name="image", scope="module")
def fixture_image(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> tuple[Path, Path]:
    """The default project, and a virtualenv built the way the Dockerfile's build stage does."""
    root = tmp_path_factory.mktemp("image")
    project = bake(root, cookiecutter_config)
    dockerfile = (project / "Dockerfile").read_text("utf-8")
    assert "RUN python -m venv --without-pip /opt/venv\n" in dockerfile
    assert "RUN python -m pip --python /opt/venv/bin/python install --no-compile .\n" in dockerfile
    builder, venv = root / "builder", root / "opt-venv"
    for command in (
        [sys.executable, "-m", "venv", str(builder)],
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        [
            str(python_in(builder)),
            "-m",
            "pip",
            "--python",
            str(python_in(venv)),
            "install",
            "--quiet",
            "--no-compile",
            ".",
        ],
    ):
        result = run(command, project)
        assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    return project, venv


def test_image_recipe_serves_and_its_health_check_passes(
    image: tuple[Path, Path], tmp_path: Path
) -> None:
    """The final stage's CMD serves the app from the virtualenv alone (no pip in it), and the
    HEALTHCHECK command succeeds against it, then fails once it is stopped."""
    project, venv = image
    dockerfile = (project / "Dockerfile").read_text("utf-8")
    bin_dir = python_in(venv).parent
    assert not (bin_dir / "pip").exists()
    port = str(free_port())
    command = _exec_form(dockerfile, "CMD")
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - only checked
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = port
    command[0] = str(bin_dir / command[0])
    health = _exec_form(dockerfile, "HEALTHCHECK")
    health[0] = str(bin_dir / health[0])
    health[-1] = health[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    service = Service(command, tmp_path)
    try:
        assert service.get(f"http://127.0.0.1:{port}/health", timeout=30)[0] == 200
        healthy = run(health, tmp_path)
    finally:
        code = service.stop(signal.SIGTERM)
    assert healthy.returncode == 0, healthy.stderr
    assert code == -signal.SIGTERM, service.output
    assert "Traceback" not in service.output
    unhealthy = run(health, tmp_path)
    assert unhealthy.returncode == 1
    assert "Connection refused" in unhealthy.stderr


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
