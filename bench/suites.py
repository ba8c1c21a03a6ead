"""Copying test modules from bench/project/suites/ into a rendered project, and timing them
there as their own pytest processes."""

import json
import shutil
from pathlib import Path

from .common import clean_env, python_of, timed_run

SUITES = Path(__file__).resolve().parent / "project" / "suites"


def install(project: Path, names: list[str]) -> dict[str, Path]:
    """Copy each named suite into the project's tests/ as test_bench_<name>.py, and the
    durations plugin as bench_durations.py; the copies by name."""
    tests = project / "tests"
    shutil.copy(SUITES / "durations.py", tests / "bench_durations.py")
    copies = {}
    for name in names:
        copies[name] = tests / f"test_bench_{name}.py"
        shutil.copy(SUITES / f"{name}.py", copies[name])
    return copies


def remove(copies: dict[str, Path]) -> None:
    """Take the copied suites (and the plugin) out of the project again."""
    for path in copies.values():
        path.with_name("bench_durations.py").unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def time_suite(project: Path, suite: Path, tests: int, *options: str) -> tuple[float, list[float]]:
    """Run one copied suite of `tests` tests as its own pytest process, under the project's
    own configuration plus `options`: its wall time and each test's seconds (setup, call
    and teardown)."""
    durations = project / ".bench-durations.json"
    command = [str(python_of(project)), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "tests.bench_durations", *options, str(suite.relative_to(project))]
    env = clean_env(BENCH_TESTS=str(tests), BENCH_DURATIONS=str(durations))
    wall = timed_run(command, project, env)
    seconds: list[float] = json.loads(durations.read_text("utf-8"))
    durations.unlink()
    return wall, seconds
