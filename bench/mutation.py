"""`make mutation`: how many small faults in the rendered service its own tests notice.

    python -m bench.mutation [--answers database=postgres tracing=true metrics=true]
                             [--modules retries.py upstream.py] [--children 2]
                             [--module-budget 1200] [--timeout-multiplier 5] [--keep]

Renders a project into a temporary folder, installs it with uv, adds mutmut 3 to its .venv,
then runs `mutmut run` once per module of src/<package>/ against the project's own pytest
suite. It prints, per module, the mutants made and what became of them, and the diff of every
mutant that survived, for a person to judge which are equivalent and which show a gap in the
tests. It asserts nothing. Run by hand: the full render makes some 1,600 mutants, hours of
work on two CPUs (a mutant that survives runs every test that reaches its function, the
whole suite for app.py or middleware.py); name the modules that matter with --modules.

How mutmut meets this project:
- It copies src/ and tests/ into mutants/, gives each function it mutates a trampoline that
  calls either the original or the active mutant, runs the whole suite once in-process to
  learn which tests reach which function, then forks a process per mutant that runs only
  those tests, fastest first, up to the first failure. Each of those runs is a pytest session
  of its own, so the suite's settings (asyncio's auto mode with one session loop, warnings as
  errors, the fake upstream on 127.0.0.1) need nothing.
- PostgreSQL: the suite's plugin starts an embedded server in every pytest session unless
  TEST_DATABASE_URL names one, which would cost each mutant a server's start and stop. One
  server serves the whole exercise instead, and each mutant's session gets a database of its
  own as a pytest-xdist worker does (a one-hook plugin sets PYTEST_XDIST_WORKER).
- mutmut leaves decorated functions alone (route handlers, `@asynccontextmanager`,
  `@property`...), and code at module level: the table counts those functions.
- The Alembic scripts (migrations/) are left out unless named: Alembic loads them by path as
  modules of its own naming (env_py...), which mutmut's trampolines never match to a mutant.
- A mutant's run is stopped after (its tests' time in the first run + TIMEOUT_CONSTANT) times
  `--timeout-multiplier`: mutmut calls it a timeout. A module's run is interrupted at
  `--module-budget` seconds; the mutants it had not run by then are counted as not checked.
"""

import argparse
import ast
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .common import Server, bench_env, clean_env, progress, python_of, render, sync, uv_executable

MUTMUT = "mutmut>=3.8,<4"
DEFAULT_ANSWERS = ("database=postgres", "tracing=true", "metrics=true")
MODULE_BUDGET = 1200.0
TIMEOUT_MULTIPLIER = 5.0
# Seconds added to a mutant's estimate before the multiplier: what the estimate leaves out
# (a pytest session's start, its fixtures, a database made and migrated for it).
TIMEOUT_CONSTANT = 10.0
LEFT_OUT = ("migrations/",)
# mutmut's line as it starts on the mutants, after its clean and forced-fail runs.
_MUTATING = b"Running mutation testing"
# And as it gives up because the module's tests fail with no mutant active.
_CLEAN_RUN_FAILED = "Failed to run clean test"
# How long mutmut may take to stop its workers once interrupted.
_STOP_GRACE = 120.0
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
# mutmut names a mutant <module>.x_<function>__mutmut_<n>; a method's, x\u01c1<class>\u01c1<method>.
_FUNCTION_PREFIXES = ("x_", "x\u01c1")
# The plugin bench/project/mutation_worker.py, copied into the project under this name.
_PLUGIN = "_mutation_worker"
_PLUGIN_SOURCE = Path(__file__).parent / "project" / "mutation_worker.py"
# Columns of the table, and the statuses mutmut reports that each one counts.
_COLUMNS = {
    "killed": ("killed",),
    "survived": ("survived",),
    "no tests": ("no tests",),
    "timeout": ("timeout",),
    "suspicious": ("suspicious", "segfault", "check was interrupted by user"),
    "not checked": ("not checked",),
}


@dataclass
class ModuleRun:
    """One module: the functions in it, and what mutmut made of it."""

    module: str  # its path under src/<package>/
    functions: int  # functions and methods mutmut gives a trampoline
    left_alone: int  # decorated ones, which mutmut does not mutate
    seconds: float = 0.0  # the module's whole `mutmut run`
    mutating: float = 0.0  # of which running the mutants
    notes: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)


