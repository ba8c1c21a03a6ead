"""The template's releases: CHANGELOG.md lists semantic versions, newest first, each with the
commit a project can be updated to and the steps an update leaves to the user; the tree and
every project it renders name the newest release."""

import re

import pytest
from packaging.version import Version

from .helpers import TEMPLATE
from .releases import (
    RENDERED_PYPROJECT,
    git,
    previous_release,
    releases,
    rendered_version,
    sections,
    unreleased_upgrading,
)

# The first release whose renders record their version (in pyproject.toml's tool table).
FIRST_RECORDED = Version("0.3.0")

CHANGELOG_SAMPLE = """\
# Changelog

## [Unreleased]

## [1.1.0] - 2027-01-02

Template commit: `{commit}`

### Upgrading from 1.0.0

1. Commit, then update.

### Added

- Something.

## [1.0.0] - 2027-01-01

### Added

- The first.
"""


def _is_shallow() -> bool:
    return git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"


def test_changelog_is_read_as_written() -> None:
    """The reader finds each release's version, date, commit and parts, and the Unreleased
    section on its own."""
    text = CHANGELOG_SAMPLE.format(commit="a" * 40)
    newer, older = releases(text)
    assert (newer.version, newer.date, newer.commit) == (Version("1.1.0"), "2027-01-02", "a" * 40)
    assert newer.upgrading == "1. Commit, then update."
    assert list(newer.parts) == ["Upgrading from 1.0.0", "Added"]
    assert (older.commit, older.upgrading) == (None, "")
    assert [name for name, _, _ in sections(text)] == ["Unreleased", "1.1.0", "1.0.0"]
    assert unreleased_upgrading(text) == ""


def test_changelog_lists_semantic_versions_newest_first() -> None:
    """Unreleased comes first; then each release as `## [X.Y.Z] - YYYY-MM-DD`, versions and
    dates going down."""
    text = (TEMPLATE / "CHANGELOG.md").read_text("utf-8")
    names = [name for name, _, _ in sections(text)]
    assert names[0] == "Unreleased"
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", name) for name in names[1:]), names
    listed = releases()
    assert len(listed) >= 2
    assert [r.version for r in listed] == sorted({r.version for r in listed}, reverse=True)
    assert [r.date for r in listed] == sorted((r.date for r in listed), reverse=True)


def test_every_release_has_upgrading_steps_and_a_commit() -> None:
    """Each release says, in numbered steps, what an update from the one before leaves to the
    user, and records the template commit `cruft update --checkout` can name."""
    for release in releases():
        assert release.commit is not None, f"{release.version} records no template commit"
        steps = re.findall(r"^\d+\. ", release.upgrading, re.M)
        assert len(steps) >= 2, f"{release.version} has no Upgrading steps"
        assert "cruft update" in release.upgrading


def test_release_commits_are_in_the_history() -> None:
    """Every recorded commit is in this clone's history, and a `v<version>` tag, where the
    clone has one, points at it."""
    if _is_shallow():
        pytest.skip("a shallow clone holds no release commits; clone the whole history")
    for release in releases():
        assert release.commit is not None
        found = git("cat-file", "-t", release.commit)
        assert found.stdout.strip() == "commit", f"{release.version}: {release.commit} unknown"
        tag = git("rev-parse", "--verify", "--quiet", f"v{release.version}^{{commit}}")
        if tag.returncode == 0:
            assert tag.stdout.strip() == release.commit, f"tag v{release.version} moved"


def test_each_release_renders_its_own_version() -> None:
    """A project rendered at a release's commit records that release; releases before the
    record began record nothing."""
    if _is_shallow():
        pytest.skip("a shallow clone holds no release commits; clone the whole history")
    for release in releases():
        shown = git("show", f"{release.commit}:{RENDERED_PYPROJECT}")
        assert shown.returncode == 0, shown.stderr
        recorded = rendered_version(shown.stdout)
        expected = str(release.version) if release.version >= FIRST_RECORDED else None
        assert recorded == expected, f"{release.version} renders {recorded}"


def test_tree_names_the_newest_release() -> None:
    """The template's own version and the one its renders record are the newest release's."""
    newest = str(releases()[0].version)
    rendered = (TEMPLATE / RENDERED_PYPROJECT).read_text("utf-8")
    assert rendered_version(rendered) == newest
    project = (TEMPLATE / "pyproject.toml").read_text("utf-8")
    assert f'\nversion = "{newest}"\n' in project


def test_previous_release_is_the_newest_that_differs_from_the_tree() -> None:
    """What the upgrade test renders first: a release, whose template is not this tree's."""
    if _is_shallow():
        pytest.skip("a shallow clone holds no release commits; clone the whole history")
    previous = previous_release()
    assert previous.commit is not None
    changed = git("diff", "--name-only", previous.commit, "--", "{{cookiecutter.project_slug}}")
    assert changed.stdout.strip()
