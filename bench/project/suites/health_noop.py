"""Part 1's baseline: tests that do nothing."""

import os

import pytest

TESTS = int(os.environ.get("BENCH_TESTS", "500"))


@pytest.mark.parametrize("n", range(TESTS))
def test_noop(n: int) -> None:
    """Nothing."""
