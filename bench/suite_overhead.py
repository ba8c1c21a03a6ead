"""Part 1, test-suite overhead: the same `GET /health` test written with each client style,
each style a module of N tests (bench/project/suites/health_*.py) copied beside the rendered
project's own tests (the same conftest, configuration and imports apply to all) and run as
its own pytest process, in shuffled rounds; a style's cost is its median wall time, less
that of N tests that do nothing, per test.
"""

import random
import sys
from dataclasses import dataclass
from pathlib import Path

from .common import median
from .suites import install, remove, time_suite

TESTS = 500
RUNS = 5
# The TestClient styles need this: importing starlette.testclient with plain httpx warns,
# and the generated project turns every warning into an error.
TESTCLIENT_FILTER = "ignore::starlette.exceptions.StarletteDeprecationWarning"


@dataclass(frozen=True)
class Style:
    """One way of writing the tests: its suite in bench/project/suites/."""

    key: str
    label: str
    suite: str
    testclient: bool = False


STYLES = [
    Style("noop", "no-op baseline", "health_noop"),
    Style("floor", "floor: direct ASGI calls, one lifespan", "health_floor"),
    Style("a", "(a) template: session `AsyncClient` + `LifespanManager`", "health_session_client"),
    Style("b", "(b) `AsyncClient` + `LifespanManager` per test", "health_client_per_test"),
    Style("c", "(c) `TestClient`, session-scoped, sync tests", "health_session_testclient", True),
    Style("d", "(d) `TestClient` per test, with its lifespan", "health_testclient_per_test", True),
]


def run(project: Path, runs: int = RUNS, tests: int = TESTS) -> dict[str, list[float]]:
    """Every style's wall times, `runs` of them after an untimed round (which byte-compiles
    the modules and warms the file cache), in a shuffled order each round."""
    copies = install(project, [style.suite for style in STYLES])
    walls: dict[str, list[float]] = {style.key: [] for style in STYLES}
    order = list(STYLES)
    shuffler = random.Random(20)  # noqa: S311 - an order, not a secret
    try:
        for round_number in range(runs + 1):
            shuffler.shuffle(order)
            for style in order:
                options = ["-W", TESTCLIENT_FILTER] if style.testclient else []
                wall, _ = time_suite(project, copies[style.suite], tests, *options)
                if round_number:
                    walls[style.key].append(wall)
            print(f"  part 1: round {round_number} of {runs} done", file=sys.stderr)  # noqa: T201
    finally:
        remove(copies)
    return walls


def overhead_ms(walls: dict[str, list[float]], tests: int) -> dict[str, float]:
    """Each style's median wall time less the baseline's, per test, in milliseconds."""
    baseline = median(walls["noop"])
    return {key: (median(times) - baseline) / tests * 1000 for key, times in walls.items()}
