"""Shape the rendered project to the answers, optionally set it up, and say what to do next.

Runs inside the new project folder. A failure here never exits non-zero: cookiecutter would
delete the project, and a set-up that failed is better fixed in a project that still exists.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CONTEXT_JSON = r"""{{ cookiecutter | tojson }}"""

# What each boolean option takes away when it is off, files or folders; {package} is the
# import name. A folder left empty by that goes too.
PRUNED_WHEN_OFF: Mapping[str, Sequence[str]] = {
    "include_example_route": (
        "src/{package}/items.py",
        "src/{package}/routes/items.py",
        "tests/test_items.py",
    ),
    "tracing": ("src/{package}/tracing.py", "tests/test_tracing.py"),
    "metrics": ("src/{package}/metrics.py", "tests/test_metrics.py"),
    "jobs": (
        "src/{package}/jobs.py",
        "src/{package}/worker.py",
        "src/{package}/tasks",
        "tests/jobs.py",
        "tests/test_jobs.py",
    ),
    "docker": ("Dockerfile", ".dockerignore"),
    "kubernetes": ("deploy/kubernetes",),
    "pre_commit": (".pre-commit-config.yaml",),
}
# Files (or folders) kept only when every answer listed beside them holds; or, where a
# tuple of such answers is listed, when every answer of any one of them holds.
Answers = Mapping[str, Any]
KEPT_ONLY_WHEN: Sequence[tuple[Answers | tuple[Answers, ...], Sequence[str]]] = (
    (
        {"database": "postgres"},
        (
            "src/{package}/db.py",
            "src/{package}/migrate.py",
            "src/{package}/migrations",
            "src/{package}/models",
            "deploy/kubernetes/migrate",
            "scripts",
            "tests/database.py",
            "tests/test_database.py",
            "tests/test_migrations.py",
        ),
    ),
    (
        {"database": "postgres", "include_example_route": True},
        (
            "src/{package}/models/note.py",
            "src/{package}/routes/notes.py",
            "src/{package}/migrations/versions/0001_create_notes.py",
            "tests/test_notes.py",
        ),
    ),
    (
        ({"database": "postgres", "docker": True}, {"jobs": True, "docker": True}),
        ("compose.yaml",),
    ),
    (
        {"database": "postgres", "tracing": True},
        ("src/{package}/db_tracing.py", "tests/test_db_tracing.py"),
    ),
    (
        {"jobs": True, "include_example_route": True},
        (
            "src/{package}/tasks/items.py",
            "src/{package}/routes/jobs.py",
            "tests/test_job_examples.py",
        ),
    ),
    (
        {"jobs": True, "include_example_route": True, "database": "postgres"},
        ("src/{package}/tasks/notes.py", "tests/test_note_jobs.py"),
    ),
    ({"jobs": True, "kubernetes": True}, ("deploy/kubernetes/worker.yaml",)),
    (
        {"jobs": True, "metrics": True},
        ("src/{package}/job_metrics.py", "tests/test_job_metrics.py"),
    ),
    (
        {"jobs": True, "tracing": True},
        ("src/{package}/job_tracing.py", "tests/test_job_tracing.py"),
    ),
    (
        {"auth": "jwt"},
        (
            "src/{package}/auth.py",
            "src/{package}/upstream_token.py",
            "tests/auth.py",
            "tests/issuer.py",
            "tests/test_auth.py",
            "tests/test_upstream_token.py",
        ),
    ),
)
# What the ci choice keeps; the files of every other service go.
CI_FILES: Mapping[str, Sequence[str]] = {
    "github": (
        ".github/workflows/ci.yml",
        ".github/workflows/newest.yml",
        ".github/dependabot.yml",
    ),
    "gitlab": (".gitlab-ci.yml",),
    "none": (),
}
LICENSES_DIR = "licenses"
CRUFT_GIT_NOTE = (
    "git_init: skipped under cruft, which renders the template again for each update; "
    "run `git init` and commit yourself, .cruft.json included."
)


def _remove(project: Path, path: Path) -> None:
    """Remove a file or a folder, then each folder above it that this leaves empty."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    for folder in path.parents:
        if folder == project or any(folder.iterdir()):
            break
        folder.rmdir()


def prune(project: Path, context: Mapping[str, Any]) -> list[Path]:
    """Remove the files (or folders) of every option that is off; returns what was removed."""
    removed = []
    for option, paths in PRUNED_WHEN_OFF.items():
        if context[option]:
            continue
        for pattern in paths:
            path = project / pattern.format(package=context["package_name"])
            _remove(project, path)
            removed.append(path)
    return removed


def alternatives(conditions: Answers | tuple[Answers, ...]) -> tuple[Answers, ...]:
    """A KEPT_ONLY_WHEN rule's conditions, as the answers of which any one must hold."""
    return conditions if isinstance(conditions, tuple) else (conditions,)


