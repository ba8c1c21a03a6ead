"""Generated projects install, type-check and pass their own suite (slow tier)."""

import contextlib
import re
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..helpers import (
    EVERY_OPTION,
    assert_lint_and_types_clean,
    bake,
    combination_id,
    pytest_counts,
    python_in,
    run,
    uv_executable,
)

pytestmark = pytest.mark.slow

# Installed and run: this machine's Python is 3.11, so runtime checks render for 3.11.
RUNTIME = [
    {"python_version": "3.11", "license": "MIT", "include_example_route": True},
    {
        "python_version": "3.11",
        "license": "Proprietary",
        "include_example_route": False,
        "tracing": True,
        "metrics": True,
    },
    {"python_version": "3.11", "license": "MIT", "include_example_route": True, **EVERY_OPTION},
]
# Runs of the default render's suite, each in an order of its own.
RANDOM_ORDERS = 10
# Checked statically for a newer minimum: mypy at that version, with a 3.11 install's packages.
STATIC = [
    {"python_version": "3.12", "license": "BSD-3-Clause", "include_example_route": False},
    {"python_version": "3.13", "license": "Apache-2.0", "include_example_route": True},
    {"python_version": "3.14", "license": "MIT", "include_example_route": True},
    {"python_version": "3.14", "license": "Proprietary", "include_example_route": False},
    {"python_version": "3.14", "license": "MIT", "include_example_route": True, **EVERY_OPTION},
]


def _sync(project: Path) -> None:
    result = run([uv_executable(), "sync", "--quiet"], project)
    assert result.returncode == 0, result.stderr


def _pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    python = str(python_in(project / ".venv"))
    return run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", *args],
        project,
        PYTHONDEVMODE="1",
        **env,
    )


Installer = Callable[[dict[str, Any]], Path]


@pytest.fixture(name="install", scope="module")
def fixture_install(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path, postgres_home: Path
) -> Installer:
    """Render a combination and sync its .venv with uv, once per combination."""
    projects: dict[str, Path] = {}

    def install(answers: dict[str, Any]) -> Path:
        name = combination_id(answers)
        if name not in projects:
            root = (
                postgres_home / name
                if answers.get("database") == "postgres"
                else tmp_path_factory.mktemp(name)
            )
            project = bake(root, cookiecutter_config, **answers)
            _sync(project)
            projects[name] = project
        return projects[name]

    return install


@pytest.fixture(name="installed", params=RUNTIME, ids=combination_id)
def fixture_installed(request: pytest.FixtureRequest, install: Installer) -> Path:
    """A rendered project with its .venv synced by uv."""
    answers: dict[str, Any] = request.param
    return install(answers)


