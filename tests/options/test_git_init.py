"""The git_init option: one clean commit by the author, and the cases where the hook leaves
the repository to the user (fast tier)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cookiecutter.generate import generate_context, generate_files
from cookiecutter.prompt import prompt_for_config

from ..conftest import Renders
from ..helpers import DEFAULTS, TEMPLATE, cookiecutter_cli
from .common import renders_with


def _git(project: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git is not None
    result = subprocess.run([git, *args], cwd=project, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_git_init_makes_one_clean_commit_that_ignores_env(renders: Renders) -> None:
    """With git_init the project is a repository with one commit by the author, nothing left
    uncommitted, and a .env file would be ignored."""
    for answers, project in renders_with(renders, git_init=True):
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
    for _, project in renders_with(renders, git_init=False):
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
