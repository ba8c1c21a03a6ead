"""A project created with cruft follows the template: `cruft update` applies a new template
commit cleanly and `cruft check` agrees (slow tier)."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from .helpers import CRUFT, TEMPLATE, bake, git, run, template_files
from .options.test_ci import github_template_script, gitlab_template_script

pytestmark = pytest.mark.slow

README = "{{cookiecutter.project_slug}}/README.md"
OLD_LINE = "An async FastAPI service: one `aiohttp.ClientSession`"
NEW_LINE = "An async FastAPI service, kept up to date: one `aiohttp.ClientSession`"


@pytest.fixture(name="template_repo")
def fixture_template_repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A throw-away git repository of the template at two commits: as it is, then with one
    line of the generated README changed."""
    repo = tmp_path / "template"
    for name in template_files():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, target)
    git(repo, "init", "--quiet")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "first")
    first = git(repo, "rev-parse", "HEAD")
    readme = repo / README
    text = readme.read_text("utf-8")
    assert OLD_LINE in text
    readme.write_text(text.replace(OLD_LINE, NEW_LINE), "utf-8")
    git(repo, "commit", "--quiet", "--all", "-m", "second")
    return repo, first, git(repo, "rev-parse", "HEAD")


def _cruft(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([CRUFT, *args], cwd)


def _ci_template_jobs(
    project: Path, gitlab_script: list[str], tmp_path: Path
) -> tuple[CompletedProcess[str], CompletedProcess[str]]:
    """The generated CI's `template` job run in `project`, as GitHub Actions runs it (bash
    -e) and as GitLab runs it (each line, stopping at the first that fails), with `uvx`
    standing for the cruft installed here."""
    shims = tmp_path / "shims"
    shims.mkdir(exist_ok=True)
    uvx = shims / "uvx"
    # uvx --from <requirement> cruft check -> <this environment's>/cruft check
    uvx.write_text(f'#!/bin/sh\nshift 3\nexec "{CRUFT}" "$@"\n', "utf-8")
    uvx.chmod(0o755)
    path = f"{shims}{os.pathsep}{os.environ['PATH']}"
    github = run(["bash", "-e", "-c", github_template_script(project)], project, PATH=path)
    lines = " && ".join(gitlab_script)
    gitlab = run(["sh", "-e", "-c", lines], project, PATH=path)
    return github, gitlab


def test_cruft_create_update_and_check(
    tmp_path: Path, cookiecutter_config: Path, template_repo: tuple[Path, str, str]
) -> None:
    """Created at the first commit, then updated to the second: the README line changes,
    nothing conflicts, .cruft.json records the second commit and `cruft check` passes."""
    repo, first, second = template_repo
    out = tmp_path / "out"
    created = _cruft(
        tmp_path,
        "create",
        str(repo),
        "--checkout",
        first,
        "--no-input",
        "--config-file",
        str(cookiecutter_config),
        "--output-dir",
        str(out),
        "--extra-context",
        json.dumps({"git_init": True}),
    )
    assert created.returncode == 0, created.stdout + created.stderr
    project = out / "my-service"
    assert json.loads((project / ".cruft.json").read_text("utf-8"))["commit"] == first
    # cruft renders the template again for each update, so git_init leaves the repository
    # to the user rather than creating one in every re-render.
    assert "git_init: skipped under cruft" in created.stderr
    assert not (project / ".git").exists()
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "Create from the template")

    outdated = _cruft(project, "check")
    assert outdated.returncode == 1
    assert "out of date" in outdated.stdout
    # The generated CI's job: a warning on GitHub, a failure GitLab allows.
    gitlab_script = gitlab_template_script(
        bake(tmp_path / "gitlab", cookiecutter_config, ci="gitlab")
    )
    github, gitlab = _ci_template_jobs(project, gitlab_script, tmp_path)
    assert github.returncode == 0, github.stderr
    assert "out of date" in github.stdout
    assert "::warning title=Template::" in github.stdout
    assert gitlab.returncode == 1

    updated = _cruft(project, "update", "--skip-apply-ask", "--checkout", second)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "has been updated" in updated.stdout
    assert list(project.rglob("*.rej")) == []
    readme = (project / "README.md").read_text("utf-8")
    assert NEW_LINE in readme
    assert OLD_LINE not in readme
    changed = git(project, "status", "--porcelain").splitlines()
    assert sorted(line.split()[-1] for line in changed) == [".cruft.json", "README.md"]
    assert json.loads((project / ".cruft.json").read_text("utf-8"))["commit"] == second

    checked = _cruft(project, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "up to date" in checked.stdout
    git(project, "commit", "--quiet", "--all", "-m", "Follow the template")
    github, gitlab = _ci_template_jobs(project, gitlab_script, tmp_path)
    assert (github.returncode, gitlab.returncode) == (0, 0), github.stderr + gitlab.stderr
    assert "up to date" in github.stdout
    assert "::warning" not in github.stdout