def keep_only_when(project: Path, context: Mapping[str, Any]) -> list[Path]:
    """Remove what KEPT_ONLY_WHEN keeps for other answers; returns what was removed."""
    removed = []
    for conditions, paths in KEPT_ONLY_WHEN:
        if any(
            all(context[key] == value for key, value in answers.items())
            for answers in alternatives(conditions)
        ):
            continue
        for pattern in paths:
            path = project / pattern.format(package=context["package_name"])
            if not path.exists():
                continue  # inside a folder an earlier rule removed
            _remove(project, path)
            removed.append(path)
    return removed


def choose_ci(project: Path, service: str) -> list[Path]:
    """Keep the CI files of the chosen service, remove the others; returns what was removed."""
    removed = []
    for other, paths in CI_FILES.items():
        if other == service:
            continue
        for pattern in paths:
            path = project / pattern
            path.unlink()
            removed.append(path)
    for folder in (project / ".github" / "workflows", project / ".github"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def choose_license(project: Path, license_name: str) -> Path:
    """Keep the chosen license text as LICENSE and drop the others."""
    target = project / "LICENSE"
    (project / LICENSES_DIR / license_name).replace(target)
    shutil.rmtree(project / LICENSES_DIR)
    return target


def _venv_python(project: Path) -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return project / ".venv" / scripts / ("python.exe" if os.name == "nt" else "python")


def set_up_steps(project: Path, uv: str | None) -> list[list[str]]:
    """The commands that create .venv, install the project and run its tests."""
    if uv is not None:
        return [[uv, "sync"], [uv, "run", "pytest", "-q"]]
    python = str(_venv_python(project))
    return [
        [sys.executable, "-m", "venv", ".venv"],
        [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [python, "-m", "pip", "install", "--quiet", "-e", ".", "--group", "dev"],
        [python, "-m", "pytest", "-q"],
    ]


def set_up(project: Path, steps: Sequence[Sequence[str]]) -> bool:
    """Run `steps` in order in `project`; on the first failure, say which and how to rerun."""
    for step in steps:
        print(f"$ {' '.join(step)}", flush=True)  # noqa: T201 - progress for the user
        result = subprocess.run(step, cwd=project, check=False)  # noqa: S603 - fixed commands
        if result.returncode != 0:
            print(  # noqa: T201
                f"Set-up stopped: `{' '.join(step)}` exited with {result.returncode}. "
                f"The project is kept in {project}; fix the cause there and rerun that command.",
                file=sys.stderr,
            )
            return False
    return True


def git_init_steps(git: str, context: Mapping[str, Any]) -> list[list[str]]:
    """The commands that create the repository and commit everything as the author."""
    author = [
        "-c",
        f"user.name={context['author_name']}",
        "-c",
        f"user.email={context['author_email']}",
    ]
    return [
        [git, "init", "--quiet"],
        [git, "add", "--all"],
        [git, *author, "commit", "--quiet", "--no-verify", "-m", "Initial commit"],
    ]


def git_init(project: Path, git: str | None, context: Mapping[str, Any]) -> bool:
    """Put the project under git with one commit; without git, say so and carry on."""
    if git is None:
        print(  # noqa: T201
            "git_init: git was not found on PATH, so no repository was created. "
            "Install git, then run `git init` in the project.",
            file=sys.stderr,
        )
        return False
    for step in git_init_steps(git, context):
        result = subprocess.run(  # noqa: S603 - fixed commands
            step, cwd=project, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            print(  # noqa: T201
                f"git_init stopped: `{' '.join(step[:2])} ...` exited with "
                f"{result.returncode}: {result.stderr.strip()}",
                file=sys.stderr,
            )
            return False
    return True


def next_steps(context: Mapping[str, Any], *, set_up_done: bool) -> str:
    """What to type next, for uv and for pip."""
    slug, package = context["project_slug"], context["package_name"]
    install = (
        ""
        if set_up_done
        else "  uv sync                (or: python -m venv .venv && .venv/bin/pip install -U pip"
        " && .venv/bin/pip install -e . --group dev)\n"
    )
    return (
        f"\nCreated {slug}. Next:\n"
        f"  cd {slug}\n"
        f"{install}"
        "  uv run pytest          (or: .venv/bin/python -m pytest)\n"
        f"  uv run python -m {package}\n"
    )


def main(context: Mapping[str, Any], project: Path) -> int:
    """Prune, choose the license, set up when asked, print the next steps; always 0."""
    prune(project, context)
    keep_only_when(project, context)
    choose_ci(project, context["ci"])
    choose_license(project, context["license"])
    # cruft (which marks its renders with `_commit`) renders the template again, into
    # temporary folders, for every update: a repository or a .venv there would only get
    # in the way of the diff it computes, so both one-time steps are left to the user.
    by_cruft = "_commit" in context
    set_up_done = False
    if context["set_up_now"] and not by_cruft:
        set_up_done = set_up(project, set_up_steps(project, shutil.which("uv")))
    if context["git_init"] and by_cruft:
        print(CRUFT_GIT_NOTE, file=sys.stderr)  # noqa: T201
    elif context["git_init"]:
        git_init(project, shutil.which("git"), context)
    print(next_steps(context, set_up_done=set_up_done))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(CONTEXT_JSON), Path.cwd()))
