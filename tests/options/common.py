"""What the option modules share: the tools beside this interpreter, and the renders to read."""

import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ..conftest import Renders
from ..helpers import DEFAULTS, bake, pytest_counts, python_in, run, uv_executable

SCRIPTS = Path(sysconfig.get_path("scripts"))
PYTHONS = DEFAULTS["python_version"]
# How the lint and test jobs install: from the lock once one is committed (run for real in
# test_ci.py's slow test).
LOCKED_SYNC = "if [ -f uv.lock ]; then uv sync --locked; else uv sync; fi"


def run_tool(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool installed beside this interpreter (the template's dev group)."""
    return subprocess.run(
        [str(SCRIPTS / name), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text("utf-8"))


def renders_with(renders: Renders, **wanted: Any) -> list[tuple[dict[str, Any], Path]]:
    """The renders whose answers include every `wanted` value."""
    found = [
        (answers, project)
        for answers, project in renders.values()
        if all(answers[key] == value for key, value in wanted.items())
    ]
    assert found, f"no render has {wanted}"
    return found


def run_lines(steps: list[dict[str, Any]]) -> list[str]:
    return [step["run"] for step in steps if "run" in step]


def installed_with_randomly(root: Path, config: Path, **answers: Any) -> Path:
    """A project rendered with `answers` in `root`, installed with uv, and pytest-randomly
    beside it."""
    project = bake(root, config, **answers)
    python = str(python_in(project / ".venv"))
    for command in (
        [uv_executable(), "sync", "--quiet"],
        [uv_executable(), "pip", "install", "--quiet", "--python", python, "pytest-randomly"],
    ):
        result = run(command, project)
        assert result.returncode == 0, result.stderr
    return project


def run_suite(project: Path, *args: str, **env: str) -> tuple[int, str, dict[str, int]]:
    """The generated suite under PYTHONDEVMODE, warnings as errors: exit status, output,
    summary counts."""
    python = str(python_in(project / ".venv"))
    result = run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", *args],
        project,
        PYTHONDEVMODE="1",
        **env,
    )
    return result.returncode, result.stdout + result.stderr, pytest_counts(result.stdout)
