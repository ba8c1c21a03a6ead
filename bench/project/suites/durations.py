"""A pytest plugin: each test's setup, call and teardown added up, written as a JSON list of
seconds (in the order the tests ran) to the file `BENCH_DURATIONS` names when the run ends.
Loaded with `-p tests.bench_durations`."""

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

_SECONDS: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add one phase of a test to its time."""
    _SECONDS[report.nodeid] += report.duration


def pytest_sessionfinish() -> None:
    """Write every test's time."""
    Path(os.environ["BENCH_DURATIONS"]).write_text(json.dumps(list(_SECONDS.values())), "utf-8")