def _answer(text: str) -> tuple[str, str | bool]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    return key, value


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.mutation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--answers",
        nargs="+",
        type=_answer,
        default=[_answer(a) for a in DEFAULT_ANSWERS],
        metavar="KEY=VALUE",
        help=f"the template's answers (default: {' '.join(DEFAULT_ANSWERS)})",
    )
    parser.add_argument(
        "--modules",
        nargs="+",
        metavar="PATH",
        help="modules under src/<package>/, such as retries.py routes/items.py (default: all)",
    )
    parser.add_argument(
        "--children",
        type=int,
        default=os.cpu_count() or 2,
        help="mutants run at a time (default: the CPUs)",
    )
    parser.add_argument(
        "--module-budget",
        type=float,
        default=MODULE_BUDGET,
        help="seconds for one module's run, 0 for no limit (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout-multiplier",
        type=float,
        default=TIMEOUT_MULTIPLIER,
        help="a mutant may run this many times its tests' time, plus a constant",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the rendered project and mutmut's results (then `mutmut browse` there)",
    )
    return parser.parse_args(argv)


def _load_average() -> float:
    if sys.platform == "win32":  # no such figure there
        return float("nan")
    return os.getloadavg()[0]


def _trampolined(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    decorators = function.decorator_list
    if not decorators:
        return True
    (only, *others) = decorators
    return not others and isinstance(only, ast.Name) and only.id in ("staticmethod", "classmethod")


def _count_functions(path: Path) -> tuple[int, int]:
    """The functions and methods of a module mutmut mutates, and those it leaves alone."""
    tree = ast.parse(path.read_text("utf-8"))
    functions = [node for node in tree.body if isinstance(node, _FUNCTIONS)]
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            functions += [member for member in node.body if isinstance(member, _FUNCTIONS)]
    mutated = sum(map(_trampolined, functions))
    return mutated, len(functions) - mutated


def _modules(package: Path, chosen: Sequence[str] | None) -> list[str]:
    if chosen:
        missing = [m for m in chosen if not (package / m).is_file()]
        if missing:
            raise SystemExit(f"not in src/{package.name}/: {' '.join(missing)}")
        return list(chosen)
    found = (path.relative_to(package).as_posix() for path in package.rglob("*.py"))
    return sorted(m for m in found if not m.startswith(LEFT_OUT))


def _dotted(package: str, module: str) -> str:
    return ".".join([package, *Path(module).with_suffix("").parts])


def _module_of(mutant: str) -> str:
    parts = mutant.split(".")
    for index, part in enumerate(parts):
        if part.startswith(_FUNCTION_PREFIXES):
            return ".".join(parts[:index])
    return mutant.rpartition(".")[0]


def _order(mutant: str) -> tuple[str, int]:
    function, _, number = mutant.rpartition("__mutmut_")
    return function, int(number) if number.isdigit() else 0


def _configure(
    project: Path, paths: Sequence[str], *, shared_database: bool, multiplier: float
) -> None:
    """mutmut's settings, added to the rendered project's pyproject.toml."""
    lines = [
        "",
        "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps(list(paths))}",
        f"timeout_multiplier = {multiplier}",
        f"timeout_constant = {TIMEOUT_CONSTANT}",
    ]
    if shared_database:
        shutil.copyfile(_PLUGIN_SOURCE, project / f"{_PLUGIN}.py")
        lines += [f'also_copy = ["{_PLUGIN}.py"]', f'pytest_add_cli_args = ["-p", "{_PLUGIN}"]']
    with (project / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write("\n".join(lines) + "\n")


@contextlib.contextmanager
def _shared_database(project: Path) -> Iterator[str]:
    """The suite's embedded PostgreSQL, started once for every mutant; yields its URL."""
    log = project / ".bench-postgres.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            [str(python_of(project)), "-m", "bench.project.suite_database"],
            cwd=project,
            env=bench_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
        )
    if process.stdin is None or process.stdout is None:
        raise RuntimeError("the server's pipes were not opened")
    try:
        url = process.stdout.readline().decode().strip()
        if not url:
            raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        process.stdin.close()  # the helper leaves its `with`: the server stops, its folder goes
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _made(meta: Path) -> int:
    """How many mutants mutmut made of a module (its .meta file lists them), 0 if none yet."""
    if not meta.is_file():
        return 0
    return len(json.loads(meta.read_text("utf-8"))["exit_code_by_key"])


@dataclass(frozen=True)
class _Project:
    """The rendered project, the environment its commands run in, and its mutmut."""

    path: Path
    env: dict[str, str]

    @property
    def mutmut(self) -> Path:
        return python_of(self.path).with_name("mutmut")

    def mutmut_output(self, *args: str) -> str:
        """What a quick mutmut command prints."""
        result = subprocess.run(  # noqa: S603 - a fixed command line
            [str(self.mutmut), *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
        )
        return result.stdout

    def statuses(self) -> dict[str, str]:
        """Every mutant's status, as `mutmut results` names them."""
        statuses = {}
        for line in self.mutmut_output("results", "--all=true").splitlines():
            name, sep, status = line.strip().rpartition(": ")
            if sep:
                statuses[name] = status
        return statuses


def _run_module(
    project: _Project, run: ModuleRun, pattern: str, index: int, args: argparse.Namespace
) -> int:
    """`mutmut run` on one module's mutants within the budget; returns mutmut's exit code."""
    started = time.monotonic()
    command = [str(project.mutmut), "run", "--max-children", str(args.children), pattern]
    server = Server(f"mutmut-{index:02d}", command, project.path, project.env)
    mutating_since: float | None = None
    stop_by: float | None = None
    try:
        while server.process.poll() is None:
            time.sleep(1.0)
            now = time.monotonic()
            if mutating_since is None and _MUTATING in server.log.read_bytes():
                mutating_since = now
            budget = args.module_budget
            if stop_by is None and budget and now - started > budget:
                # mutmut stops its workers and keeps the verdicts it has.
                os.kill(server.process.pid, signal.SIGINT)
                run.notes.append(f"budget of {budget:.0f} s ran out")
                stop_by = now + _STOP_GRACE
            if stop_by is not None and now > stop_by:
                break
    finally:
        server.stop()
    now = time.monotonic()
    run.seconds = now - started
    run.mutating = now - mutating_since if mutating_since is not None else 0.0
    code = server.process.returncode
    if code != 0:
        output = server.log.read_text("utf-8", errors="replace")
        progress(f"mutmut exited {code} on {run.module}; the end of its output:\n{output[-2000:]}")
        if _CLEAN_RUN_FAILED in output:
            run.notes.append("a test failed with no mutant active (mutmut's clean run; see stderr)")
    return code


def _table(runs: Sequence[ModuleRun]) -> list[str]:
    header = [
        "module",
        "functions (left alone)",
        "mutants",
        *_COLUMNS,
        "kill rate",
        "time (mutants)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    totals: Counter[str] = Counter()
    for run in runs:
        totals.update(run.statuses)
        counts = {column: sum(run.statuses[s] for s in kinds) for column, kinds in _COLUMNS.items()}
        made = sum(run.statuses.values())
        checked = made - counts["not checked"]
        rate = f"{100 * counts['killed'] / checked:.0f} %" if checked else "-"
        lines.append(
            "| "
            + " | ".join(
                [
                    run.module,
                    f"{run.functions} ({run.left_alone})",
                    str(made),
                    *(str(count) for count in counts.values()),
                    rate,
                    f"{run.seconds:.0f} s ({run.mutating:.0f} s)",
                ]
            )
            + " |"
        )
    counts = {column: sum(totals[s] for s in kinds) for column, kinds in _COLUMNS.items()}
    made = sum(totals.values())
    checked = made - counts["not checked"]
    rate = f"{100 * counts['killed'] / checked:.0f} %" if checked else "-"
    seconds = sum(run.seconds for run in runs)
    lines.append(
        "| **all** | "
        + f"{sum(r.functions for r in runs)} ({sum(r.left_alone for r in runs)}) | {made} | "
        + " | ".join(str(count) for count in counts.values())
        + f" | {rate} | {seconds:.0f} s |"
    )
    return lines


def _report(
    args: argparse.Namespace,
    version: str,
    runs: Sequence[ModuleRun],
    survivors: dict[str, list[str]],
    others: dict[str, list[str]],
) -> list[str]:
    answers = " ".join(f"{key}={str(value).lower()}" for key, value in args.answers)
    budget = args.module_budget
    cut = f"a module's run is cut at {budget:.0f} s" if budget else "no module's run is cut short"
    lines = [
        f"## Mutation testing ({version.strip()})",
        "",
        f"Rendered with {answers}; {args.children} mutants at a time; a mutant's run stops after "
        f"(its tests' time + {TIMEOUT_CONSTANT:.0f} s) x {args.timeout_multiplier:g}; {cut}.",
        "",
        *_table(runs),
        "",
        "Kill rate: killed / mutants with a verdict (all but not checked); timeouts and "
        "suspicious ones are not counted as killed. Functions: those mutmut mutates; left alone: "
        "decorated ones, which it never mutates. Time: the module's whole `mutmut run` (the first "
        "also runs the whole suite once to map tests to functions), and in brackets the mutants'.",
    ]
    notes = [f"- {run.module}: {'; '.join(run.notes)}" for run in runs if run.notes]
    if notes:
        lines += ["", *notes]
    lines += ["", f"### Surviving mutants ({sum(map(len, survivors.values()))})"]
    for module, diffs in survivors.items():
        lines += ["", f"#### {module}", ""]
        for diff in diffs:
            lines += ["```diff", diff.strip(), "```"]
    for status, names in others.items():
        lines += ["", f"### {status.capitalize()} ({len(names)})", ""]
        lines += [f"- {name}" for name in names]
    return lines


def _exercise(args: argparse.Namespace, folder: Path) -> list[str]:
    progress("rendering and installing the project ...")
    path = render(folder, **dict(args.answers))
    sync(path)
    project = _Project(path, clean_env(PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1"))
    python = str(python_of(path))
    subprocess.run(  # noqa: S603 - a fixed command line
        [uv_executable(), "pip", "install", "--quiet", "--python", python, MUTMUT],
        cwd=path,
        env=project.env,
        check=True,
    )
    version = project.mutmut_output("--version")
    (package,) = (path / "src").iterdir()
    runs = [ModuleRun(m, *_count_functions(package / m)) for m in _modules(package, args.modules)]
    shared_database = (path / "tests" / "database.py").is_file()
    paths = [f"src/{package.name}/{run.module}" for run in runs]
    _configure(path, paths, shared_database=shared_database, multiplier=args.timeout_multiplier)
    mutants = path / "mutants"
    with contextlib.ExitStack() as stack:
        if shared_database:
            progress("starting PostgreSQL ...")
            project.env["TEST_DATABASE_URL"] = stack.enter_context(_shared_database(path))
        # A module with functions first: its run also makes every module's mutants and maps
        # the tests to the functions they reach.
        for index, run in enumerate(sorted(runs, key=lambda r: r.functions == 0)):
            meta = mutants / "src" / package.name / f"{run.module}.meta"
            if run.functions == 0 or (mutants.is_dir() and not _made(meta)):
                run.notes.append("no mutants")
                continue
            progress(f"mutmut on {run.module} ...")
            pattern = f"{_dotted(package.name, run.module)}.x*"
            code = _run_module(project, run, pattern, index, args)
            if not _made(meta):  # mutmut refuses a pattern that matches no mutant
                run.notes.append("no mutants")
            elif code != 0:
                run.notes.append(f"mutmut exited {code}")
    progress("collecting the results ...")
    survivors, others = _verdicts(project, package.name, runs)
    if args.keep:
        progress(f"kept: {path}")
    return _report(args, version, runs, survivors, others)


def _verdicts(
    project: _Project, package: str, runs: Sequence[ModuleRun]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Count each module's statuses; return the survivors' diffs by module, and the names of
    the other mutants worth a look by status."""
    by_module = {_dotted(package, run.module): run for run in runs}
    survivors: dict[str, list[str]] = {run.module: [] for run in runs}
    others: dict[str, list[str]] = {"timeout": [], "suspicious": []}
    untested: Counter[str] = Counter()
    statuses = project.statuses()
    for name in sorted(statuses, key=_order):
        run = by_module.get(_module_of(name))
        if run is None:
            progress(f"left out, of no module asked for: {name}")
            continue
        status = statuses[name]
        run.statuses[status] += 1
        if status == "survived":
            survivors[run.module].append(project.mutmut_output("show", name))
        elif status == "no tests":
            untested[_order(name)[0]] += 1
        elif status in others:
            others[status].append(name)
    others["functions no test reaches (and their mutants)"] = [
        f"{f}: {n}" for f, n in untested.items()
    ]
    return (
        {module: diffs for module, diffs in survivors.items() if diffs},
        {status: names for status, names in others.items() if names},
    )


def main(argv: list[str] | None = None) -> None:
    """Run the exercise and print its report on stdout."""
    args = _parse(argv)
    started = time.perf_counter()
    load_before = _load_average()
    folder = Path(tempfile.mkdtemp(prefix="mutation-"))
    try:
        lines = _exercise(args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    minutes, seconds = divmod(time.perf_counter() - started, 60)
    lines += [
        "",
        f"`make mutation` took {int(minutes)} min {seconds:.0f} s; load average (1 min) before: "
        f"{load_before:.2f}, after: {_load_average():.2f} (timeouts and times depend on it).",
    ]
    print("\n".join(lines))  # noqa: T201 - the report is the output


if __name__ == "__main__":
    main()
