"""Every option's own suite on the newest releases of everything (the weekly run, `make
test-weekly`; not in `make test`). Each distinct set of the options that bring code, as the
covering set of combinations meets them, is rendered for 3.11, installed at the newest
versions, and its suite run with every warning an error: a library's new deprecation fails
here, with the warning named first, before it fails a user's build."""

import re
from pathlib import Path
from typing import Any

import pytest

from ..helpers import bake, combinations, python_in, run, uv_executable
from ..options.common import run_suite

pytestmark = [pytest.mark.slow, pytest.mark.weekly]

# The answers that change the code a project runs; the rest (license, CI, Docker...) do not.
CODE_OPTIONS = ("include_example_route", "database", "tracing", "metrics", "jobs", "auth")
WARNING = re.compile(r"\b\w*(?:Deprecation|Future|Resource|Runtime|User)\w*Warning\b: .+")


def code_sets() -> list[dict[str, Any]]:
    """The distinct sets of code options in the covering set, in a stable order."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for answers in combinations():
        key = tuple(answers[option] for option in CODE_OPTIONS)
        seen.setdefault(key, {option: answers[option] for option in CODE_OPTIONS})
    return [seen[key] for key in sorted(seen, key=repr)]


def _id(answers: dict[str, Any]) -> str:
    """Such as example-postgres-tracing: each option that is on, by its value or its name."""
    on = [
        "example"
        if option == "include_example_route"
        else value
        if isinstance(value, str)
        else option
        for option, value in answers.items()
        if value not in {False, "none"}
    ]
    return "-".join(on) or "bare"


def test_code_sets_cover_every_option_both_ways() -> None:
    """Each option that brings code is on in one set and off in another."""
    sets = code_sets()
    for option in CODE_OPTIONS:
        assert len({repr(answers[option]) for answers in sets}) >= 2, option


@pytest.mark.parametrize("answers", code_sets(), ids=_id)
def test_suite_passes_on_the_newest_releases(
    answers: dict[str, Any], tmp_path: Path, cookiecutter_config: Path, postgres_home: Path
) -> None:
    """Rendered, installed at the newest versions, its suite passes with warnings as errors
    from the start of the run."""
    root = postgres_home / _id(answers) if answers["database"] == "postgres" else tmp_path
    project = bake(root, cookiecutter_config, python_version="3.11", **answers)
    synced = run(
        [uv_executable(), "sync", "--quiet", "--upgrade", "--resolution", "highest"], project
    )
    assert synced.returncode == 0, synced.stderr
    collected = run([str(python_in(project / ".venv")), "-m", "pytest", "--co", "-q"], project)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    status, output, counts = run_suite(project, PYTHONWARNINGS="error")
    warnings = sorted(set(WARNING.findall(output)))
    assert status == 0, "\n".join(["new warnings, if any:", *warnings, "", output])
    assert counts == {"passed": collected.stdout.count("::")}
