"""A project created with cruft follows the template: `cruft update` applies a new template
commit cleanly and `cruft check` agrees (slow tier)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import CRUFT, TEMPLATE, git, run, template_files

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
