"""What the orchestrating benchmarks share: rendering and installing a project, running and
timing processes, and servers that are always stopped.

The orchestrating modules run in the template's own environment and never import the
rendered package; what runs inside a project's environment is in `bench/project/`.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from cookiecutter.main import cookiecutter

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "my_service"
ENV_PREFIX = "MY_SERVICE_"
# What a rendered project's processes run without: the template's own virtualenv and its
# import path, and what changes how fast Python runs (dev mode, warnings, no bytecode cache).
_LEFT_OUT = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONDEVMODE",
    "PYTHONWARNINGS",
    "PYTHONDONTWRITEBYTECODE",
)


def progress(message: str, level: int = 0) -> None:
    """A line of progress on stderr (the report goes to stdout), indented by `level`."""
    print("  " * level + message, file=sys.stderr, flush=True)  # noqa: T201 - progress


def median(values: Sequence[float]) -> float:
    """The median of `values`, which must not be empty."""
    return statistics.median(values)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what `_LEFT_OUT` names, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key not in _LEFT_OUT}
    env.update(extra)
    return env


def bench_env(**extra: str) -> dict[str, str]:
    """`clean_env` with this repository on the import path, for `python -m bench.project.*`
    in a project's interpreter."""
    return clean_env(PYTHONPATH=str(REPO), **extra)


def uv_executable() -> str:
    """The uv installed beside this interpreter, else the one on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / ("uv.exe" if os.name == "nt" else "uv")
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is needed to install rendered projects: run `make bench`")
    return found


def python_of(project: Path) -> Path:
    """The interpreter of a rendered, installed project."""
    return project / ".venv" / "bin" / "python"


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    # The post-generation hook runs as a child process and prints to file descriptor 1.
    saved = os.dup(1)
    with Path(os.devnull).open("wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def render(output_dir: Path, **answers: str | bool) -> Path:
    """Render the template with its defaults (plus `answers`) into `output_dir`, through the
    cookiecutter API with its hooks; replays and clones stay inside `output_dir`."""
    output_dir.mkdir(parents=True, exist_ok=True)
    config = output_dir / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(output_dir / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(output_dir / 'replay'))}\n",
        encoding="utf-8",
    )
    with _quiet_stdout():
        project = cookiecutter(
            str(REPO),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            config_file=str(config),
        )
    return Path(project)


def sync(project: Path) -> None:
    """Install a rendered project and its dev group into its own `.venv` with uv."""
    subprocess.run(  # noqa: S603 - a fixed command line
        [uv_executable(), "sync", "--quiet"], cwd=project, env=clean_env(), check=True
    )


def timings_in(project: Path, module: str) -> dict[str, float]:
    """Run `python -m <module>` (one of bench/project/) in the project's interpreter and read
    the JSON object of timings it prints."""
    answer = subprocess.run(  # noqa: S603 - a module of this package, a fixed command line
        [str(python_of(project)), "-m", module],
        cwd=project,
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    timings: dict[str, float] = json.loads(answer.stdout)
    return timings


def timed_run(command: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Run `command` to completion and return its wall time in seconds; fail loudly on error."""
    start = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - command lines built by the benchmarks
        list(command), cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{tail}")
    return elapsed


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def never_answering() -> Iterator[int]:
    """A port on 127.0.0.1 that takes connections (the kernel completes them) and never
    answers on any: a peer that hangs, as one behind a network fault does."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        port: int = sock.getsockname()[1]
        yield port


class Server:
    """A server process in its own process group, its output in a log file beside the project,
    always stopped with its children. `url` is where the benchmarks send load."""

    def __init__(self, name: str, command: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.name = name
        self.url = ""
        self.log = Path(cwd) / f".bench-{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - command lines built by the benchmarks
                list(command),
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def wait_until_answering(self, url: str = "", timeout: float = 30.0) -> None:
        """Poll `url` (default: `self.url`, a loopback address) until it answers 200, or fail
        with the server's log."""
        url = url or self.url
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:  # noqa: PLR2004 - HTTP OK
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer {url} in {timeout} s")
            time.sleep(0.1)

    def wait_for_port(self, port: int, timeout: float = 30.0) -> None:
        """Wait until something accepts connections on 127.0.0.1:`port` (a TLS server, say)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def signal(self, sig: int) -> None:
        """Send `sig` to the server's process alone (not its group)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after 10 s."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, _KILL)
                self.process.wait(timeout=10)
        # Anything the leader left behind in its group.
        _signal_group(self.process, _KILL)


@contextlib.contextmanager
def stopped_at_exit() -> Iterator[list[Server]]:
    """A list to put servers in; every one is stopped when the block ends, the last first."""
    servers: list[Server] = []
    try:
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()


_KILL = signal.SIGTERM if sys.platform == "win32" else signal.SIGKILL


def _signal_group(process: "subprocess.Popen[bytes]", sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if sys.platform == "win32":  # no process groups to signal: the process alone
            if process.poll() is None:
                process.send_signal(sig)
        else:
            os.killpg(process.pid, sig)
