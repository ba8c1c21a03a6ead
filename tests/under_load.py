"""Run pytest several times in a row beside busy loops that hold every core.

A test that depends on how fast the machine is fails here first. `make test-busy` runs the
slow tier five times beside four loops (`python -m tests.under_load --help` for the knobs);
the exit status is 0 only if every run passed.
"""

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence

BUSY_LOOP = "while True: pass"


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m tests.under_load",
        description="Run pytest RUNS times in a row beside LOOPS busy loops.",
        epilog="Arguments after -- go to pytest, for example: -- -m slow",
    )
    parser.add_argument("--runs", type=int, default=5, help="pytest runs, one after another")
    parser.add_argument("--loops", type=int, default=4, help="busy loops running beside them")
    arguments, pytest_args = parser.parse_known_args(argv)
    return arguments, [arg for arg in pytest_args if arg != "--"]


def _load_average() -> str:
    if sys.platform == "win32":
        return ""
    return " (load average " + ", ".join(f"{value:.1f}" for value in os.getloadavg()) + ")"


def main(argv: Sequence[str]) -> int:
    """Run the runs, print one line each and a summary; 0 if every run passed."""
    arguments, pytest_args = _parse(argv)
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(arguments.loops)]
    results: list[tuple[int, float]] = []
    try:
        for number in range(1, arguments.runs + 1):
            started = time.monotonic()
            code = subprocess.run(
                [sys.executable, "-m", "pytest", *pytest_args], check=False
            ).returncode
            elapsed = time.monotonic() - started
            results.append((code, elapsed))
            verdict = "passed" if code == 0 else f"FAILED (exit {code})"
            print(  # noqa: T201 - the report
                f"under load: run {number}/{arguments.runs} {verdict} in {elapsed:.0f} s "
                f"beside {arguments.loops} busy loops{_load_average()}",
                flush=True,
            )
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    passed = sum(code == 0 for code, _ in results)
    times = ", ".join(f"{elapsed:.0f}" for _, elapsed in results)
    print(  # noqa: T201
        f"under load: {passed}/{len(results)} runs passed beside {arguments.loops} busy loops; "
        f"wall times {times} s; pytest {' '.join(pytest_args)}"
    )
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
