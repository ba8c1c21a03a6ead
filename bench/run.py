"""`make bench`: render and install a project, run the benchmarks, print one report.

    python -m bench.run [--skip-checks] [--only-upstream] [--runs 5] [--duration 10]

Everything is written to a temporary folder that is removed afterwards; the template is
never touched.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import (
    check_cost,
    database,
    observability,
    report,
    suite_overhead,
    throughput,
    upstream_calls,
)
from .common import render, sync
from .machine import describe


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--skip-checks",
        action="store_true",
        help="skip part 3 (it reruns the template's whole test suite)",
    )
    parser.add_argument(
        "--skip-database", action="store_true", help="skip part 4 (the database option)"
    )
    parser.add_argument(
        "--skip-observability",
        action="store_true",
        help="skip part 5 (logging, metrics and tracing)",
    )
    parser.add_argument(
        "--skip-upstream",
        action="store_true",
        help="skip part 6 (the upstream calls: retries, an upstream down, the floor, a profile)",
    )
    parser.add_argument(
        "--only-upstream", action="store_true", help="run part 6 alone (about 3.5 minutes)"
    )
    parser.add_argument(
        "--upstream-rounds",
        type=int,
        default=upstream_calls.ROUNDS,
        help=f"part 6's rounds at {upstream_calls.CONNECTIONS} connections",
    )
    parser.add_argument("--database-tests", type=int, default=database.TESTS)
    parser.add_argument("--database-runs", type=int, default=database.RUNS)
    parser.add_argument("--runs", type=int, default=suite_overhead.RUNS)
    parser.add_argument("--tests", type=int, default=suite_overhead.TESTS)
    parser.add_argument("--duration", type=float, default=throughput.DURATION)
    parser.add_argument("--warm-up", type=float, default=throughput.WARM_UP)
    parser.add_argument("--rounds", type=int, default=throughput.ROUNDS)
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=list(throughput.CONCURRENCIES),
        help="wrk connections per run",
    )
    return parser.parse_args(argv)


def _load_average() -> float:
    if sys.platform == "win32":  # no such figure there
        return float("nan")
    return os.getloadavg()[0]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201 - progress goes to stderr


def _services(args: argparse.Namespace, folder: Path, project: Path) -> tuple[list[str], list[str]]:
    """Parts 1, 2, 4 and 5 (which use the rendered project): the report lines of 1 and 2,
    and of 4 and 5."""
    _progress("test-suite overhead ...")
    suites = suite_overhead.run(project, runs=args.runs, tests=args.tests)
    _progress("service throughput ...")
    loads = throughput.run(
        project,
        concurrencies=args.concurrency,
        duration=args.duration,
        warm_up=args.warm_up,
        rounds=args.rounds,
    )
    first = [*report.suite_section(suites, args.tests), "", *report.throughput_section(loads)]
    lines: list[str] = []
    if args.skip_database:
        lines.append("### 4. Database: skipped (--skip-database)")
    else:
        _progress("the database option ...")
        databases = database.run(
            folder / "postgres",
            throughput.load_function(project),
            tests=args.database_tests,
            runs=args.database_runs,
            concurrencies=args.concurrency,
            duration=args.duration,
            warm_up=args.warm_up,
            rounds=args.rounds,
        )
        lines += report.database_section(databases)
    lines.append("")
    if args.skip_observability:
        lines.append("### 5. Observability: skipped (--skip-observability)")
    else:
        _progress("observability ...")
        observed = observability.run(
            folder / "observability",
            project,
            throughput.load_function(project),
            concurrencies=args.concurrency,
            duration=args.duration,
            warm_up=args.warm_up,
            rounds=args.rounds,
        )
        lines += report.observability_section(observed)
    return first, lines


def _upstream_calls(args: argparse.Namespace, project: Path) -> list[str]:
    """Part 6's report lines."""
    if args.skip_upstream:
        return ["### 6. Upstream calls: skipped (--skip-upstream)"]
    _progress("upstream calls ...")
    result = upstream_calls.run(
        project,
        throughput.load_function(project),
        concurrencies=args.concurrency,
        duration=args.duration,
        warm_up=args.warm_up,
        rounds=args.rounds,
        main_rounds=args.upstream_rounds,
    )
    return report.upstream_section(result)


def main(argv: list[str] | None = None) -> None:
    """Run every benchmark (or part 6 alone) and print the report on stdout."""
    args = _parse(argv)
    started = time.perf_counter()
    load_before = _load_average()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        _progress("rendering and installing the default project ...")
        project = render(Path(folder))
        sync(project)
        machine = describe(project / ".venv" / "bin" / "python")
        services = None if args.only_upstream else _services(args, Path(folder), project)
        upstream = _upstream_calls(args, project)
    checks = ["### 3. Cost of the template's own checks: skipped (--skip-checks)"]
    if services is not None and not args.skip_checks:
        _progress("cost of the template's checks ...")
        checks = report.check_section(check_cost.run())
    load_after = _load_average()
    lines = ["## Benchmarks", "", f"Machine: {machine}", ""]
    lines += [
        f"Load average (1 min) before: {load_before:.2f}, after: {load_after:.2f} "
        "(anything else running on the machine skews every figure).",
        "",
    ]
    if services is not None:
        # Part 3 is measured last (it reruns the whole test suite) but reported in its place.
        lines += [*services[0], "", *checks, "", *services[1], ""]
    lines += upstream
    minutes, seconds = divmod(time.perf_counter() - started, 60)
    lines += ["", f"`make bench` took {int(minutes)} min {seconds:.0f} s."]
    print("\n".join(lines))  # noqa: T201 - the report is the output


if __name__ == "__main__":
    main()
