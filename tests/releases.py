"""The template's releases as CHANGELOG.md records them, and the version a render records.

`python -m tests.releases tag` creates the missing `v<version>` tags from the recorded commits
(the CHANGELOG, not the tags, is the record: a clone may come without tags).
"""

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from .helpers import TEMPLATE

CHANGELOG = TEMPLATE / "CHANGELOG.md"
RENDERED_PYPROJECT = "{{cookiecutter.project_slug}}/pyproject.toml"
# What a render is made of: a release's "template" is these paths at its commit.
TEMPLATE_PATHS = ("cookiecutter.json", "hooks", "{{cookiecutter.project_slug}}")

_HEADING = re.compile(r"^## \[(?P<name>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?$", re.M)
_COMMIT = re.compile(r"^Template commit: `(?P<commit>[0-9a-f]{40})`", re.M)
_PART = re.compile(r"^### (?P<title>.+)$", re.M)
_TOOL_VERSION = re.compile(
    r'^\[tool\.cookiecutter-fastapi-async\]\nversion = "(?P<version>[^"]+)"$', re.M
)


@dataclass(frozen=True)
class Release:
    version: Version
    date: str
    commit: str | None
    parts: dict[str, str]

    @property
    def upgrading(self) -> str:
        """The text of its "Upgrading" part ("" when there is none)."""
        return _upgrading(self.parts)


def _parts(body: str) -> dict[str, str]:
    headings = list(_PART.finditer(body))
    return {
        heading.group("title"): body[
            heading.end() : headings[i + 1].start() if i + 1 < len(headings) else len(body)
        ].strip()
        for i, heading in enumerate(headings)
    }


def _upgrading(parts: dict[str, str]) -> str:
    return next((text for title, text in parts.items() if title.startswith("Upgrading")), "")


def sections(text: str) -> list[tuple[str, str | None, str]]:
    """Each `## [...]` section: its name, its date (None for Unreleased) and its body."""
    headings = list(_HEADING.finditer(text))
    return [
        (
            heading.group("name"),
            heading.group("date"),
            text[heading.end() : headings[i + 1].start() if i + 1 < len(headings) else len(text)],
        )
        for i, heading in enumerate(headings)
    ]


def releases(text: str | None = None) -> list[Release]:
    """The released versions, newest first, as the CHANGELOG lists them."""
    found = []
    for name, date, body in sections(CHANGELOG.read_text("utf-8") if text is None else text):
        if name == "Unreleased":
            continue
        commit = _COMMIT.search(body)
        found.append(
            Release(
                version=Version(name),
                date=date or "",
                commit=commit.group("commit") if commit else None,
                parts=_parts(body),
            )
        )
    return found


def unreleased_upgrading(text: str | None = None) -> str:
    """The "Upgrading" part of the Unreleased section, if it has one."""
    for name, _, body in sections(CHANGELOG.read_text("utf-8") if text is None else text):
        if name == "Unreleased":
            return _upgrading(_parts(body))
    return ""


def rendered_version(pyproject_text: str) -> str | None:
    """The template version a (template or rendered) pyproject.toml records, if any."""
    found = _TOOL_VERSION.search(pyproject_text)
    return found.group("version") if found else None


def git(*args: str, cwd: Path = TEMPLATE) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("git")
    assert executable is not None, "git is needed"
    return subprocess.run([executable, *args], cwd=cwd, capture_output=True, text=True, check=False)


def same_template(commit: str) -> bool:
    """Whether the template at `commit` renders what this working tree renders."""
    untracked = git("ls-files", "--others", "--exclude-standard", "--", *TEMPLATE_PATHS)
    changed = git("diff", "--quiet", commit, "--", *TEMPLATE_PATHS).returncode != 0
    return not changed and not untracked.stdout.strip()


def previous_release() -> Release:
    """The newest release whose template differs from this tree's: what a project made
    before this tree was made from."""
    for release in releases():
        # One not released yet has no commit to render (the fast tier's test asks for one).
        if release.commit is not None and not same_template(release.commit):
            return release
    raise AssertionError("no release differs from this tree")


def tag_releases() -> list[str]:
    """Create each missing `v<version>` tag at its recorded commit; the lines to print."""
    lines = []
    for release in releases():
        if release.commit is None:
            lines.append(f"v{release.version}: no commit recorded yet")
            continue
        name = f"v{release.version}"
        existing = git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        if existing.returncode == 0:
            state = "kept" if existing.stdout.strip() == release.commit else "DIFFERS"
            lines.append(f"{name}: {state} ({existing.stdout.strip()[:12]})")
            continue
        made = git("tag", "-a", name, release.commit, "-m", f"cookiecutter-fastapi-async {name}")
        lines.append(f"{name}: {'tagged' if made.returncode == 0 else made.stderr.strip()}")
    return lines


if __name__ == "__main__":
    if sys.argv[1:] != ["tag"]:
        sys.exit("usage: python -m tests.releases tag")
    for line in tag_releases():
        print(line)  # noqa: T201 - a command's output
