"""Answering cookiecutter's prompts by typing gives the same project as --no-input (fast tier).

The prompts run in a pseudo-terminal (pexpect), as a person meets them: text is typed,
choices are picked by number and yes/no questions take y or n.
"""

import os
import re
import sys
from pathlib import Path
from typing import Any

import pexpect

from .helpers import DEFAULTS, TEMPLATE, cookiecutter_cli, project_files

# Each prompt in order, the keys typed at it, and the answer that means for --no-input.
# An empty string takes the default by pressing Enter.
TYPED: list[tuple[str, str, Any]] = [
    ("project_name", "Orders API", "Orders API"),
    ("project_slug", "", "orders-api"),
    ("package_name", "orders", "orders"),
    ("description", "Takes orders, asynchronously.", "Takes orders, asynchronously."),
    ("author_name", "Ada Lovelace", "Ada Lovelace"),
    ("author_email", "ada@example.org", "ada@example.org"),
    ("version", "1.2.0", "1.2.0"),
    ("python_version", "3", "3.13"),
    ("license", "2", "Apache-2.0"),
    ("include_example_route", "n", False),
    ("database", "2", "postgres"),
    ("tracing", "y", True),
    ("metrics", "", False),
    ("jobs", "y", True),
    ("auth", "2", "jwt"),
    ("docker", "y", True),
    ("kubernetes", "y", True),
    ("ci", "2", "gitlab"),
    ("pre_commit", "n", False),
    ("git_init", "y", True),
    ("set_up_now", "", False),
]
PROMPT_END = re.compile(r"\)\s*: ")


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"}


def _type_answers(output_dir: Path, config: Path) -> str:
    """Run cookiecutter in a pseudo-terminal and type each answer at its prompt."""
    args = ["-m", "cookiecutter", "--config-file", str(config), "-o", str(output_dir)]
    args.append(str(TEMPLATE))
    if sys.platform == "win32":  # no pseudo-terminals there: the keys go through a pipe
        from pexpect.popen_spawn import PopenSpawn  # noqa: PLC0415 - Windows only

        child = PopenSpawn([sys.executable, *args], env=_env(), encoding="utf-8", timeout=30)
    else:
        child = pexpect.spawn(
            sys.executable, args, env=_env(), encoding="utf-8", timeout=30, dimensions=(50, 200)
        )
    transcript = []
    total = len(TYPED)
    for number, (option, keys, _) in enumerate(TYPED, start=1):
        child.expect_exact(f"[{number}/{total}]")
        child.expect(PROMPT_END)
        transcript.append(f"{option}: {child.before.strip()!r}")
        child.sendline(keys)
    child.expect(pexpect.EOF)
    assert child.wait() == 0, child.before
    return "\n".join(transcript)


def _files(project: Path) -> dict[str, bytes]:
    return {
        path.relative_to(project).as_posix(): path.read_bytes() for path in project_files(project)
    }


def test_typed_answers_give_the_same_project_as_no_input(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    """Every file of the typed run equals the --no-input run's, byte for byte."""
    assert [option for option, _, _ in TYPED] == [
        key for key in DEFAULTS if not key.startswith("_")
    ]
    transcript = _type_answers(tmp_path / "typed", cookiecutter_config)
    assert "Choose from [1/2/3]" in transcript
    answers = [f"{option}={value}" for option, _, value in TYPED]
    result = cookiecutter_cli(tmp_path / "given", cookiecutter_config, *answers, env=_env())
    assert result.returncode == 0, result.stderr
    typed, given = tmp_path / "typed" / "orders-api", tmp_path / "given" / "orders-api"
    typed_files, given_files = _files(typed), _files(given)
    assert typed_files.keys() == given_files.keys()
    assert [name for name in typed_files if typed_files[name] != given_files[name]] == []
    assert "Dockerfile" in typed_files
    assert "deploy/kubernetes/migrate/job.yaml" in typed_files
    assert ".gitlab-ci.yml" in typed_files
    assert ".pre-commit-config.yaml" not in typed_files
    assert "src/orders/routes/items.py" not in typed_files
    assert 'requires-python = ">=3.13"' in typed_files["pyproject.toml"].decode()
    for project in (typed, given):
        assert (project / ".git").is_dir()
