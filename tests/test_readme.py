"""The README's commands, run as written from a copy of this repository (slow tier: uvx
fetches cookiecutter from the registry)."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import TEMPLATE, clean_env, uv_executable

pytestmark = pytest.mark.slow

README = (TEMPLATE / "README.md").read_text("utf-8")
# What a clone holds: everything but the tool environments, caches and build output.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", ".tools", "build", "__pycache__", ".*_cache", ".hypothesis"
)


def _console_blocks(section: str) -> list[list[str]]:
    """The lines of each console block in the README section that starts with `section`."""
    text = README.split(section, 1)[1].split("\n## ", 1)[0]
    return [block.splitlines() for block in re.findall(r"```console\n(.*?)```", text, re.DOTALL)]


@pytest.fixture(name="clone")
def fixture_clone(tmp_path: Path) -> Path:
    """This repository copied as a clone holds it, in a folder of its own."""
    clone = tmp_path / "cookiecutter-fastapi-async"
    shutil.copytree(TEMPLATE, clone, ignore=NOT_IN_A_CLONE)
    return clone


def _run(command: str, clone: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """A README command line, in the clone, with uv's uvx first on PATH."""
    words = shlex.split(command)
    assert words[0] == "uvx"
    uvx = Path(uv_executable()).with_name("uvx")
    return subprocess.run(
        [str(uvx), *words[1:]],
        cwd=clone,
        env=clean_env(COOKIECUTTER_CONFIG=str(config)),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_the_clone_commands_render_beside_the_clone(clone: Path, cookiecutter_config: Path) -> None:
    """`cd` into the clone, then the README's command with answers: the project appears
    next to the clone, with the answers given."""
    (command,) = [
        line
        for block in _console_blocks("## Use it")
        for line in block
        if "project_name=" in line and not line.startswith("$")
    ]
    result = _run(command, clone, cookiecutter_config)
    assert result.returncode == 0, result.stdout + result.stderr
    project = clone.parent / "orders-api"
    assert (project / "src" / "orders_api" / "app.py").is_file()
    assert (project / ".gitlab-ci.yml").is_file()
    assert "uv run python -m orders_api" in result.stdout


def test_the_refusals_print_what_the_readme_shows(clone: Path, cookiecutter_config: Path) -> None:
    """Both transcripts under "When an answer is refused": the same command prints the lines
    shown (a traceback's frames stand for "  ..."), exits 1 and leaves no folder."""
    hook_refusal, cookiecutter_refusal = _console_blocks("### When an answer is refused")

    shown = hook_refusal[1:]
    result = _run(hook_refusal[0].removeprefix("$ "), clone, cookiecutter_config)
    assert result.returncode == 1
    assert result.stderr.splitlines() == shown[:1]
    printed = result.stdout.splitlines()
    assert printed[:2] == shown[1:3]
    assert shown[3] == "  ..."
    assert printed[-2:] == shown[-2:]

    shown = cookiecutter_refusal[1:]
    result = _run(cookiecutter_refusal[0].removeprefix("$ "), clone, cookiecutter_config)
    assert result.returncode == 1
    printed = result.stderr.splitlines()
    assert (printed[0], shown[1], printed[-1]) == (shown[0], "  ...", shown[-1])
    assert sorted(path.name for path in clone.parent.iterdir()) == [clone.name]
