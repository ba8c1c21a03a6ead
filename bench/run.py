"""`make bench`: render and install the projects, run the benchmarks, print one report.

    python -m bench.run [--parts 2 6 7] [--quick]

Everything is written to a temporary folder that is removed afterwards; the template is
never touched. The report (Markdown) goes to stdout, progress to stderr.
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import (
    auth,
    check_cost,
    database,
    jobs,
    observability,
    report,
    server_options,
    suite_overhead,
    throughput,
    upstream_calls,
)
from .common import progress, render, sync
from .machine import describe

PARTS = {
    1: "test-suite overhead",
    2: "service throughput",
    3: "cost of the template's own checks (reruns its whole test suite)",
    4: "the database option",
    5: "observability: logging, metrics, tracing, a collector down, SIGTERM",
    6: "the upstream calls: plain FastAPI, the floor, profiles, the upstream down",
    7: "the server under `python -m`: HTTP parser and event loop",
    8: "the jobs option: enqueue cost, enqueue to result, a worker against taskiq's bare one",
    9: "the auth option: a bearer token checked, the upstream's client-credentials token",
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parts = "; ".join(f"{number}: {name}" for number, name in PARTS.items())
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--parts",
        type=int,
        nargs="+",
        choices=list(PARTS),
        default=list(PARTS),
        help=f"the parts to run (all by default): {parts}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one short round of everything, to check that the benchmarks run (figures "
        "too rough to publish)",
    )
    return parser.parse_args(argv)


def _measures(
    args: argparse.Namespace, folder: Path, project: Path
) -> dict[int, Callable[[], list[str]]]:
    """How to measure each part and make its report lines; part 3 last (it reruns the suite)."""
    quick = args.quick
    rounds = 1 if quick else throughput.ROUNDS
    duration = 1.0 if quick else throughput.DURATION
    tests = 50 if quick else suite_overhead.TESTS
    return {
        1: lambda: report.suite_section(
            suite_overhead.run(project, runs=1 if quick else suite_overhead.RUNS, tests=tests),
            tests,
        ),
        2: lambda: report.throughput_section(
            throughput.run(project, rounds=rounds, duration=duration), duration
        ),
        4: lambda: report.database_section(
            database.run(
                folder / "postgres",
                tests=30 if quick else database.TESTS,
                runs=1 if quick else database.RUNS,
                rounds=rounds,
            )
        ),
        5: lambda: report.observability_section(
            observability.run(
                folder / "observability",
                project,
                rounds=1 if quick else observability.ROUNDS,
                duration=duration,
            )
        ),
        6: lambda: report.upstream_section(
            upstream_calls.run(
                project,
                duration=duration,
                rounds=1 if quick else upstream_calls.ROUNDS,
                other_rounds=rounds,
            )
        ),
        7: lambda: report.server_options_section(
            server_options.run(
                project, rounds=1 if quick else server_options.ROUNDS, duration=duration
            )
        ),
        8: lambda: jobs.section(
            jobs.run(
                folder / "jobs",
                rounds=1 if quick else jobs.ROUNDS,
                duration=duration,
                jobs=100 if quick else jobs.JOBS,
                latency_jobs={1: 30, 50: 100} if quick else None,
            )
        ),
        9: lambda: auth.section(
            auth.run(
                folder / "auth",
                rounds=1 if quick else auth.ROUNDS,
                duration=duration,
                first_requests=1 if quick else auth.FIRST_REQUESTS,
            )
        ),
        3: lambda: report.check_section(check_cost.run()),
    }


def _print(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)  # noqa: T201 - the report is the output


def _loads() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    """Run the parts asked for, printing each part's report on stdout as it is done."""
    args = _parse(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        progress("rendering and installing the default project ...")
        project = render(Path(folder) / "default")
        sync(project)
        _print(
            [
                "## Benchmarks",
                "",
                f"Machine: {describe(project / '.venv' / 'bin' / 'python')}",
                "",
                f"Load average (1, 5, 15 min) at the start: {_loads()}."
                + (" --quick: figures too rough to publish." if args.quick else ""),
            ]
        )
        for number, measure in _measures(args, Path(folder), project).items():
            if number in args.parts:
                progress(f"part {number}, {PARTS[number]} ...")
                _print(["", *measure(), "", f"Load average after part {number}: {_loads()}."])
    minutes, seconds = divmod(time.perf_counter() - started, 60)
    _print(["", f"`python -m bench.run` took {int(minutes)} min {seconds:.0f} s."])


if __name__ == "__main__":
    main()
