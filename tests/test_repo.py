"""The template repository's own CI, contributing guide and tool configuration (fast tier)."""

import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .helpers import TEMPLATE

SCRIPTS = Path(sysconfig.get_path("scripts"))
WORKFLOWS = TEMPLATE / ".github" / "workflows"
TEMPLATE_FOLDER = "{{cookiecutter.project_slug}}"


def _yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text("utf-8"))


def _check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / "check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_own_workflows_and_dependabot_are_schema_valid() -> None:
    """The repository's workflows and dependabot.yml pass check-jsonschema's bundled schemas."""
    workflows = sorted(WORKFLOWS.glob("*.yml"))
    assert [path.name for path in workflows] == ["ci.yml", "weekly.yml"]
    result = _check_jsonschema("vendor.github-workflows", *workflows)
    assert result.returncode == 0, result.stdout + result.stderr
    result = _check_jsonschema("vendor.dependabot", TEMPLATE / ".github" / "dependabot.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_fast_tier_everywhere_and_the_slow_tier_on_linux() -> None:
    """Linux runs `make test` (both tiers); macOS and Windows run the fast tier with uv, less
    on Windows the tests it names by id, each of which exists."""
    jobs = _yaml(WORKFLOWS / "ci.yml")["jobs"]
    linux = jobs["linux"]
    assert linux["runs-on"] == "ubuntu-latest"
    assert [step["run"] for step in linux["steps"] if "run" in step] == ["make test PYTHON=python"]
    fast = jobs["fast"]
    assert fast["strategy"]["matrix"]["os"] == ["macos-latest", "windows-latest"]
    runs = [" ".join(step["run"].split()) for step in fast["steps"] if "run" in step]
    assert runs[0] == "uv sync --locked"
    assert {"uv run --no-sync ruff check .", "uv run --no-sync mypy"} <= set(runs)
    pytest_runs = [run for run in runs if "pytest" in run]
    assert len(pytest_runs) == 2
    assert all(run.startswith('uv run --no-sync pytest -m "not slow"') for run in pytest_runs)
    assert all("slow" not in run.replace('"not slow"', "") for run in pytest_runs)
    # pytest ignores a --deselect that names no test: each must name one that exists.
    deselected = [word for run in pytest_runs for word in run.split() if "::" in word]
    assert len(deselected) == 2
    for node in deselected:
        path, name = node.split("::")
        module = TEMPLATE / path
        assert module.is_file(), node
        assert f"\ndef {name}(" in module.read_text("utf-8"), node


def test_makefile_test_target_runs_both_tiers() -> None:
    """`make test`, which Linux CI and .ci/run use, is the fast tier then the slow tier."""
    makefile = (TEMPLATE / "Makefile").read_text("utf-8")
    assert "\ntest: test-fast test-slow" in makefile
    assert (TEMPLATE / ".ci" / "run").read_text("utf-8").rstrip().endswith("make test")


def test_weekly_workflow_tests_the_newest_tools() -> None:
    """weekly.yml is scheduled, upgrades the lock, runs everything, then every option's suite
    on the newest releases (the weekly tests, which `make test` leaves out)."""
    workflow = _yaml(WORKFLOWS / "weekly.yml")
    assert len(workflow["on"]["schedule"]) == 1
    runs = [step["run"] for step in workflow["jobs"]["newest"]["steps"] if "run" in step]
    assert ".tools/bin/uv sync --upgrade" in runs
    assert runs[-2:] == ["make test PYTHON=python", "make test-weekly PYTHON=python"]
    makefile = (TEMPLATE / "Makefile").read_text("utf-8")
    assert 'pytest -m "slow and not weekly"' in makefile
    assert "pytest -m weekly" in makefile


def test_template_folder_is_excluded_from_own_ruff_and_pytest() -> None:
    """ruff and pytest of this repository never look inside the template folder."""
    config = tomllib.loads((TEMPLATE / "pyproject.toml").read_text("utf-8"))
    assert TEMPLATE_FOLDER in config["tool"]["pytest"]["ini_options"]["norecursedirs"]
    assert "[{][{]cookiecutter.project_slug[}][}]" in config["tool"]["ruff"]["extend-exclude"]
    files = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--show-files", "."],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hooks/post_gen_project.py" in files
    assert TEMPLATE_FOLDER not in files


def test_contributing_walks_through_adding_an_option() -> None:
    """CONTRIBUTING.md names every place a new option touches."""
    guide = (TEMPLATE / "CONTRIBUTING.md").read_text("utf-8")
    for place in (
        "cookiecutter.json",
        "__prompts__",
        "PRUNED_WHEN_OFF",
        "KEPT_ONLY_WHEN",
        "tests/test_hooks.py",
        "parts.py",
        "routes/__init__.py",
        "MATRIX",
        "SPREAD",
        "tests/test_render.py",
        "tests/options/test_<option>.py",
        "tests/installed/test_generated.py",
        "CHANGELOG.md",
        "README.md",
        "{% raw %}",
    ):
        assert place in guide, place
        if place.startswith("tests/") and "<" not in place:
            assert (TEMPLATE / place).is_file(), place
