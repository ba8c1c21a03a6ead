"""What the template's own checks cost: its two test tiers, one render, and render-to-green.

The tiers run as `make` subprocesses in this repository, exactly as a developer runs them.
Render-to-green starts from nothing: a fresh render, `uv sync` (with uv's cache already warm
from the earlier install) and the generated suite.
"""

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .common import REPO, clean_env, median, python_of, render, timed_run, uv_executable

RENDERS = 5


@dataclass(frozen=True)
class CheckCost:
    """Wall times in seconds; the render figure is a median of several renders."""

    test_fast: float
    test_slow: float
    test_fast_exit: int
    test_slow_exit: int
    render: float
    render_times: list[float]
    render_to_green: float


def time_render(runs: int = RENDERS) -> list[float]:
    """The wall time of each of `runs` renders with the defaults, each into a fresh folder."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-render-") as folder:
            start = time.perf_counter()
            render(Path(folder))
            times.append(time.perf_counter() - start)
    return times


def time_render_to_green() -> float:
    """Seconds from nothing to a passing generated suite: render, `uv sync`, pytest."""
    with tempfile.TemporaryDirectory(prefix="bench-green-") as folder:
        start = time.perf_counter()
        project = render(Path(folder))
        env = clean_env()
        timed_run([uv_executable(), "sync", "--quiet"], project, env)
        timed_run([str(python_of(project)), "-m", "pytest", "-q"], project, env)
        return time.perf_counter() - start


def time_make(target: str) -> tuple[float, int]:
    """Seconds that `make <target>` takes in this repository, and its exit status."""
    print(f"  check cost: make {target} ...", file=sys.stderr)  # noqa: T201 - progress
    start = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - a fixed command line
        ["make", "--no-print-directory", target],  # noqa: S607 - make as the developer runs it
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - start, result.returncode


def run() -> CheckCost:
    """Time both test tiers, the renders and render-to-green."""
    renders = time_render()
    green = time_render_to_green()
    fast, fast_exit = time_make("test-fast")
    slow, slow_exit = time_make("test-slow")
    return CheckCost(
        test_fast=fast,
        test_slow=slow,
        test_fast_exit=fast_exit,
        test_slow_exit=slow_exit,
        render=median(renders),
        render_times=renders,
        render_to_green=green,
    )
