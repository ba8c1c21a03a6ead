"""The pre_commit option: the hook file validated by pre-commit (fast tier), and its hooks run
on a rendered repository (slow tier)."""

import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from ..conftest import Renders
from ..helpers import bake, run, uv_executable
from .common import load_yaml, renders_with, run_tool

PRE_COMMIT = str(Path(sysconfig.get_path("scripts")) / "pre-commit")


def test_pre_commit_config_is_valid_and_runs_ruff_and_mypy(renders: Renders) -> None:
    """pre-commit accepts the config, whose hooks are ruff check, ruff format and mypy."""
    configs = [
        project / ".pre-commit-config.yaml" for _, project in renders_with(renders, pre_commit=True)
    ]
    result = run_tool("pre-commit", "validate-config", *map(str, configs))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in configs:
        hooks = [hook for repo in load_yaml(path)["repos"] for hook in repo["hooks"]]
        assert [hook["id"] for hook in hooks] == ["ruff-check", "ruff-format", "mypy"]
        assert [hook["entry"].split()[0] for hook in hooks] == [".venv/bin/ruff"] * 2 + [
            ".venv/bin/mypy"
        ]


def test_pre_commit_validation_does_fail_a_broken_config(tmp_path: Path) -> None:
    """The validation above can fail: a hook without an entry is refused."""
    broken = tmp_path / ".pre-commit-config.yaml"
    broken.write_text("repos:\n  - repo: local\n    hooks:\n      - id: x\n", "utf-8")
    result = run_tool("pre-commit", "validate-config", str(broken))
    assert result.returncode != 0


# slow tier: the hooks, run


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


@pytest.mark.slow
def test_pre_commit_hooks_pass_on_the_rendered_project(
    committed_project: Path, tmp_path: Path
) -> None:
    """ruff check, ruff format and mypy, run by pre-commit from .venv, all pass."""
    result = _pre_commit(committed_project, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for hook in ("ruff check", "ruff format", "mypy"):
        assert re.search(rf"^{hook}\.+Passed$", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.slow
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
