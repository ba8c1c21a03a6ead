"""A project someone has built on follows the template from a release to this tree (slow
tier). Created with cruft at the release before this tree, or at the first one (CHANGELOG.md
records them), changed as a user would (tests/customised.py) and committed, then updated with
`cruft update`: the user's work comes through, nothing conflicts but the files pinned here,
and after the "Upgrading" notes' steps the suite, ruff and mypy pass."""

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from ..customised import check_intact, customise, touched
from ..helpers import (
    CRUFT,
    TEMPLATE,
    assert_lint_and_types_clean,
    git,
    python_in,
    run,
    template_files,
    uv_executable,
)
from ..options.common import run_suite
from ..releases import Release, previous_release, releases, rendered_version, unreleased_upgrading

pytestmark = pytest.mark.slow

RENDERS = {"default": {}, "postgres": {"database": "postgres"}}
# Where each update starts: the release before this tree (both renders), and the first
# release, every release's notes at once (the default render).
STARTS = [("previous", "default"), ("previous", "postgres"), ("first", "default")]
# Files an update leaves in conflict, for each start and render: lines that both the user
# (tests/customised.py) and the template changed. The "Upgrading" notes name each one and
# say how to resolve it.
CONFLICTS: dict[tuple[str, str], set[str]] = {start: set() for start in STARTS}


class TemplateRepo(NamedTuple):
    path: Path
    head: str
    cookiecutter_config: Path


@pytest.fixture(name="template_repo", scope="module")
def fixture_template_repo(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> TemplateRepo:
    """A clone of the template's history with this checkout's files committed on top (what
    an update to this tree brings), that commit, and the cookiecutter config to render with."""
    repo = tmp_path_factory.mktemp("upgrade") / "template"
    git(TEMPLATE, "clone", "--quiet", "--no-hardlinks", str(TEMPLATE), str(repo))
    for tracked in git(repo, "ls-files", "-z").split("\0"):
        if tracked:
            (repo / tracked).unlink()
    for name in template_files():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, target)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "This tree")
    return TemplateRepo(repo, git(repo, "rev-parse", "HEAD"), cookiecutter_config)


def _notes_since(release: Release) -> str:
    """The "Upgrading" notes of every release after `release`, and of Unreleased."""
    newer = [r.upgrading for r in releases() if r.version > release.version]
    return "\n".join([unreleased_upgrading(), *newer])


def _conflicts(project: Path) -> set[str]:
    """Files git left unmerged, and any cruft left as .rej files."""
    status = git(project, "status", "--porcelain", "--untracked-files=all").splitlines()
    unmerged = {line[3:] for line in status if line[:2] in {"UU", "AA", "DU", "UD", "AU", "UA"}}
    rejected = {str(path.relative_to(project)) for path in project.rglob("*.rej")}
    return unmerged | rejected


def _start(name: str) -> Release:
    release = previous_release() if name == "previous" else releases()[-1]
    assert release.commit is not None
    return release


@pytest.mark.parametrize("case", STARTS, ids=["-".join(s) for s in STARTS])
def test_customised_project_updates_to_this_tree(
    case: tuple[str, str],
    template_repo: TemplateRepo,
    tmp_path: Path,
    postgres_home: Path,
    mypy_cache: Path,
) -> None:
    """Rendered at a release, built on, committed and updated to this tree."""
    start, render = case
    repo, head, cookiecutter_config = template_repo
    previous = _start(start)
    assert previous.commit is not None
    database = render == "postgres"
    root = postgres_home / f"upgrade-{start}" if database else tmp_path
    created = run(
        [
            CRUFT,
            "create",
            str(repo),
            "--checkout",
            previous.commit,
            "--no-input",
            "--config-file",
            str(cookiecutter_config),
            "--output-dir",
            str(root),
            "--extra-context",
            json.dumps(RENDERS[render]),
        ],
        tmp_path,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    project = root / "my-service"
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", f"Create from the template, {previous.version}")
    customise(project, database)
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "Orders")

    updated = run([CRUFT, "update", "--skip-apply-ask", "--checkout", head], project)
    assert updated.returncode == 0, updated.stdout + updated.stderr

    conflicts = _conflicts(project)
    assert conflicts <= touched(database), "a file the user never touched is in conflict"
    assert conflicts == CONFLICTS[case]
    notes = _notes_since(previous)
    for name in conflicts:
        assert name in notes, f"the Upgrading notes since {previous.version} do not name {name}"
    check_intact(project, database)
    assert json.loads((project / ".cruft.json").read_text("utf-8"))["commit"] == head
    pyproject = (project / "pyproject.toml").read_text("utf-8")
    assert rendered_version(pyproject) == str(releases()[0].version)

    synced = run([uv_executable(), "sync", "--quiet"], project)
    assert synced.returncode == 0, synced.stderr
    collected = run(
        [str(python_in(project / ".venv")), "-m", "pytest", "--collect-only", "-q"], project
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "tests/test_orders.py::test_page_size_is_a_setting" in collected.stdout
    status, output, counts = run_suite(project)
    assert status == 0, output
    assert counts == {"passed": collected.stdout.count("::")}
    assert_lint_and_types_clean(project, mypy_cache)
    checked = run([CRUFT, "check"], project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
