"""A project created with cruft follows the template: `cruft update` applies a new template
commit cleanly and `cruft check` agrees (slow tier)."""

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from .helpers import TEMPLATE, run

pytestmark = pytest.mark.slow

CRUFT = str(Path(sysconfig.get_path("scripts")) / "cruft")
README = "{{cookiecutter.project_slug}}/README.md"
OLD_LINE = "An async FastAPI service: one `aiohttp.ClientSession`"
NEW_LINE = "An async FastAPI service, kept up to date: one `aiohttp.ClientSession`"
AUTHOR = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]


def _git(cwd: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git is not None
    result = run([git, *AUTHOR, *args], cwd)
    assert result.returncode == 0, f"git {args}:\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def _template_files() -> list[str]:
    """The files of this checkout that git would commit: tracked, or new and not ignored."""
    listing = _git(TEMPLATE, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return [name for name in listing.split("\0") if name and (TEMPLATE / name).is_file()]


@pytest.fixture(name="template_repo")
def fixture_template_repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A throw-away git repository of the template at two commits: as it is, then with one
    line of the generated README changed."""
    repo = tmp_path / "template"
    for name in _template_files():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, target)
    _git(repo, "init", "--quiet")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", "first")
    first = _git(repo, "rev-parse", "HEAD")
    readme = repo / README
    text = readme.read_text("utf-8")
    assert OLD_LINE in text
    readme.write_text(text.replace(OLD_LINE, NEW_LINE), "utf-8")
    _git(repo, "commit", "--quiet", "--all", "-m", "second")
    return repo, first, _git(repo, "rev-parse", "HEAD")


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
    _git(project, "init", "--quiet")
    _git(project, "add", "--all")
    _git(project, "commit", "--quiet", "-m", "Create from the template")

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
    changed = _git(project, "status", "--porcelain").splitlines()
    assert sorted(line.split()[-1] for line in changed) == [".cruft.json", "README.md"]
    assert json.loads((project / ".cruft.json").read_text("utf-8"))["commit"] == second

    checked = _cruft(project, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "up to date" in checked.stdout
