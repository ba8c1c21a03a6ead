"""Every Python the template offers, run for real where this machine has one (slow tier): a
project rendered for that minimum, installed on that interpreter by uv, passes its own suite,
ruff and mypy. The rest of the slow tier runs on the interpreter running it (3.11); an
offered version this machine lacks is skipped, and the skip says where it was looked for."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ..helpers import (
    DEFAULTS,
    EVERY_OPTION,
    assert_lint_and_types_clean,
    bake,
    python_in,
    run,
    uv_executable,
)
from ..options.common import run_suite

pytestmark = pytest.mark.slow

# The newer interpreters: the newest ones run every option's code, 3.12 the default render.
RENDERS: dict[str, dict[str, Any]] = {
    "3.12": {},
    "3.13": EVERY_OPTION,
    "3.14": EVERY_OPTION,
}
PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def _version_of(python: str) -> str | None:
    """The X.Y of an interpreter, or None when it does not run (a pyenv shim of a version
    that is installed but not selected exits 127)."""
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_python(version: str) -> str | None:
    """An interpreter of `version`: on PATH, under pyenv's versions, or one uv manages."""
    candidates = [found] if (found := shutil.which(f"python{version}")) else []
    candidates += sorted(
        (str(p) for p in PYENV_ROOT.glob(f"versions/{version}.*/bin/python{version}")),
        reverse=True,
    )
    managed = run([uv_executable(), "python", "find", "--managed-python", version], Path.cwd())
    if managed.returncode == 0:
        candidates.append(managed.stdout.strip())
    return next((c for c in candidates if _version_of(c) == version), None)


def test_every_newer_python_offered_is_listed() -> None:
    """The interpreters run here are the template's offered versions after 3.11."""
    assert sorted(RENDERS) == [v for v in DEFAULTS["python_version"] if v != "3.11"]


@pytest.mark.parametrize("version", sorted(RENDERS))
def test_render_passes_on_its_python(
    version: str, tmp_path: Path, cookiecutter_config: Path, postgres_home: Path, mypy_cache: Path
) -> None:
    """Rendered for this minimum and installed on this interpreter: suite, ruff, mypy."""
    python = find_python(version)
    if python is None:
        pytest.skip(
            f"no Python {version} here (looked on PATH, in {PYENV_ROOT}/versions and in uv's "
            "own): its renders are checked statically only (test_generated.py)"
        )
    answers = {"python_version": version, **RENDERS[version]}
    root = postgres_home / f"py{version}" if answers.get("database") else tmp_path
    project = bake(root, cookiecutter_config, **answers)
    synced = run([uv_executable(), "sync", "--quiet", "--python", python], project)
    assert synced.returncode == 0, synced.stderr
    assert _version_of(str(python_in(project / ".venv"))) == version
    collected = run([str(python_in(project / ".venv")), "-m", "pytest", "--co", "-q"], project)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    status, output, counts = run_suite(project)
    assert status == 0, output
    assert counts == {"passed": collected.stdout.count("::")}
    assert_lint_and_types_clean(project, mypy_cache)
