"""Part 4, the database option: what the tests' isolation costs, what the lifespan's pool buys.

A project rendered with database=postgres, installed, then:

1. Isolation. The same test (create a note through the client, read it back) as a module of
   N tests under five ways of keeping tests apart (bench/project/suites/notes_*.py), each
   run as its own pytest process in shuffled rounds: the template's default (each test
   rolled back), marked `committed` (every table emptied by TRUNCATE after each test), the
   schema dropped and created again after each test, no isolation at all (rows left behind:
   what the test costs without keeping tests apart), and a service without a database (notes
   in memory). A test's cost is the median over the module's tests of setup, call and
   teardown (the first test, which pays for the session's fixtures, left out); each way's
   figure is the median over the rounds.
2. Throughput. `GET /notes/1` through real uvicorn against the development PostgreSQL
   (`scripts/dev_database.py`): the template, whose lifespan owns a pool, and the same route
   opening a new connection for every request (bench/project/db_apps.py).
3. Render-to-green with the database: a fresh render, `uv sync` with uv's cache warm, then
   the generated suite, the embedded server's start included.
"""

import json
import random
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .common import (
    ENV_PREFIX,
    clean_env,
    median,
    progress,
    python_of,
    render,
    stopped_at_exit,
    sync,
    timed_run,
    uv_executable,
)
from .loadgen import Results, in_turns, warm_up
from .servers import start_app
from .suites import install, remove, time_suite
from .throughput import CONCURRENCIES, DURATION, ROUNDS, WARM_UP

TESTS = 300
RUNS = 3
# key -> the label in the report, and its suite in bench/project/suites/.
ISOLATIONS = {
    "default": ("the template's default: each test rolled back", "notes_rolled_back"),
    "truncate": ("marked `committed`: TRUNCATE after each test", "notes_truncated"),
    "recreate": ("schema dropped and created after each test", "notes_recreated"),
    "bare": ("no isolation: rows left behind (yardstick)", "notes_left_behind"),
    "none": ("no database: notes in memory", "notes_in_memory"),
}
# key -> the label in the report, and uvicorn's "module:factory".
TARGETS = {
    "pool": ("template: the lifespan's pool", "my_service.app:create_app"),
    "per_request": (
        "a new connection per request",
        "bench.project.db_apps:create_connection_per_request_app",
    ),
}


@dataclass
class DatabaseResult:
    """Every figure of part 4."""

    tests: int
    # isolation key -> the median per-test seconds of each round, and each round's wall time
    per_test: dict[str, list[float]] = field(default_factory=dict)
    walls: dict[str, list[float]] = field(default_factory=dict)
    loads: Results = field(default_factory=dict)
    render_to_green: float = 0.0
    green_failure: str = ""  # the generated suite's summary line, if it failed

    def per_test_ms(self, key: str) -> float:
        """What one test costs with this isolation: the median of the rounds' medians."""
        return median(self.per_test[key]) * 1000


def _isolation(project: Path, result: DatabaseResult, runs: int) -> None:
    copies = install(project, [suite for _, suite in ISOLATIONS.values()])
    order = list(ISOLATIONS)
    try:
        for round_number in range(runs):
            random.shuffle(order)
            for key in order:
                wall, seconds = time_suite(project, copies[ISOLATIONS[key][1]], result.tests)
                result.per_test.setdefault(key, []).append(median(seconds[1:]))
                result.walls.setdefault(key, []).append(wall)
            progress(f"part 4: isolation round {round_number + 1} of {runs} done", level=1)
    finally:
        remove(copies)


@contextmanager
def _development_database(project: Path) -> Iterator[str]:
    """`scripts/dev_database.py` of the project running; the URL it prints to serve with."""
    process = subprocess.Popen(  # noqa: S603 - the project's own script
        [str(python_of(project)), "scripts/dev_database.py"],
        cwd=project,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None  # noqa: S101 - piped above
        for line in process.stdout:
            found = re.search(rf"{ENV_PREFIX}DATABASE_URL='(.+)'", line)
            if found:
                yield found.group(1)
                break
        else:
            raise RuntimeError("the development database did not start")
    finally:
        # The script stops its server at SIGTERM as at Ctrl-C (SIGINT may be ignored here: a
        # background job inherits that).
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _create_note(base: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/notes",
        data=json.dumps({"title": "benchmarked"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
            pass
    except urllib.error.HTTPError as error:
        if error.code != 409:  # noqa: PLR2004 - there already, from an earlier run
            raise


def _throughput(project: Path, concurrencies: tuple[int, ...], rounds: int) -> Results:
    with _development_database(project) as url, stopped_at_exit() as servers:
        loaded = {}
        for key, (_, app) in TARGETS.items():
            loaded[key] = start_app(
                servers,
                project,
                f"notes-{key}",
                app,
                "http://127.0.0.1:9/",  # no upstream is called
                path="notes/1",
                ready="health",
                **{f"{ENV_PREFIX}DATABASE_URL": url},
            )
        _create_note(loaded["pool"].url.removesuffix("/notes/1"))
        warm_up(list(loaded.values()), max(concurrencies), WARM_UP)
        return in_turns(
            loaded, concurrencies=concurrencies, rounds=rounds, duration=DURATION, label="part 4"
        )


def _render_to_green(result: DatabaseResult) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-green-postgres-") as folder:
        start = time.perf_counter()
        project = render(Path(folder), database="postgres")
        env = clean_env()
        timed_run([uv_executable(), "sync", "--quiet"], project, env)
        try:
            timed_run([str(python_of(project)), "-m", "pytest", "-q"], project, env)
        except RuntimeError as failed:
            lines = str(failed).strip().splitlines()
            result.green_failure = "; ".join(line for line in lines if "FAILED" in line)
        result.render_to_green = time.perf_counter() - start


def run(
    folder: Path,
    *,
    tests: int = TESTS,
    runs: int = RUNS,
    concurrencies: tuple[int, ...] = CONCURRENCIES,
    rounds: int = ROUNDS,
) -> DatabaseResult:
    """Render and install the postgres project under `folder`, then run all three parts."""
    project = render(folder, database="postgres")
    sync(project)
    result = DatabaseResult(tests)
    _isolation(project, result, runs)
    result.loads = _throughput(project, concurrencies, rounds)
    _render_to_green(result)
    return result
