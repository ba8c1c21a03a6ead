"""A pytest plugin `make mutation` copies into the rendered project: each pytest session mutmut
starts gets a database of its own on the shared server, as a pytest-xdist worker does (the
suite's tests/database.py names it after PYTEST_XDIST_WORKER)."""

import os


def pytest_configure() -> None:
    os.environ["PYTEST_XDIST_WORKER"] = f"mutant{os.getpid()}"