def _collected(project: Path) -> int:
    """How many tests the project's suite collects, in a plain environment."""
    result = _pytest(project, "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"^(\d+) tests? collected", result.stdout, re.MULTILINE)
    assert found is not None, result.stdout
    return int(found.group(1))


@contextlib.contextmanager
def _hostile_environment(project: Path) -> Iterator[dict[str, str]]:
    """Every setting of the service exported with a value it cannot take (the variables are
    yielded), and a .env beside the project full of the same, removed afterwards."""
    python = str(python_in(project / ".venv"))
    listed = run(
        [python, "-c", "from my_service.config import Settings; print(*Settings.model_fields)"],
        project,
    )
    assert listed.returncode == 0, listed.stderr
    names = [f"MY_SERVICE_{field.upper()}" for field in listed.stdout.split()]
    assert {"MY_SERVICE_PORT", "MY_SERVICE_DOCS_ENABLED", "MY_SERVICE_TITLE"} <= set(names)
    dotenv = project / ".env"
    dotenv.write_text("".join(f"{name}=also-not-valid\n" for name in names), encoding="utf-8")
    try:
        yield dict.fromkeys(names, "not-a-valid-value")
    finally:
        dotenv.unlink()


def test_generated_suite_passes_whatever_the_developers_environment(installed: Path) -> None:
    """The generated tests pass under PYTHONDEVMODE with warnings as errors from the start,
    every one of them, with every setting exported with a value it cannot take and a .env
    full of the same: what a developer has set changes the outcome of no test, and skips
    none."""
    collected = _collected(installed)
    with _hostile_environment(installed) as garbage:
        # PYTHONWARNINGS: a warning raised while pytest loads its plugins, before -W applies,
        # is an error too (Starlette 1.x warns as soon as its TestClient is imported).
        result = _pytest(installed, "-W", "error", PYTHONWARNINGS="error", **garbage)
    assert result.returncode == 0, result.stdout + result.stderr
    assert collected >= 20
    assert pytest_counts(result.stdout) == {"passed": collected}


def test_generated_lint_and_types_are_clean(installed: Path, mypy_cache: Path) -> None:
    """ruff check, ruff format --check and mypy --strict pass in the generated project."""
    assert_lint_and_types_clean(installed, mypy_cache)


@pytest.mark.parametrize("answers", STATIC, ids=combination_id)
def test_newer_minimum_type_checks(
    tmp_path: Path,
    cookiecutter_config: Path,
    install: Installer,
    mypy_cache: Path,
    answers: dict[str, Any],
) -> None:
    """A project for a newer minimum Python passes mypy --strict at that version."""
    project = bake(tmp_path, cookiecutter_config, **answers)
    # The packages of an installed 3.11 project with the same database choice.
    database = answers.get("database", "none")
    (runtime,) = [r for r in RUNTIME if r.get("database", "none") == database][:1]
    python = python_in(install(runtime) / ".venv")
    command = [
        str(python.parent / "mypy"),
        "--strict",
        "--python-executable",
        str(python),
        "--cache-dir",
        str(mypy_cache),
    ]
    result = run(command, project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'python_version = "{answers["python_version"]}"' in (
        project / "pyproject.toml"
    ).read_text("utf-8")


def test_suite_catches_the_loop_scope_trap(installed: Path) -> None:
    """Without the session test loop, the tests that use the lifespan's session fail.

    This proves the suite guards what the template exists for: remove one line of the
    asyncio configuration and the failure is loud, not silent.
    """
    pyproject = installed / "pyproject.toml"
    original = pyproject.read_text("utf-8")
    trap = 'asyncio_default_test_loop_scope = "session"\n'
    assert trap in original
    try:
        pyproject.write_text(original.replace(trap, ""), encoding="utf-8")
        # The tests of the lifespan's session and of the upstream calls: the rest of the suite
        # would also fail, after waiting out its slow faults, whose timeouts cannot fire from
        # the wrong loop.
        result = _pytest(installed, "tests/test_lifespan.py", "tests/test_upstream.py")
    finally:
        pyproject.write_text(original, encoding="utf-8")
    counts = pytest_counts(result.stdout)
    assert result.returncode == 1
    assert counts.get("failed", 0) + counts.get("error", 0) >= 3
    assert "Timeout context manager should be used inside a task" in result.stdout


def test_suite_fails_on_a_leaked_session(installed: Path) -> None:
    """A test that leaves an aiohttp session open fails the run: warnings are errors."""
    leak = installed / "tests" / "test_zz_leak.py"
    leak.write_text(
        "import aiohttp\n\n\n"
        "async def test_leaks_a_session() -> None:\n"
        "    aiohttp.ClientSession()\n",
        encoding="utf-8",
    )
    try:
        # The test alone, under the suite's configuration: the rest of it would add nothing.
        result = _pytest(installed, "tests/test_zz_leak.py")
    finally:
        leak.unlink()
    assert result.returncode != 0
    assert "Unclosed client session" in result.stdout + result.stderr


def test_suite_passes_in_ten_random_orders(tmp_path: Path, cookiecutter_config: Path) -> None:
    """Ten runs, each in a different random order under PYTHONDEVMODE, all green (the
    database render runs in two more, on two workers: tests/options/test_database.py)."""
    project = bake(tmp_path, cookiecutter_config)
    _sync(project)
    python = str(python_in(project / ".venv"))
    added = run(
        [uv_executable(), "pip", "install", "--quiet", "--python", python, "pytest-randomly"],
        project,
    )
    assert added.returncode == 0, added.stderr
    passed = set()
    for seed in range(1, RANDOM_ORDERS + 1):
        # The order is what varies here: the property test's own requests are few.
        result = _pytest(project, "-p", "randomly", f"--randomly-seed={seed}", API_EXAMPLES="10")
        assert result.returncode == 0, f"seed {seed}:\n{result.stdout}{result.stderr}"
        assert f"--randomly-seed={seed}" in result.stdout
        counts = pytest_counts(result.stdout)
        assert counts.keys() == {"passed"}, counts
        passed.add(counts["passed"])
    assert len(passed) == 1
    assert passed.pop() >= 20


def test_readme_recipe_for_a_new_endpoint_works(
    tmp_path: Path, cookiecutter_config: Path, mypy_cache: Path
) -> None:
    """Following "Add an endpoint" in the generated README gives a clean, passing project."""
    project = bake(tmp_path, cookiecutter_config)
    readme = (project / "README.md").read_text("utf-8")
    section = readme.split("## Add an endpoint", 1)[1].split("\n## ", 1)[0]
    route, test = (
        textwrap.dedent(block) for block in re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    )
    package = project / "src" / "my_service"
    (package / "routes" / "orders.py").write_text(route, encoding="utf-8")
    (project / "tests" / "test_orders.py").write_text(test, encoding="utf-8")
    routes = package / "routes" / "__init__.py"
    source = routes.read_text("utf-8")
    source = source.replace("from . import health, items", "from . import health, items, orders")
    source = source.replace("    items.router,\n", "    items.router,\n    orders.router,\n")
    routes.write_text(source, encoding="utf-8")
    _sync(project)
    assert_lint_and_types_clean(project, mypy_cache)
    result = _pytest(project, "tests/test_orders.py", "-v")
    assert "test_unknown_order_is_404 PASSED" in result.stdout, result.stdout
    assert "test_placing_an_order_is_tried_once PASSED" in result.stdout, result.stdout
    assert pytest_counts(result.stdout) == {"passed": 2}
